package lmtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// testServer is an LMTP runner on a free loopback port with its own store
// and queues.
type testServer struct {
	addr    string
	root    string
	store   *store.Store
	queues  map[string]*switchboard.Switchboard
	journal *switchboard.Journal
	srv     *Server
	clock   *fakeClock  // the sessions' clock: it moves only when told
	logs    *syncBuffer // the server's log lines
}

// fakeClock is a clock a test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log that the server writes and a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startServer(t *testing.T, tweak func(*config.Config)) *testServer {
	t.Helper()
	return startFailingServer(t, tweak, "")
}

// startFailingServer starts a server whose enqueues into the queue named
// failing fail.
func startFailingServer(t *testing.T, tweak func(*config.Config), failing string) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.PathSettings.VarDir = dir
	cfg.MTA.MaxMessageSize = 64 << 10
	if tweak != nil {
		tweak(cfg)
	}
	st, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{root: filepath.Join(dir, "queue"), store: st, queues: map[string]*switchboard.Switchboard{}, clock: &fakeClock{now: time.Now()}, logs: &syncBuffer{}}
	for _, name := range Queues {
		q, err := switchboard.Open(ts.root, name)
		if err != nil {
			t.Fatal(err)
		}
		ts.queues[name] = q
	}
	// test-join beside test, as a site moved from Mailman may have.
	for _, l := range []string{"test@example.com", "mylist@example.com", "test-join@example.com"} {
		a, _ := store.ParseListAddress(l)
		if _, err := st.CreateList(context.Background(), store.NewList{Address: a, AllowAddressClash: true}); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := Listen("127.0.0.1", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ls[0].Addr().String()
	log := slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), ts.logs), nil))
	ts.journal, err = switchboard.OpenJournal(filepath.Join(dir, "journal", "lmtp.jnl"), 1<<20, ts.queues, func(err error) { log.Error("journal", "error", err) })
	if err != nil {
		t.Fatal(err)
	}
	var queuer Queuer = ts.journal
	if failing != "" {
		queuer = failingQueue{Queuer: ts.journal, queue: failing}
	}
	srv := New(cfg, st, queuer, log)
	srv.now = ts.clock.Now
	ts.srv = srv
	go srv.Serve(ls)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		ts.journal.Close()
		st.Close()
	})
	return ts
}

// failingQueue fails every enqueue into one queue, as a full disk would
// have failed it before the runner had a journal.
type failingQueue struct {
	Queuer
	queue string
}

func (f failingQueue) Enqueue(queue string, msg []byte, md switchboard.Msgdata) (string, error) {
	if queue == f.queue {
		return "", errors.New("no space left on device")
	}
	return f.Queuer.Enqueue(queue, msg, md)
}

// conn is a raw client connection that reads replies line by line.
type conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (ts *testServer) dial(t *testing.T) *conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cn := &conn{t: t, c: c, r: bufio.NewReader(c)}
	cn.expect("220 ")
	return cn
}

