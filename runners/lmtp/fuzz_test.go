package lmtp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// memQueue queues nothing: the fuzz targets test the protocol, not the
// disk, and must not fill it.
type memQueue struct{}

func (memQueue) Enqueue(string, []byte, switchboard.Msgdata) (string, error) { return "fuzz", nil }

// panicWatch is a log that keeps the report of a panic go-smtp recovered
// from: it logs one and carries on, which a fuzz target must not miss.
type panicWatch struct{ report atomic.Pointer[string] }

func (w *panicWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`msg="lmtp server" error="panic serving`)) {
		r := string(p)
		w.report.CompareAndSwap(nil, &r)
	}
	return len(p), nil
}

// fuzzServer is one server for a whole fuzz run, with the lists of
// startServer.
func fuzzServer(f *testing.F) (string, *panicWatch) {
	dir := f.TempDir()
	cfg := config.Default()
	cfg.MTA.MaxMessageSize = 64 << 10
	cfg.MTA.LMTPTimeout = config.Duration(2 * time.Second)
	st, err := store.Open(context.Background(), "", dir)
	if err != nil {
		f.Fatal(err)
	}
	// test-join beside test, as a site moved from Mailman may have.
	for _, l := range []string{"test@example.com", "mylist@example.com", "test-join@example.com"} {
		a, _ := store.ParseListAddress(l)
		if _, err := st.CreateList(context.Background(), store.NewList{Address: a, AllowAddressClash: true}); err != nil {
			f.Fatal(err)
		}
	}
	ls, err := Listen("127.0.0.1", 0, "")
	if err != nil {
		f.Fatal(err)
	}
	watch := &panicWatch{}
	srv := New(cfg, st, memQueue{}, slog.New(slog.NewTextHandler(watch, nil)))
	go srv.Serve(ls)
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		st.Close()
	})
	return ls[0].Addr().String(), watch
}

// replyLine is one well-formed reply line.
var replyLine = regexp.MustCompile(`^[2-5]\d\d[ -][^\r\n]*\r\n$`)

// FuzzSession feeds arbitrary client bytes, commands and data alike, to a
// real connection. The server must not panic, must end the session soon
// after the client has finished sending, must write only well-formed
// replies, and must still serve a fresh connection.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nRCPT TO:<bogus@example.com>\r\nRCPT TO:<test-bounces+a=b@example.com>\r\nDATA\r\n" + post + "QUIT\r\n",
		"LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<mylist@example.com>\r\nDATA\r\nMessage-ID: <a>\r\n\r\na\n.\nb\r.\rc\r\n.\nd\r\r\n..e\r\n.\r\nNOOP\r\n",
		"LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nDATA\r\nbroken header\r\n\r\n.\r\nRSET\r\n",
		"LHLO x\r\nMAIL FROM:<a@example.org> SIZE=65537\r\nMAIL FROM:<a@example.org> SIZE=1 BODY=8BITMIME\r\nRCPT TO:<test@example.com> NOTIFY=NEVER\r\n",
		"LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nBDAT 5\r\nhelloBDAT 0 LAST\r\n",
		"LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nBDAT 100000000 LAST\r\nx",
		"LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nDATA\r\nSubject: \xff\xfe\r\n\r\n\x00\x80\r\n",
		"LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<@example.com>\r\nRCPT TO:<\"q\"@example.com>\r\nRCPT TO:<@r:test@example.com>\r\nRCPT TO:<../../etc@example.com>\r\nDATA\r\n.\r\n",
		"HELO x\r\nEHLO x\r\nFOOO\r\nFOO\r\n\r\nNOOP \x00%s%n\r\nVRFY\r\nQUIT\r\n",
		"LHLO x\r\nDATA\r\nRCPT TO:<test@example.com>\r\nMAIL FROM:<a@example.org>\r\nMAIL FROM:<a@example.org>\r\nDATA x\r\n",
		"LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nDATA\r\n" + strings.Repeat("x", 70000) + "\r\n.\r\n",
		"STARTTLS\r\nAUTH PLAIN AGFAYg==\r\nLHLO x\r\nLHLO y\r\n",
		"\r\n.\r\n\n.\n\r.\r",
	} {
		f.Add([]byte(s))
	}
	addr, watch := fuzzServer(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		go func() {
			c.Write(input)
			c.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(c)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the session went on after the client had finished sending; replies so far:\n%s", out)
		}
		// A reset (the server closed with input unread) may cut the last
		// line; every whole one must be a reply.
		for l := range strings.SplitAfterSeq(string(out), "\r\n") {
			if strings.HasSuffix(l, "\r\n") && !replyLine.MatchString(l) {
				t.Fatalf("malformed reply line %q in\n%s", l, out)
			}
		}
		if r := watch.report.Load(); r != nil {
			// go-smtp logs the panic after closing the connection, so it
			// may be an earlier input's.
			t.Fatalf("the server recovered from a panic:\n%s", *r)
		}
		fresh, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		fresh.SetDeadline(time.Now().Add(time.Second))
		fresh.Write([]byte("NOOP\r\n"))
		got := make([]byte, 0, 256)
		for !bytes.Contains(got, []byte("\r\n250 ")) {
			n, err := fresh.Read(got[len(got):cap(got)])
			got = got[:len(got)+n]
			if err != nil {
				t.Fatalf("a fresh connection got %q, %v", got, err)
			}
		}
	})
}

