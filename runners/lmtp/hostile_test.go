package lmtp

// Hostile input: what a broken or malicious client sends, and what the
// server must make of it (docs/reliability.md, points 21, 22, 25-27, 34, 35).

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/store"
)

// smuggled is a second transaction hidden in a message's data: a server
// that takes one of the forms below for the end of the data would run it.
const smuggled = "MAIL FROM:<evil@example.org>\r\nRCPT TO:<mylist@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n"

// Point 21: only CRLF "." CRLF ends the data (CVE-2023-51764 class); the
// other forms are data, kept byte for byte. RFC 5321 §4.5.2 still applies
// to every line that starts after a CRLF: its leading dot is removed.
func TestSmuggledEndOfData(t *testing.T) {
	cases := []struct {
		name, wire, stored string // stored "" means the same as wire
	}{
		{"LF.LF", "a\n.\n" + smuggled, ""},
		{"LF.CRLF", "a\n.\r\n" + smuggled, ""},
		{"CR.CR", "a\r.\r" + smuggled, ""},
		{"CR.CRLF", "a\r.\r\n" + smuggled, ""},
		{"CR.LF", "a\r.\n" + smuggled, ""},
		{"LF..LF", "a\n..\n" + smuggled, ""},
		{"CRLF.LF", "a\r\n.\n" + smuggled, "a\r\n\n" + smuggled},
		{"CRLF.CR", "a\r\n.\r" + smuggled, "a\r\n\r" + smuggled},
		{"CRLF.CRCRLF", "a\r\n.\r\r\n" + smuggled, "a\r\n\r\r\n" + smuggled},
		{"CRLF.NUL", "a\r\n.\x00\r\n" + smuggled, "a\r\n\x00\r\n" + smuggled},
		{"CRLF.space", "a\r\n. \r\n" + smuggled, "a\r\n \r\n" + smuggled},
		// go-smtp's own reader loses line starts after a bare CR: it took
		// the stuffed dot for data and missed the end that follows.
		{"a stuffed dot after a bare CR", "a\r\r\n..b\r\n", "a\r\r\n.b\r\n"},
		{"the end right after a bare CR", "a\r\r\n", ""},
		{"the end after CRCR", "a\r\r\r\n", ""},
		{"only bare line ends", "\n\r\n\r\r\n\n\r", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.stored == "" {
				tc.stored = tc.wire
			}
			wire := tc.wire
			if !strings.HasSuffix(wire, "\r\n") {
				// The client ends the data on a line of its own.
				wire += "\r\n"
				tc.stored += "\r\n"
			}
			ts := startServer(t, nil)
			c := ts.dial(t)
			c.begin("test@example.com")
			c.send("Message-ID: <smuggle>\r\n\r\n" + wire + ".\r\nNOOP\r\n")
			c.expect("250 2.0.0 <test@example.com>")
			// The next reply is the NOOP's, not a smuggled MAIL's.
			c.expect("250 2.0.0 I have successfully done nothing")
			es := ts.entries(t, "incoming")
			if len(es) != 1 {
				t.Fatalf("incoming holds %d entries, want 1", len(es))
			}
			if m := string(es[0].Message); !strings.HasSuffix(m, "X-MailFrom: a@example.org\r\n\r\n"+tc.stored) {
				t.Errorf("queued\n%q\nwant the body\n%q", m, tc.stored)
			}
		})
	}
}

// Point 22: 8-bit bytes and invalid UTF-8 in the header and the body are
// queued byte for byte, and the listener goes on serving.
func TestEightBitStoredExactly(t *testing.T) {
	var all strings.Builder
	for b := range 256 {
		all.WriteByte(byte(b))
	}
	head := "From: J\xc3\xb6rg <j@example.org>\r\nSubject: \xff\xfe\xc0\x80 \xed\xa0\x80 invalid\r\nX-Latin1: caf\xe9\r\nMessage-ID: <8bit\xe9>\r\n"
	body := all.String() + "\r\n\x80\r\n.\xff\r\n"
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.begin("test@example.com")
	c.send(head + "\r\n" + body + ".\r\n")
	c.expect("250 2.0.0 ")
	c.send("MAIL FROM:<j\xf6rg@example.org>\r\nRCPT TO:<t\xe9st@example.com>\r\nRCPT TO:<mylist@example.com>\r\nDATA\r\n")
	c.expect("250 ", "550 5.1.1 ", "250 ", "354 ")
	c.send(post)
	c.expect("250 2.0.0 <mylist@example.com>")
	es := ts.entries(t, "incoming")
	if len(es) != 2 {
		t.Fatalf("incoming holds %d entries, want 2", len(es))
	}
	var eight string
	for _, e := range es {
		if strings.Contains(string(e.Message), "caf\xe9") {
			eight = string(e.Message)
		}
	}
	stored := strings.Replace(body, "\r\n.\xff", "\r\n\xff", 1) // the stuffed dot goes
	if !strings.HasPrefix(eight, head) || !strings.HasSuffix(eight, "\r\n\r\n"+stored) {
		t.Errorf("queued\n%q\nwant the header\n%q\nand the body\n%q", eight, head, stored)
	}
	fresh := ts.dial(t)
	fresh.send("NOOP\r\n")
	fresh.expect("250 ")
}