func (c *conn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one reply, joining the lines of a multi-line one.
func (c *conn) reply() string {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading a reply: %v (so far %q)", err, lines)
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// expect reads replies and checks that each starts with the given prefix.
func (c *conn) expect(prefixes ...string) {
	c.t.Helper()
	for _, p := range prefixes {
		if got := c.reply(); !strings.HasPrefix(got, p) {
			c.t.Fatalf("reply %q, want it to start with %q", got, p)
		}
	}
}

func (ts *testServer) entries(t *testing.T, queue string) []*switchboard.Entry {
	t.Helper()
	ts.journal.Flush()
	files, _, err := ts.queues[queue].Ready(switchboard.Whole, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var es []*switchboard.Entry
	for _, f := range files {
		e, err := switchboard.ReadFile(filepath.Join(ts.root, queue, f))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

const post = "From: anne@example.org\r\nTo: test@example.com\r\nMessage-ID: <badger>\r\nSubject: hi\r\n\r\nHello\r\n.\r\n"

func TestGreetingAndCommands(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.send("HELO x\r\n")
	c.expect("500 5.5.1")
	c.send("EHLO x\r\n")
	c.expect("500 5.5.1")
	c.send("MAIL FROM:<a@example.org>\r\n")
	c.expect("503 5.5.1")
	c.send("LHLO mta.example.org\r\n")
	lhlo := c.reply()
	for _, ext := range []string{"PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SIZE 65536"} {
		if !strings.Contains(lhlo, ext) {
			t.Errorf("LHLO reply lacks %s:\n%s", ext, lhlo)
		}
	}
	c.send("RCPT TO:<test@example.com>\r\n")
	c.expect("503 5.5.1")
	c.send("MAIL FROM:<>\r\n")
	c.expect("250 ")
	c.send("RCPT TO:<notalist@example.com>\r\n")
	c.expect("550 5.1.1 Requested action not taken: mailbox unavailable")
	c.send("DATA\r\n")
	c.expect("503 5.5.1")
	c.send("NOOP\r\nRSET\r\nQUIT\r\n")
	c.expect("250 ", "250 ", "221 ")
}

func TestRecipientsAndRouting(t *testing.T) {
	cases := []struct {
		rcpt  string
		reply string
		queue string
		md    map[string]any
	}{
		{"mylist@example.com", "250", "incoming", map[string]any{"listid": "mylist.example.com", "to_list": true}},
		{"notalist@example.com", "550 5.1.1 Requested action not taken: mailbox unavailable", "", nil},
		{"mylist@x.example.com", "550", "", nil},
		{"mylist-bogus@example.com", "550 5.1.1 Requested action not taken: mailbox unavailable", "", nil},
		{"mylist-request@example.com", "250", "command", map[string]any{"subaddress": "request", "to_request": true}},
		{"mylist-bounces+anne=example.org@example.com", "250", "bounces", map[string]any{"subaddress": "bounces"}},
		{"mylist-confirm+0123456789@example.com", "250", "command", map[string]any{"subaddress": "confirm"}},
		{"mylist-join@example.com", "250", "command", map[string]any{"subaddress": "join"}},
		{"mylist-subscribe@example.com", "250", "command", map[string]any{"subaddress": "join"}},
		{"mylist-leave@example.com", "250", "command", map[string]any{"subaddress": "leave"}},
		{"mylist-unsubscribe@example.com", "250", "command", map[string]any{"subaddress": "leave"}},
		{"mylist-owner@example.com", "250", "incoming", map[string]any{"subaddress": "owner", "to_owner": true}},
		{"test-join@example.com", "250", "incoming", map[string]any{"listid": "test-join.example.com", "to_list": true}},
		{"test-join-join@example.com", "250", "command", map[string]any{"listid": "test-join.example.com", "subaddress": "join"}},
		{"@example.com", "5", "", nil},
		{"../../etc@example.com", "550", "", nil},
		{strings.Repeat("a", 300) + "@example.com", "550", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.rcpt[:min(len(tc.rcpt), 40)], func(t *testing.T) {
			ts := startServer(t, nil)
			c := ts.dial(t)
			c.send("LHLO x\r\nMAIL FROM:<anne@example.org>\r\nRCPT TO:<" + tc.rcpt + ">\r\n")
			c.reply()
			c.expect("250 ")
			got := c.reply()
			if !strings.HasPrefix(got, tc.reply) {
				t.Fatalf("RCPT reply %q, want %q", got, tc.reply)
			}
			if tc.queue == "" {
				return
			}
			c.send("DATA\r\n")
			c.expect("354 ")
			c.send(post)
			c.expect("250 2.0.0 <" + tc.rcpt + ">")
			es := ts.entries(t, tc.queue)
			if len(es) != 1 {
				t.Fatalf("%s holds %d entries", tc.queue, len(es))
			}
			for k, want := range tc.md {
				var got any
				es[0].Msgdata.Get(k, &got)
				if got != want {
					t.Errorf("msgdata %s = %v, want %v", k, got, want)
				}
			}
			if es[0].Msgdata.Int("original_size") != len(post)-len(".\r\n") {
				t.Errorf("original_size = %d", es[0].Msgdata.Int("original_size"))
			}
			if es[0].Msgdata.String("received_time") == "" {
				t.Error("no received_time")
			}
			for _, h := range []string{"Message-ID-Hash: JYMZWSQ4IC2JPKK7ZUONRFRVC4ZYJGKJ\r\n", "X-Message-ID-Hash: JYMZWSQ4IC2JPKK7ZUONRFRVC4ZYJGKJ\r\n", "X-MailFrom: anne@example.org\r\n"} {
				if !strings.Contains(string(es[0].Message), h) {
					t.Errorf("queued message lacks %q:\n%s", h, es[0].Message)
				}
			}
		})
	}
}

// TestPipelinedMixedOutcomes sends a whole transaction in one write, to
// recipients with different outcomes, and checks one reply per accepted
// recipient, in order, after the data.
func TestPipelinedMixedOutcomes(t *testing.T) {
	ts := startFailingServer(t, nil, "bounces")
	c := ts.dial(t)
	c.send("LHLO x\r\nMAIL FROM:<anne@example.org>\r\n" +
		"RCPT TO:<test@example.com>\r\nRCPT TO:<bogus@example.com>\r\nRCPT TO:<test-bounces@example.com>\r\n" +
		"RCPT TO:<mylist-owner@example.com>\r\nRCPT TO:<TEST@example.com>\r\nDATA\r\n" + post + "QUIT\r\n")
	c.reply()
	c.expect("250 ", "250 ", "550 5.1.1", "250 ", "250 ", "250 ", "354 ")
	c.expect("250 2.0.0 <test@example.com>", "451 4.3.0 <test-bounces@example.com>", "250 2.0.0 <mylist-owner@example.com>", "250 2.0.0 <TEST@example.com>", "221 ")
	if n := len(ts.entries(t, "incoming")); n != 2 {
		t.Errorf("incoming holds %d entries, want 2 (the duplicate recipient queued once)", n)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(ts.root, "*", "*.tmp")); len(leftovers) > 0 {
		t.Errorf("partial entries left: %v", leftovers)
	}
}

func TestOneReplyPerRecipientOnEveryFailure(t *testing.T) {
	cases := []struct {
		name, data, reply string
	}{
		{"header defects", "From: a\r\nnot a header line\r\n\r\nbody\r\n.\r\n", "501 5.6.0 "},
		{"too big", "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 70) + ".\r\n", "552 5.3.4 "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			c := ts.dial(t)
			c.send("LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nRCPT TO:<mylist@example.com>\r\nDATA\r\n")
			c.reply()
			c.expect("250 ", "250 ", "250 ", "354 ")
			c.send(tc.data)
			c.expect(tc.reply, tc.reply)
			// The connection is still usable.
			c.send("NOOP\r\n")
			c.expect("250 ")
			if n := len(ts.entries(t, "incoming")); n != 0 {
				t.Errorf("%d entries queued", n)
			}
		})
	}
}

// TestQueuedEntriesParse: what the door accepts, the runners (message.Parse)
// read, with the Message-ID the door logged; what they could not read the
// door refuses at DATA.
func TestQueuedEntriesParse(t *testing.T) {
	cases := []struct {
		name, data string
		refused    bool
		subject    string
	}{
		{name: "space before the colon", data: "From: anne@example.org\r\nSubject : obsolete\r\nMessage-ID: <obs>\r\n\r\nbody\r\n", subject: "obsolete"},
		{name: "a blank Message-ID", data: "Message-ID:\r\nSubject: blank id\r\nMessage-ID: <late>\r\n\r\nbody\r\n", subject: "blank id"},
		{name: "no header at all", data: "\r\nonly a body\r\n"},
		{name: "a space inside a name", data: "Subject: x\r\nBad Name: y\r\n\r\nbody\r\n", refused: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			c := ts.dial(t)
			c.begin("test@example.com")
			c.send(tc.data + ".\r\n")
			if tc.refused {
				c.expect("501 5.6.0 <test@example.com> Message has defects")
				if n := len(ts.entries(t, "incoming")); n != 0 {
					t.Errorf("incoming holds %d entries", n)
				}
				return
			}
			c.expect("250 2.0.0 <test@example.com>")
			es := ts.entries(t, "incoming")
			if len(es) != 1 {
				t.Fatalf("incoming holds %d entries", len(es))
			}
			m, err := message.Parse(es[0].Message)
			if err != nil {
				t.Fatalf("the runners cannot read the entry: %v\n%q", err, es[0].Message)
			}
			if got := m.Get("Subject"); got != tc.subject {
				t.Errorf("Subject %q, want %q", got, tc.subject)
			}
			id := m.Get("Message-ID")
			if id == "" || m.Get("X-Message-ID-Hash") != messageIDHash(id) || len(m.Values("Message-ID")) != 1 {
				t.Errorf("Message-ID %q (of %d), X-Message-ID-Hash %q", id, len(m.Values("Message-ID")), m.Get("X-Message-ID-Hash"))
			}
		})
	}
}

func TestDataEdgeCases(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	body := "..dot-stuffed\r\nbare\nLF.\nnot the end\r\n\xa0\xff 8-bit\r\n"
	c.send("LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nDATA\r\n")
	c.reply()
	c.expect("250 ", "250 ", "354 ")
	c.send("Message-ID: <alpha>\r\n\r\n" + body + ".\r\n")
	c.expect("250 ")
	es := ts.entries(t, "incoming")
	if len(es) != 1 {
		t.Fatalf("%d entries", len(es))
	}
	want := ".dot-stuffed\r\nbare\nLF.\nnot the end\r\n\xa0\xff 8-bit\r\n"
	if !strings.HasSuffix(string(es[0].Message), "\r\n\r\n"+want) {
		t.Errorf("body not kept byte for byte: %q", es[0].Message)
	}
}

func TestDatabaseDownIs451(t *testing.T) {
	ts := startServer(t, nil)
	ts.store.Close()
	c := ts.dial(t)
	c.send("LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\n")
	c.reply()
	c.expect("250 ", "451 4.3.0")
}

func TestConnectionCap(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.MTA.LMTPMaxConnections = 2 })
	a, b := ts.dial(t), ts.dial(t)
	extra, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(extra).ReadString('\n')
	if !strings.HasPrefix(line, "421 4.3.2") {
		t.Errorf("connection beyond the cap got %q", line)
	}
	want := `msg="refused a connection" remote=` + extra.LocalAddr().String() + ` reason="over lmtp_max_connections"`
	if n := strings.Count(ts.logs.String(), want); n != 1 {
		t.Errorf("%d lines %s in the log:\n%s", n, want, ts.logs)
	}
	// The established sessions are unaffected, and a slot frees on close.
	a.send("NOOP\r\n")
	a.expect("250 ")
	b.send("QUIT\r\n")
	b.expect("221 ")
	b.c.Close()
	time.Sleep(100 * time.Millisecond)
	ts.dial(t)
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "lmtp.sock")
	os.WriteFile(sock, []byte("stale"), 0o600) // left by a previous run
	ls, err := Listen("127.0.0.1", 0, sock)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[1].Addr().Network() != "unix" {
		t.Fatalf("listeners %v", ls)
	}
	if info, err := os.Stat(sock); err != nil || info.Mode().Perm() != 0o660 {
		t.Errorf("socket mode: %v %v", info, err)
	}
	st, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := New(config.Default(), st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go srv.Serve(ls)
	defer srv.Shutdown(context.Background())
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cn := &conn{t: t, c: c, r: bufio.NewReader(c)}
	cn.expect("220 ")
	cn.send("LHLO x\r\n")
	cn.expect("250-")
}

func TestRecipientLimit(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.MTA.LMTPMaxRecipients = 100 })
	c := ts.dial(t)
	var b strings.Builder
	b.WriteString("LHLO x\r\nMAIL FROM:<a@example.org>\r\n")
	for range 101 {
		b.WriteString("RCPT TO:<test@example.com>\r\n")
	}
	c.send(b.String())
	c.reply()
	c.expect("250 ")
	for i := range 100 {
		if got := c.reply(); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("recipient %d: %q; RFC 5321 requires accepting 100", i+1, got)
		}
	}
	c.expect("452 4.5.3")
}

