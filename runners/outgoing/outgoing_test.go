package outgoing

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
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
	"github.com/mailman-go/mailman/templates"
)

// footerText is the footer of the list test@example.com, with CRLF.
const footerText = "_______________________________________________\r\n" +
	"Test mailing list -- test@example.com\r\n" +
	"To unsubscribe send an email to test-leave@example.com\r\n"

// post is a plain post to the list.
const post = "From: zoe@example.org\r\nTo: test@example.com\r\nSubject: Hi\r\n" +
	"Message-ID: <post@example.org>\r\n\r\nHello, list.\r\n"

// fixture is the list test@example.com in a real store, a retry queue, a
// sink, and a handler delivering to it on a fixed clock.
type fixture struct {
	h     *Handler
	st    *store.Store
	retry *switchboard.Switchboard
	sink  *sink
	now   time.Time
	logs  *bytes.Buffer
	log   *slog.Logger // what the loop hands Dispose; writes to logs too
}

func newFixture(t testing.TB, o sinkOptions) *fixture {
	t.Helper()
	site := runnertest.New(t, nil)
	st, retry := site.Store, site.Queue("retry")
	f := &fixture{
		st:    st,
		retry: retry,
		sink:  startSink(t, o),
		// Near the real clock, which the switchboard compares due times
		// with; whole seconds, as deliver_until is written.
		now:  time.Now().Truncate(time.Second),
		logs: &bytes.Buffer{},
	}
	f.h = &Handler{
		Store: st,
		Retry: retry,
		Settings: Settings{
			Host:          "127.0.0.1",
			Port:          f.sink.port,
			SecureMode:    o.mode,
			MaxRecipients: 500,
			RetryPeriod:   5 * 24 * time.Hour,
			Hostname:      "lists.example.com",
		},
		Now: func() time.Time { return f.now },
	}
	f.log = slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), f.logs), nil))
	t.Cleanup(func() { f.h.Close() })
	return f
}

// entry is raw queued with md, for the list unless md says "listid".
func entry(raw string, md map[string]any) *switchboard.Entry {
	e := &switchboard.Entry{Name: "test", Message: []byte(raw), Msgdata: switchboard.Msgdata{}}
	e.Msgdata.Set(msgdata.ListID, "test.example.com")
	for k, v := range md {
		e.Msgdata.Set(k, v)
	}
	return e
}

func (f *fixture) dispose(t *testing.T, e *switchboard.Entry) {
	t.Helper()
	out, err := f.h.Dispose(context.Background(), e, runners.EntryLog(f.log, e))
	if err != nil {
		t.Fatal(err)
	}
	if out != runners.Done {
		t.Fatalf("outcome %+v, want done", out)
	}
}

