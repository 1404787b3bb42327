package command

import (
	"context"
	"encoding/base64"
	"errors"
	"github.com/mailman-go/mailman/subscription"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/moderation"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// fixture is a list test@example.com with owner owen and moderator mona, a
// store, and the queues the runner writes.
type fixture struct {
	h        *Handler
	site     *runnertest.Site
	st       *store.Store
	list     store.ListAddress
	virgin   *switchboard.Switchboard
	pipeline *switchboard.Switchboard
	log      *slog.Logger
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	site := runnertest.New(t, map[store.Role][]string{store.Owner: {"owen@example.com"}, store.Moderator: {"mona@example.com"}})
	f := &fixture{site: site, st: site.Store, list: site.List, virgin: site.Queue("virgin"), pipeline: site.Queue("pipeline"),
		log: slog.New(slog.NewTextHandler(t.Output(), nil))}
	f.h = &Handler{
		Store: f.st, Virgin: f.virgin,
		Moderator: &moderation.Moderator{Store: f.st, Pipeline: f.pipeline, Virgin: f.virgin},
		Settings: Settings{PendingRequestLife: 72 * time.Hour, ModeratorRequestLife: 180 * 24 * time.Hour,
			MaxAutoresponsesPerDay: 10, MaxReplySize: 64 << 10},
	}
	return f
}

func (f *fixture) set(t testing.TB, key, value string) {
	t.Helper()
	f.site.Set(key, value)
}

func (f *fixture) addMember(t *testing.T, addr string) {
	t.Helper()
	if _, err := f.st.AddMembers(context.Background(), f.list, store.Regular, []string{addr}, nil); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) isMember(t *testing.T, addr string) *store.Member {
	t.Helper()
	m, err := f.st.Member(context.Background(), "test.example.com", addr, store.Regular)
	if errors.Is(err, store.ErrNoSuchMember) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// letter is a message from anne with the given header lines and body.
func letter(headers, body string) string {
	if !strings.Contains(headers, "From:") {
		headers = "From: anne@example.org\r\n" + headers
	}
	return headers + "\r\n" + body
}

// dispose runs raw through the runner as mail to the sub-address sub (""
// for none, "request" for -request).
func (f *fixture) dispose(t testing.TB, raw, sub string) {
	t.Helper()
	md := switchboard.Msgdata{}
	md.Set(msgdata.ListID, "test.example.com")
	if sub != "" {
		md.Set(msgdata.Subaddress, sub)
	}
	if sub == "request" {
		md.Set(msgdata.ToRequest, true)
	}
	if _, err := f.h.Dispose(context.Background(), &switchboard.Entry{Name: "test", Message: []byte(raw), Msgdata: md}, f.log); err != nil {
		t.Fatal(err)
	}
}

// sent is what the runner queued for the virgin runner since the last
// call, in order, parsed; the queue is emptied.
type sent struct {
	msg *message.Message
	md  switchboard.Msgdata
}

func (s sent) recipients(t *testing.T) []string {
	t.Helper()
	var rs []string
	if _, err := s.md.Get(msgdata.Recipients, &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

func (s sent) body() string {
	text, _ := s.msg.FirstText()
	return strings.ReplaceAll(text, "\r\n", "\n")
}

func (f *fixture) sent(t testing.TB) []sent {
	t.Helper()
	var out []sent
	for _, e := range runnertest.Take(t, f.virgin) {
		msg, err := message.Parse(e.Message)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sent{msg, e.Msgdata})
	}
	return out
}

// bySubject returns the one message sent with a subject starting with
// prefix.
func bySubject(t testing.TB, ss []sent, prefix string) sent {
	t.Helper()
	var found []sent
	for _, s := range ss {
		if strings.HasPrefix(s.msg.Decoded("Subject"), prefix) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d messages with a subject starting %q in %s", len(found), prefix, subjects(ss))
	}
	return found[0]
}

func subjects(ss []sent) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.msg.Decoded("Subject"))
	}
	return out
}

// results is the one results reply in ss, failing otherwise.
func results(t *testing.T, ss []sent) sent {
	t.Helper()
	return bySubject(t, ss, "The results of your email commands")
}

var tokenInSubject = regexp.MustCompile(`confirm ([0-9a-f]{40})`)

// confirmation returns the one confirmation request in ss and its token,
// checking that its From address carries the token.
func confirmation(t testing.TB, ss []sent) (sent, string) {
	t.Helper()
	c := bySubject(t, ss, "Your confirmation is needed")
	m := tokenInSubject.FindStringSubmatch(c.body())
	if m == nil {
		t.Fatalf("no token in the confirmation:\n%s", c.body())
	}
	if from := c.msg.Get("From"); from != "test-confirm+"+m[1]+"@example.com" {
		t.Errorf("confirmation From %q, want test-confirm+%s@example.com", from, m[1])
	}
	if c.msg.Get("Auto-Submitted") != "auto-generated" || c.msg.Has("Precedence") {
		t.Errorf("confirmation Auto-Submitted %q, Precedence %q: want auto-generated and none", c.msg.Get("Auto-Submitted"), c.msg.Get("Precedence"))
	}
	return c, m[1]
}

