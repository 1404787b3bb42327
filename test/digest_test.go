package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/lmtpload"
	"github.com/mailman-go/mailman/internal/mailmantest"
)

// TestDigestsEndToEnd: a member in each delivery mode, three posts over
// LMTP. The regular member gets the three posts at once, the digest
// members none; `mailmanctl digests --periodic` sends the MIME and the
// summary members one MIME digest and the plain member one RFC 1153
// digest, each with the three posts; set small, digest_size_threshold sends the next issue as
// soon as a post takes it over.
func TestDigestsEndToEnd(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "reg@example.com", "mime@example.com", "plain@example.com", "sum@example.com")
	s.MustCtl("members", "set", "test@example.com", "mime@example.com", "delivery_mode", "mime_digests")
	s.MustCtl("members", "set", "test@example.com", "plain@example.com", "delivery_mode", "plaintext_digests")
	s.MustCtl("members", "set", "test@example.com", "sum@example.com", "delivery_mode", "summary_digests")
	sink := s.StartSink()
	s.Start("lmtp", "incoming", "pipeline", "outgoing", "virgin", "retry")
	defer s.Stop()
	c := s.LMTP()
	defer c.Close()
	for i := range 3 {
		if err := sendPost(c, "reg@example.com", "test@example.com", fmt.Sprintf("<digest-%d@example.com>", i)); err != nil {
			t.Fatal(err)
		}
	}
	sink.Wait("the posts at the regular member's", 30*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, "reg@example.com", "[Test] Held post")) == 3
	})
	var report []struct {
		Waiting int `json:"posts_waiting"`
		Number  int `json:"next_digest_number"`
	}
	s.WaitFor("the three posts in the digest", 30*time.Second, func() bool {
		if err := json.Unmarshal([]byte(s.MustCtl("digests", "--json")), &report); err != nil {
			t.Fatal(err)
		}
		return len(report) == 1 && report[0].Waiting == 3
	})
	for _, m := range []string{"mime@example.com", "plain@example.com", "sum@example.com"} {
		if n := sink.Copies()[m]; n != 0 {
			t.Errorf("%s, a digest member, got %d posts", m, n)
		}
	}

	if out := s.MustCtl("digests", "--periodic"); !strings.Contains(out, "sent vol 1, no 1 (3 posts)") {
		t.Errorf("digests --periodic:\n%s", out)
	}
	for _, m := range []struct{ rcpt, kind, notKind string }{
		{"mime@example.com", "multipart/digest", ""},
		// The plain digest's sign-off, underlined, which the MIME one lacks.
		{"plain@example.com", "End of Test Digest, Vol 1, Issue 1\n**********************************", "multipart/"},
		{"sum@example.com", "multipart/digest", ""}, // summary_digests: the MIME digest, as Mailman sends it
	} {
		d := firstDelivered(sink, m.rcpt, "Test Digest, Vol 1, Issue 1")
		text := strings.ReplaceAll(decodedText(t, d.Data), "\r\n", "\n")
		if !strings.Contains(text, m.kind) || (m.notKind != "" && strings.Contains(text, m.notKind)) {
			t.Errorf("%s's digest is not the kind asked (%q):\n%s", m.rcpt, m.kind, text)
		}
		for i := range 3 {
			if n := strings.Count(text, fmt.Sprintf("<digest-%d@example.com>", i)); n != 1 {
				t.Errorf("%s's digest holds post %d %d times:\n%s", m.rcpt, i, n, text)
			}
		}
		if d.From != "test-bounces@example.com" {
			t.Errorf("%s's digest from %q", m.rcpt, d.From)
		}
	}
	if out := s.MustCtl("digests", "--periodic"); strings.Contains(out, "sent") {
		t.Errorf("a second run sent again:\n%s", out)
	}

	// A threshold one and a half posts long: the second post sends issue 2.
	if err := sendPost(c, "reg@example.com", "test@example.com", "<digest-3@example.com>"); err != nil {
		t.Fatal(err)
	}
	var waiting []struct {
		Posts int `json:"posts_waiting"`
		Bytes int `json:"bytes_waiting"`
	}
	s.WaitFor("post 3 in the digest", 30*time.Second, func() bool {
		if err := json.Unmarshal([]byte(s.MustCtl("digests", "--json")), &waiting); err != nil {
			t.Fatal(err)
		}
		return len(waiting) == 1 && waiting[0].Posts == 1
	})
	s.MustCtl("lists", "set", "test@example.com", "digest_size_threshold", fmt.Sprint(float64(waiting[0].Bytes)*1.5/1024))
	if err := sendPost(c, "reg@example.com", "test@example.com", "<digest-4@example.com>"); err != nil {
		t.Fatal(err)
	}
	d := firstDelivered(sink, "mime@example.com", "Test Digest, Vol 1, Issue 2")
	if text := decodedText(t, d.Data); !strings.Contains(text, "<digest-3@example.com>") || !strings.Contains(text, "<digest-4@example.com>") {
		t.Errorf("issue 2 lacks posts 3 and 4:\n%s", text)
	}
	if copies := len(delivered(sink.Received(), "mime@example.com", "Test Digest")); copies != 2 {
		t.Errorf("the MIME member got %d digests, want 2", copies)
	}
}