// retried returns the entries waiting in retry and when the first is due.
func (f *fixture) retried(t *testing.T) ([]*switchboard.Entry, time.Time) {
	t.Helper()
	_, due, err := f.retry.Ready(switchboard.Whole, f.now)
	if err != nil {
		t.Fatal(err)
	}
	files, _, err := f.retry.Ready(switchboard.Whole, f.now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var es []*switchboard.Entry
	for _, file := range files {
		e, err := switchboard.ReadFile(filepath.Join(f.retry.Dir(), file))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es, due
}

// bounces returns the list's bounce events as "address reason".
func (f *fixture) bounces(t *testing.T) []string {
	t.Helper()
	bs, err := f.st.Bounces(context.Background(), "test.example.com")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range bs {
		if b.MessageID != "<post@example.org>" {
			t.Errorf("bounce %+v: Message-ID %q", b, b.MessageID)
		}
		out = append(out, b.Address+" "+b.Reason)
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

const (
	anne = "anne@example.org"
	bart = "bart@example.org"
	cris = "cris@example.org"
)

func TestDeliver(t *testing.T) {
	base64Post := "From: zoe@example.org\r\nMessage-ID: <post@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("Grüße\r\n")) + "\r\n"
	mixedPost := "From: zoe@example.org\r\nMessage-ID: <post@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nHello\r\n--XX\r\nContent-Type: image/png\r\n\r\nPNG\r\n--XX--\r\n"
	altPost := strings.Replace(mixedPost, "multipart/mixed", "multipart/alternative", 1)
	three := []string{cris, anne, bart, anne}
	bulk := []txn{{from: "test-bounces@example.com", rcpts: []string{anne, bart, cris}}}

	tests := []struct {
		name     string
		settings func(*Settings)
		sink     func(*sink)
		raw      string
		md       map[string]any
		want     []txn // data is checked by check, not compared
		bounces  []string
		retry    []string // recipients parked in retry
		check    func(t *testing.T, ts []txn)
	}{
		{
			name: "bulk: one transaction, sorted, each once, with the footer",
			raw:  post,
			md:   map[string]any{"recipients": three},
			want: bulk,
			check: func(t *testing.T, ts []txn) {
				if want := strings.TrimSuffix(post, "\r\n") + "\r\n" + footerText; ts[0].data != want {
					t.Errorf("data:\n%s\nwant:\n%s", ts[0].data, want)
				}
			},
		},
		{
			// The store keeps it unquoted; unquoted, RCPT TO:<x>y@x.org>
			// would end at the first ">".
			name: "a local part that must be quoted in SMTP",
			raw:  post,
			md:   map[string]any{"recipients": []string{"x>y@x.org", `two words@x.org`}},
			want: []txn{{from: "test-bounces@example.com", rcpts: []string{"two words@x.org", "x>y@x.org"}}},
		},
		{
			name:     "chunks of at most max_recipients",
			settings: func(s *Settings) { s.MaxRecipients = 2 },
			raw:      post,
			md:       map[string]any{"recipients": []string{"e@x.org", "c@x.org", "a@x.org", "d@x.org", "b@x.org"}},
			want: []txn{
				{from: "test-bounces@example.com", rcpts: []string{"a@x.org", "b@x.org"}},
				{from: "test-bounces@example.com", rcpts: []string{"c@x.org", "d@x.org"}},
				{from: "test-bounces@example.com", rcpts: []string{"e@x.org"}},
			},
		},
		{
			name: "VERP asked for: one transaction per recipient, its own envelope sender",
			raw:  post,
			md:   map[string]any{"recipients": []string{bart, anne}, "verp": true},
			want: []txn{
				{from: "test-bounces+anne=example.org@example.com", rcpts: []string{anne}},
				{from: "test-bounces+bart=example.org@example.com", rcpts: []string{bart}},
			},
			check: func(t *testing.T, ts []txn) {
				for _, x := range ts {
					if !strings.HasSuffix(x.data, "Hello, list.\r\n"+footerText) {
						t.Errorf("copy for %v lacks the footer once:\n%s", x.rcpts, x.data)
					}
				}
			},
		},
		{
			name:     "VERP on the interval's posts",
			settings: func(s *Settings) { s.VERPInterval = 5 },
			raw:      post,
			md:       map[string]any{"recipients": []string{anne}, "post_id": 10},
			want:     []txn{{from: "test-bounces+anne=example.org@example.com", rcpts: []string{anne}}},
		},
		{
			name:     "no VERP between them",
			settings: func(s *Settings) { s.VERPInterval = 5 },
			raw:      post,
			md:       map[string]any{"recipients": []string{anne}, "post_id": 4},
			want:     []txn{{from: "test-bounces@example.com", rcpts: []string{anne}}},
		},
		{
			name:    "a recipient refused for good is a bounce; the others get it",
			sink:    func(s *sink) { s.refuse(bart, 550, "No such user") },
			raw:     post,
			md:      map[string]any{"recipients": three},
			want:    []txn{{from: "test-bounces@example.com", rcpts: []string{anne, cris}}},
			bounces: []string{bart + " 550 5.1.1 No such user"},
		},
		{
			name:  "a recipient refused for now waits in retry",
			sink:  func(s *sink) { s.refuse(bart, 450, "Mailbox busy") },
			raw:   post,
			md:    map[string]any{"recipients": three},
			want:  []txn{{from: "test-bounces@example.com", rcpts: []string{anne, cris}}},
			retry: []string{bart},
		},
		{
			name:  "552 is temporary",
			sink:  func(s *sink) { s.refuse(bart, 552, "Mailbox full") },
			raw:   post,
			md:    map[string]any{"recipients": three},
			want:  []txn{{from: "test-bounces@example.com", rcpts: []string{anne, cris}}},
			retry: []string{bart},
		},
		{
			name: "MAIL refused for good: every recipient bounces",
			sink: func(s *sink) { s.refuseMail = reply(550, "Sender rejected") },
			raw:  post,
			md:   map[string]any{"recipients": three},
			bounces: []string{
				anne + " 550 5.1.1 Sender rejected",
				bart + " 550 5.1.1 Sender rejected",
				cris + " 550 5.1.1 Sender rejected",
			},
		},
		{
			name:  "MAIL refused for now: every recipient waits",
			sink:  func(s *sink) { s.refuseMail = reply(451, "Try later") },
			raw:   post,
			md:    map[string]any{"recipients": three},
			retry: []string{anne, bart, cris},
		},
		{
			name: "DATA refused: each recipient with the reply that concerns it",
			sink: func(s *sink) {
				s.refuse(cris, 550, "No such user")
				s.refuseData = reply(554, "Content rejected")
			},
			raw: post,
			md:  map[string]any{"recipients": three},
			bounces: []string{
				anne + " 554 5.1.1 Content rejected",
				bart + " 554 5.1.1 Content rejected",
				cris + " 550 5.1.1 No such user",
			},
		},
		{
			name:  "MTA down: everything waits in retry",
			sink:  func(s *sink) { s.stop() },
			raw:   post,
			md:    map[string]any{"recipients": three},
			retry: []string{anne, bart, cris},
		},
		{
			name: "nodecorate leaves the message alone",
			raw:  post,
			md:   map[string]any{"recipients": three, "nodecorate": true},
			want: bulk,
			check: func(t *testing.T, ts []txn) {
				if ts[0].data != post {
					t.Errorf("data:\n%s\nwant:\n%s", ts[0].data, post)
				}
			},
		},
		{
			name: "a site notice goes out from its envsender, undecorated",
			raw:  post,
			md:   map[string]any{"listid": "", "envsender": "mailman@example.com", "recipients": []string{anne}},
			want: []txn{{from: "mailman@example.com", rcpts: []string{anne}}},
			check: func(t *testing.T, ts []txn) {
				if ts[0].data != post {
					t.Errorf("data:\n%s\nwant:\n%s", ts[0].data, post)
				}
			},
		},
		{
			name: "no recipients: nothing to do",
			raw:  post,
			md:   map[string]any{"recipients": []string{}},
		},
		{
			name: "a base64 body gets a footer that decodes",
			raw:  base64Post,
			md:   map[string]any{"recipients": []string{anne}},
			want: []txn{{from: "test-bounces@example.com", rcpts: []string{anne}}},
			check: func(t *testing.T, ts []txn) {
				m, err := message.Parse([]byte(ts[0].data))
				if err != nil {
					t.Fatal(err)
				}
				if text, _ := m.FirstText(); text != "Grüße\r\n"+footerText {
					t.Errorf("decoded body %q", text)
				}
			},
		},
		{
			name: "multipart/mixed gets a footer part at the end",
			raw:  mixedPost,
			md:   map[string]any{"recipients": []string{anne}},
			want: []txn{{from: "test-bounces@example.com", rcpts: []string{anne}}},
			check: func(t *testing.T, ts []txn) {
				types, last := parts(t, ts[0].data)
				if !slices.Equal(types, []string{"text/plain", "image/png", "text/plain"}) || last != footerText {
					t.Errorf("parts %v, last %q", types, last)
				}
			},
		},
		{
			name: "multipart/alternative is wrapped, the footer after it",
			raw:  altPost,
			md:   map[string]any{"recipients": []string{anne}},
			want: []txn{{from: "test-bounces@example.com", rcpts: []string{anne}}},
			check: func(t *testing.T, ts []txn) {
				types, last := parts(t, ts[0].data)
				if !slices.Equal(types, []string{"multipart/alternative", "text/plain"}) || last != footerText {
					t.Errorf("parts %v, last %q", types, last)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, sinkOptions{})
			if tt.settings != nil {
				tt.settings(&f.h.Settings)
			}
			if tt.sink != nil {
				tt.sink(f.sink)
			}
			f.dispose(t, entry(tt.raw, tt.md))

			ts := f.sink.transactions()
			if len(ts) != len(tt.want) {
				t.Fatalf("%d transactions %+v, want %d", len(ts), ts, len(tt.want))
			}
			for i, w := range tt.want {
				if ts[i].from != w.from || !slices.Equal(ts[i].rcpts, w.rcpts) {
					t.Errorf("transaction %d: MAIL FROM %s RCPT %v, want %s %v", i, ts[i].from, ts[i].rcpts, w.from, w.rcpts)
				}
			}
			if tt.check != nil {
				tt.check(t, ts)
			}
			if got := f.bounces(t); !slices.Equal(got, tt.bounces) {
				t.Errorf("bounces %q, want %q", got, tt.bounces)
			}
			es, _ := f.retried(t)
			switch {
			case tt.retry == nil && len(es) != 0:
				t.Errorf("%d entries in retry, want none", len(es))
			case tt.retry != nil && len(es) != 1:
				t.Errorf("%d entries in retry, want 1", len(es))
			case tt.retry != nil:
				if got := recipients(t, es[0]); !slices.Equal(got, tt.retry) {
					t.Errorf("retry recipients %v, want %v", got, tt.retry)
				}
			}
		})
	}
}

// parts returns the Content-Types of a multipart message's parts and the
// content of the last one.
func parts(t *testing.T, data string) ([]string, string) {
	t.Helper()
	m, err := message.Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	r := multipart.NewReader(bytes.NewReader(m.Body()), params["boundary"])
	var types []string
	var last string
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return types, last
		}
		if err != nil {
			t.Fatal(err)
		}
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, mt)
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		last = string(b)
	}
}

// TestRetryState: bart is refused with a 450 each time; what the retry
// entry says, or whether the message is dropped, depends on the state the
// earlier attempts left.
func TestRetryState(t *testing.T) {
	type state struct {
		lastCount int
		until     time.Duration // from now
		attempts  int
	}
	tests := []struct {
		name     string
		settings func(*Settings)
		rcpts    []string
		before   *state // nil: the first attempt
		dropped  bool
		due      time.Duration // from now
		after    state
	}{
		{
			name:  "first failure: a minute, and the retry period starts",
			rcpts: []string{bart},
			due:   time.Minute,
			after: state{lastCount: 1, until: 5 * 24 * time.Hour, attempts: 1},
		},
		{
			name: "delivery_retry_delay sets the first wait",
			// Not a second: the queue names an entry by the wall clock,
			// and one due a second after the fixture's now may be ready
			// by the time it is written.
			settings: func(s *Settings) { s.RetryDelay = 90 * time.Second },
			rcpts:    []string{bart},
			due:      90 * time.Second,
			after:    state{lastCount: 1, until: 5 * 24 * time.Hour, attempts: 1},
		},
		{
			name:   "no progress within the period: the wait doubles, the period stands",
			rcpts:  []string{bart},
			before: &state{lastCount: 1, until: time.Hour, attempts: 1},
			due:    2 * time.Minute,
			after:  state{lastCount: 1, until: time.Hour, attempts: 2},
		},
		{
			name:   "the wait is at most an hour",
			rcpts:  []string{bart},
			before: &state{lastCount: 1, until: 3 * time.Hour, attempts: 9},
			due:    time.Hour,
			after:  state{lastCount: 1, until: 3 * time.Hour, attempts: 10},
		},
		{
			name:   "progress starts a new period, even past the old one",
			rcpts:  []string{anne, bart},
			before: &state{lastCount: 2, until: -time.Hour, attempts: 4},
			due:    16 * time.Minute,
			after:  state{lastCount: 1, until: 5 * 24 * time.Hour, attempts: 5},
		},
		{
			name:    "no progress past the period: dropped",
			rcpts:   []string{bart},
			before:  &state{lastCount: 1, until: -time.Second, attempts: 3},
			dropped: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, sinkOptions{})
			if tt.settings != nil {
				tt.settings(&f.h.Settings)
			}
			f.sink.refuse(bart, 450, "Mailbox busy")
			md := map[string]any{"recipients": tt.rcpts}
			if b := tt.before; b != nil {
				md[msgdata.LastRecipCount] = b.lastCount
				md[msgdata.DeliverUntil] = f.now.Add(b.until).Format(time.RFC3339)
				md[msgdata.Attempts] = b.attempts
			}
			f.dispose(t, entry(post, md))

			es, due := f.retried(t)
			if tt.dropped {
				if len(es) != 0 {
					t.Fatalf("%d entries in retry, want none", len(es))
				}
				logs := f.logs.String()
				if !strings.Contains(logs, "discarding message with persistent temporary failures") ||
					!strings.Contains(logs, "<post@example.org>") || !strings.Contains(logs, bart) {
					t.Errorf("no discard line naming the message and bart:\n%s", logs)
				}
				return
			}
			if len(es) != 1 {
				t.Fatalf("%d entries in retry, want 1", len(es))
			}
			e := es[0]
			if string(e.Message) != post {
				t.Errorf("retry message is not the one queued (decorated?):\n%s", e.Message)
			}
			if got := recipients(t, e); !slices.Equal(got, []string{bart}) {
				t.Errorf("recipients %v", got)
			}
			if !due.Equal(f.now.Add(tt.due)) {
				t.Errorf("due in %s, want %s", due.Sub(f.now), tt.due)
			}
			got := state{lastCount: e.Msgdata.Int(msgdata.LastRecipCount), attempts: e.Msgdata.Int(msgdata.Attempts)}
			until, err := time.Parse(time.RFC3339, e.Msgdata.String(msgdata.DeliverUntil))
			if err != nil {
				t.Fatal(err)
			}
			got.until = until.Sub(f.now)
			if got != tt.after {
				t.Errorf("state %+v, want %+v", got, tt.after)
			}
		})
	}
}