// resultLines are the non-blank lines between "- Results:" and the next
// section of a results reply.
func resultLines(t *testing.T, s sent) []string {
	t.Helper()
	body := s.body()
	_, after, ok := strings.Cut(body, "- Results:\n")
	if !ok {
		t.Fatalf("no Results section in\n%s", body)
	}
	var out []string
	for _, l := range strings.Split(after, "\n") {
		if strings.HasPrefix(l, "- ") {
			break
		}
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// Case 61: the reply's layout, headers and metadata.
func TestResultsReply(t *testing.T) {
	f := newFixture(t)
	f.dispose(t, letter("Subject: echo hello\r\nMessage-ID: <cmd@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n", ""), "request")
	ss := f.sent(t)
	if len(ss) != 1 {
		t.Fatalf("sent %v, want one reply", subjects(ss))
	}
	r := ss[0]
	want := `The results of your email command are provided below.

- Original message details:
    From: anne@example.org
    Subject: echo hello
    Date: Mon, 23 Nov 2026 10:00:00 +0000
    Message-ID: <cmd@example.org>

- Results:
echo hello

- Done.
`
	if got := r.body(); got != want {
		t.Errorf("reply body\n%s\nwant\n%s", got, want)
	}
	for name, want := range map[string]string{
		"Subject": "The results of your email commands", "From": "test-bounces@example.com",
		"To": "anne@example.org", "Precedence": "bulk",
	} {
		if got := r.msg.Get(name); got != want {
			t.Errorf("reply %s %q, want %q", name, got, want)
		}
	}
	if r.md.String(msgdata.ListID) != "test.example.com" || !r.md.Bool(msgdata.NoDecorate) || !r.md.Bool(msgdata.ReducedListHeaders) ||
		!slices.Equal(r.recipients(t), []string{"anne@example.org"}) {
		t.Errorf("reply metadata %v", r.md)
	}
}

// Cases 62, 66, 77, 78 and the reading rules: which lines run, and what
// the reply says of the rest.
func TestCommandLines(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    []string // lines of the reply body, each found in order
		notWant []string
	}{
		{"body only, no subject", letter("", "echo foo bar\r\n"),
			[]string{"    Subject: n/a", "- Results:", "echo foo bar", "- Done."}, nil},
		{"end stops", letter("", "echo foo bar\r\nend ignored\r\necho baz qux\r\n"),
			[]string{"echo foo bar", "- Unprocessed:", "echo baz qux", "- Done."}, []string{"ignored\n"}},
		{"stop stops", letter("", "echo foo bar\r\nstop\r\necho baz qux\r\n"),
			[]string{"echo foo bar", "- Unprocessed:", "echo baz qux"}, nil},
		{"unknown words", letter("Subject: hello there\r\n", "bad-command\r\n"),
			[]string{"No such command: there", "No such command: bad-command"}, nil},
		{"words lower-cased", letter("", "ECHO Hello World\r\n"), []string{"echo hello world"}, nil},
		{"second word", letter("Subject: Re: echo again\r\n", ""), []string{"echo again"}, nil},
		{"blank lines count towards the ten", letter("", "echo 1\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\necho 10\r\necho 11\r\necho 12\r\n"),
			[]string{"echo 1\n", "echo 10", "- Ignored:\n2 more lines, after the first 10, not read"}, []string{"echo 11", "echo 12"}},
		{"RFC 2047 details", letter("From: =?utf-8?b?0JDQvdCw?= <anne@example.org>\r\nSubject: =?utf-8?q?=D0=9A=D1=8A=D1=89=D0=B0?=\r\n", "bad-command\r\n"),
			[]string{"    From: Ана <anne@example.org>", "    Subject: Къща", "No such command: bad-command"}, nil},
		{"non-text parts", "From: anne@example.org\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\necho plain\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>echo html</p>\r\n--b--\r\n",
			[]string{"Ignoring non-text/plain MIME parts", "echo plain"}, []string{"echo html"}},
		{"no text at all", "From: anne@example.org\r\nSubject: echo subject\r\nContent-Type: text/html\r\n\r\n<p>echo html</p>\r\n",
			[]string{"Ignoring non-text/plain MIME parts", "echo subject"}, []string{"echo html"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.dispose(t, tt.raw, "request")
			r := results(t, f.sent(t))
			body := r.body()
			rest := body
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("reply lacks %q (in order) in\n%s", w, body)
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("reply has %q:\n%s", w, body)
				}
			}
		})
	}
}

