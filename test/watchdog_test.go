package test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// TestHungRunnerIsRestarted: a mail server that greets and then never
// answers, with smtp_timeout far off, hangs the outgoing runner inside one
// message. message_timeout catches it: the runner exits, the master starts
// it again, recovery hands the message back, and after its third try the
// message is kept in bad/ rather than hanging the queue for good.
func TestHungRunnerIsRestarted(t *testing.T) {
	s := mailmantest.NewSite(t, "[runner.outgoing]\nmessage_timeout = \"1s\"\n")
	s.SetMTA("smtp_timeout", `"1h"`)
	s.MustCtl("lists", "create", "test@example.com")
	s.MustCtl("members", "add", "test@example.com", "anne@example.org")
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", s.SMTPPort))
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	defer func() {
		ln.Close()
		<-accepted
	}()
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Greet, answer EHLO, then read on and never answer again.
				fmt.Fprint(c, "220 hang.example ESMTP\r\n")
				r := bufio.NewReader(c)
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				fmt.Fprint(c, "250 hang.example\r\n")
				// Until the runner gives up the connection.
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
				}
			}()
		}
	}()
	s.Start("lmtp", "incoming", "pipeline", "outgoing")
	c := s.LMTP()
	defer c.Close()
	if err := sendOne(c, "<hung@test>"); err != nil {
		t.Fatal(err)
	}

	bad := filepath.Join(s.QueueRoot(), "bad")
	s.WaitFor("the hung message kept in bad/", 60*time.Second, func() bool {
		des, _ := os.ReadDir(bad)
		return len(des) > 0
	})
	log, err := os.ReadFile(s.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(log, []byte("message stuck in its handler")); n < 3 {
		t.Errorf("the log shows %d stuck messages, want 3 (one per try)", n)
	}
	var restarts int
	for _, r := range s.Status().Runners {
		if r.Name == "outgoing" {
			restarts = r.Restarts
			if r.State != "running" && r.State != "starting" {
				t.Errorf("outgoing is %s after the message was set aside", r.State)
			}
		}
	}
	if restarts < 3 {
		t.Errorf("outgoing restarted %d times, want at least 3", restarts)
	}
	if !strings.Contains(string(log), "hung@test") {
		t.Error("the log does not name the hung message's Message-ID")
	}
	o := mailmantest.NewOutcome(t, "an MTA that never answers, smtp_timeout 1 h, outgoing message_timeout 1 s")
	o.Sent, o.Acknowledged, o.Delivered, o.Lost = 1, 1, 0, 0
	o.Faults = fmt.Sprintf("a handler hung 3 times; %d runner restarts", restarts)
	o.Held = "the message was kept in bad/ after its third try (not lost, not delivered); the runner went on"
	mailmantest.Report(t, o)
}
