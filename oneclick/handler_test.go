package oneclick

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/subscription"
)

// TestHandler: the link's page changes nothing; its POST removes the
// member it names, once, telling the owners; a forged link or a POST that
// is not one-click changes nothing.
func TestHandler(t *testing.T) {
	ctx := context.Background()
	site := runnertest.New(t, map[store.Role][]string{store.Owner: {"owen@example.com"}, store.Regular: {"anne@example.org", "bart@example.org"}})
	site.Set("admin_notify_mchanges", "true")
	site.Set("send_goodbye_message", "false")
	keys, err := LoadKeys(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := &Handler{Keys: keys, Store: site.Store, Log: log, Workflow: &subscription.Workflow{Store: site.Store, Virgin: site.Queue("virgin"), Log: log}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	link := func(addr string) string { return keys.Link(srv.URL, "test.example.com", addr) }
	member := func(addr string) bool {
		_, err := site.Store.Member(ctx, "test.example.com", addr, store.Regular)
		return err == nil
	}
	anne, bart := link("anne@example.org"), link("bart@example.org")
	forged := anne[:strings.LastIndexByte(anne, '/')] + bart[strings.LastIndexByte(bart, '/'):]
	oneClick := "List-Unsubscribe=One-Click"
	for _, tc := range []struct {
		name, method, url, body string
		status                  int
		says                    string
		anne, bart              bool // members after
	}{
		{"the page", "GET", anne, "", 200, "<button", true, true},
		{"a forged link's page", "GET", forged, "", 400, "not one the list sent", true, true},
		{"a forged POST", "POST", forged, oneClick, 400, "not one the list sent", true, true},
		{"a POST that is not one-click", "POST", anne, "unsubscribe=yes", 400, "List-Unsubscribe=One-Click", true, true},
		{"another method", "PUT", anne, oneClick, 405, "", true, true},
		{"one click", "POST", anne, oneClick, 200, "will get no more mail", false, true},
		{"one click again", "POST", anne, oneClick, 200, "is not a member", false, true},
		{"a list that is gone", "POST", keys.Link(srv.URL, "gone.example.com", "bart@example.org"), oneClick, 200, "is not a member", false, true},
	} {
		req, _ := http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, resp.StatusCode, body, tc.status, tc.says)
		}
		if member("anne@example.org") != tc.anne || member("bart@example.org") != tc.bart {
			t.Errorf("%s: anne a member %v, bart %v; want %v, %v", tc.name, member("anne@example.org"), member("bart@example.org"), tc.anne, tc.bart)
		}
	}
	notices := runnertest.Queued(t, site.Queue("virgin"))
	if len(notices) != 1 || !strings.Contains(string(notices[0].Message), "Subject: Test unsubscription notification") ||
		!strings.Contains(string(notices[0].Message), "anne@example.org has left") {
		t.Errorf("%d notices, want the owners' one of anne leaving", len(notices))
	}
}
