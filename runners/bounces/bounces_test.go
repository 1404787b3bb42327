package bounces

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

const (
	bart = "bart@example.org"
	cris = "cris@example.org"
	owen = "owen@example.com"
)

type fixture struct {
	site   *runnertest.Site
	h      *Handler
	virgin *switchboard.Switchboard
	now    time.Time
	logs   bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	site := runnertest.New(t, map[store.Role][]string{store.Owner: {owen}, store.Regular: {bart, cris}})
	f := &fixture{site: site, virgin: site.Queue("virgin"), now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	f.h = &Handler{Store: site.Store, Virgin: f.virgin, Now: func() time.Time { return f.now },
		Settings: Settings{SiteOwner: "postmaster@example.com", Periodic: true}}
	return f
}

func (f *fixture) log(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.MultiWriter(&f.logs, t.Output()), nil))
}

func (f *fixture) dispose(t *testing.T, raw string) {
	t.Helper()
	md := switchboard.Msgdata{}
	md.Set(msgdata.ListID, "test.example.com")
	if _, err := f.h.Dispose(context.Background(), &switchboard.Entry{Name: "test", Message: []byte(raw), Msgdata: md}, f.log(t)); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) tick(t *testing.T) {
	t.Helper()
	if err := f.h.Tick(context.Background(), f.log(t)); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) member(t *testing.T, addr string) *store.Member {
	t.Helper()
	m, err := f.site.Store.Member(context.Background(), "test.example.com", addr, store.Regular)
	if err != nil {
		return nil
	}
	return m
}

// sent is what went to the virgin queue since the last call: "TO: SUBJECT".
func (f *fixture) sent(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, e := range runnertest.Take(t, f.virgin) {
		m, err := message.Parse(e.Message)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join(recipients(t, e), ",")+": "+m.Decoded("Subject"))
	}
	return out
}

func recipients(t *testing.T, e *switchboard.Entry) []string {
	t.Helper()
	var rs []string
	if _, err := e.Msgdata.Get(msgdata.Recipients, &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

// dsn is a delivery status notification to the list's bounce address to
// (the VERP one, or the plain one), reporting groups.
func dsn(to, groups string) string {
	return "From: MAILER-DAEMON@mx.example.org\r\nTo: " + to + "\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn@mx.example.org>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n" + groups +
		"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: anne@example.net\r\nTo: test@example.com\r\n\r\nhi\r\n--b--\r\n"
}

func failed(addr, status string) string {
	return "Final-Recipient: rfc822; " + addr + "\r\nAction: failed\r\nStatus: " + status + "\r\n\r\n"
}

// TestDispose: whom each bounce is about, and what it does.
func TestDispose(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(*fixture)
		msg      string
		events   []string // "address kind status" recorded
		sent     []string
		disabled []string
	}{
		{
			name:   "a VERP bounce counts against the address it came back for",
			msg:    dsn("test-bounces+bart=example.org@example.com", failed("bart.alias@mail.example.org", "5.1.1")),
			events: []string{"bart@example.org normal 5.1.1"},
		},
		{
			name: "a VERP delay counts nothing",
			msg:  dsn("test-bounces+bart=example.org@example.com", "Final-Recipient: rfc822; bart@example.org\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n"),
		},
		{
			name: "a vacation reply to a VERP address is forwarded, and counts nothing",
			msg:  "From: bart@example.org\r\nTo: test-bounces+bart=example.org@example.com\r\nSubject: Out of office\r\n\r\nI am away until Monday.\r\n",
			sent: []string{"owen@example.com: Uncaught bounce notification"},
		},
		{
			name:   "a plain bounce counts against the members it names",
			msg:    dsn("test-bounces@example.com", failed(bart, "5.1.1")+failed("stranger@example.net", "5.1.1")),
			events: []string{"bart@example.org normal 5.1.1", "stranger@example.net normal 5.1.1"},
		},
		{
			name:   "a refusal for policy is recorded, never scored",
			msg:    dsn("test-bounces@example.com", failed(bart, "5.7.26")),
			events: []string{"bart@example.org policy 5.7.26"},
		},
		{
			name: "an unrecognized bounce goes to the administrators",
			msg:  "From: someone@example.net\r\nTo: test-bounces@example.com\r\nSubject: hello\r\n\r\nJust saying hello.\r\n",
			sent: []string{"owen@example.com: Uncaught bounce notification"},
		},
		{
			name:  "or to the site owner",
			setup: func(f *fixture) { f.site.Set("forward_unrecognized_bounces_to", "site_owner") },
			msg:   "From: someone@example.net\r\nTo: test-bounces@example.com\r\nSubject: hello\r\n\r\nJust saying hello.\r\n",
			sent:  []string{"postmaster@example.com: Uncaught bounce notification"},
		},
		{
			name:  "or nowhere",
			setup: func(f *fixture) { f.site.Set("forward_unrecognized_bounces_to", "discard") },
			msg:   "From: someone@example.net\r\nTo: test-bounces@example.com\r\nSubject: hello\r\n\r\nJust saying hello.\r\n",
		},
		{
			name: "a bounce of an administrator's own address is not forwarded to them",
			msg:  dsn("test-bounces@example.com", failed(owen, "5.1.1")),
			// Recorded for no member: nothing forwarded.
			events: []string{"owen@example.com normal 5.1.1"},
		},
		{
			name:  "nothing when the list processes no bounces",
			setup: func(f *fixture) { f.site.Set("process_bounces", "false") },
			msg:   dsn("test-bounces@example.com", failed(bart, "5.1.1")),
		},
		{
			name: "a feedback report stops the complainer's delivery and tells the owners",
			msg: "From: fbl@mail.example.net\r\nTo: test-bounces@example.com\r\nSubject: Abuse report\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n" +
				"--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nOriginal-Rcpt-To: bart@example.org\r\n\r\n--b--\r\n",
			events:   []string{"bart@example.org complaint "},
			sent:     []string{"owen@example.com: bart@example.org reported mail from Test as spam"},
			disabled: []string{bart},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			f.dispose(t, tt.msg)
			bs, err := f.site.Store.Bounces(context.Background(), "test.example.com")
			if err != nil {
				t.Fatal(err)
			}
			var events []string
			for _, b := range bs {
				events = append(events, b.Address+" "+b.Kind+" "+b.Status)
				if !b.Processed || b.MessageID != "<dsn@mx.example.org>" && b.Kind != store.BounceComplaint {
					t.Errorf("event %+v: not processed, or without the bounce's Message-ID", b)
				}
			}
			if !slices.Equal(events, tt.events) {
				t.Errorf("events %q, want %q", events, tt.events)
			}
			if got := f.sent(t); !slices.Equal(got, tt.sent) {
				t.Errorf("sent %q, want %q", got, tt.sent)
			}
			for _, a := range []string{bart, cris} {
				off := f.member(t, a).DeliveryStatus != "enabled"
				if off != slices.Contains(tt.disabled, a) {
					t.Errorf("%s delivery %s", a, f.member(t, a).DeliveryStatus)
				}
			}
		})
	}
}