// Point 25: a data line over go-smtp's 1 MiB line limit is refused for
// good (a 451 would have the MTA retry it for days), once per recipient;
// lines up to it are kept (TestLongLines).
func TestDataLineOverTheLimit(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.MTA.MaxMessageSize = 4 << 20 })
	c := ts.dial(t)
	c.begin("test@example.com", "mylist@example.com")
	c.send("Message-ID: <long>\r\n\r\n" + strings.Repeat("z", 3<<19) + "\r\n.\r\n")
	c.expect("554 5.6.0 <test@example.com>", "554 5.6.0 <mylist@example.com>")
	if n := len(ts.entries(t, "incoming")); n != 0 {
		t.Errorf("incoming holds %d entries", n)
	}
}

// Points 26 and 27 and CVE-2015-2775: long VERP addresses, odd and hostile
// recipients get sane replies, never a crash, and nothing that could be a
// path is taken for a list.
func TestHostileRecipients(t *testing.T) {
	verp := strings.Repeat("anne.verp=", 30) + "example.org"
	cases := []struct{ rcpt, reply string }{
		{"test-bounces+" + verp + "@example.com", "250 2.1.5 "},
		{"TEST-Bounces+" + strings.ToUpper(verp) + "@Example.COM", "250 2.1.5 "},
		{"test-confirm+" + strings.Repeat("0123456789abcdef", 20) + "@example.com", "250 2.1.5 "},
		{"nolist-bounces+" + verp + "@example.com", "550 5.1.1 "},
		{strings.Repeat("a", 300) + "@example.com", "550 5.1.1 "},
		{"test@" + strings.Repeat("d.", 150) + "com", "550 5.1.1 "},
		{"@example.com", "501 5.1.3 "}, // CVE-2020-10967
		{"@", "501 5.1.3 "},
		{"", "501 5.1.3 "},
		{"test", "501 5.1.3 "},
		{"test@", "501 5.1.3 "},
		{`"test"@example.com`, "250 2.1.5 "},
		{`"te st"@example.com`, "550 5.1.1 "},
		{`"test\"@example.com`, "5"},
		{`"test@example.com`, "5"},
		{"@route.example:test@example.com", "250 2.1.5 "},
		{"@a.example,@b.example:test@example.com", "250 2.1.5 "},
		{"@route.example:nolist@example.com", "550 5.1.1 "},
		{"@route.example", "501 5.1.3 "},
		// Since go-smtp v0.26.0 a bare postmaster is an address (RFC 5321
		// §4.1.1.3); no list is called that.
		{"postmaster", "550 5.1.1 "},
		{"PostMaster", "550 5.1.1 "},
		{"test@exämple.com", "550 5.1.1 "},
		{"tëst@example.com", "550 5.1.1 "},
		{"test@xn--exmple-cua.com", "550 5.1.1 "},
		{"test\xff@example.com", "550 5.1.1 "},
		{"../../etc/passwd@example.com", "550 5.1.1 "},
		{"test/../test@example.com", "550 5.1.1 "},
		{"..@example.com", "550 5.1.1 "},
		{".test@example.com", "550 5.1.1 "},
		{"a/b@example.com", "550 5.1.1 "},
		{"a\\b@example.com", "501 5.1.3 "}, // a backslash outside quotes
		{"test@../../etc", "550 5.1.1 "},
		{"test@example.com/../x", "550 5.1.1 "},
		{"test%2f..@example.com", "550 5.1.1 "},
		{"test-bounces+../../etc@example.com", "250 2.1.5 "}, // the part after + is no list name
	}
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.send("LHLO x\r\nMAIL FROM:<a@example.org>\r\n")
	c.expect("250-", "250 ")
	for _, tc := range cases {
		c.send("RCPT TO:<" + tc.rcpt + ">\r\n")
		if got := c.reply(); !strings.HasPrefix(got, tc.reply) {
			t.Errorf("RCPT TO:<%s>: %q, want %q", tc.rcpt, got, tc.reply)
		}
	}
	c.send("DATA\r\n")
	c.expect("354 ")
	c.send(post)
	for _, tc := range cases {
		if strings.HasPrefix(tc.reply, "250") {
			c.expect("250 2.0.0 <")
		}
	}
	// The accepted ones went to test's queues, once each.
	for q, want := range map[string]int{"bounces": 1, "command": 1, "incoming": 1} {
		if n := len(ts.entries(t, q)); n != want {
			t.Errorf("%s holds %d entries, want %d", q, n, want)
		}
	}
	c.send("NOOP\r\n")
	c.expect("250 2.0.0 I have successfully done nothing")
}