// TestRetryEntryGoesOut: a retry entry, moved back as the retry runner
// does, is delivered to those still owed with its VERP decision kept.
func TestRetryEntryGoesOut(t *testing.T) {
	f := newFixture(t, sinkOptions{})
	f.h.Settings.VERPInterval = 1
	f.sink.refuse(bart, 450, "Mailbox busy")
	f.dispose(t, entry(post, map[string]any{"recipients": []string{anne, bart}}))
	es, _ := f.retried(t)
	if len(es) != 1 {
		t.Fatalf("%d entries in retry", len(es))
	}
	f.sink.mu.Lock()
	delete(f.sink.refuseRcpt, bart)
	f.sink.mu.Unlock()
	f.h.Settings.VERPInterval = 0 // the decision is the entry's now
	f.dispose(t, es[0])
	ts := f.sink.transactions()
	if len(ts) != 2 || ts[1].from != "test-bounces+bart=example.org@example.com" || !slices.Equal(ts[1].rcpts, []string{bart}) {
		t.Fatalf("transactions %+v", ts)
	}
	if strings.Count(ts[1].data, "To unsubscribe") != 1 {
		t.Errorf("retried copy has the footer %d times", strings.Count(ts[1].data, "To unsubscribe"))
	}
}

// TestConnection: one connection serves message after message; a dropped
// one is replaced; a stopped MTA is logged once per outage.
func TestConnection(t *testing.T) {
	f := newFixture(t, sinkOptions{})
	send := func(id string) {
		t.Helper()
		raw := strings.Replace(post, "<post@example.org>", id, 1)
		f.dispose(t, entry(raw, map[string]any{"recipients": []string{anne}}))
	}
	steps := []struct {
		name               string
		before             func()
		sessions, txns     int
		retried, downLines int
	}{
		{name: "first message", sessions: 1, txns: 1},
		{name: "second message, same connection", sessions: 1, txns: 2},
		{name: "after the MTA dropped it, a new one", before: f.sink.dropConnections, sessions: 2, txns: 3},
		{name: "MTA down", before: f.sink.stop, sessions: 2, txns: 3, retried: 1, downLines: 1},
		{name: "still down: logged once", sessions: 2, txns: 3, retried: 2, downLines: 1},
	}
	for i, s := range steps {
		if s.before != nil {
			s.before()
		}
		send("<m" + string(rune('0'+i)) + "@example.org>")
		es, _ := f.retried(t)
		if got := f.sink.sessionCount(); got != s.sessions {
			t.Errorf("%s: %d connections, want %d", s.name, got, s.sessions)
		}
		if got := len(f.sink.transactions()); got != s.txns {
			t.Errorf("%s: %d transactions, want %d", s.name, got, s.txns)
		}
		if len(es) != s.retried {
			t.Errorf("%s: %d in retry, want %d", s.name, len(es), s.retried)
		}
		if got := strings.Count(f.logs.String(), "cannot connect to SMTP server"); got != s.downLines {
			t.Errorf("%s: %d outage lines, want %d", s.name, got, s.downLines)
		}
	}
	if err := f.h.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestSecureModes: STARTTLS and SMTPS with AUTH PLAIN; a refused login
// says nothing about the recipients, so they wait rather than bounce.
func TestSecureModes(t *testing.T) {
	cert, pool := testCert(t)
	tests := []struct {
		mode, pass string
		delivered  bool
	}{
		{mode: "starttls", pass: "secret", delivered: true},
		{mode: "smtps", pass: "secret", delivered: true},
		{mode: "starttls", pass: "wrong"},
	}
	for _, tt := range tests {
		t.Run(tt.mode+"/"+tt.pass, func(t *testing.T) {
			f := newFixture(t, sinkOptions{mode: tt.mode, cert: cert, user: "mailman", pass: "secret"})
			f.h.rootCAs = pool
			f.h.Settings.User, f.h.Settings.Pass = "mailman", tt.pass
			f.dispose(t, entry(post, map[string]any{"recipients": []string{anne, bart}}))
			ts := f.sink.transactions()
			es, _ := f.retried(t)
			if tt.delivered {
				if len(ts) != 1 || len(es) != 0 {
					t.Fatalf("transactions %+v, %d in retry", ts, len(es))
				}
				f.sink.mu.Lock()
				authed := f.sink.authed
				f.sink.mu.Unlock()
				if !slices.Equal(authed, []string{"mailman"}) {
					t.Errorf("authenticated as %v", authed)
				}
				return
			}
			if len(ts) != 0 || len(es) != 1 || len(f.bounces(t)) != 0 {
				t.Errorf("transactions %+v, %d in retry, bounces %v; want all in retry", ts, len(es), f.bounces(t))
			}
		})
	}
}

// TestDisposeErrors: entries that cannot be sent are shunted (an error);
// a retry queue that cannot take the deferred recipients keeps the entry
// in place (a temporary error).
func TestDisposeErrors(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(f *fixture)
		md        map[string]any
		temporary bool
	}{
		{name: "unknown list", md: map[string]any{"listid": "gone.example.com", "recipients": []string{anne}}},
		{name: "no list and no envsender", md: map[string]any{"listid": "", "recipients": []string{anne}}},
		{name: "recipients not a list", md: map[string]any{"recipients": anne}},
		{
			name: "retry queue unwritable",
			setup: func(f *fixture) {
				f.sink.refuse(anne, 450, "busy")
				os.RemoveAll(f.retry.Dir())
			},
			md:        map[string]any{"recipients": []string{anne}},
			temporary: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, sinkOptions{})
			if tt.setup != nil {
				tt.setup(f)
			}
			_, err := f.h.Dispose(context.Background(), entry(post, tt.md), f.log)
			switch {
			case err == nil:
				t.Fatal("no error")
			case runners.IsTemporary(err) != tt.temporary:
				t.Errorf("error %v: temporary %v, want %v", err, !tt.temporary, tt.temporary)
			}
		})
	}
}