// Case 81: help.
func TestHelp(t *testing.T) {
	f := newFixture(t)
	f.dispose(t, letter("Subject: help\r\n", ""), "request")
	got := resultLines(t, results(t, f.sent(t)))
	want := []string{
		"confirm     - Confirm a request.",
		"echo        - Echo back your arguments.",
		"end         - Stop processing commands.",
		"help        - Get help about available email commands.",
		"join        - Join this mailing list.",
		"leave       - Leave this mailing list.",
		"set         - Change how you get this list's posts.",
		"stop        - Stop processing commands.",
		"subscribe   - Join this mailing list.",
		"unsubscribe - Leave this mailing list.",
		"who         - Get a list of the list members.",
	}
	if !slices.Equal(got, want) {
		t.Errorf("help:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	f.dispose(t, letter("Subject: help help\r\n", ""), "request")
	got = resultLines(t, results(t, f.sent(t)))
	if !slices.Equal(got, []string{"help [command]", "Get help about available email commands."}) {
		t.Errorf("help help: %q", got)
	}
	f.dispose(t, letter("Subject: help join\r\n", ""), "request")
	if got = resultLines(t, results(t, f.sent(t))); len(got) < 3 || got[0] != "join [digest=<no|mime|plain>] [address=<address>]" {
		t.Errorf("help join: %q", got)
	}
	f.dispose(t, letter("Subject: help frobnicate\r\n", "echo after\r\n"), "request")
	r := results(t, f.sent(t))
	if got = resultLines(t, r); !slices.Equal(got, []string{"help: no such command: frobnicate"}) || !strings.Contains(r.body(), "- Unprocessed:\necho after") {
		t.Errorf("help frobnicate: %q\n%s", got, r.body())
	}
	f.dispose(t, letter("Subject: help join leave\r\n", ""), "request")
	if got = resultLines(t, results(t, f.sent(t))); !slices.Equal(got, []string{"help: too many arguments: join leave"}) {
		t.Errorf("help join leave: %q", got)
	}
}

// Cases 63, 70 and the end of a subscription: the confirmation and the
// welcome.
func TestJoinAndConfirm(t *testing.T) {
	for _, tt := range []struct {
		name, headers, body, sub string
		wantResults              bool
		wantMode                 string
		wantName                 string
	}{
		{"-join address", "", "", "join", false, "regular", ""},
		{"-join ignores the body", "", "subscribe\r\n", "join", false, "regular", ""},
		{"Subject Join", "Subject: Join\r\n", "", "request", true, "regular", ""},
		{"body join", "", "join\r\n", "request", true, "regular", ""},
		{"join digest=no", "", "join digest=no\r\n", "request", true, "regular", ""},
		{"join digest=mime", "", "join digest=mime\r\n", "request", true, "mime_digests", ""},
		{"subscribe digest=plain", "", "subscribe digest=plain\r\n", "request", true, "plaintext_digests", ""},
		{"display name kept", "From: Anne Person <anne@example.org>\r\n", "join\r\n", "request", true, "regular", "Anne Person"},
		{"join in subject and body: once", "Subject: join\r\n", "join\r\n", "request", true, "regular", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.set(t, "send_welcome_message", "false")
			f.dispose(t, letter(tt.headers, tt.body), tt.sub)
			ss := f.sent(t)
			want := 1
			if tt.wantResults {
				want = 2
				if lines := resultLines(t, results(t, ss)); len(lines) != 1 || !strings.HasPrefix(lines[0], "Confirmation email sent to ") {
					t.Errorf("results %q", lines)
				}
			}
			if len(ss) != want {
				t.Fatalf("sent %q, want %d messages", subjects(ss), want)
			}
			c, token := confirmation(t, ss)
			if got := c.msg.Get("Subject"); got != "Your confirmation is needed to join the test@example.com mailing list." {
				t.Errorf("confirmation Subject %q", got)
			}
			if !slices.Equal(c.recipients(t), []string{"anne@example.org"}) {
				t.Errorf("confirmation recipients %v", c.recipients(t))
			}
			if f.isMember(t, "anne@example.org") != nil {
				t.Fatal("a member before confirming")
			}
			// A plain reply to the confirmation's From address.
			f.dispose(t, letter("To: test-confirm+"+token+"@example.com\r\nSubject: Re: Your confirmation is needed\r\n", "> quoted\r\n"), "confirm")
			m := f.isMember(t, "anne@example.org")
			if m == nil {
				t.Fatal("not a member after confirming")
			}
			if m.DeliveryMode != tt.wantMode || m.DisplayName != tt.wantName {
				t.Errorf("member %+v, want delivery mode %s, name %q", m, tt.wantMode, tt.wantName)
			}
			if ss := f.sent(t); len(ss) != 0 {
				t.Errorf("confirming by the -confirm address sent %q", subjects(ss))
			}
		})
	}
}

// set changes the delivery of the sender's membership.
func TestSet(t *testing.T) {
	for _, tt := range []struct {
		name, body, from string
		member           bool
		want             string
		wantMode         string
		wantEnabled      bool
	}{
		{"digest=mime", "set digest=mime\r\n", "", true, "set: digest=mime changed for anne@example.org", "mime_digests", true},
		{"digest=plain", "set digest=plain\r\n", "", true, "set: digest=plain changed for anne@example.org", "plaintext_digests", true},
		{"digest=no", "set digest=no\r\n", "", true, "set: digest=no changed for anne@example.org", "regular", true},
		{"both", "set digest=mime delivery=disabled\r\n", "", true, "set: digest=mime delivery=disabled changed for anne@example.org", "mime_digests", false},
		{"bad value", "set digest=daily\r\n", "", true, "set: bad argument: digest=daily", "regular", true},
		{"nothing to set", "set\r\n", "", true, "set: say what to change: digest=<no|mime|plain> or delivery=<enabled|disabled>", "regular", true},
		{"not a member", "set digest=mime\r\n", "", false, "set: anne@example.org is not a member of test@example.com", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.member {
				f.addMember(t, "anne@example.org")
			}
			f.dispose(t, letter("", tt.body), "request")
			if lines := resultLines(t, results(t, f.sent(t))); len(lines) == 0 || lines[0] != tt.want {
				t.Errorf("results %q, want %q", lines, tt.want)
			}
			m := f.isMember(t, "anne@example.org")
			if !tt.member {
				if m != nil {
					t.Errorf("set made a member: %+v", m)
				}
				return
			}
			if m.DeliveryMode != tt.wantMode || m.DeliveryEnabled != tt.wantEnabled {
				t.Errorf("member %+v, want delivery mode %s, enabled %v", m, tt.wantMode, tt.wantEnabled)
			}
		})
	}
}

