package test

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// faultyMTA listens on the site's SMTP port and misbehaves on every
// connection: for stallFor from the first one it greets and takes the
// envelope but never answers DATA; after that it cuts the connection in
// the middle of the message, once it has read the header and the first
// line of the body.
type faultyMTA struct {
	ln       net.Listener
	stallFor time.Duration
	done     chan struct{} // closed by stop: stalls end

	mu           sync.Mutex
	first        time.Time // the first connection
	conns        []net.Conn
	stalls, cuts int
}

func startFaultyMTA(t *testing.T, port int, stallFor time.Duration) *faultyMTA {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	m := &faultyMTA{ln: ln, stallFor: stallFor, done: make(chan struct{})}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			m.mu.Lock()
			if m.first.IsZero() {
				m.first = time.Now()
			}
			stall := time.Since(m.first) < m.stallFor
			m.conns = append(m.conns, conn)
			m.mu.Unlock()
			go m.serve(conn, stall)
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// stop closes the listener and every connection, once.
func (m *faultyMTA) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.done:
		return
	default:
	}
	close(m.done)
	m.ln.Close()
	for _, c := range m.conns {
		c.Close()
	}
}

func (m *faultyMTA) serve(conn net.Conn, stall bool) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(line string) bool {
		_, err := fmt.Fprintf(conn, "%s\r\n", line)
		return err == nil
	}
	if !say("220 faulty.example ESMTP") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
		switch verb {
		case "DATA":
			if stall {
				m.count(&m.stalls)
				<-m.done
				return
			}
			if !say("354 go on") {
				return
			}
			inBody := false
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if inBody {
					m.count(&m.cuts)
					return
				}
				inBody = line == "\r\n"
			}
		case "QUIT":
			say("221 bye")
			return
		default:
			if !say("250 OK") {
				return
			}
		}
	}
}

func (m *faultyMTA) count(n *int) {
	m.mu.Lock()
	*n++
	m.mu.Unlock()
}

// TestSMTPFaultStallsAndCuts: the MTA first stalls (it takes the envelope
// and never answers DATA) and then cuts every connection mid-DATA, while
// posts arrive over LMTP; then the real MTA is back. Every acknowledged
// post reaches every member, through the retry queue, and none twice: no
// fault let the MTA have a whole message.
func TestSMTPFaultStallsAndCuts(t *testing.T) {
	const posts = 20
	s := mailmantest.NewSite(t, "")
	s.SetMTA("smtp_timeout", `"1s"`)
	s.SetMTA("delivery_retry_delay", `"1s"`)
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	members := []string{"anne@example.com", "bart@example.com", "cris@example.com"}
	s.MustCtl(append([]string{"members", "add", "test@example.com"}, members...)...)
	// Stalls cost the outgoing runner smtp_timeout each: two or three of
	// them, then cuts, which fail at once, until faultsFor has passed since
	// the first connection.
	const stallFor, faultsFor = 2500 * time.Millisecond, 5 * time.Second
	mta := startFaultyMTA(t, s.SMTPPort, stallFor)
	s.Start()
	t.Cleanup(s.Stop)

	c := s.LMTP()
	acked := map[string]bool{}
	for i := range posts {
		id := fmt.Sprintf("<smtpfault-%d@example.com>", i)
		if err := sendPost(c, "anne@example.com", "test@example.com", id); err != nil {
			t.Errorf("post %s: %v", id, err)
			continue
		}
		acked[id] = true
	}
	s.WaitFor("posts deferred to retry", 10*time.Second, func() bool {
		n, err := s.Queue("retry").Count()
		return err == nil && n.Total() > 0
	})
	mta.mu.Lock()
	first := mta.first
	mta.mu.Unlock()
	time.Sleep(time.Until(first.Add(faultsFor)))
	mta.stop()
	mta.mu.Lock()
	stalls, cuts := mta.stalls, mta.cuts
	mta.mu.Unlock()
	// Had a stall held the runner past smtp_timeout, it would have met one
	// stall and no cut before stop.
	if stalls < 2 || cuts == 0 {
		t.Errorf("the MTA stalled %d and cut %d times; the test needs at least two and one", stalls, cuts)
	}
	sink := s.StartSink()

	messageID := regexp.MustCompile(`(?mi)^Message-ID: (<[^>\r\n]+>)`)
	// copies[id][member] counts what each member received of each post.
	copies := func(ds []mailmantest.Delivery) map[string]map[string]int {
		out := map[string]map[string]int{}
		for _, d := range ds {
			m := messageID.FindSubmatch(d.Data)
			if m == nil {
				continue
			}
			id := string(m[1])
			if out[id] == nil {
				out[id] = map[string]int{}
			}
			for _, r := range d.To {
				out[id][strings.ToLower(r)]++
			}
		}
		return out
	}
	complete := func(got map[string]map[string]int) int {
		n := 0
		for id := range acked {
			all := true
			for _, m := range members {
				all = all && got[id][m] > 0
			}
			if all {
				n++
			}
		}
		return n
	}
	// The last failures were due a few seconds later at most (the back-off
	// doubles from a second).
	sink.Wait("every acknowledged post to every member", 15*time.Second, func(ds []mailmantest.Delivery) bool {
		return complete(copies(ds)) == len(acked)
	})
	time.Sleep(300 * time.Millisecond) // a second copy would have come by now
	got := copies(sink.Received())
	dups := 0
	for id, byMember := range got {
		if !acked[id] {
			t.Errorf("%s delivered, never acknowledged", id)
		}
		for m, n := range byMember {
			if n > 1 {
				t.Errorf("%s reached %s %d times", id, m, n)
				dups += n - 1
			}
		}
	}
	s.WaitFor("the retry queue empty", 5*time.Second, func() bool {
		n, err := s.Queue("retry").Count()
		return err == nil && n.Total() == 0
	})
	if n, err := s.Queue("shunt").Count(); err != nil || n.Total() != 0 {
		t.Errorf("shunt: %+v, %v; an MTA's fault is no fault of the message", n, err)
	}

	o := mailmantest.NewOutcome(t, "SMTP server stalls and cuts DATA")
	o.Sent, o.Acknowledged, o.Duplicated = posts, len(acked), dups
	o.Delivered = complete(got)
	o.Lost = len(acked) - o.Delivered
	o.Faults = fmt.Sprintf("%d stalls (no answer to DATA, smtp_timeout 1s), %d connections cut mid-DATA, over %s", stalls, cuts, faultsFor)
	o.Held = "every post to every member, through retry (delivery_retry_delay 1s); none twice; nothing shunted"
	mailmantest.Report(t, o)
}
