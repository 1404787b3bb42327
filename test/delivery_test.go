package test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
	"github.com/mailman-go/mailman/store"
)

// deliverySite is a list of three members with every runner started and a
// sink standing in for the MTA. A failed delivery is retried after a
// second rather than a minute, so that the test does not wait.
func deliverySite(t *testing.T) (*mailmantest.Site, *mailmantest.Sink) {
	t.Helper()
	s := mailmantest.NewSite(t, "")
	s.SetMTA("delivery_retry_delay", `"1s"`)
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "anne@example.com", "bart@example.com", "cris@example.com")
	sink := s.StartSink()
	s.Start("lmtp", "incoming", "pipeline", "outgoing", "virgin", "retry")
	t.Cleanup(s.Stop)
	return s, sink
}

// TestPostReachesEveryMember: a member's post over LMTP reaches each
// member once, decorated, from the list's bounces address.
func TestPostReachesEveryMember(t *testing.T) {
	s, sink := deliverySite(t)
	c := s.LMTP()
	defer c.Close()
	if err := sendPost(c, "anne@example.com", "test@example.com", "<first@example.com>"); err != nil {
		t.Fatal(err)
	}
	sink.Wait("the post to every member", 10*time.Second, func(ds []mailmantest.Delivery) bool { return len(ds) > 0 })
	time.Sleep(200 * time.Millisecond) // a second copy would have come by now
	copies := sink.Copies()
	for _, m := range []string{"anne@example.com", "bart@example.com", "cris@example.com"} {
		if copies[m] != 1 {
			t.Errorf("%s got %d copies, want 1 (all: %v)", m, copies[m], copies)
		}
	}
	d := sink.Received()[0]
	if d.From != "test-bounces@example.com" {
		t.Errorf("envelope sender %q, want test-bounces@example.com", d.From)
	}
	msg := string(d.Data)
	for _, want := range []string{
		"List-Id: Test <test.example.com>",
		"List-Post: <mailto:test@example.com>",
		"Subject: [Test] Held post",
		"Test mailing list -- test@example.com",
		"To unsubscribe send an email to test-leave@example.com",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, msg)
		}
	}
}

// TestDeliveryWaitsForTheMTA: while the MTA is down the post waits in
// retry, and it goes out once the MTA is back.
func TestDeliveryWaitsForTheMTA(t *testing.T) {
	s, sink := deliverySite(t)
	sink.Stop()
	c := s.LMTP()
	defer c.Close()
	if err := sendPost(c, "anne@example.com", "test@example.com", "<down@example.com>"); err != nil {
		t.Fatal(err)
	}
	s.WaitFor("the post to wait in retry", 10*time.Second, func() bool {
		n, _ := s.Queue("retry").Count()
		return n.Deferred+n.Ready == 1
	})
	sink.Start()
	sink.Wait("the post once the MTA is back", 20*time.Second, func(ds []mailmantest.Delivery) bool {
		n := 0
		for _, d := range ds {
			n += len(d.To)
		}
		return n == 3
	})
	if n, _ := s.Queue("retry").Count(); n.Total() != 0 {
		t.Errorf("retry still holds %+v", n)
	}
}

// TestRefusedRecipientIsABounce: one member refused for good does not stop
// the others, and the refusal is recorded as a bounce.
func TestRefusedRecipientIsABounce(t *testing.T) {
	s, sink := deliverySite(t)
	sink.Refuse("cris@example.com", 550, "No such user")
	c := s.LMTP()
	defer c.Close()
	if err := sendPost(c, "anne@example.com", "test@example.com", "<refused@example.com>"); err != nil {
		t.Fatal(err)
	}
	sink.Wait("the post to the two others", 10*time.Second, func(ds []mailmantest.Delivery) bool { return len(ds) > 0 })
	if got := sink.Copies(); got["anne@example.com"] != 1 || got["bart@example.com"] != 1 || got["cris@example.com"] != 0 {
		t.Errorf("copies %v", got)
	}
	st, err := store.Open(context.Background(), "", s.Paths().VarDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var bounces []store.BounceEvent
	s.WaitFor("the bounce recorded", 10*time.Second, func() bool {
		bounces, _ = st.Bounces(context.Background(), "test.example.com")
		return len(bounces) == 1
	})
	if b := bounces[0]; b.Address != "cris@example.com" || !strings.Contains(b.Reason, "550") {
		t.Errorf("bounce %+v", b)
	}
	if n, _ := s.Queue("retry").Count(); n.Total() != 0 {
		t.Errorf("a permanent refusal went to retry: %+v", n)
	}
}