// decodedText is a message with its base64 and quoted-printable parts
// decoded, for looking into a digest whatever its encodings.
func decodedText(t *testing.T, raw []byte) string {
	t.Helper()
	out, err := mailmantest.DecodedText(raw)
	if err != nil {
		t.Fatalf("%v:\n%s", err, raw)
	}
	return string(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n")))
}

// TestDigestPostOnceWhilePipelineIsKilled: posts go through LMTP while
// the pipeline runner, which adds each post to the digest in the step
// that passes it on, is killed with SIGKILL again and again. Every post
// acknowledged is in the digest, once: the step run again after a kill
// adds nothing the first run added.
func TestDigestPostOnceWhilePipelineIsKilled(t *testing.T) {
	// At most maxKills: the master's back-off doubles with each restart
	// (100ms, 200ms, ... 6.4s for the seventh).
	const messages, killEvery, maxKills = 300, 30, 7
	s := mailmantest.NewSite(t, "[runner.pipeline]\nmax_restarts = 1000\n")
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "reg@example.com", "mime@example.com")
	s.MustCtl("members", "set", "test@example.com", "mime@example.com", "delivery_mode", "mime_digests")
	s.MustCtl("lists", "set", "test@example.com", "digest_size_threshold", "0")
	sink := s.StartSink()
	s.Start("lmtp", "incoming", "pipeline", "outgoing", "virgin", "retry")
	defer s.Stop()

	// The posts first, quickly, and then kills while the pipeline
	// runner works through them: one each time it has moved on by a few.
	m := &mta{addr: fmt.Sprintf("127.0.0.1:%d", s.LMTPPort)}
	for i := range messages {
		msg := fmt.Sprintf("From: reg@example.com\r\nTo: test@example.com\r\nSubject: post %d\r\nMessage-ID: <kill-%d@example.com>\r\n\r\nbody %d\r\n", i, i, i)
		if _, _, err := m.deliver("reg@example.com", "test@example.com", []byte(msg), time.Minute, func(lmtpload.Reply) {}); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	m.close()
	queued := func() int {
		var totals map[string]int
		if err := json.Unmarshal([]byte(s.MustCtl("queues", "--json")), &totals); err != nil {
			t.Fatal(err)
		}
		return totals["incoming"] + totals["pipeline"]
	}
	kills := 0
	for last, n := queued(), queued(); n > 0 && kills < maxKills; n = queued() {
		if last-n < killEvery {
			continue
		}
		last = n
		for _, r := range s.Status().Runners {
			if r.Name == "pipeline" && r.State == "running" {
				syscall.Kill(r.PID, syscall.SIGKILL)
				kills++
			}
		}
	}
	if kills < 3 {
		t.Fatalf("only %d kills: the test did not test", kills)
	}
	var waiting []struct {
		Posts int `json:"posts_waiting"`
	}
	s.WaitFor("every post collected and the pipeline idle", 60*time.Second, func() bool {
		if err := json.Unmarshal([]byte(s.MustCtl("digests", "--json")), &waiting); err != nil {
			t.Fatal(err)
		}
		var totals map[string]int
		if err := json.Unmarshal([]byte(s.MustCtl("queues", "--json")), &totals); err != nil {
			t.Fatal(err)
		}
		return waiting[0].Posts >= messages && totals["incoming"]+totals["pipeline"] == 0
	})
	if waiting[0].Posts != messages {
		t.Errorf("%d posts waiting for the digest after %d posts and %d kills", waiting[0].Posts, messages, kills)
	}
	s.MustCtl("digests", "--send")
	text := decodedText(t, firstDelivered(sink, "mime@example.com", "Test Digest, Vol 1, Issue 1").Data)
	for i := range messages {
		if n := strings.Count(text, fmt.Sprintf("<kill-%d@example.com>", i)); n != 1 {
			t.Errorf("post %d is in the digest %d times", i, n)
		}
	}
	t.Logf("%d posts, %d SIGKILLs of the pipeline runner: each post in the digest once", messages, kills)
}
