package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestDigestPosts: a post is added once for its key, whatever the number
// of times the step runs; closing takes what waits into one issue with
// the numbers the caller's rule gives, moves the list's numbers on, and
// leaves nothing waiting; the issue stays unsent until marked.
func TestDigestPosts(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")
		at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
		for _, p := range []struct {
			key  string
			size int
			want int64
		}{
			{"entry-1", 100, 100},
			{"entry-1", 100, 100}, // the same entry again, after a crash
			{"entry-2", 50, 150},
		} {
			got, err := s.AddDigestPost(ctx, l.ListID, p.key, make([]byte, p.size), at)
			if err != nil || got != p.want {
				t.Fatalf("AddDigestPost(%s) = %d, %v; want %d", p.key, got, err, p.want)
			}
		}
		if n, size, err := s.DigestWaiting(ctx, l.ListID); n != 2 || size != 150 || err != nil {
			t.Fatalf("DigestWaiting = %d, %d, %v", n, size, err)
		}
		if n, err := s.DigestNumbers(ctx, l.ListID); err != nil || n != (DigestNumbers{Volume: 1, Number: 1}) {
			t.Fatalf("a new list's numbers: %+v, %v", n, err)
		}

		var seen DigestNumbers
		is, err := s.CloseDigestIssue(ctx, l.ListID, at, at.Add(time.Minute), func(n DigestNumbers) (int, int) { seen = n; return 3, 7 })
		if err != nil {
			t.Fatal(err)
		}
		if seen != (DigestNumbers{Volume: 1, Number: 1}) || is.Volume != 3 || is.Number != 7 || is.Posts != 2 {
			t.Errorf("closed %+v from %+v", is, seen)
		}
		if n, err := s.DigestNumbers(ctx, l.ListID); err != nil || n.Volume != 3 || n.Number != 8 || !n.LastSentAt.Equal(at) {
			t.Errorf("numbers after the issue: %+v, %v", n, err)
		}
		if _, err := s.CloseDigestIssue(ctx, l.ListID, at, at, func(n DigestNumbers) (int, int) { return n.Volume, n.Number }); !errors.Is(err, ErrNoDigestPosts) {
			t.Errorf("closing with nothing waiting: %v", err)
		}
		unsent, err := s.UnsentDigestIssues(ctx, "")
		if err != nil || len(unsent) != 1 || unsent[0].ID != is.ID || unsent[0].Posts != 2 {
			t.Fatalf("unsent %+v, %v", unsent, err)
		}
		posts, err := s.DigestIssuePosts(ctx, is.ID)
		if err != nil || len(posts) != 2 || len(posts[0]) != 100 || len(posts[1]) != 50 {
			t.Fatalf("posts of the issue: %d, %v", len(posts), err)
		}
		// The closer holds the issue for its minute; then anyone may.
		for _, c := range []struct {
			now  time.Time
			want bool
		}{{at.Add(30 * time.Second), false}, {at.Add(time.Minute), true}, {at.Add(time.Minute), false}} {
			if got, err := s.ClaimDigestIssue(ctx, is.ID, c.now, c.now.Add(time.Minute)); got != c.want || err != nil {
				t.Errorf("ClaimDigestIssue at %v = %v, %v; want %v", c.now.Sub(at), got, err, c.want)
			}
		}
		if err := s.MarkDigestSent(ctx, is.ID, at); err != nil {
			t.Fatal(err)
		}
		if unsent, err := s.UnsentDigestIssues(ctx, l.ListID); err != nil || len(unsent) != 0 {
			t.Errorf("unsent after sending: %+v, %v", unsent, err)
		}
		if got, err := s.ClaimDigestIssue(ctx, is.ID, at.Add(time.Hour), at.Add(2*time.Hour)); got || err != nil {
			t.Errorf("claimed an issue sent: %v, %v", got, err)
		}
		// A step run again after its post went out adds nothing, until
		// the sent posts are purged.
		if got, err := s.AddDigestPost(ctx, l.ListID, "entry-1", make([]byte, 100), at); got != 0 || err != nil {
			t.Errorf("a post added again after its issue went out: %d waiting, %v", got, err)
		}
		if n, err := s.PurgeDigestPosts(ctx, at); n != 0 || err != nil {
			t.Errorf("PurgeDigestPosts(before they were sent) = %d, %v", n, err)
		}
		if n, err := s.PurgeDigestPosts(ctx, at.Add(time.Nanosecond)); n != 2 || err != nil {
			t.Errorf("PurgeDigestPosts = %d, %v; want 2", n, err)
		}
		if got, err := s.AddDigestPost(ctx, l.ListID, "entry-3", []byte("x"), at); got != 1 || err != nil {
			t.Errorf("the next issue's first post: %d, %v", got, err)
		}
		if _, err := s.AddDigestPost(ctx, "nosuch.example.com", "e", nil, at); !errors.Is(err, ErrNoSuchList) {
			t.Errorf("a post for no list: %v", err)
		}
	})
}

// TestCloseDigestIssueTogether: closers racing on one list (two hosts on
// one database) give each post to one issue and no number twice.
func TestCloseDigestIssueTogether(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "race@example.com")
		at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
		const posts = 40
		var wg sync.WaitGroup
		var mu sync.Mutex
		held := map[int]int{} // posts by issue number
		closeOne := func() {
			for {
				is, err := s.CloseDigestIssue(ctx, l.ListID, at, at, func(n DigestNumbers) (int, int) { return n.Volume, n.Number })
				if errors.Is(err, ErrNoDigestPosts) {
					return
				}
				if errors.Is(err, ErrUnavailable) {
					continue // SQLite's busy writer, tried again as the runners do
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if _, twice := held[is.Number]; twice {
					t.Errorf("issue number %d given twice", is.Number)
				}
				held[is.Number] = is.Posts
				mu.Unlock()
				return
			}
		}
		for i := range posts {
			if _, err := s.AddDigestPost(ctx, l.ListID, fmt.Sprint(i), []byte("post"), at); err != nil {
				t.Fatal(err)
			}
			wg.Go(closeOne)
		}
		wg.Wait()
		closeOne() // what came after the last closer looked
		total := 0
		for _, n := range held {
			total += n
		}
		if total != posts {
			t.Errorf("issues %v hold %d posts, want %d", held, total, posts)
		}
	})
}
