package archive

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/store"
)

var ant = &store.List{PostingAddress: "ant@example.com", ListID: "ant.example.com"}

const post = "From: anne@example.com\r\nTo: ant@example.com\r\nSubject: Hi\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\nMessage-ID: <1@example.com>\r\nMessage-ID-Hash: ABCDEF\r\n\r\nHello.\r\n"

func TestWanted(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", true},
		{"X-No-Archive: yes\r\n", false},
		{"X-No-Archive: \r\n", false},
		{"X-Archive: No\r\n", false},
		{"X-Archive: yes\r\n", true},
	} {
		m, err := message.Parse([]byte(tc.header + post))
		if err != nil {
			t.Fatal(err)
		}
		if got := Wanted(m); got != tc.want {
			t.Errorf("Wanted(%q) = %v", tc.header, got)
		}
	}
}

func TestClobberDate(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, mode, date string
		clobbered        bool
	}{
		{"never", "never", "Thu, 01 Jan 1970 00:00:00 +0000", false},
		{"always", "always", "Thu, 03 Dec 2026 12:00:00 +0000", true},
		{"maybe, within the skew", "maybe", "Thu, 03 Dec 2026 12:00:00 +0000", false},
		{"maybe, too old", "maybe", "Tue, 01 Dec 2026 12:00:00 +0000", true},
		{"maybe, in the future", "maybe", "Sat, 05 Dec 2026 12:00:00 +0000", true},
		{"maybe, unreadable", "maybe", "yesterday", true},
		{"maybe, missing", "maybe", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Archiver.Prototype = config.PrototypeArchiver{Enable: true, ClobberDate: tc.mode, ClobberSkew: config.Duration(24 * time.Hour)}
			s := NewSite(cfg, nil)
			raw := strings.Replace(post, "Date: Thu, 03 Dec 2026 12:00:00 +0000\r\n", "", 1)
			if tc.date != "" {
				raw = "Date: " + tc.date + "\r\n" + raw
			}
			m, _ := message.Parse([]byte(raw))
			s.ClobberDate("prototype", m, now)
			if got := m.Get("Date") == message.Date(now); got != tc.clobbered {
				t.Errorf("Date %q, clobbered %v, want %v", m.Get("Date"), got, tc.clobbered)
			}
			if tc.clobbered && m.Get("X-Original-Date") != tc.date {
				t.Errorf("X-Original-Date %q, want %q", m.Get("X-Original-Date"), tc.date)
			}
		})
	}
}

// The prototype archiver's Maildir holds each post whole, in new/.
func TestPrototype(t *testing.T) {
	dir := t.TempDir()
	p := &prototype{dir: dir}
	for range 2 {
		if err := p.Archive(context.Background(), ant, []byte(post)); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "prototype", "ant@example.com", "new", "*"))
	if len(files) != 2 {
		t.Fatalf("%d messages in the Maildir, want 2", len(files))
	}
	b, _ := os.ReadFile(files[0])
	if string(b) != post {
		t.Errorf("archived %q", b)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "prototype", "ant@example.com", "tmp", "*")); len(tmp) != 0 {
		t.Errorf("left in tmp/: %v", tmp)
	}
}

// HyperKitty's protocol, as its archiver API answers: the key, the list,
// the message as a file; a refusal is ErrRefused, the rest may pass later.
func TestHyperKitty(t *testing.T) {
	var got []string
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hyperkitty/api/mailman/archive" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Token s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f, _, err := r.FormFile("message")
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error": "no message"}`))
			return
		}
		b, _ := io.ReadAll(f)
		switch status {
		case http.StatusOK:
			got = append(got, r.FormValue("mlist")+" "+string(b))
			w.Write([]byte(`{"url": "http://example.com/x"}`))
		case http.StatusBadRequest:
			w.WriteHeader(status)
			w.Write([]byte(`{"error": "bad message"}`))
		default:
			w.WriteHeader(status)
		}
	}))
	defer srv.Close()
	h := newHyperKitty(srv.URL+"/hyperkitty/", "s3cret")
	if u := h.ListURL(ant); u != srv.URL+"/hyperkitty/list/ant@example.com/" {
		t.Errorf("ListURL = %s", u)
	}
	if u := h.Permalink(ant, "ABCDEF"); u != srv.URL+"/hyperkitty/list/ant@example.com/message/ABCDEF/" {
		t.Errorf("Permalink = %s", u)
	}
	ctx := context.Background()
	if err := h.Archive(ctx, ant, []byte(post)); err != nil || len(got) != 1 || got[0] != "ant@example.com "+post {
		t.Fatalf("archived: %v, %q", err, got)
	}
	status = http.StatusBadRequest
	if err := h.Archive(ctx, ant, []byte(post)); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "bad message") {
		t.Errorf("a refusal: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := h.Archive(ctx, ant, []byte(post)); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("unavailable: %v", err)
	}
	bad := newHyperKitty(srv.URL+"/hyperkitty/", "wrong")
	if err := bad.Archive(ctx, ant, []byte(post)); err == nil || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "api_key") {
		t.Errorf("a wrong key: %v", err)
	}
	srv.Close()
	if err := h.Archive(ctx, ant, []byte(post)); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("HyperKitty down: %v", err)
	}
}

func TestMHonArc(t *testing.T) {
	dir := t.TempDir()
	a := &mhonarc{base: "http://lists.example.com/archives/$listname", command: "cat > " + dir + "/$listname"}
	if err := a.Archive(context.Background(), ant, []byte(post)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ant@example.com")); string(b) != post {
		t.Errorf("the command read %q", b)
	}
	if u := a.Permalink(ant, "ABCDEF"); u != "http://lists.example.com/archives/ant@example.com/ABCDEF" {
		t.Errorf("Permalink = %s", u)
	}
	failing := &mhonarc{command: "echo no room >&2; exit 3"}
	if err := failing.Archive(context.Background(), ant, []byte(post)); err == nil || !strings.Contains(err.Error(), "no room") {
		t.Errorf("a failing command: %v", err)
	}
}

func TestMailArchive(t *testing.T) {
	var sent []string
	a := &mailArchive{base: "https://www.mail-archive.com/", recipient: "archive@mail-archive.com",
		send: func(_ context.Context, _ *store.List, msg []byte, rcpt string) error {
			sent = append(sent, rcpt)
			return nil
		}}
	if err := a.Archive(context.Background(), ant, []byte(post)); err != nil || len(sent) != 1 || sent[0] != "archive@mail-archive.com" {
		t.Errorf("sent %v, %v", sent, err)
	}
	if u := a.ListURL(ant); u != "https://www.mail-archive.com/ant%40example.com" {
		t.Errorf("ListURL = %s", u)
	}
}
