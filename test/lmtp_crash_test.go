package test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// TestLMTPRunnerKilledUnderLoad has four clients send posts while the lmtp
// runner is killed with SIGKILL again and again; the master restarts it and
// the clients, as an MTA would, retry what was not acknowledged. Every
// message that got its 250 must be in the incoming queue afterwards.
func TestLMTPRunnerKilledUnderLoad(t *testing.T) {
	const clients, perClient = 4, 250
	s := mailmantest.NewSite(t, "[runner.lmtp]\nmax_restarts = 1000\n")
	s.MustCtl("lists", "create", "test@example.com")
	s.Start("lmtp")
	addr := fmt.Sprintf("127.0.0.1:%d", s.LMTPPort)

	var acked sync.Map
	var retries atomic.Int64
	// The clients go on past perClient until every kill is done, so that a
	// fast runner cannot finish the load between two kills.
	var killed atomic.Bool
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			var c *smtp.Client
			for i := 0; i < perClient || (!killed.Load() && i < 40*perClient); {
				id := fmt.Sprintf("<kill-%d-%d@test>", w, i)
				if c == nil {
					var err error
					if c, err = mailmantest.DialLMTP(addr); err != nil {
						retries.Add(1)
						time.Sleep(20 * time.Millisecond)
						continue
					}
				}
				if err := sendOne(c, id); err != nil {
					// The runner died under us: reconnect and send the
					// same message again, as the MTA would.
					c.Close()
					c = nil
					retries.Add(1)
					continue
				}
				acked.Store(id, true)
				i++
			}
			if c != nil {
				c.Close()
			}
		})
	}
	// Each kill within a minute doubles the master's back-off before the
	// restart (100 ms, 200 ms, ...), so the kills are few, and each waits
	// until the runner is back.
	const maxKills = 5
	done := make(chan struct{})
	kills := 0
	var killer sync.WaitGroup
	killer.Go(func() {
		defer killed.Store(true)
		for kills < maxKills {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(100+rand.IntN(200)) * time.Millisecond):
			}
			if r := s.Status().Runners[0]; r.State == "running" {
				syscall.Kill(r.PID, syscall.SIGKILL)
				kills++
			}
		}
	})
	wg.Wait()
	close(done)
	killer.Wait()

	// A graceful stop publishes what the runner's journal holds; a killed
	// runner's journal was published by the start that followed.
	s.Stop()
	seen, _ := queuedMessageIDs(t, s, "incoming")
	lost, dups := tally(t, &acked, seen)
	total := 0
	acked.Range(func(any, any) bool { total++; return true })
	t.Logf("%d messages acknowledged by %d clients, runner killed %d times, %d client retries: %d lost, %d duplicates (queued, then killed before the 250 went out)",
		total, clients, kills, retries.Load(), lost, dups)
	if total < clients*perClient {
		t.Errorf("%d acknowledged, want at least %d", total, clients*perClient)
	}
	if kills < 3 {
		t.Errorf("only %d kills: the test did not exercise crashes", kills)
	}
	o := mailmantest.NewOutcome(t, fmt.Sprintf("the lmtp runner SIGKILLed under %d clients", clients))
	o.Acknowledged, o.Delivered, o.Duplicated, o.Lost = total, total-lost, dups, lost
	o.Faults = fmt.Sprintf("%d lmtp runner SIGKILLs", kills)
	o.Held = fmt.Sprintf("delivered = in the incoming queue; %d reconnections and re-sends by the clients; duplicates were queued, then killed before the 250 went out", retries.Load())
	mailmantest.Report(t, o)
}

func sendOne(c *smtp.Client, id string) error {
	if err := c.Mail("anne@example.org", nil); err != nil {
		return err
	}
	if err := c.Rcpt("test@example.com", nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "From: anne@example.org\r\nTo: test@example.com\r\nMessage-ID: %s\r\nSubject: kill test\r\n\r\nbody\r\n", id); err != nil {
		return err
	}
	_, err = w.CloseWithLMTPResponse()
	return err
}
