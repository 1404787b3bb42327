package lmtp

import (
	"io"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/config"
)

// acceptAll is a session that takes every sender, recipient and message,
// so that what a bare go-smtp server writes is go-smtp's own.
type acceptAll struct{}

func (acceptAll) Reset()                                             {}
func (acceptAll) Logout() error                                      { return nil }
func (acceptAll) Mail(string, *smtp.MailOptions) error               { return nil }
func (acceptAll) Rcpt(string, *smtp.RcptOptions) error               { return nil }
func (acceptAll) Data(r io.Reader) error                             { _, err := io.Copy(io.Discard, r); return err }
func (acceptAll) LMTPData(r io.Reader, _ smtp.StatusCollector) error { return acceptAll{}.Data(r) }

// bareTranscript sends input to go-smtp set up as the runner sets it up,
// but without limitConn in between, and returns what go-smtp writes until
// it closes the connection.
func bareTranscript(t *testing.T, input string) string {
	t.Helper()
	srv := newSMTPServer(config.Default(), "bare.example", discardLog(), smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return acceptAll{}, nil }))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return (&testServer{addr: l.Addr().String()}).transcript(t, input, 1<<20)
}

// TestCorrectedRepliesAreGoSMTPs: every reply limitConn rewrites is one
// go-smtp itself still writes, word for word up to where the rewriting
// starts, so that a go-smtp that words it otherwise fails here rather than
// letting its reply through uncorrected.
func TestCorrectedRepliesAreGoSMTPs(t *testing.T) {
	const lhlo, quit = "LHLO x\r\n", "QUIT\r\n"
	// provoke is, by reply, a session that makes go-smtp write it.
	// provoke is, by reply, a session that makes go-smtp write it and then
	// close the connection; the two sessions that go-smtp closes send
	// nothing more than it reads.
	provoke := map[string]string{
		"502 5.5.1 Please introduce yourself first.": "MAIL FROM:<a@example.org>\r\n" + quit,
		"502 5.5.1 Missing MAIL FROM command.":       lhlo + "RCPT TO:<b@example.com>\r\n" + quit,
		"502 5.5.1 Missing RCPT TO command.":         lhlo + "MAIL FROM:<a@example.org>\r\nDATA\r\n" + quit,
		"500 5.5.2 Syntax errors, ":                  lhlo + "FOOO\r\n" + quit,
		"501 5.5.2 Bad command":                      "FOO\r\n" + quit,
		"500 5.5.1 Too many errors. Quiting now":     strings.Repeat("FOO\r\n", 4),
		"500 5.4.0 Too long line":                    "NOOP " + strings.Repeat("x", maxDataLine-4),
		"500 5.5.4 Unknown ":                         lhlo + "MAIL FROM:<a@example.org> FOO=1\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com> FOO=1\r\n" + quit,
		"501 5.5.2 Was expecting MAIL arg syntax":    lhlo + "MAIL x\r\n" + quit,
		"501 5.5.2 Was expecting RCPT arg syntax":    lhlo + "MAIL FROM:<a@example.org>\r\nRCPT x\r\n" + quit,
		"250 2.0.0 Roger, accepting mail from ":      lhlo + "MAIL FROM:<a@example.org>\r\n" + quit,
		"250 2.0.0 I'll make sure <":                 lhlo + "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n" + quit,
	}
	for _, r := range corrected {
		t.Run(r.from, func(t *testing.T) {
			input, ok := provoke[r.from]
			if !ok {
				t.Fatalf("no session here provokes %q: add one", r.from)
			}
			delete(provoke, r.from)
			out := bareTranscript(t, input)
			for l := range strings.SplitSeq(out, "\r\n") {
				if strings.HasPrefix(l, r.from) {
					return
				}
			}
			t.Errorf("go-smtp no longer writes %q; it wrote:\n%s", r.from, out)
		})
	}
	for from := range provoke {
		t.Errorf("%q is no longer corrected: remove its session here", from)
	}
}

// TestRewrittenLinesAreGoSMTPs: the other lines limitConn acts on are
// go-smtp's too: the bare SIZE and the CHUNKING of its LHLO reply, which
// it rewrites, the 354 after which it reads the data itself, and the reply
// to standIn, one line that it replaces.
func TestRewrittenLinesAreGoSMTPs(t *testing.T) {
	out := bareTranscript(t, "LHLO x\r\n"+string(standIn)+"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n.\r\nQUIT\r\n")
	for _, want := range []string{`(?m)^250-CHUNKING\r$`, `(?m)^250[ -]SIZE\r$`, `\n250 LIMITS RCPTMAX=\d+\r\n250 2\.0\.0 [^\r\n]*\r\n250 2\.0\.0 Roger`, `(?m)^354 `} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("go-smtp no longer writes a line %s; it wrote:\n%s", want, out)
		}
	}
}
