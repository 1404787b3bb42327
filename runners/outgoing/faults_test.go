package outgoing

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/switchboard"
)

// faultTimeout is Settings.Timeout in these tests: every stall must end
// within a small multiple of it.
const faultTimeout = 300 * time.Millisecond

// stage is the point of an SMTP conversation where a fault strikes.
type stage string

const (
	atConnect stage = "connect" // before the greeting
	atMail    stage = "MAIL"
	atRcpt    stage = "RCPT" // the second RCPT of the transaction
	atData    stage = "DATA" // the DATA command
	atBody    stage = "body" // after a few lines of the message
	atDot     stage = "dot"  // after the final dot
)

// action is what the fake MTA does at the faulty stage.
type action int

const (
	answer action = iota // send reply instead of the right one (421 also hangs up, as RFC 5321 says)
	stall                // say nothing and read nothing more, until the test ends
	hangUp               // close the connection
)

// fault is one misbehaviour of the fake MTA, on one connection.
type fault struct {
	at    stage
	txn   int // for the stages of a transaction: which one of the connection's, from 0
	do    action
	reply string
}

// fakeTxn is a message the fake MTA read in full, up to its final dot.
type fakeTxn struct {
	from  string
	rcpts []string
	data  string
	reply string // its answer to the dot; "" for none
}

func (t fakeTxn) acked() bool { return strings.HasPrefix(t.reply, "250") }

// fakeMTA is a raw TCP listener on 127.0.0.1 speaking just enough SMTP for
// the outgoing runner, so that each fault can be scripted: connection i
// (from 0) suffers faults[i], the later ones none.
type fakeMTA struct {
	port int
	ln   net.Listener
	done chan struct{} // closed when the test ends: stalls end

	mu     sync.Mutex
	faults []fault
	conns  []net.Conn // every connection accepted
	txns   []fakeTxn
}

func startFakeMTA(t *testing.T, faults ...fault) *fakeMTA {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMTA{port: ln.Addr().(*net.TCPAddr).Port, ln: ln, done: make(chan struct{}), faults: faults}
	go m.accept()
	t.Cleanup(func() {
		close(m.done)
		ln.Close()
		m.hangUpAll()
	})
	return m
}

func (m *fakeMTA) accept() {
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			return
		}
		m.mu.Lock()
		var f *fault
		if n := len(m.conns); n < len(m.faults) {
			f = &m.faults[n]
		}
		m.conns = append(m.conns, conn)
		m.mu.Unlock()
		go m.serve(conn, f)
	}
}

// hangUpAll closes every connection: the test is over.
func (m *fakeMTA) hangUpAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.conns {
		c.Close()
	}
}

func (m *fakeMTA) connections() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.conns)
}

func (m *fakeMTA) transactions() []fakeTxn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.txns)
}

