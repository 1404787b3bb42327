package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestNextPostID(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		st := newStore(t, b)
		ctx := context.Background()
		a, _ := ParseListAddress("posts@example.com")
		if _, err := st.CreateList(ctx, NewList{Address: a}); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		seen := map[int]bool{}
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				id, err := st.NextPostID(ctx, "posts.example.com", at)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[id] = true
				mu.Unlock()
			})
		}
		wg.Wait()
		for id := 1; id <= 20; id++ {
			if !seen[id] {
				t.Errorf("post id %d not given out (got %v)", id, seen)
			}
		}
		l, _ := st.List(ctx, a)
		if l.PostID != 21 || !l.LastPostAt.Equal(at) {
			t.Errorf("post_id %d, last_post_at %v", l.PostID, l.LastPostAt)
		}
		if _, err := st.NextPostID(ctx, "gone.example.com", at); !errors.Is(err, ErrNoSuchList) {
			t.Errorf("NextPostID of a missing list: %v", err)
		}
	})
}
