package test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/lmtpload"
	"github.com/mailman-go/mailman/internal/mailmantest"
)

// chaosRunners are the runners a site starts by default, each allowed many
// restarts, since the chaos run kills them again and again.
var chaosRunners = []string{"lmtp", "incoming", "command", "pipeline", "outgoing", "virgin", "bounces", "retry"}

// TestChaos is the chaos run: four MTA-like clients send 2,000 posts to a
// list of three members with every runner started and a sink receiving,
// while a random runner is killed with SIGKILL every chaosKillEvery
// acknowledged posts, and the master twice (then started again). A client
// whose connection dies, or that gets a 4xx, sends the same message again,
// as an MTA does. At the end every post that got its 250 has reached every
// member at least once.
//
// Duplicates are expected, and counted by cause: a post the client sent
// more than once (its 250 was lost with a killed lmtp runner after the
// message was durable), and a post sent once but handed on twice (a runner
// killed after its step was done but before its entry was finished, so the
// entry was recovered and processed again; for outgoing, after the MTA took
// the copy).
func TestChaos(t *testing.T) {
	const clients, messages, chaosKillEvery = 4, 2000, 80
	var extra strings.Builder
	for _, r := range chaosRunners {
		fmt.Fprintf(&extra, "[runner.%s]\nmax_restarts = 1000\n\n", r)
	}
	s := mailmantest.NewSite(t, extra.String())
	s.SetMTA("delivery_retry_delay", `"1s"`)
	s.MustCtl("lists", "create", "chaos@example.com", "--owner", "owen@example.com")
	members := []string{"m1@example.org", "m2@example.org", "m3@example.org"}
	s.MustCtl(append([]string{"members", "add", "chaos@example.com"}, members...)...)
	sink := s.StartSink()
	s.Start()
	defer s.Stop()
	addr := fmt.Sprintf("127.0.0.1:%d", s.LMTPPort)

	var mu sync.Mutex
	sends := map[string]int{} // Message-ID of each acknowledged post: how many times the client sent it
	var next, ackedCount, resent, tempFailures atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			m := &mta{addr: addr}
			defer m.close()
			for i := next.Add(1); i <= messages; i = next.Add(1) {
				id := fmt.Sprintf("chaos-%d@client.example", i)
				msg := fmt.Sprintf("From: m1@example.org\r\nTo: chaos@example.com\r\nSubject: chaos %d\r\nMessage-ID: <%s>\r\n\r\nbody %d\r\n", i, id, i)
				n, _, err := m.deliver("m1@example.org", "chaos@example.com", []byte(msg), 2*time.Minute, func(r lmtpload.Reply) {
					if !r.OK() {
						tempFailures.Add(1)
					}
				})
				resent.Add(int64(n - 1))
				if err != nil {
					t.Errorf("message %s: %v", id, err)
					return
				}
				mu.Lock()
				sends[id] = n
				mu.Unlock()
				ackedCount.Add(1)
			}
		})
	}

	var runnerKills, masterKills int
	done := make(chan struct{})
	var chaos sync.WaitGroup
	chaos.Go(func() {
		nextKill := int64(chaosKillEvery / 2)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			n := ackedCount.Load()
			if n < nextKill {
				continue
			}
			nextKill = n + chaosKillEvery/2 + rand.Int64N(chaosKillEvery)
			if (masterKills == 0 && n > messages/3) || (masterKills == 1 && n > 2*messages/3) {
				pid := s.Status().PID
				syscall.Kill(pid, syscall.SIGKILL)
				masterKills++
				waitExit(t, pid)
				// Its runners die with it; a new master recovers what
				// they left.
				s.MustCtl("start")
				continue
			}
			var running []int
			for _, r := range s.Status().Runners {
				if r.State == "running" {
					running = append(running, r.PID)
				}
			}
			if len(running) > 0 {
				syscall.Kill(running[rand.IntN(len(running))], syscall.SIGKILL)
				runnerKills++
			}
		}
	})
	wg.Wait()
	close(done)
	chaos.Wait()

	sink.Wait("every acknowledged post at every member", 3*time.Minute, func(ds []mailmantest.Delivery) bool {
		got := deliveredCopies(ds)
		for id := range sends {
			for _, m := range members {
				if got[id][m] == 0 {
					return false
				}
			}
		}
		return true
	})
	got := deliveredCopies(sink.Received())
	lost, delivered, resentDups, reprocessedDups := 0, 0, 0, 0
	for id, n := range sends {
		whole := true
		for _, m := range members {
			switch copies := got[id][m]; {
			case copies == 0:
				lost++
				whole = false
			case copies > 1 && n > 1:
				resentDups += copies - 1
			case copies > 1:
				reprocessedDups += copies - 1
			}
		}
		if whole {
			delivered++
		}
	}
	if len(sends) != messages {
		t.Errorf("%d of %d posts acknowledged", len(sends), messages)
	}
	if lost != 0 {
		t.Errorf("%d copies of acknowledged posts lost", lost)
	}
	if masterKills != 2 || runnerKills < messages/(2*chaosKillEvery) {
		t.Errorf("%d master kills and %d runner kills: the run did not exercise crashes", masterKills, runnerKills)
	}
	if shunted, err := s.Queue("shunt").Count(); err != nil || shunted.Ready != 0 {
		t.Errorf("shunt after the chaos run: %+v, %v; a crash must not fail a message", shunted, err)
	}
	o := mailmantest.NewOutcome(t, fmt.Sprintf("chaos: %d clients, every runner, a list of %d members, SIGKILLs throughout", clients, len(members)))
	o.Sent, o.Acknowledged, o.Delivered, o.Lost = messages, len(sends), delivered, lost
	o.Duplicated = resentDups + reprocessedDups
	o.Faults = fmt.Sprintf("%d runner SIGKILLs, %d master SIGKILLs (then start)", runnerKills, masterKills)
	o.Held = fmt.Sprintf("%d re-sends after a dead connection or a 4xx (%d 4xx); duplicate copies: %d of posts the client re-sent, %d of posts handed on again after a runner's recovery", resent.Load(), tempFailures.Load(), resentDups, reprocessedDups)
	mailmantest.Report(t, o)
}

