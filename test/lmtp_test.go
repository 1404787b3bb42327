package test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// TestLMTPDocumentScenario is the story of Mailman's own LMTP document
// (runners/docs/lmtp.rst), told against the real binary with the lmtp
// runner started alone.
func TestLMTPDocumentScenario(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.Start("lmtp")

	// The mail server connects and says LHLO.
	lmtp := s.LMTP()

	// A message to a list that does not exist is refused at RCPT, so the
	// mail server can bounce it with a clear reason.
	send := func(rcpt string) error {
		if err := lmtp.Mail("anne.person@example.com", nil); err != nil {
			return err
		}
		if err := lmtp.Rcpt(rcpt, nil); err != nil {
			lmtp.Reset()
			return err
		}
		w, err := lmtp.Data()
		if err != nil {
			return err
		}
		w.Write([]byte("From: anne.person@example.com\r\nTo: " + rcpt + "\r\nSubject: An interesting message\r\nMessage-ID: <badger>\r\n\r\nThis is an interesting message.\r\n"))
		_, err = w.CloseWithLMTPResponse()
		return err
	}
	refused := func(rcpt string) {
		t.Helper()
		err := send(rcpt)
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 || se.Message != "Requested action not taken: mailbox unavailable" {
			t.Errorf("to %s: %v, want 550 Requested action not taken: mailbox unavailable", rcpt, err)
		}
	}
	refused("mylist@example.com")

	// Once the list is created, while the runner runs, the same message
	// is accepted and queued for the incoming runner.
	s.MustCtl("lists", "create", "mylist@example.com")
	if err := send("mylist@example.com"); err != nil {
		t.Fatalf("after lists create: %v", err)
	}
	// The 250 means the message is on disk; the runners see it in their
	// queue a moment later.
	s.WaitFor("the post in incoming", 5*time.Second, func() bool {
		c, _ := s.Queue("incoming").Count()
		return c.Ready == 1
	})

	// A sub-address Mailman does not know is no list either; -request is
	// one, for the command runner.
	refused("mylist-bogus@example.com")
	if err := send("mylist-request@example.com"); err != nil {
		t.Errorf("to mylist-request: %v", err)
	}
	s.WaitFor("the request in command", 5*time.Second, func() bool {
		c, _ := s.Queue("command").Count()
		return c.Ready == 1
	})

	// mailmanctl shows where they went.
	out := s.MustCtl("queues", "--json")
	if !strings.Contains(out, `"incoming": 1`) || !strings.Contains(out, `"command": 1`) {
		t.Errorf("queues: %s", out)
	}
}