// TestDisabledWarnedRemoved: at the threshold the member's delivery goes
// off and the owners are told; then warnings a week apart, then removal,
// with a goodbye and the owners told; days pass on the injected clock.
func TestDisabledWarnedRemoved(t *testing.T) {
	f := newFixture(t)
	f.site.Set("bounce_score_threshold", "2")
	f.site.Set("bounce_you_are_disabled_warnings", "2")
	bounceBart := dsn("test-bounces+bart=example.org@example.com", failed(bart, "5.1.1"))
	f.dispose(t, bounceBart)
	if m := f.member(t, bart); m.BounceScore != 1 || m.DeliveryStatus != "enabled" {
		t.Fatalf("after one bounce: %+v", m)
	}
	f.now = f.now.Add(24 * time.Hour)
	f.dispose(t, bounceBart)
	if m := f.member(t, bart); m.BounceScore != 2 || m.DeliveryStatus != store.ByBounces || m.DeliveryEnabled {
		t.Fatalf("at the threshold: %+v", m)
	}
	if got := f.sent(t); !slices.Equal(got, []string{"owen@example.com: bart@example.org's subscription disabled on Test"}) {
		t.Errorf("sent %q", got)
	}
	steps := []struct {
		after time.Duration
		sent  []string
	}{
		{0, []string{"bart@example.org: Your subscription for Test mailing list has been disabled"}},
		{6 * 24 * time.Hour, nil},
		{24 * time.Hour, []string{"bart@example.org: Your subscription for Test mailing list has been disabled"}},
		{6 * 24 * time.Hour, nil},
		{24 * time.Hour, []string{"bart@example.org: You have been unsubscribed from the Test mailing list",
			"owen@example.com: bart@example.org unsubscribed from Test mailing list due to bounces"}},
		{7 * 24 * time.Hour, nil},
	}
	for i, st := range steps {
		f.now = f.now.Add(st.after)
		f.tick(t)
		if got := f.sent(t); !slices.Equal(got, st.sent) {
			t.Errorf("step %d (%s): sent %q, want %q", i, f.now.Format(time.DateOnly), got, st.sent)
		}
	}
	if f.member(t, bart) != nil {
		t.Error("bart is still a member")
	}
	if f.member(t, cris).DeliveryStatus != "enabled" {
		t.Error("cris was touched")
	}
}