// Case 75: the welcome, From -request, To the new member.
func TestWelcome(t *testing.T) {
	f := newFixture(t)
	f.set(t, "welcome_message", "Please read the FAQ.")
	f.dispose(t, letter("From: Ана <anne@example.org>\r\n", ""), "join")
	_, token := confirmation(t, f.sent(t))
	f.dispose(t, letter("To: test-confirm+"+token+"@example.com\r\nSubject: Re: confirm "+token+"\r\n", ""), "confirm")
	ss := f.sent(t)
	if len(ss) != 1 {
		t.Fatalf("sent %q, want the welcome only", subjects(ss))
	}
	w := bySubject(t, ss, `Welcome to the "Test" mailing list`)
	if w.msg.Get("From") != "test-request@example.com" || !slices.Equal(w.msg.Addresses("To"), []string{"anne@example.org"}) {
		t.Errorf("welcome From %q To %q", w.msg.Get("From"), w.msg.Get("To"))
	}
	if !strings.Contains(w.msg.Decoded("To"), "Ана") {
		t.Errorf("welcome To %q lacks the display name", w.msg.Decoded("To"))
	}
	for _, s := range []string{"test@example.com", "test-leave@example.com", "Please read the FAQ."} {
		if !strings.Contains(w.body(), s) {
			t.Errorf("welcome lacks %q:\n%s", s, w.body())
		}
	}
}

// Cases 68, 69, 81: join refused, with the reason always sent.
func TestJoinRefused(t *testing.T) {
	t.Run("already a member", func(t *testing.T) {
		f := newFixture(t)
		f.addMember(t, "anne@example.org")
		f.dispose(t, letter("Subject: join\r\n", ""), "request")
		ss := f.sent(t)
		lines := resultLines(t, results(t, ss))
		if len(ss) != 1 || len(lines) != 1 || !strings.Contains(lines[0], "anne@example.org") || !strings.Contains(lines[0], "already a member") {
			t.Errorf("sent %q, results %q", subjects(ss), lines)
		}
	})
	t.Run("banned", func(t *testing.T) {
		f := newFixture(t)
		if err := f.st.Ban(context.Background(), "test.example.com", "anne@example.org"); err != nil {
			t.Fatal(err)
		}
		f.dispose(t, letter("", ""), "join")
		ss := f.sent(t)
		if lines := resultLines(t, results(t, ss)); len(ss) != 1 || !slices.Equal(lines, []string{"anne@example.org is not allowed to subscribe to test@example.com"}) {
			t.Errorf("sent %q, results %q", subjects(ss), lines)
		}
	})
	t.Run("pending", func(t *testing.T) {
		f := newFixture(t)
		f.dispose(t, letter("", ""), "join")
		confirmation(t, f.sent(t))
		f.dispose(t, letter("", ""), "join")
		ss := f.sent(t)
		if lines := resultLines(t, results(t, ss)); len(ss) != 1 || !slices.Equal(lines, []string{"anne@example.org has a pending subscription for test@example.com"}) {
			t.Errorf("sent %q, results %q", subjects(ss), lines)
		}
	})
	t.Run("the list's own address", func(t *testing.T) {
		f := newFixture(t)
		f.dispose(t, letter("", "join address=test-request@example.com\r\n"), "request")
		ss := f.sent(t)
		if lines := resultLines(t, results(t, ss)); len(ss) != 1 || len(lines) != 1 || !strings.Contains(lines[0], "not a valid address") {
			t.Errorf("sent %q, results %q", subjects(ss), lines)
		}
	})
	t.Run("bad argument", func(t *testing.T) {
		f := newFixture(t)
		f.dispose(t, letter("", "join digest=daily\r\necho not reached\r\n"), "request")
		r := results(t, f.sent(t))
		if lines := resultLines(t, r); !slices.Equal(lines, []string{"join bad argument: digest=daily"}) || !strings.Contains(r.body(), "- Unprocessed:\necho not reached") {
			t.Errorf("results %q\n%s", lines, r.body())
		}
	})
	t.Run("no address", func(t *testing.T) {
		f := newFixture(t)
		f.dispose(t, "Subject: join\r\n\r\n", "request")
		// With no sender there is no one to answer.
		if ss := f.sent(t); len(ss) != 0 {
			t.Errorf("sent %q", subjects(ss))
		}
	})
	t.Run("address= another address", func(t *testing.T) {
		f := newFixture(t)
		f.dispose(t, letter("", "join address=Bart@Example.org\r\n"), "request")
		ss := f.sent(t)
		c, token := confirmation(t, ss)
		if !slices.Equal(c.recipients(t), []string{"bart@example.org"}) {
			t.Errorf("the confirmation went to %v, want the address to join", c.recipients(t))
		}
		f.dispose(t, letter("Subject: confirm "+token+"\r\n", ""), "request")
		if f.isMember(t, "bart@example.org") == nil {
			t.Error("bart not a member after confirming")
		}
	})
}

