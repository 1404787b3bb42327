package digest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/store"
)

// digestSite is a list with a member in each delivery mode, and a Sender
// writing to its virgin queue.
func digestSite(t *testing.T, settings map[string]string) (*runnertest.Site, *store.List, *Sender, *bytes.Buffer) {
	t.Helper()
	site := runnertest.New(t, map[store.Role][]string{store.Regular: {
		"reg@example.org", "mime@example.org", "plain@example.org", "summary@example.org", "off@example.org"}})
	ctx := context.Background()
	for addr, mode := range map[string]string{"mime@example.org": store.MIMEDigests, "plain@example.org": store.PlainDigests,
		"summary@example.org": store.SummaryDigests, "off@example.org": store.MIMEDigests} {
		if err := site.Store.SetMemberOption(ctx, site.List, addr, store.Regular, "delivery_mode", mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := site.Store.SetMemberOption(ctx, site.List, "off@example.org", store.Regular, "delivery_enabled", "false"); err != nil {
		t.Fatal(err)
	}
	changes := map[string]store.ConfigChange{}
	for k, v := range settings {
		changes[k] = store.ConfigChange{Values: []string{v}}
	}
	l, err := site.Store.List(ctx, site.List)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) > 0 {
		if err := site.Store.PatchListConfig(ctx, l.ListID, changes, false); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	return site, l, &Sender{Store: site.Store, Virgin: site.Queue("virgin"), Log: slog.New(slog.NewTextHandler(&log, nil))}, &log
}

func post(n int) []byte {
	return fmt.Appendf(nil, "From: Anne <anne@example.org>\r\nTo: test@example.com\r\nSubject: [Test] Post %d\r\nMessage-ID: <post-%d@example.org>\r\n\r\nBody %d.\r\n", n, n, n)
}

// TestSenderPeriodic: posts wait, collected once each; the periodic run
// sends one MIME digest to the MIME and summary members and one plain
// digest to the plain member, none to the member with delivery off, and
// the numbers move on; a second run sends nothing.
func TestSenderPeriodic(t *testing.T) {
	site, l, s, log := digestSite(t, map[string]string{"digest_size_threshold": "0"})
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		for range 2 { // the step run again after a crash
			if err := s.Collect(ctx, l, fmt.Sprintf("entry-%d", i), post(i), now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if es := runnertest.Queued(t, site.Queue("virgin")); len(es) != 0 {
		t.Fatalf("a threshold of 0 sent %d digests before the periodic run", len(es))
	}
	sent, err := s.Periodic(ctx, now)
	if err != nil || len(sent) != 1 || sent[0].Volume != 1 || sent[0].Number != 1 || sent[0].Posts != 3 {
		t.Fatalf("Periodic = %+v, %v", sent, err)
	}
	es := runnertest.Take(t, site.Queue("virgin"))
	if len(es) != 2 {
		t.Fatalf("%d digests queued, want the MIME one and the plain one", len(es))
	}
	got := map[string][]string{}
	for _, e := range es {
		var rcpts []string
		e.Msgdata.Get(msgdata.Recipients, &rcpts)
		slices.Sort(rcpts)
		kind := "plain"
		if bytes.Contains(e.Message, []byte("multipart/mixed")) {
			kind = "mime"
		}
		got[kind] = rcpts
		if !bytes.Contains(e.Message, []byte("Subject: Test Digest, Vol 1, Issue 1")) {
			t.Errorf("%s digest:\n%s", kind, e.Message)
		}
		for i := range 3 {
			if n := bytes.Count(e.Message, fmt.Appendf(nil, "Body %d.", i)); n != 1 {
				t.Errorf("%s digest holds post %d %d times", kind, i, n)
			}
		}
		if e.Msgdata.String(msgdata.EnvSender) != "test-bounces@example.com" {
			t.Errorf("%s digest from %q", kind, e.Msgdata.String(msgdata.EnvSender))
		}
	}
	if want := []string{"mime@example.org", "summary@example.org"}; !slices.Equal(got["mime"], want) {
		t.Errorf("MIME digest to %v, want %v", got["mime"], want)
	}
	if want := []string{"plain@example.org"}; !slices.Equal(got["plain"], want) {
		t.Errorf("plain digest to %v, want %v", got["plain"], want)
	}
	if n, err := s.Store.DigestNumbers(ctx, l.ListID); err != nil || n.Volume != 1 || n.Number != 2 {
		t.Errorf("numbers after the issue: %+v, %v", n, err)
	}
	if !strings.Contains(log.String(), `msg="digest sent" list=test.example.com volume=1 number=1 posts=3 recipients=3 why=periodic`) {
		t.Errorf("log:\n%s", log.String())
	}
	if sent, err := s.Periodic(ctx, now.Add(time.Hour)); err != nil || len(sent) != 0 {
		t.Errorf("a second run sent %+v, %v", sent, err)
	}
}

// TestSenderThreshold: the post that takes the digest over
// digest_size_threshold sends it at once.
func TestSenderThreshold(t *testing.T) {
	site, l, s, _ := digestSite(t, map[string]string{"digest_size_threshold": "0.2"}) // 204 bytes
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	if err := s.Collect(ctx, l, "e1", post(1), now); err != nil {
		t.Fatal(err)
	}
	if es := runnertest.Queued(t, site.Queue("virgin")); len(es) != 0 {
		t.Fatalf("one small post sent the digest")
	}
	if err := s.Collect(ctx, l, "e2", post(2), now); err != nil {
		t.Fatal(err)
	}
	if es := runnertest.Queued(t, site.Queue("virgin")); len(es) != 2 {
		t.Fatalf("over the threshold, %d digests queued", len(es))
	}
}

// TestSenderFinishesUnsent: an issue closed and never sent (the process
// died between) goes out with the next send, before the new issue.
func TestSenderFinishesUnsent(t *testing.T) {
	site, l, s, _ := digestSite(t, map[string]string{"digest_size_threshold": "0"})
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	if err := s.Collect(ctx, l, "e1", post(1), now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.CloseDigestIssue(ctx, l.ListID, now, now, func(n store.DigestNumbers) (int, int) { return Numbers("monthly", n, now) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Collect(ctx, l, "e2", post(2), now); err != nil {
		t.Fatal(err)
	}
	sent, err := s.Send(ctx, l, now, "forced")
	if err != nil || len(sent) != 2 || sent[0].Number != 1 || sent[1].Number != 2 {
		t.Fatalf("Send = %+v, %v", sent, err)
	}
	if es := runnertest.Queued(t, site.Queue("virgin")); len(es) != 4 {
		t.Errorf("%d digests queued, want two issues of two", len(es))
	}
}

// TestSenderBump: --bump starts the next volume at issue 1, and an issue
// in the same period keeps it.
func TestSenderBump(t *testing.T) {
	_, l, s, _ := digestSite(t, nil)
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	if n, err := s.Bump(ctx, l, now); err != nil || n.Volume != 2 || n.Number != 1 {
		t.Fatalf("Bump = %+v, %v", n, err)
	}
	if err := s.Collect(ctx, l, "e1", post(1), now); err != nil {
		t.Fatal(err)
	}
	sent, err := s.Send(ctx, l, now.Add(time.Hour), "forced")
	if err != nil || len(sent) != 1 || sent[0].Volume != 2 || sent[0].Number != 1 {
		t.Fatalf("Send after the bump = %+v, %v", sent, err)
	}
}

// TestSenderNewVolume: with the clock moved on, the first issue of a new
// month is issue 1 of the next volume; within a week, the numbers only
// count on.
func TestSenderNewVolume(t *testing.T) {
	for _, tc := range []struct {
		frequency      string
		first, second  time.Time
		volume, number int
	}{
		{"monthly", time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC), 1, 2},
		{"monthly", time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC), 2, 1},
		{"quarterly", time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC), 1, 2},
		{"quarterly", time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC), 2, 1},
		{"daily", time.Date(2026, 1, 2, 23, 0, 0, 0, time.UTC), time.Date(2026, 1, 3, 1, 0, 0, 0, time.UTC), 2, 1},
		{"weekly", time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC), time.Date(2026, 1, 11, 12, 0, 0, 0, time.UTC), 1, 2},
	} {
		t.Run(fmt.Sprintf("%s %s", tc.frequency, tc.second.Format("Jan 2")), func(t *testing.T) {
			site, l, s, _ := digestSite(t, map[string]string{"digest_size_threshold": "0", "digest_volume_frequency": tc.frequency})
			ctx := context.Background()
			for i, now := range []time.Time{tc.first, tc.second} {
				if err := s.Collect(ctx, l, fmt.Sprintf("entry-%d", i), post(i), now); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Periodic(ctx, now); err != nil {
					t.Fatal(err)
				}
			}
			es := runnertest.Take(t, site.Queue("virgin"))
			want := fmt.Sprintf("Subject: Test Digest, Vol %d, Issue %d\r\n", tc.volume, tc.number)
			if len(es) != 4 || !bytes.Contains(es[3].Message, []byte(want)) {
				t.Errorf("%d digests, the last not %q", len(es), want)
			}
		})
	}
}

// TestSenderLeavesHeldIssue: an issue another sender closed and still
// holds (a run on another host, in progress) is not sent twice; once its
// hold has run out (that sender died), the next run sends it.
func TestSenderLeavesHeldIssue(t *testing.T) {
	site, l, s, _ := digestSite(t, map[string]string{"digest_size_threshold": "0"})
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	if err := s.Collect(ctx, l, "e1", post(1), now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.CloseDigestIssue(ctx, l.ListID, now, now.Add(sendLease), func(n store.DigestNumbers) (int, int) { return n.Volume, n.Number }); err != nil {
		t.Fatal(err)
	}
	if sent, err := s.Periodic(ctx, now.Add(time.Minute)); err != nil || len(sent) != 0 {
		t.Fatalf("Periodic while another sender holds the issue = %+v, %v", sent, err)
	}
	if sent, err := s.Periodic(ctx, now.Add(sendLease)); err != nil || len(sent) != 1 || sent[0].Number != 1 {
		t.Fatalf("Periodic after the hold ran out = %+v, %v", sent, err)
	}
	if es := runnertest.Queued(t, site.Queue("virgin")); len(es) != 2 {
		t.Errorf("%d digests queued, want the issue's two", len(es))
	}
}

// TestSenderTemplates: the list's digest masthead, header and footer
// templates, where it registers them, replace the defaults, their
// placeholders filled in; one that cannot be read leaves the default.
func TestSenderTemplates(t *testing.T) {
	site, l, s, log := digestSite(t, map[string]string{"digest_size_threshold": "0"})
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return "file://" + p
	}
	if err := s.Store.SetTemplates(ctx, store.ListTemplates(l.ListID), []store.Template{
		{Name: "list:member:digest:masthead", URI: write("masthead", "Write to $got_list_email.\n")},
		{Name: "list:member:digest:header", URI: write("header", "Welcome to the $display_name digest.\n")},
		{Name: "list:member:digest:footer", URI: "file://" + filepath.Join(dir, "missing")},
	}, false); err != nil {
		t.Fatal(err)
	}
	s = NewSender(s.Store, s.Virgin, "owner@example.com", s.Log)
	if err := s.Collect(ctx, l, "e1", post(1), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, l, time.Now(), "forced"); err != nil {
		t.Fatal(err)
	}
	for _, e := range runnertest.Take(t, site.Queue("virgin")) {
		for _, want := range []string{"Write to test@example.com.", "Welcome to the Test digest.", "Test mailing list -- test@example.com"} {
			if !bytes.Contains(e.Message, []byte(want)) {
				t.Errorf("the digest lacks %q:\n%s", want, e.Message)
			}
		}
		if bytes.Contains(e.Message, []byte("Posts to the Test mailing list go to")) {
			t.Errorf("the default masthead is still there:\n%s", e.Message)
		}
	}
	if !strings.Contains(log.String(), `msg="digest template not used" list=test.example.com template=list:member:digest:footer`) {
		t.Errorf("the footer that could not be read is not logged:\n%s", log.String())
	}
}
