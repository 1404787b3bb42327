package test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/lmtpload"
	"github.com/mailman-go/mailman/internal/mailmantest"
)

// TestStopUnderLoad has four MTA-like clients send 600 posts to a list of
// three members, every runner started and a sink receiving, and runs
// `mailmanctl stop` in the middle while they send. A client sees a 250, a
// 4xx or a closed connection, never a 5xx; what was not acknowledged it
// sends again once the site is started again. When stop returns no runner
// is left and the queues hold every acknowledged post not yet delivered;
// at the end every acknowledged post has reached every member.
//
// The LMTP runner, told to stop, serves its open connections for 80% of
// stop_timeout and then closes them; stop_timeout is 2 s here, and each
// client sends one post every 40 ms, so that the clients are still sending
// when the connections are cut.
func TestStopUnderLoad(t *testing.T) {
	const clients, messages = 4, 600
	const pace = 40 * time.Millisecond
	s := mailmantest.NewSite(t, "[master]\nstop_timeout = \"2s\"\n")
	s.SetMTA("delivery_retry_delay", `"1s"`)
	s.MustCtl("lists", "create", "stop@example.com", "--owner", "owen@example.com")
	members := []string{"m1@example.org", "m2@example.org", "m3@example.org"}
	s.MustCtl(append([]string{"members", "add", "stop@example.com"}, members...)...)
	sink := s.StartSink()
	s.Start()
	defer s.Stop()
	addr := fmt.Sprintf("127.0.0.1:%d", s.LMTPPort)

	var mu sync.Mutex
	acked := map[string]bool{}
	codes := map[int]int{}
	var next, resent, cut atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			m := &mta{addr: addr}
			defer m.close()
			for i := next.Add(1); i <= messages; i = next.Add(1) {
				id := fmt.Sprintf("stop-%d@client.example", i)
				msg := fmt.Sprintf("From: m1@example.org\r\nTo: stop@example.com\r\nSubject: stop %d\r\nMessage-ID: <%s>\r\n\r\nbody %d\r\n", i, id, i)
				// A 4xx (421 when closing) or a cut connection: the MTA
				// keeps the message and tries again.
				n, cuts, err := m.deliver("m1@example.org", "stop@example.com", []byte(msg), time.Minute, func(r lmtpload.Reply) {
					mu.Lock()
					codes[r.Code]++
					if r.OK() {
						acked[id] = true
					}
					mu.Unlock()
				})
				resent.Add(int64(n - 1))
				cut.Add(int64(cuts))
				if err != nil {
					t.Errorf("message %s: %v", id, err)
					return
				}
				time.Sleep(pace)
			}
		})
	}

	// Stop once a quarter of the posts are in, while the clients send.
	s.WaitFor("a quarter of the posts acknowledged", time.Minute, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= messages/4
	})
	st := s.Status()
	began := time.Now()
	s.Stop()
	stopTook := time.Since(began)
	var left []int
	for _, r := range st.Runners {
		if alive(r.PID) {
			left = append(left, r.PID)
		}
	}
	if len(left) > 0 || alive(st.PID) {
		t.Errorf("after stop returned: master alive %v, runners %v still running", alive(st.PID), left)
	}
	// A reply read by a client just before the stop is recorded at once;
	// what any client recorded so far is checked here, the rest at the end.
	mu.Lock()
	ackedAtStop := make([]string, 0, len(acked))
	for id := range acked {
		ackedAtStop = append(ackedAtStop, id)
	}
	mu.Unlock()
	if len(ackedAtStop) == messages {
		t.Errorf("every post was acknowledged before the stop: the stop did not happen under load")
	}
	queues := []string{"incoming", "pipeline", "outgoing", "retry"}
	queued, temps := queuedMessageIDs(t, s, queues...)
	var totals map[string]int
	if err := json.Unmarshal([]byte(s.MustCtl("queues", "--json")), &totals); err != nil {
		t.Fatal(err)
	}
	got := deliveredCopies(sink.Received())
	undelivered, inQueues := 0, 0
	for _, id := range ackedAtStop {
		if len(got[id]) == len(members) {
			continue
		}
		undelivered++
		if queued["<"+id+">"] == 0 {
			t.Errorf("%s acknowledged, delivered to %d of %d members, and in no queue after the stop", id, len(got[id]), len(members))
		}
	}
	for _, q := range queues {
		inQueues += totals[q]
	}
	if totals["shunt"] != 0 || totals["bad"] != 0 {
		t.Errorf("after the stop: %d entries in shunt, %d in bad", totals["shunt"], totals["bad"])
	}
	if inQueues < undelivered {
		t.Errorf("after the stop `queues` counts %d entries for %d acknowledged posts not delivered", inQueues, undelivered)
	}
	t.Logf("stop took %s with %d of %d posts acknowledged: %d not yet delivered, %d entries in the queues %v, %d temporary files",
		stopTook.Round(time.Millisecond), len(ackedAtStop), messages, undelivered, inQueues, totals, temps)

	s.Start()
	wg.Wait()
	mu.Lock()
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	mu.Unlock()
	// A duplicate is a post queued whose 250 its client never read: the
	// stop closed the connection between the two, and the client, as an
	// MTA must, sent the message again after the restart.
	complete, lost, dups := waitDelivered(t, sink, ids, members, time.Minute)
	if len(ids) != messages {
		t.Errorf("%d of %d posts acknowledged", len(ids), messages)
	}
	if lost != 0 {
		t.Errorf("%d copies of acknowledged posts lost", lost)
	}
	mu.Lock()
	seen := fmt.Sprint(codes)
	mu.Unlock()
	t.Logf("%d posts acknowledged, %d sent again (%d after a cut connection); codes %s; %d copies lost, %d duplicates of %d",
		len(ids), resent.Load(), cut.Load(), seen, lost, dups, len(ids)*len(members))
	o := mailmantest.NewOutcome(t, fmt.Sprintf("mailmanctl stop under %d LMTP clients, then start", clients))
	o.Sent, o.Acknowledged, o.Delivered, o.Duplicated, o.Lost = messages+int(resent.Load()), len(ids), complete, dups, lost
	o.Faults = "1 stop (SIGTERM to the master)"
	o.Held = fmt.Sprintf("LMTP codes %s, %d cut connections; stop took %s; %d acknowledged posts undelivered at the stop, all in the queues", seen, cut.Load(), stopTook.Round(time.Millisecond), undelivered)
	mailmantest.Report(t, o)
}