// FuzzResolve fuzzes the recipient parser with a fuzzed set of existing
// lists: no panic, a list it yields exists and is never a path, it yields
// only sub-addresses the runner routes, and case does not matter.
func FuzzResolve(f *testing.F) {
	for _, s := range [][2]string{
		{"test@example.com", "test"},
		{"TEST-Bounces+anne=example.org@Example.COM", "test"},
		{"test-join-join@example.com", "test-join"},
		{"test-join@example.com", "test"},
		{"-join@example.com", "-join"},
		{"test-confirm+0123456789abcdef@example.com", "test"},
		{"../etc@example.com", "../etc"},
		{"a/b-request@example.com", "a/b"},
		{"x..y-owner@example.com", "x..y"},
		{"..-bounces@example.com", ".."},
		{"@example.com", ""},
		{"test@../../etc", "test"},
		{" test@example.com ", "test"},
		{"\"test\"@example.com", "test"},
		{"t\xffst@example.com", "t\xffst"},
		{strings.Repeat("a", 300) + "@example.com", strings.Repeat("a", 300)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, rcpt, lists string) {
		existing := strings.Split(lists, ",")
		try := func(rcpt string) (target, error) {
			var yes []store.ListAddress
			exists := func(_ context.Context, a store.ListAddress) (bool, error) {
				if unsafeName(a.Name) || unsafeName(a.Domain) {
					t.Fatalf("resolve(%q) looked up %q", rcpt, a)
				}
				for _, l := range existing {
					if l == a.Name {
						yes = append(yes, a)
						return true, nil
					}
				}
				return false, nil
			}
			got, err := resolve(context.Background(), rcpt, exists)
			if err != nil {
				if !errors.Is(err, errNoSuchList) {
					t.Fatalf("resolve(%q): %v", rcpt, err)
				}
				return got, err
			}
			if _, ok := routes[got.sub]; !ok {
				t.Fatalf("resolve(%q) yielded the sub-address %q, which has no route", rcpt, got.sub)
			}
			found := false
			for _, a := range yes {
				found = found || a == got.list
			}
			if !found {
				t.Fatalf("resolve(%q) yielded %v, which it was not told exists", rcpt, got.list)
			}
			return got, nil
		}
		got, err := try(rcpt)
		upper, uerr := try(asciiUpper(rcpt))
		if got != upper || (err == nil) != (uerr == nil) {
			t.Fatalf("resolve(%q) = %v, %v; in upper case %v, %v", rcpt, got, err, upper, uerr)
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