func TestUseVERP(t *testing.T) {
	tests := []struct {
		md       map[string]any
		interval int
		want     bool
	}{
		{map[string]any{"verp": true}, 0, true},
		{map[string]any{"verp": false, "post_id": 5}, 1, false},
		{map[string]any{"post_id": 5}, 0, false},
		{map[string]any{"post_id": 4}, 1, true},
		{map[string]any{"post_id": 5}, 5, true},
		{map[string]any{"post_id": 4}, 5, false},
	}
	for _, tt := range tests {
		md := switchboard.Msgdata{}
		for k, v := range tt.md {
			md.Set(k, v)
		}
		if got := useVERP(md, tt.interval); got != tt.want {
			t.Errorf("useVERP(%v, %d) = %v, want %v", tt.md, tt.interval, got, tt.want)
		}
	}
}

// How a header and a footer go into each shape of message is message's
// (TestDecorate there); outgoing's part is which a list's post gets: its
// templates' (the list's, else its domain's, else the site's) with the
// list's, the archivers' and, on copies sent one member at a time, the
// member's placeholders filled in; Mailman's default footer without one;
// none for an empty template.
func TestDecoration(t *testing.T) {
	const post = "From: zoe@example.org\r\nTo: test@example.com\r\nSubject: Hi\r\nMessage-ID: <post@example.org>\r\n" +
		"Content-Type: text/plain; charset=UTF-8\r\n\r\nHello, list.\r\n"
	rcpts := []string{"anne@example.net", "bob@example.net"}
	tests := []struct {
		name           string
		header, footer string // the templates' texts; "-" for none registered
		scope          string // "" for the list's
		personalize    string
		displayName    string
		want           map[string]string // each recipient's text; "*" for every one
	}{
		{"Mailman's default footer", "-", "-", "", "none", "Test", map[string]string{"*": "Hello, list.\r\n" + footerText}},
		{"a non-ASCII display name", "-", "-", "", "none", "Tëst",
			map[string]string{"*": "Hello, list.\r\n" + strings.Replace(footerText, "Test mailing", "Tëst mailing", 1)}},
		{"an empty footer is none", "-", "", "", "none", "Test", map[string]string{"*": "Hello, list.\r\n"}},
		{"a footer never read is Mailman's default", "!missing", "!missing", "", "none", "Test", map[string]string{"*": "Hello, list.\r\n" + footerText}},
		// Mailman drops the spaces before each line's end, even the
		// signature separator's.
		{"the list's header and footer", "Rules: $info  \r\n", "-- \n$display_name <$fqdn_listname> at $mail_host\nArchive: $hyperkitty_url\n", "", "none", "Test",
			map[string]string{"*": "Rules: Be kind.\r\nHello, list.\r\n--\r\nTest <test@example.com> at example.com\r\nArchive: https://archive.example.com/m/1\r\n"}},
		{"the domain's footer", "-", "Domain footer for $list_name", "domain:example.com", "none", "Test",
			map[string]string{"*": "Hello, list.\r\nDomain footer for test\r\n"}},
		{"member placeholders in bulk are left as written", "-", "To $user_address ($user_name)", "", "none", "Test",
			map[string]string{"*": "Hello, list.\r\nTo $user_address ($user_name)\r\n"}},
		{"each member's own footer", "-", "Sent to $user_address ($user_name_or_address, $member)\nLeave: $user_unsubscribe_url", "", "individual", "Test",
			map[string]string{
				"anne@example.net": "Hello, list.\r\nSent to anne@example.net (Anne Ö, =?utf-8?q?Anne_=C3=96?= <anne@example.net>)\r\nLeave: \r\n",
				"bob@example.net":  "Hello, list.\r\nSent to bob@example.net (bob@example.net, bob@example.net)\r\nLeave: \r\n",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, sinkOptions{})
			ctx := context.Background()
			dir := t.TempDir()
			f.h.Templates = &templates.Loader{Store: f.st}
			test := store.ListAddress{Name: "test", Domain: "example.com"}
			settings := map[string]string{"personalize": tt.personalize, "info": "Be kind.", "display_name": tt.displayName}
			for k, v := range settings {
				if err := f.st.SetListSetting(ctx, test, k, v); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.st.AddMembers(ctx, test, store.Regular, []string{"Anne Ö <anne@example.net>", "bob@example.net"}, nil); err != nil {
				t.Fatal(err)
			}
			scope := tt.scope
			if scope == "" {
				scope = store.ListTemplates("test.example.com")
			}
			var ts []store.Template
			for name, text := range map[string]string{headerTemplate: tt.header, footerTemplate: tt.footer} {
				if text == "-" {
					continue
				}
				path := filepath.Join(dir, strings.ReplaceAll(name, ":", "-"))
				if text == "!missing" {
					ts = append(ts, store.Template{Name: name, URI: "file://" + path})
					continue
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				ts = append(ts, store.Template{Name: name, URI: "file://" + path})
			}
			if err := f.st.SetTemplates(ctx, scope, ts, false); err != nil {
				t.Fatal(err)
			}
			f.dispose(t, entry(post, map[string]any{msgdata.Recipients: rcpts,
				msgdata.DecorationData: map[string]string{"hyperkitty_url": "https://archive.example.com/m/1"}}))
			got := map[string]string{}
			for _, x := range f.sink.transactions() {
				m, err := message.Parse([]byte(x.data))
				if err != nil {
					t.Fatal(err)
				}
				text, _ := m.FirstText()
				for _, r := range x.rcpts {
					got[r] = text
				}
			}
			for _, r := range rcpts {
				want, ok := tt.want[r]
				if !ok {
					want = tt.want["*"]
				}
				if got[r] != want {
					t.Errorf("%s's copy:\n%q\nwant:\n%q", r, got[r], want)
				}
			}
		})
	}
}

// An unparsable message goes out as it came.
func TestDecorateUnparsable(t *testing.T) {
	if got, err := decorate([]byte(" Subject: a continuation first\r\n\r\nHi"), nil, []string{"footer"}); err == nil {
		t.Errorf("decorated:\n%s", got)
	}
}
