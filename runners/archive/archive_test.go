package archive

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailman-go/mailman/archive"
	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// hyperKitty answers HyperKitty's archiving API with the code status
// says, keeping the Message-IDs of what it archived.
type hyperKitty struct {
	mu       sync.Mutex
	status   int
	archived []string
}

func (hk *hyperKitty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hk.mu.Lock()
	defer hk.mu.Unlock()
	if hk.status != http.StatusOK {
		w.WriteHeader(hk.status)
		if hk.status == http.StatusBadRequest {
			w.Write([]byte(`{"error": "not a message"}`))
		}
		return
	}
	f, _, err := r.FormFile("message")
	if err != nil || r.Header.Get("Authorization") != "Token key" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	b, _ := io.ReadAll(f)
	for _, line := range strings.Split(string(b), "\r\n") {
		if id, ok := strings.CutPrefix(line, "Message-ID: "); ok {
			hk.archived = append(hk.archived, id)
		}
	}
	w.Write([]byte(`{"url": "http://example.com/"}`))
}

func (hk *hyperKitty) set(status int) {
	hk.mu.Lock()
	hk.status = status
	hk.mu.Unlock()
}

// HyperKitty down for a while: each post is kept, due again after a
// growing back-off, for HyperKitty alone; when it is back, every post is
// archived there once, and the prototype archive took each once at once.
func TestArchiverDownForAWhile(t *testing.T) {
	ctx := context.Background()
	site := runnertest.New(t, nil)
	hk := &hyperKitty{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(hk)
	defer srv.Close()
	cfg := config.Default()
	cfg.PathSettings.VarDir = t.TempDir()
	cfg.Archiver.Prototype.Enable = true
	cfg.Archiver.HyperKitty.Enable, cfg.Archiver.HyperKitty.BaseURL, cfg.Archiver.HyperKitty.APIKey = true, srv.URL+"/", "key"
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	h := &Handler{Store: site.Store, Archivers: archive.NewSite(cfg, nil), Shunt: site.Queue("shunt"), Now: func() time.Time { return now }}
	log := slog.New(slog.DiscardHandler)

	entries := make([]*switchboard.Entry, 3)
	for i := range entries {
		md := switchboard.Msgdata{}
		md.Set(msgdata.ListID, "test.example.com")
		msg := "From: anne@example.com\r\nTo: test@example.com\r\nSubject: post\r\nMessage-ID: <" + string(rune('a'+i)) + "@example.com>\r\n\r\nHello.\r\n"
		entries[i] = &switchboard.Entry{Name: "e", Message: []byte(msg), Msgdata: md}
	}
	for attempt, wait := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute} {
		for i, e := range entries {
			out, err := h.Dispose(ctx, e, log)
			if err != nil || !out.KeepUntil.Equal(now.Add(wait)) {
				t.Fatalf("attempt %d, post %d: %+v, %v; want kept until %s", attempt+1, i, out, err, now.Add(wait))
			}
			var left []string
			e.Msgdata.Get(msgdata.Archivers, &left)
			if !slices.Equal(left, []string{"hyperkitty"}) || e.Msgdata.Int(msgdata.ArchiveAttempts) != attempt+1 {
				t.Fatalf("attempt %d: kept for %v after %d attempts", attempt+1, left, e.Msgdata.Int(msgdata.ArchiveAttempts))
			}
		}
		now = now.Add(wait)
	}
	hk.set(http.StatusOK)
	for _, e := range entries {
		if out, err := h.Dispose(ctx, e, log); err != nil || out != runners.Done {
			t.Fatalf("HyperKitty back: %+v, %v", out, err)
		}
	}
	if want := []string{"<a@example.com>", "<b@example.com>", "<c@example.com>"}; !slices.Equal(hk.archived, want) {
		t.Errorf("HyperKitty archived %v, want %v", hk.archived, want)
	}
	if files, _ := filepath.Glob(filepath.Join(cfg.Paths().Archives, "prototype", "test@example.com", "new", "*")); len(files) != 3 {
		t.Errorf("the prototype archive holds %d posts, want 3", len(files))
	}

	// A post HyperKitty refuses is shunted for it alone.
	hk.set(http.StatusBadRequest)
	md := switchboard.Msgdata{}
	md.Set(msgdata.ListID, "test.example.com")
	if out, err := h.Dispose(ctx, &switchboard.Entry{Name: "r", Message: []byte("Message-ID: <r@example.com>\r\n\r\nx\r\n"), Msgdata: md}, log); err != nil || out != runners.Done {
		t.Fatalf("refused: %+v, %v", out, err)
	}
	shunted := runnertest.Queued(t, h.Shunt)
	var names []string
	if len(shunted) == 1 {
		shunted[0].Msgdata.Get(msgdata.Archivers, &names)
	}
	if len(shunted) != 1 || !slices.Equal(names, []string{"hyperkitty"}) || shunted[0].Msgdata.String(msgdata.WhichQ) != "archive" ||
		!strings.Contains(shunted[0].Msgdata.String(msgdata.Error), "not a message") {
		t.Errorf("shunted: %+v", shunted)
	}

	// A list that turns HyperKitty off, or never archives.
	if err := site.Store.SetListArchivers(ctx, "test.example.com", map[string]bool{"hyperkitty": false}); err != nil {
		t.Fatal(err)
	}
	as, err := h.Archivers.ForList(ctx, site.Store, mustList(t, site))
	if err != nil || len(as) != 1 || as[0].Name() != "prototype" {
		t.Errorf("with HyperKitty turned off: %v, %v", as, err)
	}
}

func TestBackoff(t *testing.T) {
	for attempts, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 6: 16 * time.Minute, 7: 30 * time.Minute, 40: 30 * time.Minute} {
		if got := backoff(attempts); got != want {
			t.Errorf("backoff(%d) = %s, want %s", attempts, got, want)
		}
	}
}

func mustList(t *testing.T, site *runnertest.Site) *store.List {
	t.Helper()
	l, err := site.Store.ListByID(context.Background(), "test.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// mail-archive's copy goes out through the outgoing queue for the list,
// from its bounces address, without a footer.
func TestMailArchiveCopy(t *testing.T) {
	site := runnertest.New(t, nil)
	out := site.Queue("outgoing")
	l := mustList(t, site)
	if err := sendVia(out)(context.Background(), l, []byte("Subject: x\r\n\r\nx\r\n"), "archive@mail-archive.com"); err != nil {
		t.Fatal(err)
	}
	es := runnertest.Queued(t, out)
	var rcpts []string
	if len(es) == 1 {
		es[0].Msgdata.Get(msgdata.Recipients, &rcpts)
	}
	if len(es) != 1 || !slices.Equal(rcpts, []string{"archive@mail-archive.com"}) || es[0].Msgdata.String(msgdata.ListID) != "test.example.com" ||
		es[0].Msgdata.String(msgdata.EnvSender) != "test-bounces@example.com" || !es[0].Msgdata.Bool(msgdata.NoDecorate) {
		t.Errorf("queued %+v", es)
	}
}