func TestLongLines(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.MTA.MaxMessageSize = 4 << 20 })
	c := ts.dial(t)
	c.send("LHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nDATA\r\n")
	c.reply()
	c.expect("250 ", "250 ", "354 ")
	// A 1 MB header line is accepted and kept whole.
	c.send("Message-ID: <long>\r\nX-Long: " + strings.Repeat("x", 1_000_000) + "\r\n\r\nbody\r\n.\r\n")
	c.expect("250 ")
	if es := ts.entries(t, "incoming"); len(es) != 1 || !strings.Contains(string(es[0].Message), strings.Repeat("x", 1_000_000)) {
		t.Fatal("the long line was not queued whole")
	}
	// A command line beyond the limit is refused without taking the
	// connection's memory with it.
	c.send("NOOP " + strings.Repeat("y", 2<<20) + "\r\n")
	if got := c.reply(); !strings.HasPrefix(got, "500 ") {
		t.Errorf("over-long command: %q", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.MTA.LMTPTimeout = config.Duration(200 * time.Millisecond) })
	c := ts.dial(t)
	c.send("LHLO x\r\n")
	c.expect("250-")
	c.expect("421 4.4.2")
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c.r); err != nil {
		t.Fatalf("an idle connection was not closed: %v", err)
	}
}