// Case 81: the join command finds no address when the message has no
// From and no sender; the message is answered to nobody, but the results
// say so.
func TestJoinNoAddressResult(t *testing.T) {
	f := newFixture(t)
	s := &session{h: f.h, ctx: context.Background(), md: switchboard.Msgdata{}, respond: true, seen: map[string]bool{}, log: f.log}
	var err error
	if s.msg, err = message.Parse([]byte("Subject: join\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if s.list, err = f.st.List(context.Background(), f.list); err != nil {
		t.Fatal(err)
	}
	goOn, err := runJoin(s, "join", nil)
	if err != nil || goOn || s.out.String() != "join: No valid address found to subscribe\n" {
		t.Errorf("runJoin = %v, %v; output %q", goOn, err, s.out.String())
	}
}

// Cases 71-76: the ways a token comes back.
func TestConfirmForms(t *testing.T) {
	qp := func(s string) string {
		return "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
	}
	tests := []struct {
		name             string
		raw              func(tok string) string
		sub              string
		wantResults      bool
		wantConfirmedMsg bool
	}{
		{"Re: confirm", func(tok string) string { return letter("Subject: Re: confirm "+tok+"\r\n", "") }, "request", true, true},
		{"8-bit prefix", func(tok string) string { return letter("Subject: \x99AW: confirm "+tok+"\r\n", "") }, "request", true, true},
		{"encoded prefix", func(tok string) string { return letter("Subject: =?utf-8?b?5Zue5aSN?= confirm "+tok+"\r\n", "") }, "request", true, true},
		{"encoded command after a prefix", func(tok string) string {
			return letter("Subject: =?utf-8?q?=E5=9B=9E=E5=A4=8D_confirm_"+tok+"?=\r\n", "")
		}, "request", true, true},
		{"base64 body", func(tok string) string {
			return letter("Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n", base64.StdEncoding.EncodeToString([]byte("confirm "+tok+"\n"))+"\r\n")
		}, "request", true, true},
		{"folded To", func(tok string) string {
			return letter("To: \"test-confirm+"+tok+"@example.com\"\r\n <test-confirm+"+tok+"@example.com>\r\n", "")
		}, "confirm", false, false},
		{"subject, To and QP body, no sub-address", func(tok string) string {
			return letter("To: test-confirm+"+tok+"@example.com\r\nSubject: Re: confirm "+tok+"\r\n"+qp(""), "Merci=C2=A0!\r\n")
		}, "", true, true},
		{"subject and To, -confirm: once, silently", func(tok string) string {
			return letter("To: test-confirm+"+tok+"@example.com\r\nSubject: Re: confirm "+tok+"\r\n", "confirm "+tok+"\r\n")
		}, "confirm", false, false},
		{"-confirm ignores a bad subject", func(tok string) string {
			return letter("To: test-confirm+"+tok+"@example.com\r\nSubject: bad-command\r\n", "")
		}, "confirm", false, false},
		{"confirm stops: the rest is not run", func(tok string) string {
			return letter("Subject: confirm "+tok+"\r\n", "bad-command\r\n")
		}, "request", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.set(t, "send_welcome_message", "false")
			f.dispose(t, letter("", ""), "join")
			_, token := confirmation(t, f.sent(t))
			f.dispose(t, tt.raw(token), tt.sub)
			if f.isMember(t, "anne@example.org") == nil {
				t.Fatal("not confirmed")
			}
			ss := f.sent(t)
			if !tt.wantResults {
				if len(ss) != 0 {
					t.Errorf("sent %q, want nothing", subjects(ss))
				}
				return
			}
			r := results(t, ss)
			if len(ss) != 1 {
				t.Errorf("sent %q, want the results only", subjects(ss))
			}
			if !slices.Equal(r.recipients(t), []string{"anne@example.org"}) {
				t.Errorf("results to %v", r.recipients(t))
			}
			body := r.body()
			if !strings.Contains(body, "Confirmed") || strings.Contains(body, "No such command: bad-command") {
				t.Errorf("results:\n%s", body)
			}
		})
	}
}

