package outgoing

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/oneclick"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/templates"
)

// TestPersonalize: a list's personalize, and the site's one-click links,
// send each member a copy of its own; a notice goes in bulk whatever the
// list says.
func TestPersonalize(t *testing.T) {
	const post = "From: anne@example.org\r\nTo: test@example.com\r\nSubject: Hi\r\nMessage-ID: <p@example.org>\r\n" +
		"List-Unsubscribe: <mailto:test-leave@example.com>\r\n\r\nHello.\r\n"
	rcpts := []string{"a@example.net", "b@example.net", "c@example.net"}
	link := regexp.MustCompile(`(?m)^List-Unsubscribe: <https://lists\.example\.com/u/test\.example\.com/([^/]+)/[^>]+>, <mailto:test-leave@example\.com>\r$`)
	for _, tc := range []struct {
		name        string
		personalize string
		oneClick    bool
		notice      bool
		connections int
		txns        int
		toMember    bool
	}{
		{"none", "none", false, false, 4, 1, false},
		{"individual", "individual", false, false, 1, 3, false},
		{"individual, three connections", "individual", false, false, 3, 3, false},
		{"full", "full", false, false, 4, 3, true},
		{"one-click links", "none", true, false, 4, 3, false},
		{"a notice, full", "full", false, true, 4, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, sinkOptions{})
			f.h.Settings.Connections = tc.connections
			if err := f.st.SetListSetting(context.Background(), store.ListAddress{Name: "test", Domain: "example.com"}, "personalize", tc.personalize); err != nil {
				t.Fatal(err)
			}
			if tc.oneClick {
				keys, err := oneclick.LoadKeys(filepath.Join(t.TempDir(), "keys"))
				if err != nil {
					t.Fatal(err)
				}
				f.h.OneClick = &OneClick{Keys: keys, BaseURL: "https://lists.example.com/u/"}
			}
			md := map[string]any{msgdata.Recipients: rcpts}
			if tc.notice {
				md[msgdata.NoDecorate] = true
			}
			f.dispose(t, entry(post, md))
			txns := f.sink.transactions()
			if len(txns) != tc.txns {
				t.Fatalf("%d transactions, want %d", len(txns), tc.txns)
			}
			seen := map[string]bool{}
			for _, x := range txns {
				if x.from != "test-bounces@example.com" {
					t.Errorf("envelope from %q: personalized is not VERPed", x.from)
				}
				if tc.txns == 1 {
					continue
				}
				rcpt := x.rcpts[0]
				seen[rcpt] = true
				to := regexp.MustCompile(`(?m)^To: (.*)\r$`).FindStringSubmatch(x.data)
				if got := to[1] == rcpt; got != tc.toMember {
					t.Errorf("%s's copy is To %q", rcpt, to[1])
				}
				m := link.FindStringSubmatch(x.data)
				if (m != nil) != tc.oneClick {
					t.Errorf("%s's copy: one-click link %v, want %v:\n%s", rcpt, m != nil, tc.oneClick, x.data)
				}
				if tc.oneClick && strings.Count(x.data, "List-Unsubscribe:") != 1 {
					t.Errorf("%s's copy has two List-Unsubscribe", rcpt)
				}
			}
			if tc.txns == 3 && len(seen) != 3 {
				t.Errorf("copies to %v", seen)
			}
			// The connections opened for the delivery take copies as they
			// can: they may take them all before the kept one is opened,
			// which then never is.
			if n := f.sink.sessionCount(); tc.personalize == "individual" && (n > tc.connections || n < max(1, tc.connections-1)) {
				t.Errorf("%d connections, want %d (or one fewer)", n, tc.connections)
			}
		})
	}
}

// BenchmarkFanOut delivers a post to 1,000 members to a sink in this
// process: in bulk (transactions of 500 over the kept connection) and one
// member at a time (personalize individual) over one connection and over
// four at once.
func BenchmarkFanOut(b *testing.B) {
	var rcpts []string
	for i := range 1000 {
		rcpts = append(rcpts, fmt.Sprintf("m%04d@example.net", i))
	}
	post := "From: anne@example.org\r\nTo: test@example.com\r\nSubject: Hi\r\nMessage-ID: <p@example.org>\r\n\r\n" + strings.Repeat("A line of the post.\r\n", 150)
	for _, tc := range []struct {
		personalize string
		connections int
	}{{"none", 1}, {"individual", 1}, {"individual", 4}} {
		personalize := tc.personalize
		b.Run(fmt.Sprintf("%s/%d-connections", personalize, tc.connections), func(b *testing.B) {
			f := newFixture(b, sinkOptions{})
			f.h.Settings.Connections = tc.connections
			if err := f.st.SetListSetting(context.Background(), store.ListAddress{Name: "test", Domain: "example.com"}, "personalize", personalize); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := f.h.Dispose(context.Background(), entry(post, map[string]any{msgdata.Recipients: rcpts}), slog.New(slog.DiscardHandler)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(rcpts))/b.Elapsed().Seconds(), "rcpts/s")
		})
	}
}