// A stop whose grace period ends with sessions still open ends them: one
// waiting for a command is told 421, one in the middle of a message gets
// no 250 for it and nothing is queued, one that already got its 250 keeps
// its entry; Shutdown returns, and no session goes on afterwards.
func TestShutdownEndsOpenSessions(t *testing.T) {
	ts := startServer(t, nil)
	idle := ts.dial(t)
	idle.send("LHLO mta.example\r\n")
	idle.reply()
	done := ts.dial(t)
	done.send("LHLO mta.example\r\nMAIL FROM:<anne@example.org>\r\nRCPT TO:<test@example.com>\r\nDATA\r\n")
	done.expect("250", "250", "250", "354")
	done.send(post)
	done.expect("250 2.0.0")
	half := ts.dial(t)
	half.send("LHLO mta.example\r\nMAIL FROM:<anne@example.org>\r\nRCPT TO:<test@example.com>\r\nDATA\r\n")
	half.expect("250", "250", "250", "354")
	half.send("From: anne@example.org\r\nMessage-ID: <half@test>\r\n\r\nthe first line, and no more\r\n")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond+shutdownGrace+500*time.Millisecond {
		t.Errorf("Shutdown took %s", d)
	}
	if got := idle.reply(); !strings.HasPrefix(got, "421 ") {
		t.Errorf("an idle session at the stop: %q, want 421", got)
	}
	for _, c := range []*conn{idle, half} {
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, err := io.ReadAll(c.r)
		if err != nil {
			t.Errorf("the connection after the stop: %v, want it closed", err)
		}
		if strings.Contains(string(rest), "250 ") {
			t.Errorf("after the stop: %q, want no 250", rest)
		}
	}
	ts.srv.connsMu.Lock()
	open := len(ts.srv.conns)
	ts.srv.connsMu.Unlock()
	if open != 0 {
		t.Errorf("%d sessions still open after Shutdown", open)
	}
	var ids []string
	for _, e := range ts.entries(t, "incoming") {
		ids = append(ids, e.MessageID())
	}
	if !slices.Equal(ids, []string{"<badger>"}) {
		t.Errorf("queued after the stop: %v, want only the acknowledged <badger>", ids)
	}
}