// Case 65 and expiry: a token that does not match, or ran out, is
// answered even from the -confirm address.
func TestConfirmBadToken(t *testing.T) {
	f := newFixture(t)
	f.dispose(t, letter("To: test-confirm+123@example.com\r\n", ""), "confirm")
	ss := f.sent(t)
	if lines := resultLines(t, results(t, ss)); len(ss) != 1 || !slices.Equal(lines, []string{"Confirmation token did not match"}) {
		t.Errorf("sent %q, results %q", subjects(ss), lines)
	}

	// No token in the To header: nothing to do, nobody to tell.
	f.dispose(t, letter("To: test-confirm@example.com\r\n", ""), "confirm")
	if ss := f.sent(t); len(ss) != 0 {
		t.Errorf("sent %q", subjects(ss))
	}

	f.dispose(t, letter("Subject: confirm\r\n", ""), "request")
	if lines := resultLines(t, results(t, f.sent(t))); !slices.Equal(lines, []string{"No confirmation token found"}) {
		t.Errorf("results %q", lines)
	}

	f.h.Settings.PendingRequestLife = -time.Second
	f.dispose(t, letter("", ""), "join")
	_, token := confirmation(t, f.sent(t))
	f.dispose(t, letter("To: test-confirm+"+token+"@example.com\r\n", ""), "confirm")
	lines := resultLines(t, results(t, f.sent(t)))
	if len(lines) != 1 || !strings.Contains(lines[0], "expired") {
		t.Errorf("an expired token: %q", lines)
	}
	if _, err := f.st.Pending(context.Background(), token); !errors.Is(err, store.ErrNoSuchToken) {
		t.Errorf("the expired token is still there: %v", err)
	}
	if f.isMember(t, "anne@example.org") != nil {
		t.Error("an expired token subscribed")
	}

	// A token of another list does not confirm by mail to this one.
	other, _ := store.ParseListAddress("other@example.com")
	if _, err := f.st.CreateList(context.Background(), store.NewList{Address: other}); err != nil {
		t.Fatal(err)
	}
	tok, err := f.st.AddPendingFor(context.Background(), "other.example.com", subscription.PendingSubscription, "anne@example.org",
		subscription.Request{Subscription: store.Subscription{Address: "anne@example.org"}, Stage: subscription.StageConfirm}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.dispose(t, letter("Subject: confirm "+tok+"\r\n", ""), "request")
	if lines := resultLines(t, results(t, f.sent(t))); !slices.Equal(lines, []string{"Confirmation token did not match"}) {
		t.Errorf("another list's token: %q", lines)
	}
}

// Cases 64 and 79: leaving.
func TestLeave(t *testing.T) {
	t.Run("open: at once, with the goodbye", func(t *testing.T) {
		f := newFixture(t)
		f.set(t, "unsubscription_policy", "open")
		f.addMember(t, "anne@example.org")
		f.dispose(t, letter("", ""), "leave")
		ss := f.sent(t)
		g := bySubject(t, ss, "You have been unsubscribed from the Test mailing list")
		if len(ss) != 1 || g.msg.Get("From") != "test-bounces@example.com" || g.msg.Get("To") != "anne@example.org" {
			t.Errorf("sent %q; goodbye From %q To %q", subjects(ss), g.msg.Get("From"), g.msg.Get("To"))
		}
		if f.isMember(t, "anne@example.org") != nil {
			t.Error("still a member")
		}
	})
	t.Run("open, -leave and leave in the body: nothing more", func(t *testing.T) {
		f := newFixture(t)
		f.set(t, "unsubscription_policy", "open")
		f.set(t, "send_goodbye_message", "false")
		f.addMember(t, "anne@example.org")
		f.dispose(t, letter("", "leave\r\n"), "leave")
		if ss := f.sent(t); len(ss) != 0 {
			t.Errorf("sent %q", subjects(ss))
		}
		if f.isMember(t, "anne@example.org") != nil {
			t.Error("still a member")
		}
		// Again: not a member any more; the -leave address answers nothing.
		f.dispose(t, letter("", "leave\r\n"), "leave")
		if ss := f.sent(t); len(ss) != 0 {
			t.Errorf("sent %q", subjects(ss))
		}
	})
	t.Run("confirm: a token first", func(t *testing.T) {
		f := newFixture(t)
		f.set(t, "send_goodbye_message", "false")
		f.addMember(t, "anne@example.org")
		f.dispose(t, letter("", ""), "leave")
		c, token := confirmation(t, f.sent(t))
		if got := c.msg.Get("Subject"); got != "Your confirmation is needed to leave the test@example.com mailing list." {
			t.Errorf("Subject %q", got)
		}
		if f.isMember(t, "anne@example.org") == nil {
			t.Fatal("left before confirming")
		}
		f.dispose(t, letter("Subject: Re: confirm "+token+"\r\n", ""), "request")
		r := results(t, f.sent(t))
		if lines := resultLines(t, r); !slices.Equal(lines, []string{"Confirmed", "anne@example.org left test@example.com"}) {
			t.Errorf("results %q", lines)
		}
		if f.isMember(t, "anne@example.org") != nil {
			t.Error("still a member after confirming")
		}
	})
	t.Run("unknown address", func(t *testing.T) {
		f := newFixture(t)
		f.dispose(t, letter("", ""), "leave")
		if lines := resultLines(t, results(t, f.sent(t))); !slices.Equal(lines, []string{"No registered user for email address: anne@example.org"}) {
			t.Errorf("results %q", lines)
		}
	})
	t.Run("unverified address", func(t *testing.T) {
		f := newFixture(t)
		f.dispose(t, letter("", ""), "join") // anne is known now, not verified
		f.sent(t)
		f.dispose(t, letter("", ""), "leave")
		if lines := resultLines(t, results(t, f.sent(t))); !slices.Equal(lines, []string{"Invalid or unverified email address: anne@example.org"}) {
			t.Errorf("results %q", lines)
		}
	})
	t.Run("not a member", func(t *testing.T) {
		f := newFixture(t)
		f.dispose(t, letter("From: mona@example.com\r\n", "leave\r\n"), "request")
		if lines := resultLines(t, results(t, f.sent(t))); !slices.Equal(lines, []string{"leave: mona@example.com is not a member of test@example.com"}) {
			t.Errorf("results %q", lines)
		}
	})
}

// Policies moderate and confirm_then_moderate: the moderators get a token
// of their own, and the subscriber's cannot approve.
func TestModeratedSubscription(t *testing.T) {
	for _, policy := range []string{"moderate", "confirm_then_moderate"} {
		t.Run(policy, func(t *testing.T) {
			f := newFixture(t)
			f.set(t, "subscription_policy", policy)
			f.set(t, "send_welcome_message", "false")
			if err := f.st.VerifyAddress(context.Background(), "anne@example.org", ""); err != nil {
				t.Fatal(err)
			}
			f.dispose(t, letter("", ""), "join")
			// By mail the address confirms first, verified or not.
			_, userToken := confirmation(t, f.sent(t))
			f.dispose(t, letter("To: test-confirm+"+userToken+"@example.com\r\n", ""), "confirm")
			ss := f.sent(t)
			n := bySubject(t, ss, "New subscription request to Test from anne@example.org")
			if !slices.Equal(n.recipients(t), []string{"owen@example.com", "mona@example.com"}) {
				t.Errorf("moderators' notice to %v", n.recipients(t))
			}
			modToken, ok := confirmToken(n.msg.Get("From"))
			if !ok || !strings.Contains(n.body(), "confirm "+modToken) {
				t.Fatalf("no token in the moderators' notice: From %q\n%s", n.msg.Get("From"), n.body())
			}
			if f.isMember(t, "anne@example.org") != nil {
				t.Fatal("a member before a moderator approved")
			}
			// The subscriber's token was replaced: it approves nothing.
			f.dispose(t, letter("To: test-confirm+"+userToken+"@example.com\r\n", ""), "confirm")
			if lines := resultLines(t, results(t, f.sent(t))); !slices.Equal(lines, []string{"Confirmation token did not match"}) {
				t.Errorf("the subscriber's token again: %q", lines)
			}
			f.dispose(t, letter("From: mona@example.com\r\nTo: test-confirm+"+modToken+"@example.com\r\n", ""), "confirm")
			if f.isMember(t, "anne@example.org") == nil {
				t.Error("not a member after a moderator approved")
			}
		})
	}
}

// TestJoinByMailAlwaysConfirms: on an open list too, and for an address
// already verified, joining by mail waits for the address's own
// confirmation: the sender of a command may be anyone.
func TestJoinByMailAlwaysConfirms(t *testing.T) {
	for _, policy := range []string{"open", "confirm"} {
		t.Run(policy, func(t *testing.T) {
			f := newFixture(t)
			f.set(t, "subscription_policy", policy)
			f.set(t, "send_welcome_message", "false")
			if err := f.st.VerifyAddress(context.Background(), "victim@example.org", ""); err != nil {
				t.Fatal(err)
			}
			f.dispose(t, letter("From: victim@example.org\r\n", ""), "join")
			if f.isMember(t, "victim@example.org") != nil {
				t.Fatal("joined without the address's confirmation")
			}
			c, token := confirmation(t, f.sent(t))
			if !slices.Equal(c.recipients(t), []string{"victim@example.org"}) {
				t.Errorf("confirmation to %v", c.recipients(t))
			}
			f.dispose(t, letter("From: victim@example.org\r\nTo: test-confirm+"+token+"@example.com\r\n", ""), "confirm")
			if f.isMember(t, "victim@example.org") == nil {
				t.Error("not a member after confirming")
			}
		})
	}
}

// TestJoinOfAnotherAddressRevealsNothing: a join address=... answers its
// sender the same whatever the address is (a member, banned, waiting, or
// new), and only a new address is sent a confirmation.
func TestJoinOfAnotherAddressRevealsNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.set(t, "subscription_policy", "open")
	if _, err := f.st.AddMembers(ctx, f.list, store.Regular, []string{"member@example.org"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Ban(ctx, "test.example.com", "banned@example.org"); err != nil {
		t.Fatal(err)
	}
	f.dispose(t, letter("From: waiting@example.org\r\n", ""), "join")
	f.sent(t)
	var answers []string
	for _, tt := range []struct {
		address      string
		confirmation bool
	}{
		{"member@example.org", false},
		{"banned@example.org", false},
		{"waiting@example.org", false},
		{"new@example.org", true},
	} {
		f.dispose(t, letter("From: mallory@example.net\r\n", "join address="+tt.address+"\r\n"), "request")
		ss := f.sent(t)
		lines := resultLines(t, results(t, ss))
		answers = append(answers, strings.ReplaceAll(strings.Join(lines, "|"), tt.address, "ADDRESS"))
		confirmations := 0
		for _, s := range ss {
			if strings.HasPrefix(s.msg.Decoded("Subject"), "Your confirmation is needed") {
				confirmations++
				if !slices.Equal(s.recipients(t), []string{tt.address}) {
					t.Errorf("%s: a confirmation to %v", tt.address, s.recipients(t))
				}
			}
		}
		if (confirmations == 1) != tt.confirmation || confirmations > 1 {
			t.Errorf("%s: %d confirmations sent, want one: %v", tt.address, confirmations, tt.confirmation)
		}
	}
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Errorf("the answers differ, which tells the sender about the address:\n%s", strings.Join(answers, "\n"))
			break
		}
	}
}

