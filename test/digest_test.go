package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// TestDigestsEndToEnd: a member in each delivery mode, three posts over
// LMTP. The regular member gets the three posts at once, the digest
// members none; `mailmanctl digests --periodic` sends the MIME member one
// MIME digest and the plain member one RFC 1153 digest, each with the
// three posts; set small, digest_size_threshold sends the next issue as
// soon as a post takes it over.
func TestDigestsEndToEnd(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "reg@example.com", "mime@example.com", "plain@example.com")
	s.MustCtl("members", "set", "test@example.com", "mime@example.com", "delivery_mode", "mime_digests")
	s.MustCtl("members", "set", "test@example.com", "plain@example.com", "delivery_mode", "plaintext_digests")
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
	for _, m := range []string{"mime@example.com", "plain@example.com"} {
		if n := sink.Copies()[m]; n != 0 {
			t.Errorf("%s, a digest member, got %d posts", m, n)
		}
	}

	if out := s.MustCtl("digests", "--periodic"); !strings.Contains(out, "sent vol 1, no 1 (3 posts)") {
		t.Errorf("digests --periodic:\n%s", out)
	}
	for _, m := range []struct{ rcpt, kind string }{
		{"mime@example.com", "multipart/digest"},
		{"plain@example.com", "End of Test Digest, Vol 1, Issue 1"},
	} {
		d := firstDelivered(sink, m.rcpt, "Test Digest, Vol 1, Issue 1")
		text := decodedText(t, d.Data)
		if !strings.Contains(text, m.kind) {
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
