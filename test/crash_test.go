package test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
	"github.com/mailman-go/mailman/switchboard"
)

// TestInjectWhileRunnerIsKilled has several processes inject 1,000 messages
// into the retry queue while the retry runner, which moves them to outgoing,
// is killed with SIGKILL again and again. Every message whose inject
// succeeded must end up in a queue: moved, still waiting, or preserved.
// A message may be duplicated only when the runner was killed with it in
// flight, so duplicates are bounded by the number of kills.
func TestInjectWhileRunnerIsKilled(t *testing.T) {
	const messages, injectors = 1000, 4
	s := mailmantest.NewSite(t, "[runner.retry]\nsleep_time = \"50ms\"\n")
	s.MustCtl("lists", "create", "test@example.com")
	var runnerMu sync.Mutex
	var runner *exec.Cmd
	var runnerLog bytes.Buffer
	startRunner := func() {
		cmd := s.Command("runner", "retry")
		cmd.Stderr = &runnerLog
		if err := cmd.Start(); err != nil {
			t.Error(err)
			return
		}
		runner = cmd
	}
	runnerMu.Lock()
	startRunner()
	runnerMu.Unlock()

	var acked sync.Map // Message-ID → true for every inject that exited 0
	var injected atomic.Int64
	var wg sync.WaitGroup
	for w := range injectors {
		wg.Go(func() {
			for i := w; i < messages; i += injectors {
				id := fmt.Sprintf("<crash-%d@test>", i)
				cmd := s.Command("inject", "--queue", "retry", "--list", "test@example.com")
				cmd.Stdin = strings.NewReader("From: anne@example.com\nMessage-ID: " + id + "\nSubject: crash test\n\nbody\n")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("inject %s: %v: %s", id, err, out)
					continue
				}
				acked.Store(id, true)
				injected.Add(1)
			}
		})
	}
	done := make(chan struct{})
	kills := 0
	var killer sync.WaitGroup
	killer.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(50+rand.IntN(200)) * time.Millisecond):
			}
			runnerMu.Lock()
			runner.Process.Signal(syscall.SIGKILL)
			runner.Wait()
			kills++
			startRunner()
			runnerMu.Unlock()
		}
	})
	wg.Wait()
	close(done)
	killer.Wait()

	// Let the last runner drain the queue, then stop it cleanly.
	deadline := time.Now().Add(60 * time.Second)
	for count(t, s, "retry").Ready+count(t, s, "retry").InFlight > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	runnerMu.Lock()
	runner.Process.Signal(syscall.SIGTERM)
	if err := runner.Wait(); err != nil {
		t.Errorf("runner did not stop cleanly on SIGTERM: %v", err)
	}
	runnerMu.Unlock()

	seen, temps := queuedMessageIDs(t, s, "outgoing", "retry", "bad", "shunt")
	lost, dups := tally(t, &acked, seen)
	t.Logf("%d messages injected by %d processes, runner killed %d times: %d lost, %d duplicates, %d moved to outgoing, %d preserved in bad, %d temp files left by kills",
		injected.Load(), injectors, kills, lost, dups, count(t, s, "outgoing").Ready, count(t, s, "bad").Preserved, temps)
	if injected.Load() != messages {
		t.Errorf("%d of %d injects succeeded", injected.Load(), messages)
	}
	if dups > kills {
		t.Errorf("%d duplicates for %d kills: more than one per message in flight", dups, kills)
	}
	if kills < 5 {
		t.Errorf("the runner was killed only %d times; the test did not exercise crashes", kills)
	}
	if t.Failed() {
		t.Logf("runner log:\n%s", runnerLog.String())
	}
	o := mailmantest.NewOutcome(t, fmt.Sprintf("%d processes inject while the retry runner moves entries to outgoing", injectors))
	o.Sent, o.Acknowledged, o.Delivered, o.Duplicated, o.Lost = messages, int(injected.Load()), int(injected.Load())-lost, dups, lost
	o.Faults = fmt.Sprintf("%d runner SIGKILLs", kills)
	o.Held = fmt.Sprintf("delivered = in the queue after it; %d temporary files left by kills, never seen as entries", temps)
	mailmantest.Report(t, o)
}

// queuedMessageIDs counts each Message-ID in the queues, and the temporary
// files left there. A kill between write and rename leaves a temp file that
// no reader ever sees (the queue's own runner removes it once stale); a
// .bak outside bad/ is an entry left in flight, which must not happen once
// the runners have stopped.
func queuedMessageIDs(t *testing.T, s *mailmantest.Site, queues ...string) (seen map[string]int, temps int) {
	t.Helper()
	seen = map[string]int{}
	for _, q := range queues {
		dir := filepath.Join(s.QueueRoot(), q)
		des, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range des {
			switch filepath.Ext(de.Name()) {
			case ".tmp":
				temps++
				continue
			case ".new":
				t.Errorf("%s/%s left journaled, never published", q, de.Name())
				continue
			case ".bak":
				if q != "bad" {
					t.Errorf("%s/%s left in flight", q, de.Name())
					continue
				}
			}
			e, err := switchboard.ReadFile(filepath.Join(dir, de.Name()))
			if err != nil {
				t.Errorf("%s/%s: %v", q, de.Name(), err)
				continue
			}
			seen[e.MessageID()]++
		}
	}
	return seen, temps
}

// tally checks that every acknowledged Message-ID was seen, and counts the
// lost (reported as errors) and the extra copies.
func tally(t *testing.T, acked *sync.Map, seen map[string]int) (lost, dups int) {
	t.Helper()
	acked.Range(func(k, _ any) bool {
		switch n := seen[k.(string)]; {
		case n == 0:
			lost++
			t.Errorf("%s was acknowledged and is in no queue", k)
		case n > 1:
			dups += n - 1
		}
		return true
	})
	return lost, dups
}

func count(t *testing.T, s *mailmantest.Site, queue string) switchboard.Counts {
	t.Helper()
	c, err := s.Queue(queue).Count()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