// Moderation of held posts by confirmation: Approved with the password
// accepts, none discards, a wrong one does nothing.
func TestConfirmHeldPost(t *testing.T) {
	for _, tt := range []struct {
		name, approved string
		wantLine       string
		wantPipeline   int
		wantStillHeld  bool
	}{
		{"accepted", "Approved: s3cret\r\n", "Message accepted", 1, false},
		{"X-Approve works too", "X-Approve: s3cret\r\n", "Message accepted", 1, false},
		{"discarded", "", "Message discarded", 0, false},
		{"wrong password", "Approved: guess\r\n", "Invalid Approved: password", 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.set(t, "moderator_password", "s3cret")
			ctx := context.Background()
			id, token, err := f.st.Hold(ctx, &store.HeldMessage{ListID: "test.example.com", Sender: "eve@example.net", Subject: "spam?",
				Message: []byte("From: eve@example.net\r\nSubject: spam?\r\n\r\nhi\r\n"), Msgdata: []byte(`{"listid":"test.example.com"}`)}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			f.dispose(t, letter("From: mona@example.com\r\nSubject: Re: confirm "+token+"\r\n"+tt.approved, ""), "request")
			if lines := resultLines(t, results(t, f.sent(t))); !slices.Equal(lines, []string{tt.wantLine}) {
				t.Errorf("results %q, want %q", lines, tt.wantLine)
			}
			files, _, _ := f.pipeline.Ready(switchboard.Whole, time.Now())
			if len(files) != tt.wantPipeline {
				t.Errorf("%d posts sent on, want %d", len(files), tt.wantPipeline)
			}
			_, err = f.st.HeldMessage(ctx, id)
			if held := err == nil; held != tt.wantStillHeld {
				t.Errorf("still held: %v (%v), want %v", held, err, tt.wantStillHeld)
			}
		})
	}
}

// who, by the list's roster visibility.
func TestWho(t *testing.T) {
	f := newFixture(t)
	f.addMember(t, "Zed <zed@example.org>")
	f.addMember(t, "anne@example.org")
	if err := f.st.SetMemberOption(context.Background(), f.list, "zed@example.org", store.Regular, "delivery_enabled", "false"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		visibility, from, cmd string
		want                  []string
	}{
		{"moderators", "anne@example.org", "who", []string{"You are not authorized to see the membership list."}},
		{"moderators", "mona@example.com", "who", []string{"Members of the test@example.com mailing list:", "    anne@example.org", "    Zed <zed@example.org>"}},
		{"members", "anne@example.org", "who", []string{"Members of the test@example.com mailing list:", "    anne@example.org", "    Zed <zed@example.org>"}},
		{"members", "eve@example.net", "who", []string{"You are not authorized to see the membership list."}},
		{"public", "eve@example.net", "who delivery=disabled", []string{"Members of the test@example.com mailing list:", "    Zed <zed@example.org>"}},
		{"public", "eve@example.net", "who mode=digest", []string{"Members of the test@example.com mailing list:"}},
		{"public", "eve@example.net", "who colour=red", []string{"who: bad argument(s): colour=red"}},
	} {
		t.Run(tt.visibility+" "+tt.from+" "+tt.cmd, func(t *testing.T) {
			f.set(t, "member_roster_visibility", tt.visibility)
			f.dispose(t, letter("From: "+tt.from+"\r\nSubject: "+tt.cmd+"\r\n", ""), "request")
			if lines := resultLines(t, results(t, f.sent(t))); !slices.Equal(lines, tt.want) {
				t.Errorf("results %q, want %q", lines, tt.want)
			}
		})
	}
}

