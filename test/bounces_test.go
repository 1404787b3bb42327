package test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// bounceSite is a list of three members, disabling at the first bounce,
// with one warning; every runner started, the bounces runner's timed work
// every second.
func bounceSite(t *testing.T) (*mailmantest.Site, *mailmantest.Sink) {
	t.Helper()
	s := mailmantest.NewSite(t, "[bounces]\nregister_bounces_every = \"1s\"\n")
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "anne@example.com", "bart@example.com", "dave@example.org")
	for _, kv := range [][2]string{{"bounce_score_threshold", "1"}, {"bounce_you_are_disabled_warnings", "1"}} {
		s.MustCtl("lists", "set", "test@example.com", kv[0], kv[1])
	}
	sink := s.StartSink()
	s.Start()
	t.Cleanup(s.Stop)
	return s, sink
}

func memberJSON(t *testing.T, s *mailmantest.Site, addr string) (status string, score int, ok bool) {
	t.Helper()
	out, _, code := s.Ctl("members", "show", "test@example.com", addr, "--json")
	if code != 0 {
		return "", 0, false
	}
	var m struct {
		DeliveryStatus string `json:"delivery_status"`
		BounceScore    int    `json:"bounce_score"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	return m.DeliveryStatus, m.BounceScore, true
}

// TestBounceCourse: a DSN back to dave's VERP address turns his delivery
// off and warns him; posts no longer reach him; turned on again, he gets
// them with a clean score. bart, whom the mail server refuses, is turned
// off, warned and removed, and the owners hear of each step. A bounce
// nobody can read reaches the owners.
func TestBounceCourse(t *testing.T) {
	s, sink := bounceSite(t)
	sink.Refuse("bart@example.com", 550, "5.1.1 no such user")
	c := s.LMTP()
	defer c.Close()

	sendMail(t, c, "MAILER-DAEMON@mx.example.org", "test-bounces+dave=example.org@example.com",
		"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n",
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; dave@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n")
	sink.Wait("dave's warning and the owners' notice", 20*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, "dave@example.org", "Your subscription for Test mailing list has been disabled")) == 1 &&
			len(delivered(ds, "owen@example.com", "dave@example.org's subscription disabled on Test")) == 1
	})
	if status, _, _ := memberJSON(t, s, "dave@example.org"); status != "by_bounces" {
		t.Fatalf("dave: %s", status)
	}

	if err := sendPost(c, "anne@example.com", "test@example.com", "<while-off@example.com>"); err != nil {
		t.Fatal(err)
	}
	sink.Wait("bart's warning, after his refusal", 30*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, "owen@example.com", "bart@example.com's subscription disabled on Test")) == 1 &&
			len(delivered(ds, "anne@example.com", "[Test] Held post")) == 1
	})
	if n := len(delivered(sink.Received(), "dave@example.org", "[Test] Held post")); n != 0 {
		t.Errorf("dave got %d posts while his delivery was off", n)
	}

	s.MustCtl("members", "set", "test@example.com", "dave@example.org", "delivery_enabled", "true")
	if status, score, _ := memberJSON(t, s, "dave@example.org"); status != "enabled" || score != 0 {
		t.Errorf("dave turned on again: %s, score %d", status, score)
	}
	if err := sendPost(c, "anne@example.com", "test@example.com", "<back-on@example.com>"); err != nil {
		t.Fatal(err)
	}
	sink.Wait("the post to dave, on again", 20*time.Second, func(ds []mailmantest.Delivery) bool {
		for _, d := range delivered(ds, "dave@example.org", "[Test] Held post") {
			if strings.Contains(string(d.Data), "<back-on@example.com>") {
				return true
			}
		}
		return false
	})

	// No wait after the last warning: bart is removed at the next tick.
	s.MustCtl("lists", "set", "test@example.com", "bounce_you_are_disabled_warnings_interval", "0")
	sink.Wait("bart's removal", 20*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, "owen@example.com", "bart@example.com unsubscribed from Test mailing list due to bounces")) == 1
	})
	if _, _, ok := memberJSON(t, s, "bart@example.com"); ok {
		t.Error("bart is still a member")
	}

	sendMail(t, c, "someone@example.net", "test-bounces@example.com", "Subject: hello\r\n", "Just saying hello.\r\n")
	sink.Wait("the unrecognized bounce at the owners'", 20*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, "owen@example.com", "Uncaught bounce notification")) == 1
	})
}
