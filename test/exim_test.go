package test

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// eximDoc is docs/exim.md's configuration: each code block that follows
// the name of a file of Debian's conf.d, to go there as it is, the macros
// given the test's paths and port. The test runs them as written, so the
// page cannot say what Exim does not do.
func eximDoc(t *testing.T, lists string, lmtpPort int) mailmantest.EximConfig {
	t.Helper()
	b, err := os.ReadFile("../docs/exim.md")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)`/etc/exim4/conf\\.d/([a-z]+/[0-9]+_mailman-go)`[^`]*?:\n\n```\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		files[m[1]] = m[2]
	}
	main := files["main/25_mailman-go"]
	for macro, value := range map[string]string{"MAILMAN_GO_LISTS": lists, "MAILMAN_GO_LMTP_HOST": "127.0.0.1", "MAILMAN_GO_LMTP_PORT": fmt.Sprint(lmtpPort)} {
		line := regexp.MustCompile(`(?m)^` + macro + ` = .*$`)
		if !line.MatchString(main) {
			t.Fatalf("docs/exim.md's main/25_mailman-go lacks %s:\n%s", macro, main)
		}
		main = line.ReplaceAllLiteralString(main, macro+" = "+value)
	}
	files["main/25_mailman-go"] = main
	for _, f := range []string{"router/455_mailman-go", "transport/55_mailman-go"} {
		if !strings.Contains(files[f], "mailman_go_") {
			t.Fatalf("docs/exim.md has no %s block", f)
		}
	}
	return mailmantest.EximConfig{Files: files, Domains: []string{"example.com"}}
}

func mail(from, to, subject, body string) []byte {
	return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", "-") + "@client.example>\r\n\r\n" + body + "\r\n")
}

// eximDelivered is the log line of Exim's delivery to rcpt through the
// documented router and transport, with the list server's reply to it,
// which names the recipient as the list server received it.
func eximDelivered(rcpt string) string {
	q := regexp.QuoteMeta(rcpt)
	return `=> ` + q + ` .*R=mailman_go_router T=mailman_go_lmtp .*C="250 2\.0\.0 <` + q + `> OK: queued"`
}

