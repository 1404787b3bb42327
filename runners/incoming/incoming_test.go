package incoming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// fixture is a list test@example.com with owner owen, moderator mona and
// member anne, a store and the queues the runner writes.
type fixture struct {
	h        *Handler
	site     *runnertest.Site
	st       *store.Store
	list     store.ListAddress
	pipeline *switchboard.Switchboard
	virgin   *switchboard.Switchboard
	log      *slog.Logger
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	site := runnertest.New(t, map[store.Role][]string{
		store.Owner: {"owen@example.com"}, store.Moderator: {"mona@example.com"}, store.Regular: {"anne@example.com"},
	})
	f := &fixture{site: site, st: site.Store, list: site.List, pipeline: site.Queue("pipeline"), virgin: site.Queue("virgin"),
		log: slog.New(slog.NewTextHandler(t.Output(), nil))}
	f.h = &Handler{Store: f.st, Pipeline: f.pipeline, Virgin: f.virgin,
		Settings: Settings{ModeratorRequestLife: 72 * time.Hour, MaxAutoresponsesPerDay: 10}}
	return f
}

func (f *fixture) set(t *testing.T, key, value string) {
	t.Helper()
	f.site.Set(key, value)
}

// post is a message from sender to the list.
func post(sender string, extra ...string) string {
	return "From: " + sender + "\r\nTo: test@example.com\r\nSubject: A post\r\nMessage-ID: <post@example.org>\r\n" +
		"X-MailFrom: " + sender + "\r\n" + strings.Join(extra, "") + "\r\nHello, list.\r\n"
}

func entry(raw string, md switchboard.Msgdata) *switchboard.Entry {
	if md == nil {
		md = switchboard.Msgdata{}
	}
	md.Set(msgdata.ListID, "test.example.com")
	if _, ok := md[msgdata.ToOwner]; !ok {
		md.Set(msgdata.ToList, true)
	}
	if _, ok := md[msgdata.OriginalSize]; !ok {
		md.Set(msgdata.OriginalSize, len(raw))
	}
	return &switchboard.Entry{Name: "test", Message: []byte(raw), Msgdata: md}
}

func (f *fixture) dispose(t *testing.T, raw string, md switchboard.Msgdata) {
	t.Helper()
	if _, err := f.h.Dispose(context.Background(), entry(raw, md), f.log); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) queued(t *testing.T, q *switchboard.Switchboard) []*switchboard.Entry {
	t.Helper()
	return runnertest.Queued(t, q)
}

