package templates

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/store"
)

func TestExpand(t *testing.T) {
	values := map[string]string{"display_name": "Test", "listname": "test@example.com", "n": "3"}
	for _, tc := range []struct{ text, want string }{
		{"The $display_name list", "The Test list"},
		{"${display_name}s", "Tests"},
		{"$listname.", "test@example.com."},
		{"costs $$5", "costs $5"},
		{"$unknown stays", "$unknown stays"},
		{"${unknown} stays", "${unknown} stays"},
		{"a lone $", "a lone $"},
		{"${unclosed", "${unclosed"},
		{"$n$n", "33"},
		{"no placeholders", "no placeholders"},
	} {
		if got := Expand(tc.text, values); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// TestText: a list's template over its domain's over the site's, fetched
// with its credentials at each use; when the server is away the text
// last fetched is used, and with none there is an error; a mailman: URI
// and no URI at all leave the caller's default.
func TestText(t *testing.T) {
	ctx := context.Background()
	var hits atomic.Int32
	text := "v1: the $display_name digest header\n"
	down := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if u, p, _ := r.BasicAuth(); u != "postorius" || p != "s3cret" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(text))
	}))
	defer srv.Close()
	site := runnertest.New(t, nil)
	list, err := site.Store.List(ctx, site.List)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "footer.txt")
	if err := os.WriteFile(file, []byte("Footer of $listname"), 0o644); err != nil {
		t.Fatal(err)
	}
	set := func(scope string, ts ...store.Template) {
		t.Helper()
		if err := site.Store.SetTemplates(ctx, scope, ts, false); err != nil {
			t.Fatal(err)
		}
	}
	set("", store.Template{Name: "list:member:digest:header", URI: "file:///nonexistent"},
		store.Template{Name: "list:member:digest:footer", URI: "file://" + file})
	set(store.DomainTemplates("example.com"), store.Template{Name: "list:member:digest:header", URI: "https://example.invalid/"},
		store.Template{Name: "list:member:digest:masthead", URI: "mailman:///$listname/en/list:member:digest:masthead.txt"})
	set(store.ListTemplates(list.ListID), store.Template{Name: "list:member:digest:header", URI: srv.URL + "/header", Username: "postorius", Password: "s3cret"})
	l := &Loader{Store: site.Store}

	for _, tc := range []struct {
		name, template string
		before         func()
		want           string
		ok, err        bool
	}{
		{"the list's, fetched", "list:member:digest:header", nil, "v1: the Test digest header\n", true, false},
		{"edited: fetched again", "list:member:digest:header", func() { text = "v2 $display_name\n" }, "v2 Test\n", true, false},
		{"server down: the last text", "list:member:digest:header", func() { down = true }, "v2 Test\n", true, false},
		{"the site's, from a file", "list:member:digest:footer", nil, "Footer of test@example.com", true, false},
		{"mailman: is the default", "list:member:digest:masthead", nil, "", false, false},
		{"none registered", "list:member:regular:footer", nil, "", false, false},
	} {
		if tc.before != nil {
			tc.before()
		}
		got, ok, err := l.Text(ctx, list, tc.template, nil)
		if got != tc.want || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("%s: Text = %q, %v, %v; want %q, %v, error %v", tc.name, got, ok, err, tc.want, tc.ok, tc.err)
		}
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("the server was asked %d times, want 3", n)
	}

	// Never fetched, and the server refuses: an error naming the status,
	// never the password.
	set(store.ListTemplates(list.ListID), store.Template{Name: "list:member:digest:header", URI: srv.URL + "/other", Username: "postorius", Password: "wrong"})
	_, _, err = l.Text(ctx, list, "list:member:digest:header", nil)
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("a refused fetch with nothing kept: %v", err)
	}
}

func TestUses(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"To $user_address", true},
		{"To ${user_name}.", true},
		{"To $user_addressee", false},
		{"costs $$user_address", false},
		{"$display_name only", false},
	} {
		if got := Uses(tc.text, "user_address", "user_name"); got != tc.want {
			t.Errorf("Uses(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// TestFresh: with Fresh, a text fetched is used as it is until it is that
// old, then fetched again.
func TestFresh(t *testing.T) {
	ctx := context.Background()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("Footer of $listname"))
	}))
	defer srv.Close()
	site := runnertest.New(t, nil)
	list, err := site.Store.List(ctx, site.List)
	if err != nil {
		t.Fatal(err)
	}
	if err := site.Store.SetTemplates(ctx, store.ListTemplates(list.ListID), []store.Template{{Name: "list:member:regular:footer", URI: srv.URL}}, false); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	l := &Loader{Store: site.Store, Fresh: time.Minute, Now: func() time.Time { return now }}
	for _, tc := range []struct {
		after time.Duration
		hits  int32
	}{{0, 1}, {30 * time.Second, 1}, {59 * time.Second, 1}, {time.Minute, 2}, {90 * time.Second, 2}} {
		now = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC).Add(tc.after)
		raw, ok, err := l.Raw(ctx, list, "list:member:regular:footer")
		if raw != "Footer of $listname" || !ok || err != nil {
			t.Fatalf("Raw = %q, %v, %v", raw, ok, err)
		}
		if n := hits.Load(); n != tc.hits {
			t.Errorf("after %v: fetched %d times, want %d", tc.after, n, tc.hits)
		}
	}
}