// TestProbe: with verp_probes, the threshold sends a probe instead, and
// only its bounce turns delivery off.
func TestProbe(t *testing.T) {
	f := newFixture(t)
	f.h.Settings.VERPProbes = true
	f.site.Set("bounce_score_threshold", "1")
	f.dispose(t, dsn("test-bounces@example.com", failed(bart, "5.1.1")))
	es := runnertest.Take(t, f.virgin)
	if len(es) != 1 {
		t.Fatalf("%d messages sent, want the probe", len(es))
	}
	env := es[0].Msgdata.String(msgdata.EnvSender)
	token, ok := strings.CutPrefix(env, "test-bounces+")
	token, _, _ = strings.Cut(token, "@")
	if !ok || len(token) != 40 || !slices.Equal(recipients(t, es[0]), []string{bart}) {
		t.Fatalf("probe from %q to %v", env, recipients(t, es[0]))
	}
	if m := f.member(t, bart); m.DeliveryStatus != "enabled" || m.BounceScore != 0 {
		t.Fatalf("after the probe was sent: %+v", m)
	}
	f.dispose(t, "From: MAILER-DAEMON@mx.example.org\r\nTo: "+env+"\r\nSubject: failure notice\r\n\r\nSorry, the message could not be delivered.\r\n")
	if m := f.member(t, bart); m.DeliveryStatus != store.ByBounces {
		t.Errorf("after the probe bounced: %+v", m)
	}
	// The token is spent: its second bounce names no one.
	f.sent(t)
	f.dispose(t, "From: MAILER-DAEMON@mx.example.org\r\nTo: "+env+"\r\nSubject: failure notice\r\n\r\nSorry, the message could not be delivered.\r\n")
	if got := f.sent(t); !slices.Equal(got, []string{"owen@example.com: Uncaught bounce notification"}) {
		t.Errorf("a spent probe token: sent %q", got)
	}
}

// TestTickScoresRefusals: what the outgoing runner recorded is scored on
// the next tick, and told with the mail server's reply.
func TestTickScoresRefusals(t *testing.T) {
	f := newFixture(t)
	f.site.Set("bounce_score_threshold", "1")
	if _, err := f.site.Store.RecordBounce(context.Background(), store.BounceEvent{ListID: "test.example.com", Address: cris,
		Reason: "550 5.1.1 no such user", Status: "5.1.1", At: f.now}); err != nil {
		t.Fatal(err)
	}
	f.tick(t)
	if m := f.member(t, cris); m.DeliveryStatus != store.ByBounces {
		t.Errorf("cris after the tick: %+v", m)
	}
	if got := f.sent(t); len(got) != 2 || got[0] != "owen@example.com: cris@example.org's subscription disabled on Test" {
		t.Errorf("sent %q", got)
	}
}

// TestStoreLockedWaits: a bounce that cannot be recorded (another process
// holds the database's write lock past busy_timeout) is a temporary
// failure, which keeps the entry queued; read again once the lock is
// gone, it counts, once.
func TestStoreLockedWaits(t *testing.T) {
	if testing.Short() {
		t.Skip("waits the store's busy_timeout")
	}
	f := newFixture(t)
	release := runnertest.HoldWriteLock(t, config.PathsIn(filepath.Dir(f.site.Root)).Database)
	ctx := context.Background()
	md := switchboard.Msgdata{}
	md.Set(msgdata.ListID, "test.example.com")
	e := &switchboard.Entry{Name: "x", Message: []byte(dsn("test-bounces@example.com", failed(bart, "5.1.1"))), Msgdata: md}
	if _, err := f.h.Dispose(ctx, e, f.log(t)); err == nil || !runners.IsTemporary(err) {
		t.Fatalf("Dispose with the store locked: %v, want a temporary error", err)
	}
	release()
	if _, err := f.h.Dispose(ctx, e, f.log(t)); err != nil {
		t.Fatal(err)
	}
	if m := f.member(t, bart); m.BounceScore != 1 {
		t.Errorf("after the lock: %+v", m)
	}
}
