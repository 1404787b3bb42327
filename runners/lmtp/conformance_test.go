package lmtp

// The RFC 2033 conformance checklist of docs/reliability.md (§1.5 of the
// reliability anchors), one test per point that server_test.go does not
// already cover; each test names its points.

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/switchboard"
)

// begin opens a transaction to rcpts, all of which must be accepted, and
// leaves the session waiting for the data.
func (c *conn) begin(rcpts ...string) {
	c.t.Helper()
	var b strings.Builder
	b.WriteString("LHLO x\r\nMAIL FROM:<a@example.org>\r\n")
	for _, r := range rcpts {
		b.WriteString("RCPT TO:<" + r + ">\r\n")
	}
	b.WriteString("DATA\r\n")
	c.send(b.String())
	c.expect("250-")
	c.expect("250 ")
	for range rcpts {
		c.expect("250 ")
	}
	c.expect("354 ")
}

// transcript sends input to a fresh connection in writes of chunk bytes
// and returns everything the server writes until it closes the connection.
func (ts *testServer) transcript(t *testing.T, input string, chunk int) string {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	werr := make(chan error, 1)
	go func() {
		for s := input; len(s) > 0; {
			n := min(chunk, len(s))
			if _, err := io.WriteString(c, s[:n]); err != nil {
				werr <- err
				return
			}
			s = s[n:]
		}
		werr <- nil
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the replies: %v (so far %q)", err, out)
	}
	if err := <-werr; err != nil {
		t.Fatalf("writing the session: %v", err)
	}
	return string(out)
}

// Point 1: the greeting comes at once, on one line, without an enhanced code.
func TestGreetingBanner(t *testing.T) {
	ts := startServer(t, nil)
	start := time.Now()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no greeting within 1 s: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("greeting after %v", d)
	}
	if !regexp.MustCompile(`^220 [^ ]+ LMTP .*\r\n$`).MatchString(line) || regexp.MustCompile(`^220 \d\.\d`).MatchString(line) {
		t.Errorf("greeting %q: want one 220 line naming LMTP, without an enhanced code", line)
	}
}

// Point 2, and §1.3: CHUNKING is not offered (see replyNoBDAT in replies.go);
// BDAT is refused and its chunk read as commands.
func TestNoChunking(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.send("LHLO x\r\n")
	if lhlo := c.reply(); strings.Contains(lhlo, "CHUNKING") || !strings.HasSuffix(lhlo, "\n250 LIMITS RCPTMAX=1000") {
		t.Errorf("LHLO reply:\n%s", lhlo)
	}
	c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nBDAT 6 LAST\r\nNOOP\r\nDATA\r\n" + post)
	c.expect("250 ", "250 ", "502 5.5.1 ", "250 2.0.0 I have successfully done nothing", "354 ", "250 2.0.0 <test@example.com>")
}

// Points 6 and 8: NOOP (with any arguments), VRFY, RSET, QUIT and the
// commands LMTP does not offer, in any case.
func TestCommandReplies(t *testing.T) {
	cases := []struct{ cmd, reply string }{
		{"NOOP", "250 2.0.0 "},
		{"noop", "250 2.0.0 "},
		{"NOOP with some arguments", "250 2.0.0 "},
		{"NOOP \x00\xff%s%n%x\"\\", "250 2.0.0 "}, // CVE-2020-10957: malformed NOOP arguments
		{"NOOP " + strings.Repeat("z", 400), "250 2.0.0 "},
		{"VRFY test@example.com", "252 2.5.0 "},
		{"vrfy <nobody@example.com>", "252 2.5.0 "},
		{"RSET", "250 2.0.0 "},
		{"rset with arguments", "250 2.0.0 "},
		{"HELP", "502 5.5.1 "},
		{"EXPN test@example.com", "502 5.5.1 "},
		{"STARTTLS", "502 5.5.1 "},
		{"BDAT 5 LAST", "502 5.5.1 "},
		{"bdat 0", "502 5.5.1 "},
		{"lhlo mta.example.org", "250-"},
		{"LhLo mta.example.org", "250-"},
	}
	ts := startServer(t, nil)
	c := ts.dial(t)
	for _, tc := range cases {
		c.send(tc.cmd + "\r\n")
		if got := c.reply(); !strings.HasPrefix(got, tc.reply) {
			t.Errorf("%q: reply %q, want %q", tc.cmd, got, tc.reply)
		}
	}
	c.send("QUIT\r\n")
	c.expect("221 2.0.0 ")
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(c.r); err != nil || len(rest) > 0 {
		t.Errorf("after QUIT: %q, %v; want the connection closed", rest, err)
	}
}

