package test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// sendMail sends one message with the given header lines and body to rcpt
// over LMTP, from from.
func sendMail(t *testing.T, c *smtp.Client, from, rcpt, headers, body string) {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(w, "From: %s\r\nTo: %s\r\n%s\r\n%s", from, rcpt, headers, body); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		t.Fatal(err)
	}
}

// delivered returns the messages the sink took for rcpt whose Subject
// contains subject.
func delivered(ds []mailmantest.Delivery, rcpt, subject string) []mailmantest.Delivery {
	var out []mailmantest.Delivery
	for _, d := range ds {
		for _, to := range d.To {
			if to == rcpt && strings.Contains(string(d.Data), "Subject: "+subject) {
				out = append(out, d)
			}
		}
	}
	return out
}

// firstDelivered waits for the sink to take a message for rcpt whose
// Subject contains subject, and returns the first.
func firstDelivered(sink *mailmantest.Sink, rcpt, subject string) mailmantest.Delivery {
	var first mailmantest.Delivery
	sink.Wait(fmt.Sprintf("%q at %s", subject, rcpt), 30*time.Second, func(ds []mailmantest.Delivery) bool {
		found := delivered(ds, rcpt, subject)
		if len(found) > 0 {
			first = found[0]
		}
		return len(found) > 0
	})
	return first
}

var confirmFrom = regexp.MustCompile(`(?m)^From: (test-confirm\+[0-9a-f]{40}@example\.com)\r?$`)

// TestSubscribeByEmail is joining and leaving by email end to end: a new
// address mails -join, the confirmation reaches it through the MTA, its
// reply to the -confirm+TOKEN address makes it a member, and the welcome
// arrives; leaving with policy open answers with the goodbye; an automatic
// reply to -request gets no answer.
func TestSubscribeByEmail(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	sink := s.StartSink()
	s.Start("lmtp", "command", "virgin", "outgoing")
	defer s.Stop()
	c := s.LMTP()
	defer c.Close()

	sendMail(t, c, "zoe@example.org", "test-join@example.com", "Subject: please\r\n", "")
	confirmation := firstDelivered(sink, "zoe@example.org", "Your confirmation is needed to join the test@example.com mailing list.")
	if confirmation.From != "test-bounces@example.com" {
		t.Errorf("confirmation envelope sender %q", confirmation.From)
	}
	m := confirmFrom.FindStringSubmatch(string(confirmation.Data))
	if m == nil {
		t.Fatalf("confirmation without a -confirm+TOKEN From:\n%s", confirmation.Data)
	}
	if out := s.MustCtl("members", "list", "test@example.com"); strings.Contains(out, "zoe@example.org") {
		t.Fatalf("a member before confirming:\n%s", out)
	}

	// The reply, as a mail program writes it.
	sendMail(t, c, "zoe@example.org", m[1], "Subject: Re: Your confirmation is needed\r\n", "> Someone, perhaps you, asked\r\n")
	sink.Wait("the welcome", 10*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, "zoe@example.org", `Welcome to the "Test" mailing list`)) == 1
	})
	var members []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(s.MustCtl("members", "list", "test@example.com", "--role", "member", "--json")), &members); err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0].Address != "zoe@example.org" {
		t.Fatalf("members after confirming: %+v", members)
	}

	// Leaving, on a list that lets members leave at once.
	s.MustCtl("lists", "set", "test@example.com", "unsubscription_policy", "open")
	sendMail(t, c, "zoe@example.org", "test-leave@example.com", "Subject: bye\r\n", "")
	sink.Wait("the goodbye", 10*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, "zoe@example.org", "You have been unsubscribed from the Test mailing list")) == 1
	})
	if out := s.MustCtl("members", "list", "test@example.com"); strings.Contains(out, "zoe@example.org") {
		t.Errorf("still a member after leaving:\n%s", out)
	}

	// An automatic reply to -request, then a person's command: the runner
	// takes them in order, so once the second is answered the first has
	// been dealt with, unanswered.
	sendMail(t, c, "robot@example.org", "test-request@example.com", "Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n", "I am away.\r\n")
	sendMail(t, c, "robot@example.org", "test-request@example.com", "Subject: echo ping\r\n", "")
	sink.Wait("the answer to the echo", 10*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, "robot@example.org", "The results of your email commands")) > 0
	})
	answers := delivered(sink.Received(), "robot@example.org", "The results of your email commands")
	if len(answers) != 1 || !strings.Contains(string(answers[0].Data), "echo ping") {
		t.Errorf("%d answers to robot@example.org, want the echo's only", len(answers))
	}
}

