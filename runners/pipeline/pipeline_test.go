package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/digest"
	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

type fixture struct {
	st  *store.Store
	out *switchboard.Switchboard
	a   store.ListAddress
}

// newFixture is a list test@example.com with owner owen, moderator mona,
// and members anne, bart and cris.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	site := runnertest.New(t, map[store.Role][]string{
		store.Owner: {"owen@example.com"}, store.Moderator: {"mona@example.com"},
		store.Regular: {"anne@example.com", "Bart <BART@example.com>", "cris@example.com"},
	})
	return &fixture{st: site.Store, out: site.Queue("outgoing"), a: site.List}
}

func (f *fixture) newPost(t *testing.T, raw string, md switchboard.Msgdata) *post {
	t.Helper()
	l, err := f.st.List(context.Background(), f.a)
	if err != nil {
		t.Fatal(err)
	}
	m, err := message.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if md == nil {
		md = switchboard.Msgdata{}
	}
	md.Set(msgdata.ListID, "test.example.com")
	return &post{list: l, msg: m, md: md, store: f.st, now: time.Now(), outgoing: f.out}
}

func (f *fixture) outgoing(t *testing.T) []*switchboard.Entry {
	t.Helper()
	files, _, err := f.out.Ready(switchboard.Whole, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var es []*switchboard.Entry
	for _, file := range files {
		e, err := switchboard.ReadFile(filepath.Join(f.out.Dir(), file))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

func recipients(md switchboard.Msgdata) []string {
	var rs []string
	md.Get(msgdata.Recipients, &rs)
	return rs
}

func TestSubjectPrefix(t *testing.T) {
	tests := []struct {
		prefix, subject, want string
		postID                int
	}{
		{"[Test] ", "Subject: Hello\r\n", "[Test] Hello", 1},
		{"[Test] ", "Subject: [Test] Hello\r\n", "[Test] Hello", 1},
		{"[Test] ", "Subject: Re: [Test] Hello\r\n", "[Test] Re: Hello", 1},
		{"[Test] ", "Subject: RE: Re: AW: [Test] Hello\r\n", "[Test] Re: Hello", 1},
		{"[Test] ", "Subject: Re[2]: Hello\r\n", "[Test] Re: Hello", 1},
		{"[Test] ", "Subject: [test] re: sv: Hello\r\n", "[Test] Re: Hello", 1},
		{"[Test] ", "Subject:  \r\n", "[Test] (no subject)", 1},
		{"[Test] ", "", "[Test] (no subject)", 1},
		{"[Test] ", "Subject: =?utf-8?q?caf=C3=A9?=\r\n", "[Test] café", 1},
		{"[Test %d] ", "Subject: [Test 6] Hi\r\n", "[Test 7] Hi", 7},
		{"", "Subject: Hello\r\n", "Hello", 1},
	}
	for _, tt := range tests {
		t.Run(tt.prefix+"|"+tt.subject, func(t *testing.T) {
			f := newFixture(t)
			if err := f.st.SetListSetting(context.Background(), f.a, "subject_prefix", tt.prefix); err != nil {
				t.Fatal(err)
			}
			p := f.newPost(t, "From: anne@example.com\r\n"+tt.subject+"\r\nbody\r\n", nil)
			p.list.PostID = tt.postID
			if err := subjectPrefix(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			if got := p.msg.Decoded("Subject"); got != tt.want {
				t.Errorf("Subject %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSubjectPrefixWritten: the prefix stands outside any encoded word, as
// Mailman writes it (a filter on "[Test]" finds it), and the Subject is
// folded: no line over 78 octets where a word allows, none ever over 998.
func TestSubjectPrefixWritten(t *testing.T) {
	long := strings.Repeat("word ", 60) + "end"
	accented := strings.Repeat("café ", 40) + "fin"
	tests := []struct {
		name, subject, decoded string
		field                  string // the field as written, "" to check the lines alone
		maxLine                int
	}{
		{"non-ASCII", "Subject: =?utf-8?q?caf=C3=A9?=\r\n", "[Test] café", "Subject: [Test] =?utf-8?q?caf=C3=A9?=\r\n", 78},
		{"ASCII", "Subject: Hello\r\n", "[Test] Hello", "Subject: [Test] Hello\r\n", 78},
		{"long ASCII", "Subject: " + long + "\r\n", "[Test] " + long, "", 78},
		{"long non-ASCII", "Subject: " + mime.QEncoding.Encode("utf-8", accented) + "\r\n", "[Test] " + accented, "", 78},
		{"one word past 998", "Subject: " + strings.Repeat("x", 1200) + "\r\n", "[Test] " + strings.Repeat("x", 1200), "", 998},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if err := f.st.SetListSetting(context.Background(), f.a, "subject_prefix", "[Test] "); err != nil {
				t.Fatal(err)
			}
			p := f.newPost(t, "From: anne@example.com\r\n"+tt.subject+"\r\nbody\r\n", nil)
			if err := subjectPrefix(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			if got := p.msg.Decoded("Subject"); got != tt.decoded {
				t.Errorf("Subject %q, want %q", got, tt.decoded)
			}
			raw := string(p.msg.Bytes())
			start := strings.Index(raw, "Subject:")
			end := strings.Index(raw, "\r\n\r\n")
			if start < 0 || end < start {
				t.Fatalf("no Subject in %q", raw)
			}
			field := raw[start : end+2]
			if tt.field != "" && field != tt.field {
				t.Errorf("written %q, want %q", field, tt.field)
			}
			if !strings.HasPrefix(field, "Subject: [Test] ") && !strings.HasPrefix(field, "Subject: [Test]\r\n ") {
				t.Errorf("the prefix is not outside the encoded words: %q", field)
			}
			for line := range strings.SplitSeq(strings.TrimSuffix(field, "\r\n"), "\r\n") {
				if len(line) > tt.maxLine {
					t.Errorf("a line of %d octets: %q", len(line), line)
				}
			}
		})
	}
}

func TestHandlers(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		raw   string
		md    switchboard.Msgdata
		run   func(context.Context, *post) error
		check func(t *testing.T, p *post)
	}{
		{"member-recipients: every member with delivery on", nil, "From: zoe@example.org\r\n\r\nx", nil, memberRecipients, func(t *testing.T, p *post) {
			if got := recipients(p.md); !slices.Equal(got, []string{"anne@example.com", "bart@example.com", "cris@example.com"}) {
				t.Errorf("recipients %v", got)
			}
		}},
		{"member-recipients: delivery off, own posts off", func(t *testing.T, f *fixture) {
			ctx := context.Background()
			f.st.SetMemberOption(ctx, f.a, "bart@example.com", store.Regular, "delivery_enabled", "false")
			f.st.SetMemberOption(ctx, f.a, "anne@example.com", store.Regular, "receive_own_postings", "false")
		}, "From: Anne <ANNE@example.com>\r\n\r\nx", nil, memberRecipients, func(t *testing.T, p *post) {
			if got := recipients(p.md); !slices.Equal(got, []string{"cris@example.com"}) {
				t.Errorf("recipients %v", got)
			}
		}},
		{"member-recipients: recipients already set", nil, "From: a@x\r\n\r\nx", switchboard.Msgdata{"recipients": []byte(`["z@example.org"]`)}, memberRecipients, func(t *testing.T, p *post) {
			if got := recipients(p.md); !slices.Equal(got, []string{"z@example.org"}) {
				t.Errorf("recipients %v", got)
			}
		}},
		{"avoid-duplicates: a member in Cc who wants no list copy", func(t *testing.T, f *fixture) {
			f.st.SetMemberOption(context.Background(), f.a, "bart@example.com", store.Regular, "receive_list_copy", "false")
		}, "From: anne@example.com\r\nTo: test@example.com\r\nCc: Bart <bart@example.com>, cris@example.com\r\n\r\nx",
			switchboard.Msgdata{"recipients": []byte(`["anne@example.com","bart@example.com","cris@example.com"]`)}, avoidDuplicates, func(t *testing.T, p *post) {
				if got := recipients(p.md); !slices.Equal(got, []string{"anne@example.com", "cris@example.com"}) {
					t.Errorf("recipients %v", got)
				}
			}},
		{"avoid-duplicates: Cc:, CC: and cc: become one Cc", nil,
			"From: anne@example.com\r\nCc: bart@example.com\r\nCC: Cris <cris@example.com>\r\ncc: dora@example.org\r\n\r\nx",
			switchboard.Msgdata{"recipients": []byte(`["anne@example.com"]`)}, avoidDuplicates, func(t *testing.T, p *post) {
				if got := p.msg.Values("Cc"); len(got) != 1 || !slices.Equal(p.msg.Addresses("Cc"), []string{"bart@example.com", "cris@example.com", "dora@example.org"}) {
					t.Errorf("Cc fields %q", got)
				}
			}},
		{"avoid-duplicates: not named", func(t *testing.T, f *fixture) {
			f.st.SetMemberOption(context.Background(), f.a, "bart@example.com", store.Regular, "receive_list_copy", "false")
		}, "From: anne@example.com\r\nTo: test@example.com\r\n\r\nx",
			switchboard.Msgdata{"recipients": []byte(`["anne@example.com","bart@example.com"]`)}, avoidDuplicates, func(t *testing.T, p *post) {
				if got := recipients(p.md); !slices.Equal(got, []string{"anne@example.com", "bart@example.com"}) {
					t.Errorf("recipients %v", got)
				}
			}},
		{"owner-recipients", nil, "From: zoe@example.org\r\n\r\nx", nil, ownerRecipients, func(t *testing.T, p *post) {
			if got := recipients(p.md); !slices.Equal(got, []string{"mona@example.com", "owen@example.com"}) || !p.md.Bool(msgdata.NoDecorate) || !p.md.Bool(msgdata.VERP) {
				t.Errorf("recipients %v, md %v", got, p.md)
			}
		}},
		{"cleanse", nil, "From: a@x\r\nApproved: pw\r\nX-Approve: pw\r\nUrgent: pw\r\nReturn-Receipt-To: a@x\r\nSubject: s\r\n\r\nx", nil, cleanse, func(t *testing.T, p *post) {
			if got := string(p.msg.Bytes()); got != "From: a@x\r\nSubject: s\r\n\r\nx" {
				t.Errorf("after cleanse %q", got)
			}
		}},
		{"cook-headers: a post", nil, "From: anne@example.com\r\nReply-To: anne@example.com\r\n\r\nx", nil, cookHeaders, func(t *testing.T, p *post) {
			if p.msg.Get("Precedence") != "list" || p.msg.Get("X-BeenThere") != "test@example.com" || !strings.HasPrefix(p.msg.Get("X-Mailman-Version"), "mailman-go ") ||
				p.md.String(msgdata.OriginalSender) != "anne@example.com" || p.msg.Get("Reply-To") != "anne@example.com" {
				t.Errorf("headers:\n%s", p.msg.Bytes())
			}
		}},
		{"cook-headers: a post from another list keeps its X-BeenThere", nil,
			"From: anne@example.com\r\nX-BeenThere: other@example.org\r\nList-Post: <mailto:other@example.org>\r\n\r\nx", nil, cookHeaders, func(t *testing.T, p *post) {
				if got := p.msg.Values("X-BeenThere"); !slices.Equal(got, []string{"other@example.org", "test@example.com"}) {
					t.Errorf("X-BeenThere %q, want the other list's and then this one's", got)
				}
			}},
		{"cook-headers: reply to the list", func(t *testing.T, f *fixture) {
			f.st.SetListSetting(context.Background(), f.a, "reply_goes_to_list", "point_to_list")
		}, "From: anne@example.com\r\nReply-To: anne@example.com\r\n\r\nx", nil, cookHeaders, func(t *testing.T, p *post) {
			if got := p.msg.Get("Reply-To"); got != "test@example.com, anne@example.com" {
				t.Errorf("Reply-To %q", got)
			}
		}},
		{"rfc-2369", nil, "From: a@x\r\nList-Id: <forged>\r\n\r\nx", nil, rfc2369, func(t *testing.T, p *post) {
			want := map[string]string{
				"List-Id": "Test <test.example.com>", "List-Help": "<mailto:test-request@example.com?subject=help>",
				"List-Owner": "<mailto:test-owner@example.com>", "List-Subscribe": "<mailto:test-join@example.com>",
				"List-Unsubscribe": "<mailto:test-leave@example.com>", "List-Post": "<mailto:test@example.com>",
			}
			for h, v := range want {
				if got := p.msg.Values(h); len(got) != 1 || got[0] != v {
					t.Errorf("%s: %q, want %q", h, got, v)
				}
			}
		}},
		{"rfc-2369: reduced", nil, "From: a@x\r\n\r\nx", switchboard.Msgdata{"reduced_list_headers": []byte("true")}, rfc2369, func(t *testing.T, p *post) {
			if p.msg.Has("List-Post") || !p.msg.Has("List-Id") {
				t.Errorf("headers:\n%s", p.msg.Bytes())
			}
		}},
		{"rfc-2369: off", func(t *testing.T, f *fixture) {
			f.st.SetListSetting(context.Background(), f.a, "include_rfc2369_headers", "false")
		}, "From: a@x\r\n\r\nx", nil, rfc2369, func(t *testing.T, p *post) {
			if p.msg.Has("List-Id") {
				t.Errorf("headers:\n%s", p.msg.Bytes())
			}
		}},
		{"after-delivery", nil, "From: a@x\r\n\r\nx", nil, afterDelivery, func(t *testing.T, p *post) {
			if p.md.Int(msgdata.PostID) != 1 {
				t.Errorf("post_id %d", p.md.Int(msgdata.PostID))
			}
		}},
		{"to-outgoing", nil, "From: a@x\r\n\r\nx", switchboard.Msgdata{"envsender": []byte(`"noreply@example.com"`)}, toOutgoing, func(t *testing.T, p *post) {
			if p.entry == "" || p.md.String(msgdata.EnvSender) != "test-bounces@example.com" {
				t.Errorf("entry %q, envsender %q", p.entry, p.md.String(msgdata.EnvSender))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			p := f.newPost(t, tt.raw, tt.md)
			if err := tt.run(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

// discardLog is the logger the loop would hand Dispose.
var discardLog = slog.New(slog.DiscardHandler)

func TestDispose(t *testing.T) {
	f := newFixture(t)
	h := &Handler{Store: f.st, Outgoing: f.out}
	raw := []byte("From: anne@example.com\r\nTo: test@example.com\r\nSubject: Hi\r\nApproved: pw\r\n\r\nbody\r\n")
	for range 2 {
		e := &switchboard.Entry{Name: "x", Message: raw, Msgdata: switchboard.Msgdata{}}
		e.Msgdata.Set(msgdata.ListID, "test.example.com")
		e.Msgdata.Set(msgdata.EnvSender, "noreply@example.com")
		if _, err := h.Dispose(context.Background(), e, discardLog); err != nil {
			t.Fatal(err)
		}
	}
	out := f.outgoing(t)
	if len(out) != 2 {
		t.Fatalf("outgoing holds %d", len(out))
	}
	m, _ := message.Parse(out[0].Message)
	if m.Get("Subject") != "[Test] Hi" || m.Has("Approved") || m.Get("List-Id") != "Test <test.example.com>" {
		t.Errorf("message:\n%s", out[0].Message)
	}
	if got := recipients(out[0].Msgdata); !slices.Equal(got, []string{"anne@example.com", "bart@example.com", "cris@example.com"}) {
		t.Errorf("recipients %v", got)
	}
	if out[0].Msgdata.Int(msgdata.PostID) != 1 || out[1].Msgdata.Int(msgdata.PostID) != 2 || out[0].Msgdata.String(msgdata.EnvSender) != "test-bounces@example.com" {
		t.Errorf("md %v / %v", out[0].Msgdata, out[1].Msgdata)
	}
	e := &switchboard.Entry{Name: "y", Message: raw, Msgdata: switchboard.Msgdata{"listid": []byte(`"gone.example.com"`)}}
	if _, err := h.Dispose(context.Background(), e, discardLog); !errors.Is(err, runners.ErrListGone) {
		t.Errorf("vanished list: %v", err)
	}
}

func TestVirgin(t *testing.T) {
	tests := []struct {
		name, precedence string // the notice's Precedence ("" for none) is kept
	}{
		{"a notice", "bulk"},
		{"a confirmation, which has none", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			h := &VirginHandler{Store: f.st, Outgoing: f.out}
			head := "From: test-bounces@example.com\r\nTo: zoe@example.org\r\n"
			if tt.precedence != "" {
				head += "Precedence: " + tt.precedence + "\r\n"
			}
			e := &switchboard.Entry{Name: "n", Message: []byte(head + "Subject: notice\r\n\r\nx\r\n"), Msgdata: switchboard.Msgdata{}}
			e.Msgdata.Set(msgdata.ListID, "test.example.com")
			e.Msgdata.Set(msgdata.Recipients, []string{"zoe@example.org"})
			e.Msgdata.Set(msgdata.ReducedListHeaders, true)
			if _, err := h.Dispose(context.Background(), e, discardLog); err != nil {
				t.Fatal(err)
			}
			out := f.outgoing(t)
			if len(out) != 1 {
				t.Fatalf("outgoing holds %d", len(out))
			}
			m, _ := message.Parse(out[0].Message)
			if m.Get("Precedence") != tt.precedence || len(m.Values("Precedence")) > 1 || !m.Has("List-Id") || m.Has("List-Post") || m.Get("Subject") != "notice" ||
				!slices.Equal(recipients(out[0].Msgdata), []string{"zoe@example.org"}) || out[0].Msgdata.String(msgdata.EnvSender) != "test-bounces@example.com" {
				t.Errorf("notice:\n%s\n%v", out[0].Message, out[0].Msgdata)
			}
		})
	}
}

// TestToDigest: a post is kept for the digest, once for the entry that
// carries it however often the entry is run, while some member takes the
// digest, and not kept when none does; the digest members get no copy.
func TestToDigest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		digester string // a member set to mime_digests, "" for none
		entries  []string
		waiting  int
		rcpts    []string
	}{
		{"no member takes the digest", "", []string{"e1", "e2"}, 0, []string{"anne@example.com", "bart@example.com", "cris@example.com"}},
		{"one does", "cris@example.com", []string{"e1", "e2"}, 2, []string{"anne@example.com", "bart@example.com"}},
		{"an entry run again", "cris@example.com", []string{"e1", "e1", "e1"}, 1, []string{"anne@example.com", "bart@example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			if tc.digester != "" {
				if err := f.st.SetMemberOption(ctx, f.a, tc.digester, store.Regular, "delivery_mode", store.MIMEDigests); err != nil {
					t.Fatal(err)
				}
			}
			h := &Handler{Store: f.st, Outgoing: f.out, Digests: &digest.Sender{Store: f.st}}
			for _, name := range tc.entries {
				e := &switchboard.Entry{Name: name, Message: []byte("From: anne@example.com\r\nTo: test@example.com\r\nSubject: Hi\r\n\r\nbody\r\n"), Msgdata: switchboard.Msgdata{}}
				e.Msgdata.Set(msgdata.ListID, "test.example.com")
				if _, err := h.Dispose(ctx, e, discardLog); err != nil {
					t.Fatal(err)
				}
			}
			if n, _, err := f.st.DigestWaiting(ctx, "test.example.com"); err != nil || n != tc.waiting {
				t.Errorf("%d posts waiting for the digest, %v; want %d", n, err, tc.waiting)
			}
			if got := recipients(f.outgoing(t)[0].Msgdata); !slices.Equal(got, tc.rcpts) {
				t.Errorf("recipients %v, want %v", got, tc.rcpts)
			}
		})
	}
}