// TestRefusesBrokenMultiparts: the posts of CPython's email test data
// (testdata/cpython) that Mailman 3.3.8 refuses at DATA, multiparts with no
// boundary or whose boundary never starts a part, get its 501 here too,
// once for every recipient; a well-formed report is queued.
func TestRefusesBrokenMultiparts(t *testing.T) {
	tests := []struct {
		file    string
		refused bool
	}{
		{"msg_17.txt", true}, // the boundary never starts a part
		{"msg_31.txt", true}, // the boundary parameter is not the parts'
		{"msg_41.txt", true}, // a multipart/alternative with no boundary
		{"msg_16.txt", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "cpython", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var data strings.Builder
			for line := range strings.SplitSeq(strings.TrimSuffix(string(raw), "\n"), "\n") {
				if strings.HasPrefix(line, ".") {
					data.WriteString(".")
				}
				data.WriteString(line + "\r\n")
			}
			ts := startServer(t, nil)
			c := ts.dial(t)
			c.begin("test@example.com", "mylist@example.com")
			c.send(data.String() + ".\r\n")
			if !tt.refused {
				c.expect("250 2.0.0 <test@example.com>", "250 2.0.0 <mylist@example.com>")
				return
			}
			c.expect("501 5.6.0 <test@example.com> Message has defects", "501 5.6.0 <mylist@example.com> Message has defects")
			if n := len(ts.entries(t, "incoming")); n != 0 {
				t.Errorf("incoming holds %d entries", n)
			}
		})
	}
}
