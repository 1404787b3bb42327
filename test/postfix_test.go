package test

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// swaks submits one message to Postfix's inbound port over SMTP, as a
// remote server would, and returns swaks' transcript and whether the
// server took it.
func swaks(t *testing.T, p *mailmantest.Postfix, from, to, subject, body string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("swaks"); err != nil {
		t.Fatal("swaks is not installed (apt-get install swaks; .ci/run does)")
	}
	out, err := exec.Command("swaks", "--server", fmt.Sprintf("127.0.0.1:%d", p.Inbound),
		"--from", from, "--to", to, "--helo", "client.example",
		"--header", "Subject: "+subject, "--header", "Message-Id: <"+strings.ReplaceAll(subject, " ", "-")+"@client.example>",
		"--body", body, "--timeout", "30s").CombinedOutput()
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		t.Fatalf("swaks: %v", err)
	}
	return string(out), err == nil
}

// postfixSent is the log line of Postfix's delivery of one message to one
// recipient with the given status.
func postfixLine(rcpt, status string) string {
	return `to=<` + regexp.QuoteMeta(rcpt) + `>.* status=` + status
}

// TestPostfixEndToEnd puts a real Postfix in front of the whole system, as
// a postmaster would (docs/postfix.md), with the maps `mailmanctl aliases`
// writes, and asserts Postfix's own log lines per recipient:
//   - a member's post submitted over SMTP reaches every member's mailbox,
//     with the list's headers;
//   - a post to a list that does not exist is refused at RCPT (Postfix
//     asks the LMTP runner first); the same sent from a local program is
//     accepted by Postfix, refused by LMTP, and bounced to its sender;
//   - a join request gets its confirmation in the newcomer's mailbox; the
//     reply confirms, and the newcomer gets the next post;
//   - a list created while everything runs is served at once (its maps
//     are written when it is created);
//   - with the list server stopped Postfix defers, and delivers once it is
//     started again: nothing lost.
func TestPostfixEndToEnd(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owner@example.org")
	s.MustCtl("lists", "set", "test@example.com", "subscription_policy", "confirm")
	s.MustCtl("members", "add", "test@example.com", "m1@example.org", "m2@example.org")
	p := s.StartPostfix("m1", "m2", "newbie", "owner")
	s.Start()
	defer s.Stop()
	lmtpRelay := fmt.Sprintf(`relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d`, s.LMTPPort)

	// A member's post reaches every member.
	if out, ok := swaks(t, p, "m1@example.org", "test@example.com", "first post", "Hello, list."); !ok {
		t.Fatalf("the first post refused:\n%s", out)
	}
	if line := p.WaitLog("the post handed to LMTP", postfixLine("test@example.com", "sent"), 30*time.Second); !regexp.MustCompile(lmtpRelay).MatchString(line) {
		t.Errorf("the post went elsewhere: %s", line)
	}
	for _, m := range []string{"m1", "m2"} {
		msg := p.WaitMailbox(m, "the first post", 30*time.Second, func(b []byte) bool { return strings.Contains(string(b), "Subject: [Test] first post") })
		for _, h := range []string{"List-Id: Test <test.example.com>", "List-Post: <mailto:test@example.com>", "Hello, list."} {
			if !strings.Contains(string(msg), h) {
				t.Errorf("%s's copy lacks %q:\n%s", m, h, msg)
			}
		}
		p.WaitLog(m+"'s copy delivered", postfixLine(m+"@example.org", "sent")+`.*delivered to maildir`, 10*time.Second)
	}

	// No such list: refused at RCPT while the sender is connected.
	out, ok := swaks(t, p, "m1@example.org", "nolist@example.com", "to nobody", "Is anyone there?")
	if ok || !strings.Contains(out, "<** 550") {
		t.Errorf("a post to no list over SMTP: taken=%v\n%s", ok, out)
	}
	p.WaitLog("the refusal at RCPT", `NOQUEUE: reject: RCPT from .*: 550 5\.1\.1 <nolist@example\.com>`, 10*time.Second)
	// From a local program Postfix takes it, LMTP refuses it at RCPT, and
	// the sender gets a bounce.
	p.Sendmail("m2@example.org", []string{"nolist@example.com"}, []byte("From: m2@example.org\r\nTo: nolist@example.com\r\nSubject: to nobody, locally\r\n\r\nAnyone?\r\n"))
	if line := p.WaitLog("the bounce", postfixLine("nolist@example.com", "bounced"), 30*time.Second); !strings.Contains(line, "550") {
		t.Errorf("bounced, but not with LMTP's 550: %s", line)
	}
	p.WaitMailbox("m2", "the bounce", 30*time.Second, func(b []byte) bool {
		return strings.Contains(string(b), "MAILER-DAEMON") && strings.Contains(string(b), "nolist@example.com")
	})

	// Joining by email, confirmed by a reply.
	if out, ok := swaks(t, p, "newbie@example.org", "test-join@example.com", "join", "join"); !ok {
		t.Fatalf("the join request refused:\n%s", out)
	}
	confirmation := p.WaitMailbox("newbie", "the confirmation", 30*time.Second, func(b []byte) bool {
		return strings.Contains(string(b), "Your confirmation is needed")
	})
	m := regexp.MustCompile(`(?m)^From: .*?(test-confirm\+[0-9a-f]+@example\.com)`).FindSubmatch(confirmation)
	if m == nil {
		t.Fatalf("no confirm address in the confirmation:\n%s", confirmation)
	}
	confirmAddr := string(m[1])
	token := strings.TrimSuffix(strings.TrimPrefix(confirmAddr, "test-confirm+"), "@example.com")
	if out, ok := swaks(t, p, "newbie@example.org", confirmAddr, "Re: confirm "+token, "> Your confirmation is needed"); !ok {
		t.Fatalf("the confirming reply refused:\n%s", out)
	}
	p.WaitLog("the reply handed to LMTP, its +token found through recipient_delimiter", postfixLine(confirmAddr, "sent"), 30*time.Second)
	s.WaitFor("newbie a member", 30*time.Second, func() bool {
		out, _, _ := s.Ctl("members", "list", "test@example.com")
		return strings.Contains(out, "newbie@example.org")
	})
	if out, ok := swaks(t, p, "m1@example.org", "test@example.com", "second post", "Welcome, newbie."); !ok {
		t.Fatalf("the second post refused:\n%s", out)
	}
	p.WaitMailbox("newbie", "the post after joining", 30*time.Second, func(b []byte) bool { return strings.Contains(string(b), "Subject: [Test] second post") })

	// A list created while everything runs: its maps are written at once.
	s.MustCtl("lists", "create", "fresh@example.com")
	s.MustCtl("members", "add", "fresh@example.com", "m1@example.org")
	if out, ok := swaks(t, p, "m1@example.org", "fresh@example.com", "fresh post", "New list."); !ok {
		t.Fatalf("a post to a list created while running refused:\n%s", out)
	}
	p.WaitMailbox("m1", "the post to the new list", 30*time.Second, func(b []byte) bool { return strings.Contains(string(b), "Subject: [Fresh] fresh post") })

	// The list server stopped: Postfix defers, and delivers after start.
	s.Stop()
	p.Sendmail("m1@example.org", []string{"test@example.com"}, []byte("From: m1@example.org\r\nTo: test@example.com\r\nSubject: while down\r\nMessage-ID: <while-down@client.example>\r\n\r\nAre you there?\r\n"))
	if line := p.WaitLog("the deferral", postfixLine("test@example.com", "deferred"), 30*time.Second); !strings.Contains(line, "Connection refused") {
		t.Errorf("deferred, but not because LMTP was down: %s", line)
	}
	s.Start()
	p.Flush()
	for _, m := range []string{"m1", "m2", "newbie"} {
		p.WaitMailbox(m, "the post sent while the list server was down", 60*time.Second, func(b []byte) bool {
			return strings.Contains(string(b), "Subject: [Test] while down")
		})
	}
	if n := len(p.LogLines(postfixLine("test@example.com", "bounced"))); n != 0 {
		t.Errorf("%d posts to the list bounced", n)
	}
	sent := len(p.LogLines(`status=sent`))
	o := mailmantest.NewOutcome(t, "a real Postfix in front: posts, a join, no such list, the list server stopped")
	// Each of the four posts was waited for in every member's mailbox.
	o.Sent, o.Acknowledged, o.Delivered, o.Lost = 4, 4, 4, 0
	o.Faults = "the list server stopped while a post was sent; a post and a local message to no list"
	o.Held = fmt.Sprintf("%d status=sent, %d status=deferred (while stopped), 1 refused at RCPT, 1 bounced to its sender; every post in every member's Maildir", sent, len(p.LogLines(`status=deferred`)))
	mailmantest.Report(t, o)
}