// serve runs one connection, with fault f (nil for none).
func (m *fakeMTA) serve(conn net.Conn, f *fault) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(line string) bool {
		_, err := fmt.Fprintf(conn, "%s\r\n", line)
		return err == nil
	}
	txn := -1
	// strike reports whether the fault is due at st, and then acts: it
	// reports go on when the conversation continues after it.
	strike := func(st stage) (struck, goOn bool) {
		if f == nil || st == "" || f.at != st || (st != atConnect && f.txn != txn) {
			return false, true
		}
		switch f.do {
		case answer:
			return true, say(f.reply) && !strings.HasPrefix(f.reply, "421")
		case stall:
			<-m.done
		}
		return true, false
	}
	if struck, goOn := strike(atConnect); !goOn {
		return
	} else if !struck && !say("220 fake.example ESMTP") {
		return
	}
	var from string
	var rcpts []string
	nrcpt := 0 // the RCPT commands of the transaction
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimRight(line, "\r\n"))
		verb, _, _ := strings.Cut(cmd, " ")
		var st stage
		reply := "250 OK"
		switch verb {
		case "EHLO", "HELO":
			reply = "250 fake.example"
		case "MAIL":
			_, arg, _ := strings.Cut(line, ":")
			txn, nrcpt = txn+1, 0
			st, from, rcpts = atMail, strings.Trim(strings.TrimSpace(arg), "<>"), nil
		case "RCPT":
			if nrcpt++; nrcpt == 2 {
				st = atRcpt
			}
			_, arg, _ := strings.Cut(line, ":")
			rcpts = append(rcpts, strings.Trim(strings.TrimSpace(arg), "<>"))
		case "DATA":
			st, reply = atData, "354 go on"
		case "RSET", "NOOP":
		case "QUIT":
			say("221 bye")
			return
		default:
			reply = "502 not here"
		}
		if struck, goOn := strike(st); !goOn {
			return
		} else if struck {
			if st == atRcpt {
				rcpts = rcpts[:len(rcpts)-1]
			}
			continue
		}
		if !say(reply) {
			return
		}
		if verb != "DATA" {
			continue
		}
		data, ok := m.readData(r, strike)
		if !ok {
			return
		}
		// Kept before the answer: a stall there lasts until the test ends.
		m.mu.Lock()
		m.txns = append(m.txns, fakeTxn{from: from, rcpts: rcpts, data: data})
		i := len(m.txns) - 1
		m.mu.Unlock()
		struck, goOn := strike(atDot)
		reply = "250 queued"
		if struck {
			reply = f.reply
		}
		m.mu.Lock()
		m.txns[i].reply = reply
		m.mu.Unlock()
		if !goOn || (!struck && !say(reply)) {
			return
		}
	}
}

// readData reads the message up to its final dot, undoing dot-stuffing;
// a fault at atBody strikes after its fifth line.
func (m *fakeMTA) readData(r *bufio.Reader, strike func(stage) (bool, bool)) (string, bool) {
	var b strings.Builder
	for n := 1; ; n++ {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", false
		}
		if line == ".\r\n" {
			return b.String(), true
		}
		b.WriteString(strings.TrimPrefix(line, "."))
		if n == 5 {
			if struck, goOn := strike(atBody); struck && !goOn {
				return "", false
			}
		}
	}
}