func (f *fixture) held(t *testing.T) []*store.HeldMessage {
	t.Helper()
	hs, err := f.st.HeldMessages(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// newPost makes the Post a rule sees for raw.
func (f *fixture) newPost(t *testing.T, raw string, md switchboard.Msgdata) *Post {
	t.Helper()
	list, err := f.st.List(context.Background(), f.list)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := message.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	e := entry(raw, md)
	return &Post{List: list, Msg: msg, Msgdata: e.Msgdata, Senders: senders(msg), store: f.st, now: time.Now(), log: f.log}
}

// TestRules shows each rule of the posting chain hitting and missing.
func TestRules(t *testing.T) {
	tests := []struct {
		rule, name string
		setup      func(t *testing.T, f *fixture)
		raw        string
		md         switchboard.Msgdata
		hit        bool
	}{
		{"no-senders", "a sender", nil, post("anne@example.com"), nil, false},
		{"no-senders", "no sender at all", nil, "To: test@example.com\r\nSubject: x\r\n\r\nbody\r\n", nil, true},
		{"no-senders", "only an invalid sender", nil, "From: not an address\r\nSubject: x\r\n\r\nbody\r\n", nil, true},

		{"approved", "no password", withPassword, post("anne@example.com"), nil, false},
		{"approved", "right password in Approved:", withPassword, post("anne@example.com", "Approved: s3cret\r\n"), nil, true},
		{"approved", "right password in X-Approve:", withPassword, post("anne@example.com", "X-Approve: s3cret\r\n"), nil, true},
		{"approved", "wrong password", withPassword, post("anne@example.com", "Approved: guess\r\n"), nil, false},
		{"approved", "right password as the first body line", withPassword, "From: anne@example.com\r\nSubject: x\r\n\r\nApproved: s3cret\r\n\r\nHello\r\n", nil, true},
		{"approved", "a password with none set", nil, post("anne@example.com", "Approved: s3cret\r\n"), nil, false},

		{"emergency", "no emergency", nil, post("anne@example.com"), nil, false},
		{"emergency", "emergency", func(t *testing.T, f *fixture) { f.set(t, "emergency", "true") }, post("anne@example.com"), nil, true},
		{"emergency", "emergency, approved by a moderator", func(t *testing.T, f *fixture) { f.set(t, "emergency", "true") },
			post("anne@example.com"), switchboard.Msgdata{"moderator_approved": []byte("true")}, false},

		{"loop", "fresh post", nil, post("anne@example.com"), nil, false},
		{"loop", "List-Post of this list", nil, post("anne@example.com", "List-Post: <mailto:test@example.com>\r\n"), nil, true},
		{"loop", "List-Post of another list", nil, post("anne@example.com", "List-Post: <mailto:other@example.com>\r\n"), nil, false},
		{"loop", "X-BeenThere this list", nil, post("anne@example.com", "X-BeenThere: test@example.com\r\n"), nil, true},
		{"loop", "X-BeenThere this list, then another that sent it back", nil,
			post("anne@example.com", "X-BeenThere: Test@Example.com\r\nX-BeenThere: other@example.org\r\nList-Post: <mailto:other@example.org>\r\n"), nil, true},
		{"loop", "X-BeenThere of other lists only", nil, post("anne@example.com", "X-BeenThere: a@example.org\r\nX-BeenThere: b@example.org\r\n"), nil, false},

		{"automatic-post", "a person's post", nil, post("anne@example.com"), nil, false},
		{"automatic-post", "an out-of-office reply", nil, post("anne@example.com", "Auto-Submitted: auto-replied\r\n"), nil, true},
		{"automatic-post", "Auto-Submitted with a comment", nil, post("anne@example.com", "Auto-Submitted: Auto-Generated (vacation)\r\n"), nil, true},
		{"automatic-post", "Auto-Submitted: no", nil, post("anne@example.com", "Auto-Submitted: No\r\n"), nil, false},
		{"automatic-post", "Precedence: bulk", nil, post("anne@example.com", "Precedence: bulk\r\n"), nil, true},
		{"automatic-post", "Precedence: junk", nil, post("anne@example.com", "Precedence: Junk \r\n"), nil, true},
		{"automatic-post", "Precedence: list, from no list", nil, post("anne@example.com", "Precedence: list\r\n"), nil, true},
		{"automatic-post", "Precedence: first-class", nil, post("anne@example.com", "Precedence: first-class\r\n"), nil, false},
		{"automatic-post", "Precedence: bulk asking for an answer", nil, post("anne@example.com", "Precedence: bulk\r\nX-Ack: yes\r\n"), nil, false},
		{"automatic-post", "another list's post", nil,
			post("anne@example.com", "Precedence: list\r\nList-Id: <other.example.org>\r\nX-BeenThere: other@example.org\r\n"), nil, false},
		{"automatic-post", "another list's post without List-Id", nil, post("anne@example.com", "Precedence: list\r\nX-BeenThere: other@example.org\r\n"), nil, false},
		{"automatic-post", "an autoreply another list distributed", nil,
			post("anne@example.com", "Precedence: list\r\nList-Id: <other.example.org>\r\nAuto-Submitted: auto-replied\r\n"), nil, true},
		{"automatic-post", "the list accepts them", func(t *testing.T, f *fixture) { f.set(t, "automatic_post_action", "accept") },
			post("anne@example.com", "Auto-Submitted: auto-replied\r\nPrecedence: bulk\r\n"), nil, false},

		{"banned-address", "not banned", nil, post("anne@example.com"), nil, false},
		{"banned-address", "banned from the list", banAnne, post("anne@example.com"), nil, true},
		{"banned-address", "banned by pattern site-wide", func(t *testing.T, f *fixture) {
			if err := f.st.Ban(context.Background(), "", "^.*@spam\\.example$"); err != nil {
				t.Fatal(err)
			}
		}, post("x@spam.example"), nil, true},

		{"member-moderation", "member with the default action", nil, post("anne@example.com"), nil, false},
		{"member-moderation", "moderated member", moderateAnne("hold"), post("anne@example.com"), nil, true},
		{"member-moderation", "list moderates every member", func(t *testing.T, f *fixture) { f.set(t, "default_member_action", "hold") }, post("anne@example.com"), nil, true},
		{"member-moderation", "nonmember", nil, post("zoe@example.org"), nil, false},
		{"member-moderation", "moderated but banned", func(t *testing.T, f *fixture) { moderateAnne("hold")(t, f); banAnne(t, f) }, post("anne@example.com"), nil, false},

		{"nonmember-moderation", "member", nil, post("anne@example.com"), nil, false},
		{"nonmember-moderation", "owner", nil, post("owen@example.com"), nil, false},
		{"nonmember-moderation", "nonmember", nil, post("zoe@example.org"), nil, true},
		{"nonmember-moderation", "nonmember, list defers", func(t *testing.T, f *fixture) { f.set(t, "default_nonmember_action", "defer") }, post("zoe@example.org"), nil, false},
		{"nonmember-moderation", "member in Reply-To only", nil, post("zoe@example.org", "Reply-To: anne@example.com\r\n"), nil, false},

		{"administrivia", "a real post", nil, post("anne@example.com"), nil, false},
		{"administrivia", "subject is a command", nil, "From: anne@example.com\r\nSubject: unsubscribe\r\n\r\nplease\r\n", nil, true},
		{"administrivia", "body line is a command", nil, "From: anne@example.com\r\nSubject: hi\r\n\r\n\r\nsubscribe digest=no\r\n", nil, true},
		{"administrivia", "too many arguments", nil, "From: anne@example.com\r\nSubject: help me with my thesis\r\n\r\nhi\r\n", nil, false},
		{"administrivia", "turned off", func(t *testing.T, f *fixture) { f.set(t, "administrivia", "false") }, "From: anne@example.com\r\nSubject: unsubscribe\r\n\r\nx\r\n", nil, false},

		{"implicit-dest", "list in To", nil, post("anne@example.com"), nil, false},
		{"implicit-dest", "list in Cc, upper case", nil, "From: anne@example.com\r\nTo: bob@example.org\r\nCc: Test <TEST@example.com>\r\nSubject: x\r\n\r\nx\r\n", nil, false},
		{"implicit-dest", "list only in Bcc", nil, "From: anne@example.com\r\nTo: bob@example.org\r\nSubject: x\r\n\r\nx\r\n", nil, true},
		{"implicit-dest", "acceptable alias", func(t *testing.T, f *fixture) { f.set(t, "acceptable_aliases", "^all@.*") },
			"From: anne@example.com\r\nTo: all@example.com\r\nSubject: x\r\n\r\nx\r\n", nil, false},
		{"implicit-dest", "not required", func(t *testing.T, f *fixture) { f.set(t, "require_explicit_destination", "false") },
			"From: anne@example.com\r\nTo: bob@example.org\r\nSubject: x\r\n\r\nx\r\n", nil, false},

		{"max-recipients", "under the limit", nil, post("anne@example.com"), nil, false},
		{"max-recipients", "at the limit", func(t *testing.T, f *fixture) { f.set(t, "max_num_recipients", "2") },
			"From: anne@example.com\r\nTo: test@example.com, bob@example.org\r\nSubject: x\r\n\r\nx\r\n", nil, true},
		{"max-recipients", "no limit", func(t *testing.T, f *fixture) { f.set(t, "max_num_recipients", "0") },
			"From: anne@example.com\r\nTo: test@example.com, b@x.org, c@x.org, d@x.org, e@x.org, f@x.org, g@x.org, h@x.org, i@x.org, j@x.org, k@x.org\r\nSubject: x\r\n\r\nx\r\n", nil, false},

		{"max-size", "small", nil, post("anne@example.com"), nil, false},
		{"max-size", "over 40 KB", nil, post("anne@example.com"), switchboard.Msgdata{"original_size": []byte("41985")}, true},
		{"max-size", "no limit", func(t *testing.T, f *fixture) { f.set(t, "max_message_size", "0") }, post("anne@example.com"), switchboard.Msgdata{"original_size": []byte("999999")}, false},

		{"no-subject", "a subject", nil, post("anne@example.com"), nil, false},
		{"no-subject", "no subject", nil, "From: anne@example.com\r\nTo: test@example.com\r\n\r\nx\r\n", nil, true},
		{"no-subject", "blank subject", nil, "From: anne@example.com\r\nSubject:   \r\n\r\nx\r\n", nil, true},

		{"suspicious-header", "no lines", nil, post("anne@example.com", "X-Spam: yes\r\n"), nil, false},
		{"suspicious-header", "a matching line", func(t *testing.T, f *fixture) { f.set(t, "bounce_matching_headers", "X-Spam: ^y") },
			post("anne@example.com", "X-Spam: Yes\r\n"), nil, true},
		{"suspicious-header", "a line that does not match", func(t *testing.T, f *fixture) { f.set(t, "bounce_matching_headers", "X-Spam: ^y") },
			post("anne@example.com", "X-Spam: no\r\n"), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule+"/"+tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			p := f.newPost(t, tt.raw, tt.md)
			hit, err := rules[tt.rule].check(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if hit != tt.hit {
				t.Errorf("%s: hit = %v, want %v (reasons %q)", tt.rule, hit, tt.hit, p.Reasons)
			}
		})
	}
}

func withPassword(t *testing.T, f *fixture) { f.set(t, "moderator_password", "s3cret") }

func banAnne(t *testing.T, f *fixture) {
	if err := f.st.Ban(context.Background(), "test.example.com", "anne@example.com"); err != nil {
		t.Fatal(err)
	}
}

func moderateAnne(action string) func(*testing.T, *fixture) {
	return func(t *testing.T, f *fixture) {
		if err := f.st.SetMemberOption(context.Background(), f.list, "anne@example.com", store.Regular, "moderation_action", action); err != nil {
			t.Fatal(err)
		}
	}
}

// TestApprovedRemovesThePassword: the password never reaches the members,
// right or wrong.
func TestApprovedRemovesThePassword(t *testing.T) {
	f := newFixture(t)
	withPassword(t, f)
	for _, raw := range []string{
		post("anne@example.com", "Approved: s3cret\r\n"),
		"From: anne@example.com\r\nSubject: x\r\n\r\nApproved: guess\r\nHello\r\n",
		// Text and HTML: the line is in both.
		"From: anne@example.com\r\nSubject: x\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nApproved: s3cret\r\nHello\r\n" +
			"--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Approved: s3cret</p><p>Hello</p>\r\n--b--\r\n",
	} {
		p := f.newPost(t, raw, nil)
		if _, err := approved(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if out := string(p.Msg.Bytes()); strings.Contains(out, "s3cret") || strings.Contains(out, "guess") || strings.Contains(out, "Approved") {
			t.Errorf("the password is still in the post:\n%s", out)
		}
	}
}

// allMisses is what a clean member post records.
var allMisses = "dmarc-mitigation; no-senders; approved; emergency; loop; automatic-post; banned-address; member-moderation; nonmember-moderation; " +
	"administrivia; implicit-dest; max-recipients; max-size; no-subject; suspicious-header"

func TestMemberPostIsAccepted(t *testing.T) {
	f := newFixture(t)
	f.dispose(t, post("anne@example.com", "X-Mailman-Rule-Hits: forged\r\n"), nil)
	out := f.queued(t, f.pipeline)
	if len(out) != 1 || len(f.queued(t, f.virgin)) != 0 || len(f.held(t)) != 0 {
		t.Fatalf("pipeline %d, virgin %d, held %d; want 1, 0, 0", len(out), len(f.queued(t, f.virgin)), len(f.held(t)))
	}
	msg, _ := message.Parse(out[0].Message)
	if got := msg.Get("X-Mailman-Rule-Misses"); got != allMisses {
		t.Errorf("X-Mailman-Rule-Misses: %q, want %q", got, allMisses)
	}
	if msg.Has("X-Mailman-Rule-Hits") {
		t.Errorf("X-Mailman-Rule-Hits kept: %q", msg.Get("X-Mailman-Rule-Hits"))
	}
	if got := out[0].Msgdata.String(msgdata.EnvSender); got != "noreply@example.com" {
		t.Errorf("envsender %q", got)
	}
}

func TestApprovedPostSkipsModeration(t *testing.T) {
	f := newFixture(t)
	withPassword(t, f)
	f.dispose(t, post("zoe@example.org", "Approved: s3cret\r\n"), nil)
	out := f.queued(t, f.pipeline)
	if len(out) != 1 || len(f.held(t)) != 0 {
		t.Fatalf("pipeline %d, held %d; want 1, 0", len(out), len(f.held(t)))
	}
	msg, _ := message.Parse(out[0].Message)
	if msg.Get("X-Mailman-Rule-Hits") != "approved" || msg.Has("Approved") {
		t.Errorf("hits %q, Approved %q", msg.Get("X-Mailman-Rule-Hits"), msg.Get("Approved"))
	}
}

// notices returns the virgin queue's messages by subject.
func (f *fixture) notices(t *testing.T) map[string]*switchboard.Entry {
	t.Helper()
	out := map[string]*switchboard.Entry{}
	for _, e := range f.queued(t, f.virgin) {
		msg, err := message.Parse(e.Message)
		if err != nil {
			t.Fatal(err)
		}
		out[msg.Decoded("Subject")] = e
	}
	return out
}

func recipients(e *switchboard.Entry) []string {
	var rs []string
	e.Msgdata.Get(msgdata.Recipients, &rs)
	slices.Sort(rs)
	return rs
}

// parts returns the Content-Types of a multipart notice's parts and their bodies.
func parts(t *testing.T, raw []byte) ([]string, []string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	var types, bodies []string
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return types, bodies
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		types = append(types, p.Header.Get("Content-Type"))
		bodies = append(bodies, string(b))
	}
}

func TestNonmemberPostIsHeld(t *testing.T) {
	f := newFixture(t)
	f.dispose(t, post("zoe@example.org"), nil)
	if n := len(f.queued(t, f.pipeline)); n != 0 {
		t.Fatalf("pipeline holds %d", n)
	}
	hs := f.held(t)
	if len(hs) != 1 || hs[0].Sender != "zoe@example.org" || hs[0].Subject != "A post" ||
		!slices.Contains(hs[0].Reasons, "The message is not from a list member") || hs[0].Token == "" {
		t.Fatalf("held: %+v", hs)
	}
	ns := f.notices(t)
	toSender := ns["Your message to test@example.com awaits moderator approval"]
	if toSender == nil {
		t.Fatalf("no notice to the sender among %v", keys(ns))
	}
	if got := recipients(toSender); !slices.Equal(got, []string{"zoe@example.org"}) {
		t.Errorf("sender notice to %v", got)
	}
	sm, _ := message.Parse(toSender.Message)
	if sm.Get("From") != "test-bounces@example.com" || sm.Get("To") != "zoe@example.org" || sm.Get("Auto-Submitted") != "auto-replied" {
		t.Errorf("sender notice From %q To %q Auto-Submitted %q", sm.Get("From"), sm.Get("To"), sm.Get("Auto-Submitted"))
	}
	toMods := ns["test@example.com post from zoe@example.org requires approval"]
	if toMods == nil {
		t.Fatalf("no notice to the moderators among %v", keys(ns))
	}
	if got := recipients(toMods); !slices.Equal(got, []string{"mona@example.com", "owen@example.com"}) {
		t.Errorf("moderator notice to %v", got)
	}
	mm, _ := message.Parse(toMods.Message)
	if mm.Get("From") != "test-owner@example.com" || mm.Get("To") != "test-owner@example.com" {
		t.Errorf("moderator notice From %q To %q", mm.Get("From"), mm.Get("To"))
	}
	types, bodies := parts(t, toMods.Message)
	if len(types) != 3 || !strings.HasPrefix(types[0], "text/plain") || types[1] != "message/rfc822" || types[2] != "message/rfc822" {
		t.Fatalf("moderator notice parts %v", types)
	}
	if !strings.Contains(bodies[1], "Message-ID: <post@example.org>") {
		t.Errorf("second part is not the post:\n%s", bodies[1])
	}
	// The id a moderator acts on, and the Message-ID to check it by.
	for _, want := range []string{"Message-ID: <post@example.org>", fmt.Sprintf("Held as:    %d", hs[0].ID)} {
		if !strings.Contains(bodies[0], want) {
			t.Errorf("the notice does not name the post by %q:\n%s", want, bodies[0])
		}
	}
	if !strings.Contains(bodies[2], "Subject: confirm "+hs[0].Token) || !strings.Contains(bodies[2], "From: test-request@example.com") {
		t.Errorf("third part is not the confirmation stub:\n%s", bodies[2])
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestHoldNoticesRespectAutoReplies: an auto-reply is held like any post,
// but its sender is not answered.
func TestHoldNoticesRespectAutoReplies(t *testing.T) {
	for _, h := range []string{"Auto-Submitted: auto-replied\r\n", "Precedence: bulk\r\n", "X-Ack: no\r\n", "List-Id: <other.example.com>\r\n"} {
		t.Run(strings.TrimSpace(h), func(t *testing.T) {
			f := newFixture(t)
			f.dispose(t, post("zoe@example.org", h), nil)
			ns := f.notices(t)
			if len(f.held(t)) != 1 || len(ns) != 1 || ns["test@example.com post from zoe@example.org requires approval"] == nil {
				t.Errorf("held %d, notices %v; want the post held and only the moderators told", len(f.held(t)), keys(ns))
			}
		})
	}
}

func TestHoldNoticesOff(t *testing.T) {
	f := newFixture(t)
	f.set(t, "admin_immed_notify", "false")
	f.set(t, "respond_to_post_requests", "false")
	f.dispose(t, post("zoe@example.org"), nil)
	if len(f.held(t)) != 1 || len(f.queued(t, f.virgin)) != 0 {
		t.Errorf("held %d, notices %d; want 1, 0", len(f.held(t)), len(f.queued(t, f.virgin)))
	}
}

// TestSenderNoticesPerDay: ten notices a day to one sender, the tenth
// saying it is the last.
func TestSenderNoticesPerDay(t *testing.T) {
	f := newFixture(t)
	f.set(t, "admin_immed_notify", "false")
	day := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f.h.Now = func() time.Time { return day }
	for range 12 {
		f.dispose(t, post("zoe@example.org"), nil)
	}
	var subjects []string
	for _, e := range f.queued(t, f.virgin) {
		m, _ := message.Parse(e.Message)
		subjects = append(subjects, m.Get("Subject"))
	}
	if len(subjects) != 10 || subjects[9] != "Last autoresponse notification for today" || subjects[8] != "Your message to test@example.com awaits moderator approval" {
		t.Errorf("%d notices: %q", len(subjects), subjects)
	}
	day = day.Add(24 * time.Hour)
	f.dispose(t, post("zoe@example.org"), nil)
	if n := len(f.queued(t, f.virgin)); n != 11 {
		t.Errorf("the next day: %d notices, want 11", n)
	}
}

// TestModerationActions: what a moderation rule or the automatic-post rule
// decided is done. An out-of-office reply is held by default, and only the
// moderators are told: its sender, being automatic, would answer.
func TestModerationActions(t *testing.T) {
	autoreply := post("anne@example.com", "Auto-Submitted: auto-replied\r\nPrecedence: bulk\r\n")
	automatic := func(action string) func(*testing.T, *fixture) {
		return func(t *testing.T, f *fixture) { f.set(t, "automatic_post_action", action) }
	}
	tests := []struct {
		name                    string
		setup                   func(*testing.T, *fixture)
		raw                     string
		pipeline, virgin, holds int
		reason                  string
	}{
		{"member accept", moderateAnne("accept"), post("anne@example.com"), 1, 0, 0, ""},
		{"member hold", moderateAnne("hold"), post("anne@example.com"), 0, 2, 1, ""},
		{"member reject", moderateAnne("reject"), post("anne@example.com"), 0, 1, 0, ""},
		{"member discard", moderateAnne("discard"), post("anne@example.com"), 0, 0, 0, ""},
		{"automatic post by default", nil, autoreply, 0, 1, 1, "The message was sent automatically (Auto-Submitted: auto-replied)"},
		{"automatic post hold", automatic("hold"), autoreply, 0, 1, 1, ""},
		{"automatic post discard", automatic("discard"), autoreply, 0, 0, 0, ""},
		{"automatic post accept", automatic("accept"), autoreply, 1, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			f.dispose(t, tt.raw, nil)
			if p, v, h := len(f.queued(t, f.pipeline)), len(f.queued(t, f.virgin)), len(f.held(t)); p != tt.pipeline || v != tt.virgin || h != tt.holds {
				t.Errorf("pipeline %d, virgin %d, held %d; want %d, %d, %d", p, v, h, tt.pipeline, tt.virgin, tt.holds)
			}
			if hs := f.held(t); tt.reason != "" && (len(hs) != 1 || !slices.Equal(hs[0].Reasons, []string{tt.reason})) {
				t.Errorf("held: %+v, want one held for %q", hs, tt.reason)
			}
		})
	}
}

func TestRejectBouncesToTheSender(t *testing.T) {
	f := newFixture(t)
	moderateAnne("reject")(t, f)
	f.dispose(t, post("anne@example.com"), nil)
	vs := f.queued(t, f.virgin)
	if len(vs) != 1 {
		t.Fatalf("virgin holds %d", len(vs))
	}
	m, _ := message.Parse(vs[0].Message)
	if m.Get("From") != "test-owner@example.com" || m.Get("To") != "anne@example.com" || m.Get("Subject") != "A post" {
		t.Errorf("bounce From %q To %q Subject %q", m.Get("From"), m.Get("To"), m.Get("Subject"))
	}
	types, bodies := parts(t, vs[0].Message)
	if len(types) != 2 || types[1] != "message/rfc822" || !strings.Contains(bodies[0], "moderated member") {
		t.Errorf("bounce parts %v: %q", types, bodies)
	}
	if got := recipients(vs[0]); !slices.Equal(got, []string{"anne@example.com"}) {
		t.Errorf("bounce to %v", got)
	}
}

func TestDiscards(t *testing.T) {
	for name, setup := range map[string]func(*testing.T, *fixture){
		"banned": banAnne,
		"loop":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			raw := post("anne@example.com")
			if setup != nil {
				setup(t, f)
			} else {
				raw = post("anne@example.com", "List-Post: <mailto:test@example.com>\r\n")
			}
			f.dispose(t, raw, nil)
			if p, v, h := len(f.queued(t, f.pipeline)), len(f.queued(t, f.virgin)), len(f.held(t)); p+v+h != 0 {
				t.Errorf("pipeline %d, virgin %d, held %d; want nothing", p, v, h)
			}
		})
	}
}

func TestOwnerChain(t *testing.T) {
	f := newFixture(t)
	f.dispose(t, post("zoe@example.org"), switchboard.Msgdata{"to_owner": []byte("true")})
	out := f.queued(t, f.pipeline)
	if len(out) != 1 || !out[0].Msgdata.Bool(msgdata.ToOwner) || len(f.held(t)) != 0 {
		t.Fatalf("pipeline %d, held %d", len(out), len(f.held(t)))
	}
	if m, _ := message.Parse(out[0].Message); m.Has("X-Mailman-Rule-Misses") {
		t.Error("the owner chain ran rules")
	}
}

func TestVanishedListIsShunted(t *testing.T) {
	f := newFixture(t)
	e := entry(post("anne@example.com"), nil)
	e.Msgdata.Set(msgdata.ListID, "gone.example.com")
	_, err := f.h.Dispose(context.Background(), e, f.log)
	if !errors.Is(err, runners.ErrListGone) {
		t.Fatalf("Dispose: %v, want runners.ErrListGone", err)
	}
	if runners.IsTemporary(err) {
		t.Error("a vanished list is not a temporary failure")
	}
}

// TestEngine runs made-up chains through the engine: a detour comes back,
// a stop stops, and a cycle fails instead of spinning.
func TestEngine(t *testing.T) {
	var ran []string
	rules["test-note"] = rule{func(_ context.Context, p *Post) (bool, error) { ran = append(ran, "note"); return true, nil }, true}
	chains["test-main"] = chain{links: []link{{"truth", detour, "test-side"}, {"test-note", stop, ""}, {"truth", jump, "discard"}}}
	chains["test-side"] = chain{links: []link{{"test-note", deferr, ""}}}
	chains["test-cycle"] = chain{links: []link{{"truth", jump, "test-cycle"}}}
	t.Cleanup(func() {
		delete(rules, "test-note")
		delete(chains, "test-main")
		delete(chains, "test-side")
		delete(chains, "test-cycle")
	})
	f := newFixture(t)
	p := f.newPost(t, post("anne@example.com"), nil)
	if err := f.h.process(context.Background(), p, "test-main"); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 2 || !slices.Equal(p.Hits, []string{"test-note", "test-note"}) {
		t.Errorf("ran %v, hits %v: want the detour's rule, then the main chain's, then a stop", ran, p.Hits)
	}
	if err := f.h.process(context.Background(), f.newPost(t, post("anne@example.com"), nil), "test-cycle"); err == nil {
		t.Error("a cycle of chains did not fail")
	}
}