// TestFooterUnsubscribeLink: with one-click links, a footer's
// $user_unsubscribe_url is the member's own link, the one its
// List-Unsubscribe carries, even on a list that is not personalized.
func TestFooterUnsubscribeLink(t *testing.T) {
	f := newFixture(t, sinkOptions{})
	ctx := context.Background()
	keys, err := oneclick.LoadKeys(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	f.h.OneClick = &OneClick{Keys: keys, BaseURL: "https://lists.example.com/u/"}
	f.h.Templates = &templates.Loader{Store: f.st}
	path := filepath.Join(t.TempDir(), "footer")
	if err := os.WriteFile(path, []byte("Leave this list: $user_unsubscribe_url\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetTemplates(ctx, store.ListTemplates("test.example.com"),
		[]store.Template{{Name: footerTemplate, URI: "file://" + path}}, false); err != nil {
		t.Fatal(err)
	}
	rcpts := []string{"a@example.net", "b@example.net"}
	f.dispose(t, entry(post, map[string]any{msgdata.Recipients: rcpts}))
	header := regexp.MustCompile(`(?m)^List-Unsubscribe: <([^>]+)>`)
	footer := regexp.MustCompile(`(?m)^Leave this list: (\S+)\r$`)
	txns := f.sink.transactions()
	if len(txns) != len(rcpts) {
		t.Fatalf("%d transactions, want one for each member", len(txns))
	}
	for _, x := range txns {
		h, l := header.FindStringSubmatch(x.data), footer.FindStringSubmatch(x.data)
		if h == nil || l == nil || h[1] != l[1] {
			t.Errorf("%v's copy: the footer's link is not List-Unsubscribe's:\n%s", x.rcpts, x.data)
			continue
		}
		if want := keys.Link(f.h.OneClick.BaseURL, "test.example.com", x.rcpts[0]); l[1] != want {
			t.Errorf("%v's copy links %s, want %s", x.rcpts, l[1], want)
		}
	}
}

// TestMaxSessionsPerConnection: [mta] max_sessions_per_connection ends a
// connection after that many transactions and opens another, the kept
// one across messages as well as those opened for one delivery; every
// copy still goes out once. (How two connections share the copies varies,
// so that row counts transactions a connection, not connections.)
func TestMaxSessionsPerConnection(t *testing.T) {
	rcpts := []string{"a@example.net", "b@example.net", "c@example.net", "d@example.net", "e@example.net"}
	for _, tc := range []struct {
		name                 string
		personalize          string
		max, connections     int
		maxRecipients, posts int
		sessions             int // 0: not counted
	}{
		{"no limit", "individual", 0, 1, 500, 2, 1},
		{"two a connection, one connection", "individual", 2, 1, 500, 1, 3},
		{"two a connection, two connections", "individual", 2, 2, 500, 1, 0},
		{"bulk transactions count too", "none", 2, 1, 2, 1, 2},
		{"the kept connection across posts", "none", 1, 1, 500, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, sinkOptions{})
			f.h.Settings.MaxSessions, f.h.Settings.Connections, f.h.Settings.MaxRecipients = tc.max, tc.connections, tc.maxRecipients
			if err := f.st.SetListSetting(context.Background(), store.ListAddress{Name: "test", Domain: "example.com"}, "personalize", tc.personalize); err != nil {
				t.Fatal(err)
			}
			for range tc.posts {
				f.dispose(t, entry(post, map[string]any{msgdata.Recipients: rcpts}))
			}
			got := map[string]int{}
			perSession := map[int]int{}
			for _, x := range f.sink.transactions() {
				perSession[x.session]++
				for _, r := range x.rcpts {
					got[r]++
				}
			}
			for id, n := range perSession {
				if tc.max > 0 && n > tc.max {
					t.Errorf("connection %d carried %d transactions, want at most %d", id, n, tc.max)
				}
			}
			for _, r := range rcpts {
				if got[r] != tc.posts {
					t.Errorf("%s got %d copies, want %d", r, got[r], tc.posts)
				}
			}
			if n := f.sink.sessionCount(); tc.sessions > 0 && n != tc.sessions {
				t.Errorf("%d connections, want %d", n, tc.sessions)
			}
		})
	}
}