// disposeWithin runs Dispose and fails the test unless it returns within
// limit: a handler stuck on a stalled server is the fault these tests
// look for, so it is not waited for.
func disposeWithin(t *testing.T, f *fixture, e *switchboard.Entry, limit time.Duration) {
	t.Helper()
	type result struct {
		out runners.Outcome
		err error
	}
	ch := make(chan result, 1)
	go func() {
		out, err := f.h.Dispose(context.Background(), e, runners.EntryLog(f.log, e))
		ch <- result{out, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil || r.out != runners.Done {
			t.Fatalf("Dispose: %+v, %v; want done", r.out, r.err)
		}
	case <-time.After(limit):
		t.Fatalf("Dispose still running after %s", limit)
	}
}

// takeRetried removes the entries parked in retry, whenever due, as the
// retry runner would move them, and returns them and when the first was
// due.
func takeRetried(t *testing.T, f *fixture) ([]*switchboard.Entry, time.Time) {
	t.Helper()
	es, due := f.retried(t)
	files, _, err := f.retry.Ready(switchboard.Whole, f.now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if err := os.Remove(filepath.Join(f.retry.Dir(), file)); err != nil {
			t.Fatal(err)
		}
	}
	return es, due
}

// deliveredTo is every recipient of the acknowledged transactions, sorted.
func deliveredTo(ts []fakeTxn) []string {
	var rs []string
	for _, t := range ts {
		if t.acked() {
			rs = append(rs, t.rcpts...)
		}
	}
	slices.Sort(rs)
	return rs
}

// TestSMTPFaults: whatever the server does wrong, the message is not lost
// and the runner is not held: the recipients the server did not take wait
// in retry, due after the first back-off, and the handler returns within
// a small multiple of smtp_timeout; retried against a healthy server, the
// message then reaches every one of them.
func TestSMTPFaults(t *testing.T) {
	all := []string{anne, bart, cris}
	// The longest a fault may hold Dispose: the end of DATA waits twice the
	// timeout; the rest is for a loaded machine under -race.
	limit := 2*faultTimeout + 2*time.Second
	tests := []struct {
		name          string
		closed        bool // nothing listens on the port
		fault         fault
		maxRecipients int
		delivered     []string // by the faulty attempt
		owed          []string // parked in retry
		duplicate     bool     // the server read the whole message without answering
	}{
		{name: "nothing listening", closed: true, owed: all},
		{name: "accepts and closes at once", fault: fault{at: atConnect, do: hangUp}, owed: all},
		{name: "421 greeting", fault: fault{at: atConnect, reply: "421 4.3.2 fake.example busy"}, owed: all},
		{name: "554 greeting", fault: fault{at: atConnect, reply: "554 5.3.2 no service"}, owed: all},
		{name: "421 to MAIL", fault: fault{at: atMail, reply: "421 4.3.2 shutting down"}, owed: all},
		{
			name:      "450 to a RCPT: only that recipient is owed",
			fault:     fault{at: atRcpt, reply: "450 4.2.1 mailbox busy"},
			delivered: []string{anne, cris}, owed: []string{bart},
		},
		{name: "451 to DATA", fault: fault{at: atData, reply: "451 4.3.0 try later"}, owed: all},
		{name: "451 after the dot", fault: fault{at: atDot, reply: "451 4.3.0 queue full"}, owed: all},
		{name: "no greeting", fault: fault{at: atConnect, do: stall}, owed: all},
		{name: "stalls after RCPT", fault: fault{at: atRcpt, do: stall}, owed: all},
		// The server has the whole message and may have queued it: the
		// retry then sends it again, a duplicate. Delivery is at least
		// once; the other way would lose mail.
		{name: "never answers the dot", fault: fault{at: atDot, do: stall}, owed: all, duplicate: true},
		{name: "cuts mid-DATA", fault: fault{at: atBody, do: hangUp}, owed: all},
		{
			name:          "421 to the second transaction's MAIL: only its recipients are owed",
			fault:         fault{at: atMail, txn: 1, reply: "421 4.3.2 shutting down"},
			maxRecipients: 2, delivered: []string{anne, bart}, owed: []string{cris},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, sinkOptions{})
			m := startFakeMTA(t, tt.fault)
			f.h.Settings.Port, f.h.Settings.Timeout = m.port, faultTimeout
			if tt.maxRecipients != 0 {
				f.h.Settings.MaxRecipients = tt.maxRecipients
			}
			if tt.closed {
				f.h.Settings.Port = closedPort(t)
			}

			start := time.Now()
			disposeWithin(t, f, entry(post, map[string]any{"recipients": []string{cris, anne, bart}}), limit)
			t.Logf("faulty attempt took %s", time.Since(start))
			if got := deliveredTo(m.transactions()); !slices.Equal(got, tt.delivered) {
				t.Errorf("delivered to %v, want %v", got, tt.delivered)
			}
			es, due := takeRetried(t, f)
			if len(es) != 1 {
				t.Fatalf("%d entries in retry, want 1", len(es))
			}
			if got := recipients(t, es[0]); !slices.Equal(got, tt.owed) {
				t.Errorf("owed %v, want %v", got, tt.owed)
			}
			if want := f.now.Add(defaultRetryDelay); !due.Equal(want) {
				t.Errorf("due in %s, want %s", due.Sub(f.now), defaultRetryDelay)
			}
			if n := es[0].Msgdata.Int(msgdata.Attempts); n != 1 {
				t.Errorf("attempts %d, want 1", n)
			}

			// The port is listening now.
			f.h.Settings.Port = m.port
			before := len(m.transactions())
			disposeWithin(t, f, es[0], limit)
			retried := m.transactions()[before:]
			if got := deliveredTo(retried); !slices.Equal(got, tt.owed) {
				t.Errorf("the retry delivered to %v, want %v", got, tt.owed)
			}
			if left, _ := takeRetried(t, f); len(left) != 0 {
				t.Errorf("%d entries in retry after the retry, want none", len(left))
			}
			unanswered := 0
			for _, x := range m.transactions() {
				if x.reply == "" {
					unanswered++
				}
			}
			if got := unanswered > 0; got != tt.duplicate {
				t.Errorf("the server read %d copies it did not answer; a duplicate expected: %v", unanswered, tt.duplicate)
			}
		})
	}
}