// deliveredCopies counts, per Message-ID and recipient, the copies the sink
// received.
func deliveredCopies(ds []mailmantest.Delivery) map[string]map[string]int {
	got := map[string]map[string]int{}
	for _, d := range ds {
		id := headerMessageID(d.Data)
		if got[id] == nil {
			got[id] = map[string]int{}
		}
		for _, r := range d.To {
			got[id][strings.ToLower(r)]++
		}
	}
	return got
}

// mta offers messages to an LMTP server as a mail server does: a message
// is sent until it is answered 250; a connection that dies under it is
// replaced and the message sent again, and a 4xx is tried again shortly
// after. The connection is kept across messages.
type mta struct {
	addr string
	c    *lmtpload.Client
}

// deliver offers msg to rcpt until it gets its 250, calling replied with
// each reply, and returns how many times it was sent and how many
// connections died under it. A 5xx (which would bounce the mail) or no 250
// within timeout is an error.
func (m *mta) deliver(from, rcpt string, msg []byte, timeout time.Duration, replied func(lmtpload.Reply)) (sends, cuts int, err error) {
	deadline := time.Now().Add(timeout)
	for {
		if time.Now().After(deadline) {
			return sends, cuts, fmt.Errorf("no 250 within %s", timeout)
		}
		if m.c == nil {
			c, err := lmtpload.Dial(m.addr, 2*time.Second)
			if err != nil {
				// Not listening (stopped, or restarting): try again later.
				time.Sleep(20 * time.Millisecond)
				continue
			}
			m.c = c
		}
		sends++
		replies, err := m.c.Send(from, []string{rcpt}, msg)
		if err != nil {
			m.close()
			cuts++
			continue
		}
		r := replies[0]
		replied(r)
		switch {
		case r.OK():
			return sends, cuts, nil
		case r.Code >= 500:
			return sends, cuts, fmt.Errorf("%v: a fault must never bounce mail", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *mta) close() {
	if m.c != nil {
		m.c.Close()
		m.c = nil
	}
}

// waitDelivered waits until every post of ids has reached every member at
// sink, failing the test after timeout, and counts: the posts that reached
// every member, the copies lost, and the copies beyond one.
func waitDelivered(t *testing.T, sink *mailmantest.Sink, ids, members []string, timeout time.Duration) (complete, lost, dups int) {
	t.Helper()
	sink.Wait("every acknowledged post at every member", timeout, func(ds []mailmantest.Delivery) bool {
		got := deliveredCopies(ds)
		for _, id := range ids {
			for _, m := range members {
				if got[id][m] == 0 {
					return false
				}
			}
		}
		return true
	})
	got := deliveredCopies(sink.Received())
	for _, id := range ids {
		if len(got[id]) == len(members) {
			complete++
		}
		for _, m := range members {
			switch n := got[id][m]; {
			case n == 0:
				lost++
			case n > 1:
				dups += n - 1
			}
		}
	}
	return complete, lost, dups
}

func headerMessageID(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Message-ID") {
			return strings.Trim(strings.TrimSpace(value), "<>")
		}
	}
	return ""
}

// waitExit waits until the process pid is gone.
func waitExit(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still there 10 s after SIGKILL", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