// Case 80: the automatic answer to -request mail.
func TestAutorespondRequests(t *testing.T) {
	for _, tt := range []struct {
		action      string
		wantResults bool
	}{
		{"respond_and_continue", true},
		{"respond_and_discard", false},
	} {
		t.Run(tt.action, func(t *testing.T) {
			f := newFixture(t)
			f.set(t, "autorespond_requests", tt.action)
			f.set(t, "autoresponse_request_text", "We read this weekly.")
			f.dispose(t, letter("Subject: help\r\n", ""), "request")
			ss := f.sent(t)
			a := bySubject(t, ss, `Auto-response for your message to the "Test" mailing list`)
			if a.msg.Get("X-Ack") != "No" || a.msg.Get("Precedence") != "bulk" || !strings.Contains(a.body(), "We read this weekly.") {
				t.Errorf("autoresponse:\n%s\n%s", a.msg.Bytes(), a.body())
			}
			if tt.wantResults {
				if r := results(t, ss); len(ss) != 2 || !strings.Contains(r.body(), "results of your email command") {
					t.Errorf("sent %q", subjects(ss))
				}
			} else if len(ss) != 1 {
				t.Errorf("sent %q, want the autoresponse only", subjects(ss))
			}
			// Within the grace period, no second autoresponse.
			f.dispose(t, letter("Subject: help\r\n", ""), "request")
			for _, s := range f.sent(t) {
				if strings.HasPrefix(s.msg.Decoded("Subject"), "Auto-response") {
					t.Error("a second autoresponse within the grace period")
				}
			}
			// Mail to -join is not -request mail.
			f.dispose(t, letter("From: bart@example.org\r\n", ""), "join")
			for _, s := range f.sent(t) {
				if strings.HasPrefix(s.msg.Decoded("Subject"), "Auto-response") {
					t.Error("an autoresponse to -join mail")
				}
			}
		})
	}
}

// Case 82 and RFC 3834: automatic mail gets no answer and no action.
func TestLoopGuard(t *testing.T) {
	for _, tt := range []struct {
		headers string
		acted   bool
	}{
		{"Precedence: list\r\n", false},
		{"Precedence: bulk\r\n", false},
		{"Precedence: JUNK\r\n", false},
		{"Precedence: bulk\r\nX-Ack: yes\r\n", true},
		{"Auto-Submitted: auto-replied\r\n", false},
		{"Auto-Submitted: auto-generated\r\n", false},
		{"Auto-Submitted: no\r\n", true},
		{"Precedence: first-class\r\n", true},
	} {
		t.Run(strings.TrimSpace(tt.headers), func(t *testing.T) {
			f := newFixture(t)
			f.set(t, "autorespond_requests", "respond_and_continue")
			f.dispose(t, letter("Subject: join\r\n"+tt.headers, ""), "request")
			ss := f.sent(t)
			_, err := f.st.PendingFor(context.Background(), "test.example.com", subscription.PendingSubscription, "anne@example.org")
			if acted := err == nil; acted != tt.acted || (len(ss) > 0) != tt.acted {
				t.Errorf("acted %v (sent %q), want %v", acted, subjects(ss), tt.acted)
			}
		})
	}
}

// A message that cannot be parsed is shunted; a list that is gone too.
func TestShunted(t *testing.T) {
	f := newFixture(t)
	md := switchboard.Msgdata{}
	md.Set(msgdata.ListID, "gone.example.com")
	if _, err := f.h.Dispose(context.Background(), &switchboard.Entry{Name: "x", Message: []byte(letter("Subject: help\r\n", "")), Msgdata: md}, f.log); !errors.Is(err, runners.ErrListGone) {
		t.Errorf("list gone: %v", err)
	}
	md.Set(msgdata.ListID, "test.example.com")
	if _, err := f.h.Dispose(context.Background(), &switchboard.Entry{Name: "x", Message: []byte("no header here\r\n"), Msgdata: md}, f.log); err == nil {
		t.Error("a message that is not one: no error")
	}
}

// The runner's periodic task removes expired requests that no one tried.
func TestTickEvictsExpired(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old, err := f.st.AddPendingFor(ctx, "test.example.com", subscription.PendingSubscription, "anne@example.org", subscription.Request{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := f.st.AddPendingFor(ctx, "test.example.com", subscription.PendingSubscription, "bart@example.org", subscription.Request{}, 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.h.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	var _ runners.Periodic = f.h
	if err := f.h.Tick(ctx, f.log); err != nil {
		t.Fatal(err)
	}
	f.h.Now = nil
	if _, err := f.st.Pending(ctx, old); !errors.Is(err, store.ErrNoSuchToken) {
		t.Errorf("the expired request: %v, want it gone", err)
	}
	if _, err := f.st.Pending(ctx, fresh); err != nil {
		t.Errorf("the request still valid: %v", err)
	}
}