// TestEximEndToEnd puts Debian's Exim in front of the whole system, with
// Debian's own configuration and the files docs/exim.md adds to it
// (verbatim), with the list file
// mailmanctl keeps and [mta] maps_group letting Exim's own user read it,
// and the list server's outgoing SMTP to a sink the test holds:
//   - a member's post reaches every member;
//   - a post to no list is refused at RCPT, with Exim's own answer;
//   - a -request command is answered, a -join confirmed by a reply to
//     LIST-confirm+TOKEN@, which reaches the list server with its token;
//   - a VERP bounce reaches the list server with its +user=domain;
//   - a list created while Exim runs is routed without a reload;
//   - with the list server stopped Exim defers, and exim -qff delivers
//     once it is back.
func TestEximEndToEnd(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	mailmantest.HaveExim(t)
	s.SetMTA("incoming", `"exim"`)
	// Debian-exim is known by name only inside the instance.
	s.SetMTA("maps_group", fmt.Sprintf(`"%d"`, mailmantest.EximUID))
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owner@example.org")
	s.MustCtl("lists", "set", "test@example.com", "subscription_policy", "confirm")
	s.MustCtl("members", "add", "test@example.com", "m1@example.org", "m2@example.org")
	sink := s.StartSink()
	x := s.StartExim(eximDoc(t, s.Paths().Data+"/exim_lists", s.LMTPPort))
	s.Start()
	defer s.Stop()
	start := time.Now()

	delivered := func(what, rcpt, subject string) {
		t.Helper()
		sink.Wait(what, 30*time.Second, func(ds []mailmantest.Delivery) bool {
			for _, d := range ds {
				if strings.Contains(strings.Join(d.To, " "), rcpt) && strings.Contains(string(d.Data), subject) {
					return true
				}
			}
			return false
		})
	}

	// A member's post reaches every member.
	if err := x.Send("m1@example.org", "test@example.com", mail("m1@example.org", "test@example.com", "first post", "Hello, list.")); err != nil {
		t.Fatalf("Exim refused the first post: %v", err)
	}
	x.WaitLog("the post handed to LMTP", eximDelivered("test@example.com"), 30*time.Second)
	for _, m := range []string{"m1@example.org", "m2@example.org"} {
		delivered(m+"'s copy", m, "Subject: [Test] first post")
	}

	// No such list: refused at RCPT, by Exim, while the sender is connected.
	err := x.Send("m1@example.org", "nolist@example.com", mail("m1@example.org", "nolist@example.com", "to nobody", "Anyone?"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || se.Message != "Unrouteable address" {
		t.Errorf("a post to no list: %v, want 550 Unrouteable address", err)
	}
	x.WaitLog("the refusal", `rejected RCPT <nolist@example\.com>: Unrouteable address`, 10*time.Second)

	// An email command to -request, answered.
	if err := x.Send("m2@example.org", "test-request@example.com", mail("m2@example.org", "test-request@example.com", "help", "help")); err != nil {
		t.Fatalf("Exim refused a command: %v", err)
	}
	x.WaitLog("the command handed to LMTP", eximDelivered("test-request@example.com"), 30*time.Second)
	delivered("the command's answer", "m2@example.org", "Subject: The results of your email commands")

	// Joining by email, confirmed by a reply to LIST-confirm+TOKEN@.
	if err := x.Send("newbie@example.org", "test-join@example.com", mail("newbie@example.org", "test-join@example.com", "join", "")); err != nil {
		t.Fatalf("Exim refused the join request: %v", err)
	}
	var confirmAddr string
	sink.Wait("the confirmation", 30*time.Second, func(ds []mailmantest.Delivery) bool {
		for _, d := range ds {
			if m := regexp.MustCompile(`(?m)^From: .*?(test-confirm\+[0-9a-f]+@example\.com)`).FindSubmatch(d.Data); m != nil && strings.Contains(strings.Join(d.To, " "), "newbie@example.org") {
				confirmAddr = string(m[1])
				return true
			}
		}
		return false
	})
	if err := x.Send("newbie@example.org", confirmAddr, mail("newbie@example.org", confirmAddr, "Re: your confirmation", "> Your confirmation is needed")); err != nil {
		t.Fatalf("Exim refused the confirming reply: %v", err)
	}
	x.WaitLog("the reply handed to LMTP with its token", eximDelivered(confirmAddr), 30*time.Second)
	s.WaitFor("newbie a member", 30*time.Second, func() bool {
		out, _, _ := s.Ctl("members", "list", "test@example.com")
		return strings.Contains(out, "newbie@example.org")
	})

	// A VERP bounce: the list server gets the recipient it is about.
	verp := "test-bounces+m1=example.org@example.com"
	if err := x.Send("", verp, mail("MAILER-DAEMON@mx.example.org", verp, "Undelivered Mail Returned to Sender", "m1@example.org: mailbox full")); err != nil {
		t.Fatalf("Exim refused a VERP bounce: %v", err)
	}
	x.WaitLog("the bounce handed to LMTP with its +user=domain", eximDelivered(verp), 30*time.Second)
	s.WaitFor("the bounce recorded against m1", 10*time.Second, func() bool {
		out, _, _ := s.Ctl("members", "show", "test@example.com", "m1@example.org", "--json")
		return strings.Contains(out, `"bounce_score": 1`)
	})

	// A list created while Exim runs: routed at once, no reload.
	s.MustCtl("lists", "create", "fresh@example.com")
	s.MustCtl("members", "add", "fresh@example.com", "m1@example.org")
	if err := x.Send("m1@example.org", "fresh@example.com", mail("m1@example.org", "fresh@example.com", "fresh post", "New list.")); err != nil {
		t.Fatalf("Exim refused a post to a list created while it ran: %v", err)
	}
	delivered("the post to the new list", "m1@example.org", "Subject: [Fresh] fresh post")

	// The list server stopped: Exim takes the post and defers it; exim
	// -qff delivers it once the list server is back.
	s.Stop()
	if err := x.Send("m1@example.org", "test@example.com", mail("m1@example.org", "test@example.com", "while down", "Are you there?")); err != nil {
		t.Fatalf("Exim refused a post while the list server was down: %v", err)
	}
	x.WaitLog("the deferral", `== test@example\.com R=mailman_go_router T=mailman_go_lmtp defer \(111\): Connection refused`, 30*time.Second)
	if n := x.Queued(); n != 1 {
		t.Errorf("Exim's queue holds %d messages while the list server is down, want 1", n)
	}
	s.Start()
	x.RunQueue()
	for _, m := range []string{"m1@example.org", "m2@example.org", "newbie@example.org"} {
		delivered(m+"'s copy of the post sent while down", m, "Subject: [Test] while down")
	}
	if n := x.Queued(); n != 0 {
		t.Errorf("Exim's queue holds %d messages after -qff, want 0", n)
	}
	if n := len(x.LogLines(`\*\* `)); n != 0 {
		t.Errorf("Exim bounced %d addresses:\n%s", n, strings.Join(x.LogLines(`\*\* `), "\n"))
	}
	o := mailmantest.NewOutcome(t, "a real Exim in front: posts, commands, a confirmation, a VERP bounce, no such list, the list server stopped")
	o.Sent, o.Acknowledged, o.Delivered, o.Lost = 3, 3, 3, 0
	o.Faults = "the list server stopped while a post was sent; a post to no list"
	o.Held = fmt.Sprintf("%d deliveries to LMTP, 1 deferral, 1 refused at RCPT, in %s", len(x.LogLines(`=> .*T=mailman_go_lmtp`)), time.Since(start).Round(time.Second))
	mailmantest.Report(t, o)
}