// Points 4, 6 and 25, and RFC 5321 §4.1.1: commands out of order, without
// their argument, with a malformed one or over the length limit each get
// one reply, and the session goes on as if they had not been sent.
func TestCommandSequences(t *testing.T) {
	long := func(n int, head string) string { return head + strings.Repeat("x", n-len(head)-len("\r\n")) }
	cases := []struct {
		name   string
		lines  []string // command lines, without their CRLF
		want   []string // the start of each one's reply
		queued string   // what the entry queued by the session holds, if any
	}{
		{
			name:   "a second MAIL in a transaction",
			lines:  []string{"LHLO x", "MAIL FROM:<anne@example.org>", "MAIL FROM:<bart@example.org>", "RCPT TO:<test@example.com>", "DATA"},
			want:   []string{"250-", "250 2.1.0 ", "503 5.5.1 ", "250 2.1.5 ", "354 "},
			queued: "\r\nX-MailFrom: anne@example.org\r\n",
		},
		{
			name:  "MAIL again after RSET",
			lines: []string{"LHLO x", "MAIL FROM:<anne@example.org>", "RSET", "MAIL FROM:<bart@example.org>"},
			want:  []string{"250-", "250 2.1.0 ", "250 2.0.0 ", "250 2.1.0 "},
		},
		{
			name:  "VRFY without an argument",
			lines: []string{"VRFY", "vrfy  ", "VRFY\t", "VRFY anne", "NOOP"},
			want:  []string{"501 5.5.4 ", "501 5.5.4 ", "501 5.5.4 ", "252 2.5.0 ", "250 2.0.0 "},
		},
		{
			name: "a sender that is no mailbox",
			lines: []string{"LHLO x", "MAIL FROM:<a@b@example.org>", `MAIL FROM:<"a@b"@example.org>`, "MAIL FROM:<a@example..org>", "MAIL FROM:<a@.example.org>",
				"MAIL FROM:<a@example.org.>", "MAIL FROM:<a@exa(mple).org>", "MAIL FROM:<a@[192.0.2.1>", "MAIL FROM:<a@[]>", "MAIL FROM:<a\x01b@example.org>",
				"MAIL FROM:<anne@example.org>"},
			want: []string{"250-", "501 5.1.7 ", "501 5.1.7 ", "501 5.1.7 ", "501 5.1.7 ", "501 5.1.7 ", "501 5.1.7 ", "501 5.1.7 ", "501 5.1.7 ", "501 5.1.7 ", "250 2.1.0 "},
		},
		{
			name: "senders that are mailboxes",
			lines: []string{"LHLO x", "MAIL FROM:<>", "RSET", "MAIL FROM:<a@[192.0.2.1]>", "RSET", "MAIL FROM:<a@[IPv6:2001:db8::1]>", "RSET",
				"MAIL FROM:<a_b@mail_host.example.org>", "RSET", "MAIL FROM:<\"a b\"@example.org>", "RSET", "MAIL FROM:<@route.example:a@example.org>"},
			want: []string{"250-", "250 2.1.0 ", "250 ", "250 2.1.0 ", "250 ", "250 2.1.0 ", "250 ", "250 2.1.0 ", "250 ", "250 2.1.0 ", "250 ", "250 2.1.0 "},
		},
		{
			name:  "a command line over 512 octets",
			lines: []string{long(512, "NOOP "), long(513, "NOOP "), long(2<<20, "NOOP "), long(513, "RCPT TO:<"), "NOOP"},
			want:  []string{"250 2.0.0 ", "500 5.5.2 ", "500 5.5.2 ", "500 5.5.2 ", "250 2.0.0 "},
		},
		{
			name:  "MAIL has 26 octets more for SIZE",
			lines: []string{"LHLO x", long(538, "MAIL FROM:<a@example.org> SIZE=1 X="), long(539, "MAIL FROM:<a@example.org> SIZE=1 X="), "MAIL FROM:<" + strings.Repeat("a", 480) + "@example.org> SIZE=100"},
			want:  []string{"250-", "555 5.5.4 ", "500 5.5.2 ", "250 2.1.0 "},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			c := ts.dial(t)
			for i, l := range tc.lines {
				c.send(l + "\r\n")
				if got := c.reply(); !strings.HasPrefix(got, tc.want[i]) {
					t.Fatalf("%.60q: reply %.200q, want %q", l, got, tc.want[i])
				}
			}
			if tc.queued == "" {
				return
			}
			c.send(post)
			c.expect("250 2.0.0 <test@example.com>")
			if es := ts.entries(t, "incoming"); len(es) != 1 || !strings.Contains(string(es[0].Message), tc.queued) {
				t.Errorf("queued %d entries; want one holding %q", len(es), tc.queued)
			}
		})
	}
}

