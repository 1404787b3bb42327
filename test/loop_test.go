package test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// TestListsSubscribedToEachOther: alpha and beta are members of each
// other, and cris of both. One post to alpha reaches each member once
// from each of their lists, beta's copy comes back to alpha, and alpha,
// finding its own X-BeenThere among beta's, discards it: the post goes
// round once, not forever.
func TestListsSubscribedToEachOther(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.MustCtl("lists", "create", "alpha@example.com", "--owner", "owen@example.com")
	s.MustCtl("lists", "create", "beta@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "alpha@example.com", "anne@example.com", "cris@example.com", "beta@example.com")
	s.MustCtl("members", "add", "beta@example.com", "bart@example.com", "cris@example.com", "alpha@example.com")
	// Each list takes the other's posts, whose sender is not its member.
	for _, l := range []string{"alpha@example.com", "beta@example.com"} {
		s.MustCtl("lists", "set", l, "default_nonmember_action", "accept")
	}
	sink := s.StartSink()
	sink.Forward(fmt.Sprintf("127.0.0.1:%d", s.LMTPPort), "alpha@example.com", "beta@example.com")
	s.Start("lmtp", "incoming", "pipeline", "outgoing", "virgin", "retry")
	defer s.Stop()

	c := s.LMTP()
	defer c.Close()
	if err := sendPost(c, "anne@example.com", "alpha@example.com", "<round@example.com>"); err != nil {
		t.Fatal(err)
	}
	// The loop ends when alpha discards the copy beta sent back.
	s.WaitFor("alpha discarding its own post as a loop", 20*time.Second, func() bool {
		log, _ := os.ReadFile(s.LogPath())
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "msg=DISCARD") && strings.Contains(line, "list=alpha.example.com") && strings.Contains(line, "loop") {
				return true
			}
		}
		return false
	})
	waitQueuesEmpty(s)
	copies := map[string]int{} // "rcpt from list"
	for _, d := range sink.Received() {
		for _, r := range d.To {
			copies[strings.ToLower(r)+" from "+strings.TrimSuffix(d.From, "-bounces@example.com")]++
		}
	}
	want := map[string]int{
		"anne@example.com from alpha": 1, "cris@example.com from alpha": 1, "beta@example.com from alpha": 1,
		"bart@example.com from beta": 1, "cris@example.com from beta": 1, "alpha@example.com from beta": 1,
	}
	if fmt.Sprint(copies) != fmt.Sprint(want) {
		t.Errorf("copies by recipient and list:\n got %v\nwant %v", copies, want)
	}
}

// TestOutOfOfficeReplyIsNotDistributed: a member's autoresponder answers
// a post to the list; the answer is held, not sent to the members (whose
// own autoresponders would answer it in turn), and the autoresponder is
// not told it is held.
func TestOutOfOfficeReplyIsNotDistributed(t *testing.T) {
	s, sink := deliverySite(t)
	s.MustCtl("members", "add", "test@example.com", "away@example.org")
	c := s.LMTP()
	defer c.Close()
	if err := sendPost(c, "anne@example.com", "test@example.com", "<before-holiday@example.com>"); err != nil {
		t.Fatal(err)
	}
	sink.Wait("the post at the member who is away", 10*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, "away@example.org", "[Test] Held post")) == 1
	})
	sendMail(t, c, "away@example.org", "test@example.com",
		"Subject: Out of office: [Test] Held post\r\nAuto-Submitted: auto-replied\r\nPrecedence: bulk\r\nMessage-ID: <ooo@example.org>\r\n",
		"I am away until Monday.\r\n")
	s.WaitFor("the autoreply held", 10*time.Second, func() bool {
		return strings.Contains(s.MustCtl("held", "list"), "away@example.org")
	})
	waitQueuesEmpty(s)
	for _, d := range sink.Received() {
		if strings.Contains(string(d.Data), "Out of office") && !slices.Equal(d.To, []string{"owen@example.com"}) {
			t.Errorf("the autoreply reached %v:\n%s", d.To, d.Data)
		}
	}
	if n := len(delivered(sink.Received(), "away@example.org", "")); n != 1 {
		t.Errorf("away@example.org got %d messages, want the post alone", n)
	}
}

// waitQueuesEmpty waits until no queue a post or a notice goes through
// holds an entry, nor shunt: what was to happen has happened.
func waitQueuesEmpty(s *mailmantest.Site) {
	s.WaitFor("every queue empty", 10*time.Second, func() bool {
		for _, q := range []string{"incoming", "pipeline", "outgoing", "virgin", "retry", "shunt"} {
			if n, _ := s.Queue(q).Count(); n.Total() > 0 {
				return false
			}
		}
		return true
	})
}