// CVE-2015-2775: whatever the recipient, the list the runner looks up (and
// so the store or anything else could take for a name) never holds a path.
func TestResolveNeverLooksUpAPath(t *testing.T) {
	for _, rcpt := range []string{
		"../etc@example.com", "a/b@example.com", "a..b@example.com", "..@example.com", "/@example.com",
		"x/..-bounces@example.com", "..-request@example.com", "a\\b@example.com", "test@../x", "test@a/b",
		"test-bounces+../../../x@example.com", ".-join@example.com", "x-join-join/..@example.com",
	} {
		var asked []store.ListAddress
		exists := func(_ context.Context, a store.ListAddress) (bool, error) {
			asked = append(asked, a)
			return true, nil
		}
		got, err := resolve(context.Background(), rcpt, exists)
		if err == nil {
			asked = append(asked, got.list)
		} else if !errors.Is(err, errNoSuchList) {
			t.Errorf("resolve(%q): %v", rcpt, err)
		}
		for _, a := range asked {
			if unsafeName(a.Name) || unsafeName(a.Domain) {
				t.Errorf("resolve(%q) took %q for a list", rcpt, a)
			}
		}
	}
}

func unsafeName(s string) bool {
	return s == "" || strings.ContainsAny(s, "/\\\x00") || strings.Contains(s, "..") || strings.HasPrefix(s, ".")
}

// Points 34 and 35: clients that send a byte a second and 50 idle
// connections neither block the others nor get cut early; a normal client
// still gets its replies at once.
func TestSlowAndIdleClients(t *testing.T) {
	ts := startServer(t, nil)
	var idle []*conn
	for range 50 {
		c := ts.dial(t)
		c.send("LHLO idle\r\n")
		c.expect("250-")
		idle = append(idle, c)
	}
	var wg sync.WaitGroup
	slowErrs := make(chan error, 3)
	for range 3 {
		sc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		wg.Go(func() {
			buf := make([]byte, 512)
			sc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := sc.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "220 ") {
				slowErrs <- errors.New("a slow client got no greeting")
				return
			}
			for _, b := range []byte("NOOP\r\n") {
				if _, err := sc.Write([]byte{b}); err != nil {
					slowErrs <- err
					return
				}
				time.Sleep(500 * time.Millisecond)
			}
			n, err := sc.Read(buf)
			if err != nil || !strings.HasPrefix(string(buf[:n]), "250 2.0.0 ") {
				slowErrs <- errors.New("a slow client got " + string(buf[:n]))
			}
		})
	}
	time.Sleep(time.Second) // the slow clients are halfway through their NOOP
	c := ts.dial(t)
	start := time.Now()
	c.begin("test@example.com")
	c.send(post)
	c.expect("250 2.0.0 ")
	if d := time.Since(start); d > time.Second {
		t.Errorf("a transaction took %v beside slow and idle clients", d)
	}
	wg.Wait()
	close(slowErrs)
	for err := range slowErrs {
		t.Error(err)
	}
	for _, ic := range idle {
		ic.send("NOOP\r\n")
		ic.expect("250 ")
	}
}