// Points 4, 6 and 8: RSET ends the transaction; verbs in any case; the null
// reverse path.
func TestResetAndAnyCase(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.send("lhlo x\r\nmail from:<a@example.org>\r\nrcpt to:<test@example.com>\r\nrset\r\ndata\r\nrcpt to:<test@example.com>\r\n")
	c.expect("250-")
	c.expect("250 2.1.0 ", "250 2.1.5 ", "250 2.0.0 ", "503 5.5.1 ", "503 5.5.1 ")
	c.send("Mail From:<>\r\nRcPt To:<TEST@EXAMPLE.COM>\r\nDaTa\r\n")
	c.expect("250 2.1.0 ", "250 2.1.5 ", "354 ")
	c.send(post)
	c.expect("250 2.0.0 <TEST@EXAMPLE.COM>")
	es := ts.entries(t, "incoming")
	if len(es) != 1 || !strings.Contains(string(es[0].Message), "X-MailFrom: \r\n") {
		t.Fatalf("the post with the null reverse path was not queued as one: %d entries", len(es))
	}
}

// Point 7: an unknown verb is 500 5.5.1; after a few errors the server
// says 421 and closes the connection.
func TestTooManyErrors(t *testing.T) {
	ts := startServer(t, nil)
	out := ts.transcript(t, "LHLO x\r\n"+strings.Repeat("FOOO\r\n", 30), 1<<20)
	lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
	var errs int
	for _, l := range lines[1:] {
		switch {
		case strings.HasPrefix(l, "250"):
		case strings.HasPrefix(l, "500 5.5.1 "):
			errs++
		case strings.HasPrefix(l, "421 4.7.0 "):
			if errs < 3 || errs > 20 {
				t.Errorf("421 after %d errors, want 3 to 20", errs)
			}
			if l != lines[len(lines)-1] {
				t.Errorf("replies after the 421: %q", out)
			}
			return
		default:
			t.Fatalf("reply %q to an unknown verb, want 500 5.5.1", l)
		}
	}
	t.Fatalf("no 421 after %d errors:\n%s", errs, out)
}

// Point 9: every 2xx, 4xx and 5xx reply after the LHLO reply carries an
// enhanced code of the same class followed by text; the greeting, the LHLO
// reply and 354 carry none.
func TestEnhancedCodes(t *testing.T) {
	ts := startFailingServer(t, nil, "bounces")
	session := "LHLO x\r\nNOOP\r\nVRFY x\r\nHELP\r\nMAIL FROM:<a@example.org> SIZE=100\r\n" +
		"RCPT TO:<test@example.com>\r\nRCPT TO:<nolist@example.com>\r\nRCPT TO:<@example.com>\r\nRCPT TO:<test@example.com> FOO=1\r\n" +
		"RCPT TO:<test-bounces@example.com>\r\nDATA\r\n" + post +
		"MAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nDATA\r\nbroken header\r\n\r\n.\r\n" +
		"MAIL FROM:<a@example.org> SIZE=99999999\r\nMAIL FROM:<bad\r\nDATA\r\nRSET\r\nFOOO\r\nQUIT\r\n"
	out := ts.transcript(t, session, 1<<20)
	lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
	enhanced := regexp.MustCompile(`^([245])\d\d[ -]([245])\.\d{1,3}\.\d{1,3} \S`)
	lhloDone := false
	for i, l := range lines {
		switch {
		case i == 0 || strings.HasPrefix(l, "354 "):
			if regexp.MustCompile(`^\d{3}[ -]\d\.\d`).MatchString(l) {
				t.Errorf("%q carries an enhanced code", l)
			}
		case !lhloDone:
			if regexp.MustCompile(`^250[ -]\d\.\d`).MatchString(l) {
				t.Errorf("LHLO reply line %q carries an enhanced code", l)
			}
			lhloDone = strings.HasPrefix(l, "250 ")
		default:
			m := enhanced.FindStringSubmatch(l)
			if m == nil || m[1] != m[2] {
				t.Errorf("reply %q: want an enhanced code of its class, then text", l)
			}
		}
	}
	if len(lines) < 20 || !strings.HasPrefix(lines[len(lines)-1], "221 ") {
		t.Fatalf("the session did not run to its end:\n%s", out)
	}
}