// TestSMTPStallMidData: a server that stops reading in the middle of a
// message too big for the sockets' buffers holds the runner no longer than
// the timeout, and the message waits in retry.
func TestSMTPStallMidData(t *testing.T) {
	f := newFixture(t, sinkOptions{})
	m := startFakeMTA(t, fault{at: atBody, do: stall})
	f.h.Settings.Port, f.h.Settings.Timeout = m.port, faultTimeout
	// More than the most the kernel buffers on both sides of a loopback
	// connection (tcp_wmem and the receive window), so that the writes
	// block.
	body := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 160_000)
	raw := strings.Replace(post, "Hello, list.\r\n", body, 1)
	disposeWithin(t, f, entry(raw, map[string]any{"recipients": []string{anne}, "nodecorate": true}), 2*faultTimeout+5*time.Second)
	es, _ := takeRetried(t, f)
	if len(es) != 1 || !slices.Equal(recipients(t, es[0]), []string{anne}) {
		t.Fatalf("retry holds %d entries, want 1 for %s", len(es), anne)
	}
	if len(m.transactions()) != 0 {
		t.Errorf("the server completed %d transactions", len(m.transactions()))
	}
}

// TestSMTPKeptConnectionClosed: the server closing the kept connection
// while it is idle costs the next message a new connection, not a retry.
func TestSMTPKeptConnectionClosed(t *testing.T) {
	tests := []struct {
		name    string
		goodbye string // what the server says before closing; "" for nothing
	}{
		{name: "closed without a word"},
		{name: "421 then closed", goodbye: "421 4.4.2 fake.example idle timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, sinkOptions{})
			m := startFakeMTA(t)
			f.h.Settings.Port, f.h.Settings.Timeout = m.port, faultTimeout
			send := func(id string) {
				t.Helper()
				raw := strings.Replace(post, "<post@example.org>", id, 1)
				disposeWithin(t, f, entry(raw, map[string]any{"recipients": []string{anne, bart}}), 2*time.Second)
			}
			send("<one@example.org>")
			send("<two@example.org>")
			if n := m.connections(); n != 1 {
				t.Fatalf("%d connections for two messages, want one kept", n)
			}
			m.mu.Lock()
			if tt.goodbye != "" {
				fmt.Fprintf(m.conns[0], "%s\r\n", tt.goodbye)
			}
			m.conns[0].Close()
			m.mu.Unlock()
			send("<three@example.org>")
			if n := m.connections(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
			ts := m.transactions()
			if len(ts) != 3 || !slices.Equal(deliveredTo(ts[2:]), []string{anne, bart}) ||
				!strings.Contains(ts[2].data, "<three@example.org>") {
				t.Errorf("transactions %+v, want the third message to both", ts)
			}
			if es, _ := takeRetried(t, f); len(es) != 0 {
				t.Errorf("%d entries deferred needlessly", len(es))
			}
		})
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestSMTPStartTLSNoGreeting: with STARTTLS the greeting and the first
// EHLO are read inside go-smtp's client set-up, under its own 5-minute
// timeouts; smtp_timeout bounds them all the same.
func TestSMTPStartTLSNoGreeting(t *testing.T) {
	f := newFixture(t, sinkOptions{})
	m := startFakeMTA(t, fault{at: atConnect, do: stall})
	f.h.Settings.Port, f.h.Settings.Timeout, f.h.Settings.SecureMode = m.port, faultTimeout, "starttls"
	disposeWithin(t, f, entry(post, map[string]any{"recipients": []string{anne}}), faultTimeout+2*time.Second)
	if es, _ := takeRetried(t, f); len(es) != 1 || !slices.Equal(recipients(t, es[0]), []string{anne}) {
		t.Fatalf("retry holds %d entries, want 1 for %s", len(es), anne)
	}
}