// TestModeratorConfirmsHeldPost: a nonmember's post is held, the
// moderators' notice reaches the owner through the MTA, and the owner's
// reply with the moderator password in Approved: sends the post to the
// members.
func TestModeratorConfirmsHeldPost(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "anne@example.com")
	s.MustCtl("lists", "set", "test@example.com", "moderator_password", "s3cret")
	sink := s.StartSink()
	s.Start("lmtp", "incoming", "command", "pipeline", "outgoing", "virgin")
	defer s.Stop()
	c := s.LMTP()
	defer c.Close()

	sendMail(t, c, "zoe@example.org", "test@example.com", "Subject: Worth reading\r\nMessage-ID: <held@example.org>\r\n", "Hello.\r\n")
	var token string
	sink.Wait("the moderators' notice", 10*time.Second, func(ds []mailmantest.Delivery) bool {
		for _, d := range delivered(ds, "owen@example.com", "test@example.com post from zoe@example.org requires approval") {
			if m := regexp.MustCompile(`Subject: confirm ([0-9a-f]{40})`).FindStringSubmatch(string(d.Data)); m != nil {
				token = m[1]
			}
		}
		return token != ""
	})
	sendMail(t, c, "owen@example.com", "test-request@example.com", "Subject: Re: confirm "+token+"\r\nApproved: s3cret\r\n", "")
	sink.Wait("the post to the member", 10*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, "anne@example.com", "[Test] Worth reading")) == 1
	})
	sink.Wait("the owner's results", 10*time.Second, func(ds []mailmantest.Delivery) bool {
		rs := delivered(ds, "owen@example.com", "The results of your email commands")
		return len(rs) == 1 && strings.Contains(string(rs[0].Data), "Message accepted")
	})
	if out := s.MustCtl("held", "list"); !strings.Contains(out, "No held messages") {
		t.Errorf("held list after the confirmation:\n%s", out)
	}
}

// TestCommandRepliesAreLimited: the site's limits reach the command
// runner. Twelve `who` in one address's name get ten replies (the
// [mta] max_autoresponses_per_day of the configuration), each cut at
// [mailman] email_commands_max_reply_size, and the log names the two
// left unsent.
func TestCommandRepliesAreLimited(t *testing.T) {
	s := mailmantest.NewSite(t, "[mailman]\nemail_commands_max_reply_size = 2048\n")
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("lists", "set", "test@example.com", "member_roster_visibility", "public")
	members := []string{"members", "add", "test@example.com"}
	for i := range 200 {
		members = append(members, fmt.Sprintf("member%03d@example.org", i))
	}
	s.MustCtl(members...)
	sink := s.StartSink()
	s.Start("lmtp", "command", "virgin", "outgoing")
	defer s.Stop()
	c := s.LMTP()
	defer c.Close()
	for range 12 {
		sendMail(t, c, "vic@example.org", "test-request@example.com", "Subject: who\r\n", "")
	}
	s.WaitFor("two replies logged as not sent", 10*time.Second, func() bool {
		log, _ := os.ReadFile(s.LogPath())
		return strings.Count(string(log), `msg="command results not sent`) == 2
	})
	sink.Wait("ten replies", 10*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, "vic@example.org", "The results of your email commands")) >= 10
	})
	replies := delivered(sink.Received(), "vic@example.org", "The results of your email commands")
	if len(replies) != 10 {
		t.Errorf("%d replies, want 10", len(replies))
	}
	for _, r := range replies {
		if data := string(r.Data); !strings.Contains(data, "[The results are cut here: a reply carries at most 2048 bytes of them.]") || len(data) > 4096 {
			t.Errorf("a reply of %d bytes, not cut:\n%s", len(data), data)
			break
		}
	}
}