// Points 10, 11 and 12: one reply per accepted recipient after the data,
// in RCPT order; a rejected recipient gets none; a list given twice gets
// two replies and one copy.
func TestPerRecipientReplies(t *testing.T) {
	cases := []struct {
		name    string
		rcpts   []string // "!" before one that RCPT refuses
		entries int
	}{
		{"three lists", []string{"test@example.com", "mylist@example.com", "test-join@example.com"}, 3},
		{"a refused one between", []string{"test@example.com", "!bogus@example.com", "mylist@example.com"}, 2},
		{"the same list twice", []string{"test@example.com", "Test@Example.com"}, 1},
		{"50 recipients", repeat("test@example.com", 50), 1},
		{"150 recipients", repeat("mylist@example.com", 150), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			c := ts.dial(t)
			var b strings.Builder
			b.WriteString("LHLO x\r\nMAIL FROM:<a@example.org>\r\n")
			var accepted []string
			for _, r := range tc.rcpts {
				b.WriteString("RCPT TO:<" + strings.TrimPrefix(r, "!") + ">\r\n")
				if !strings.HasPrefix(r, "!") {
					accepted = append(accepted, r)
				}
			}
			c.send(b.String() + "DATA\r\n" + post + "NOOP\r\n")
			c.expect("250-", "250 ")
			for _, r := range tc.rcpts {
				if strings.HasPrefix(r, "!") {
					c.expect("550 5.1.1 ")
				} else {
					c.expect("250 2.1.5 ")
				}
			}
			c.expect("354 ")
			for _, r := range accepted {
				c.expect("250 2.0.0 <" + r + ">")
			}
			// The next reply is the NOOP's: no extra reply after the data.
			c.expect("250 2.0.0 I have successfully done nothing")
			if n := len(ts.entries(t, "incoming")); n != tc.entries {
				t.Errorf("incoming holds %d entries, want %d", n, tc.entries)
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// panicQueue panics on every enqueue into one queue, as a bug would.
type panicQueue struct {
	Queuer
	queue string
}

func (p panicQueue) Enqueue(queue string, msg []byte, md switchboard.Msgdata) (string, error) {
	if queue == p.queue {
		panic("enqueue failed badly")
	}
	return p.Queuer.Enqueue(queue, msg, md)
}

// Points 13 and 14: each failure that TestOneReplyPerRecipientOnEveryFailure
// and TestPipelinedMixedOutcomes do not cover still gives every accepted
// recipient exactly one reply: a panic while queueing (temporary failures
// from there on, then the connection closes) and a message without a
// Message-ID (given one, accepted).
func TestEveryFailureStillRepliesPerRecipient(t *testing.T) {
	t.Run("panic while queueing", func(t *testing.T) {
		ts := startServer(t, nil)
		srv := New(config.Default(), ts.store, panicQueue{Queuer: ts.journal, queue: "bounces"}, discardLog())
		ls, err := Listen("127.0.0.1", 0, "")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ls)
		t.Cleanup(func() { srv.Shutdown(t.Context()) })
		out := (&testServer{addr: ls[0].Addr().String()}).transcript(t, "LHLO x\r\nMAIL FROM:<a@example.org>\r\n"+
			"RCPT TO:<test@example.com>\r\nRCPT TO:<test-bounces@example.com>\r\nRCPT TO:<mylist@example.com>\r\nDATA\r\n"+post, 1<<20)
		after := out[strings.Index(out, "354 "):]
		got := regexp.MustCompile(`(?m)^\d{3} \d\.\d\.\d <[^>]+>`).FindAllString(after, -1)
		want := []string{"250 2.0.0 <test@example.com>", "421 4.0.0 <test-bounces@example.com>", "421 4.0.0 <mylist@example.com>"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("replies after the data %q, want %q\n%s", got, want, out)
		}
		if n := len(ts.entries(t, "incoming")); n != 1 {
			t.Errorf("incoming holds %d entries, want 1", n)
		}
	})
	t.Run("no Message-ID", func(t *testing.T) {
		ts := startServer(t, nil)
		c := ts.dial(t)
		c.begin("test@example.com", "mylist@example.com")
		c.send("From: a@example.org\r\nSubject: no id\r\n\r\nbody\r\n.\r\n")
		c.expect("250 2.0.0 <test@example.com>", "250 2.0.0 <mylist@example.com>")
		for _, e := range ts.entries(t, "incoming") {
			if !regexp.MustCompile(`\r\nMessage-ID: <[0-9a-f]{32}@[^>]+>\r\nMessage-ID-Hash: [A-Z2-7]{32}\r\n`).Match(e.Message) {
				t.Errorf("no Message-ID given:\n%s", e.Message)
			}
		}
	})
}

// slowQueue takes a while for every entry, as a loaded disk does.
type slowQueue struct{ Queuer }

func (s slowQueue) Enqueue(queue string, msg []byte, md switchboard.Msgdata) (string, error) {
	time.Sleep(200 * time.Millisecond)
	return s.Queuer.Enqueue(queue, msg, md)
}

// Point 16: with every entry slow to queue, all the replies still come, in
// order, in about the time the entries take. (They are written together
// when the session next waits for the client: see limitConn.)
func TestSlowQueueReplies(t *testing.T) {
	ts := startServer(t, nil)
	srv := New(config.Default(), ts.store, slowQueue{ts.journal}, discardLog())
	ls, err := Listen("127.0.0.1", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ls)
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	slow := &testServer{addr: ls[0].Addr().String()}
	c := slow.dial(t)
	c.begin("test@example.com", "mylist@example.com", "test-join@example.com")
	start := time.Now()
	c.send(post)
	c.expect("250 2.0.0 <test@example.com>", "250 2.0.0 <mylist@example.com>", "250 2.0.0 <test-join@example.com>")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the replies took %v for three entries of 200 ms", d)
	}
}

// Point 19: a pipelined session written one byte at a time gets the same
// replies as written at once.
func TestByteAtATime(t *testing.T) {
	session := "LHLO x\r\nMAIL FROM:<anne@example.org>\r\nRCPT TO:<test@example.com>\r\nRCPT TO:<bogus@example.com>\r\n" +
		"RCPT TO:<mylist-owner@example.com>\r\nDATA\r\n" +
		"From: anne@example.org\r\nMessage-ID: <bytes>\r\n\r\n..stuffed\r\nbare\nLF.\nand CR\r.\r\r\n..\r\n.\r\n" +
		"NOOP\r\nMAIL FROM:<>\r\nRCPT TO:<test-request@example.com>\r\nDATA\r\nSubject: two\r\nMessage-ID: <two>\r\n\r\n.\r\nQUIT\r\n"
	whole := startServer(t, nil)
	want := whole.transcript(t, session, len(session))
	if strings.Count(want, "250 2.0.0 <") != 3 || !strings.HasSuffix(want, "221 2.0.0 Bye\r\n") {
		t.Fatalf("the session written at once went wrong:\n%s", want)
	}
	bytewise := startServer(t, nil)
	if got := bytewise.transcript(t, session, 1); got != want {
		t.Errorf("written a byte at a time:\n%s\nat once:\n%s", got, want)
	}
	for _, q := range []string{"incoming", "command"} {
		a, b := whole.entries(t, q), bytewise.entries(t, q)
		if len(a) != len(b) {
			t.Fatalf("%s: %d entries, and %d written a byte at a time", q, len(a), len(b))
		}
		for i := range a {
			if string(a[i].Message) != string(b[i].Message) {
				t.Errorf("%s: queued written a byte at a time\n%q\nat once\n%q", q, b[i].Message, a[i].Message)
			}
		}
	}
}

// Points 23 and 24: a message of exactly max_message_size is accepted, one
// byte more gets 552 5.3.4 per recipient after the data and the
// connection goes on; SIZE= over the limit gets 552 5.3.4 at MAIL.
func TestSizeLimit(t *testing.T) {
	const limit = 64 << 10
	ts := startServer(t, func(c *config.Config) { c.MTA.MaxMessageSize = limit })
	c := ts.dial(t)
	c.send("LHLO x\r\n")
	if lhlo := c.reply(); !strings.Contains(lhlo, fmt.Sprintf("SIZE %d\n", limit)) {
		t.Errorf("LHLO does not advertise SIZE %d:\n%s", limit, lhlo)
	}
	c.send(fmt.Sprintf("MAIL FROM:<a@example.org> SIZE=%d\r\nRSET\r\nMAIL FROM:<a@example.org> SIZE=%d\r\n", limit, limit+1))
	c.expect("250 2.1.0 ", "250 ", "552 5.3.4 ")
	message := func(size int, end string) string {
		head := "Message-ID: <size>\r\n\r\n"
		return head + strings.Repeat("x", size-len(head)-len(end)) + end
	}
	cases := []struct {
		name  string
		data  string
		reply string
	}{
		{"at the limit", message(limit, "\r\n"), "250 2.0.0 "},
		{"one byte over", message(limit+1, "\r\n"), "552 5.3.4 "},
		// limitConn hands go-smtp this one with two bytes more.
		{"at the limit, after a bare CR", message(limit, "\r\r\n"), "250 2.0.0 "},
		{"one byte over, after a bare CR", message(limit+1, "\r\r\n"), "552 5.3.4 "},
		{"far over", message(3*limit, "\r\n"), "552 5.3.4 "},
	}
	queued := 0
	for _, tc := range cases {
		c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nRCPT TO:<mylist@example.com>\r\nDATA\r\n")
		c.expect("250 ", "250 ", "250 ", "354 ")
		c.send(tc.data + ".\r\n")
		for range 2 {
			if got := c.reply(); !strings.HasPrefix(got, tc.reply) {
				t.Errorf("%s: reply %q, want %q", tc.name, got, tc.reply)
			}
		}
		c.send("NOOP\r\n")
		c.expect("250 2.0.0 I have successfully done nothing")
		if tc.reply == "250 2.0.0 " {
			queued += 2
		}
	}
	es := ts.entries(t, "incoming")
	if len(es) != queued {
		t.Fatalf("incoming holds %d entries, want %d", len(es), queued)
	}
	for _, e := range es {
		if n := e.Msgdata.Int("original_size"); n != limit {
			t.Errorf("original_size %d, want %d", n, limit)
		}
	}
}

// Point 37: by default the listener is on the loopback interface, not on
// port 25.
func TestDefaultListener(t *testing.T) {
	cfg := config.Default()
	if cfg.MTA.LMTPPort == 25 {
		t.Errorf("the default LMTP port is 25")
	}
	ls, err := Listen(cfg.MTA.LMTPHost, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ls[0].Close()
	if a, ok := ls[0].Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() || len(ls) != 1 {
		t.Errorf("the default listener is on %v", ls[0].Addr())
	}
}

// Point 38: a recipient outside the lists' domains is 550 5.1.1: nothing
// is relayed.
func TestNoRelay(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.send("LHLO x\r\nMAIL FROM:<a@example.org>\r\n")
	c.expect("250-", "250 ")
	for _, rcpt := range []string{
		"test@example.org", "test@evil.example", "test@example.com.evil.example", "test%example.com@evil.example",
		"test@example.com@evil.example", "@example.com:test@evil.example", "evil.example!test@example.com",
	} {
		c.send("RCPT TO:<" + rcpt + ">\r\n")
		if got := c.reply(); !strings.HasPrefix(got, "550 5.1.1 ") && !strings.HasPrefix(got, "501 5.1.3 ") {
			t.Errorf("RCPT TO:<%s>: %q, want 550 5.1.1", rcpt, got)
		}
	}
	c.send("DATA\r\n")
	c.expect("503 5.5.1 ")
}

// discardLog is a logger for servers whose log no test reads.
func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Point 36: ten thousand messages on one connection take no more memory
// at the end than after the first thousand.
func TestManyMessagesOneConnection(t *testing.T) {
	ts := startServer(t, nil)
	srv := New(config.Default(), ts.store, memQueue{}, discardLog())
	ls, err := Listen("127.0.0.1", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ls)
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	c := (&testServer{addr: ls[0].Addr().String()}).dial(t)
	c.send("LHLO x\r\n")
	c.expect("250-")
	const batch = 100
	one := "MAIL FROM:<a@example.org>\r\nRCPT TO:<test@example.com>\r\nDATA\r\nMessage-ID: <tiny>\r\n\r\nhi\r\n.\r\n"
	send := func(n int) {
		for range n / batch {
			c.send(strings.Repeat(one, batch))
			for range batch {
				c.expect("250 ", "250 ", "354 ", "250 2.0.0 ")
			}
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	send(1000)
	before := heap()
	send(9000)
	if after := heap(); after > before+4<<20 {
		t.Errorf("the heap grew from %d to %d bytes over 9000 messages", before, after)
	}
}
