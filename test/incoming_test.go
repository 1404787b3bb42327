package test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// TestNonmemberPostIsHeldThenAccepted is the moderation path end to end:
// a nonmember's post comes in over LMTP, the incoming runner holds it and
// queues the two notices, and `mailmanctl held accept` sends it on to the
// pipeline.
func TestNonmemberPostIsHeldThenAccepted(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "anne@example.com")
	s.Start("lmtp", "incoming")
	defer s.Stop()

	c := s.LMTP()
	defer c.Close()
	if err := sendPost(c, "zoe@example.org", "test@example.com", "<held@example.org>"); err != nil {
		t.Fatal(err)
	}
	s.WaitFor("the post held and both notices queued", 10*time.Second, func() bool {
		n, _ := s.Queue("virgin").Count()
		return n.Ready == 2
	})
	var held []struct {
		ID      int64    `json:"id"`
		List    string   `json:"list"`
		Sender  string   `json:"sender"`
		Subject string   `json:"subject"`
		Reasons []string `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(s.MustCtl("held", "list", "--json")), &held); err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || held[0].Sender != "zoe@example.org" || held[0].List != "test.example.com" || held[0].Subject != "Held post" {
		t.Fatalf("held list: %+v", held)
	}
	if out := s.MustCtl("held", "list"); !strings.Contains(out, "zoe@example.org") || !strings.Contains(out, "not from a list member") {
		t.Errorf("held list table:\n%s", out)
	}
	if n, _ := s.Queue("pipeline").Count(); n.Ready != 0 {
		t.Errorf("pipeline holds %d before the moderator decided", n.Ready)
	}

	out := s.MustCtl("held", "accept", fmt.Sprint(held[0].ID))
	if !strings.Contains(out, "Accepted held message") {
		t.Errorf("held accept: %s", out)
	}
	if n, _ := s.Queue("pipeline").Count(); n.Ready != 1 {
		t.Errorf("pipeline holds %d after held accept, want 1", n.Ready)
	}
	if out := s.MustCtl("held", "list"); !strings.Contains(out, "No held messages") {
		t.Errorf("after accept, held list:\n%s", out)
	}
	if _, errOut, code := s.Ctl("held", "accept", fmt.Sprint(held[0].ID)); code == 0 || !strings.Contains(errOut, "no such held message") {
		t.Errorf("accepting twice: exit %d, %s", code, errOut)
	}

	// Two more held posts: one rejected with a reason, which bounces to
	// its sender, one discarded.
	for _, id := range []string{"<second@example.org>", "<third@example.org>"} {
		if err := sendPost(c, "zoe@example.org", "test@example.com", id); err != nil {
			t.Fatal(err)
		}
	}
	s.WaitFor("two more posts held", 10*time.Second, func() bool {
		return strings.Count(s.MustCtl("held", "list"), "zoe@example.org") == 2
	})
	if err := json.Unmarshal([]byte(s.MustCtl("held", "list", "--json")), &held); err != nil {
		t.Fatal(err)
	}
	if out := s.MustCtl("held", "show", fmt.Sprint(held[0].ID)); !strings.Contains(out, "Message-ID: <second@example.org>") {
		t.Errorf("held show:\n%s", out)
	}
	before, _ := s.Queue("virgin").Count()
	if out := s.MustCtl("held", "reject", fmt.Sprint(held[0].ID), "--reason", "Off topic"); !strings.Contains(out, "Rejected held message") {
		t.Errorf("held reject: %s", out)
	}
	if after, _ := s.Queue("virgin").Count(); after.Ready != before.Ready+1 {
		t.Errorf("virgin holds %d after held reject, want %d", after.Ready, before.Ready+1)
	}
	if out := s.MustCtl("held", "discard", fmt.Sprint(held[1].ID)); !strings.Contains(out, "Discarded held message") {
		t.Errorf("held discard: %s", out)
	}
	if out := s.MustCtl("held", "list"); !strings.Contains(out, "No held messages") {
		t.Errorf("after reject and discard, held list:\n%s", out)
	}

	// A member's post goes straight through.
	if err := sendPost(c, "anne@example.com", "test@example.com", "<member@example.org>"); err != nil {
		t.Fatal(err)
	}
	s.WaitFor("the member's post in the pipeline", 10*time.Second, func() bool {
		n, _ := s.Queue("pipeline").Count()
		return n.Ready == 2
	})
}

// sendPost sends one post from from to the list at to, subject "Held post".
func sendPost(c *smtp.Client, from, to, id string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nMessage-ID: %s\r\nSubject: Held post\r\n\r\nHello.\r\n", from, to, id); err != nil {
		return err
	}
	_, err = w.CloseWithLMTPResponse()
	return err
}
