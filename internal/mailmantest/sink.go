package mailmantest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Sink is an SMTP server on the site's smtp_port standing in for the MTA
// the outgoing runner delivers to: it keeps every message it accepts, can
// refuse chosen recipients, and can be stopped and started again.
type Sink struct {
	tb   testing.TB
	addr string

	mu       sync.Mutex
	srv      *smtp.Server
	received []Delivery
	refuse   map[string]*smtp.SMTPError
	forward  map[string]string // recipient to the LMTP address it is delivered to
	changed  chan struct{}
}

// Delivery is one message the sink accepted, for the recipients it took.
type Delivery struct {
	From string
	To   []string
	Data []byte
	At   time.Time
}

// StartSink starts the site's sink; it is stopped when the test ends.
func (s *Site) StartSink() *Sink {
	s.tb.Helper()
	k := &Sink{tb: s.tb, addr: fmt.Sprintf("127.0.0.1:%d", s.SMTPPort), refuse: map[string]*smtp.SMTPError{}, forward: map[string]string{}, changed: make(chan struct{})}
	k.Start()
	s.tb.Cleanup(k.Stop)
	return k
}

// Start listens again after Stop.
func (k *Sink) Start() {
	k.tb.Helper()
	var l net.Listener
	var err error
	// The port may linger for a moment after Stop.
	for range 50 {
		if l, err = net.Listen("tcp", k.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		k.tb.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }))
	srv.Domain = "sink.example"
	srv.AllowInsecureAuth = true
	k.mu.Lock()
	k.srv = srv
	k.mu.Unlock()
	go srv.Serve(l)
}

// Stop closes the sink and its connections, as an MTA that went down.
func (k *Sink) Stop() {
	k.mu.Lock()
	srv := k.srv
	k.srv = nil
	k.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Refuse makes the sink answer RCPT TO rcpt with code and text.
func (k *Sink) Refuse(rcpt string, code int, text string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refuse[strings.ToLower(rcpt)] = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: text}
}

// Forward makes the sink deliver what it accepts for rcpts over LMTP to
// addr before it answers DATA, as the MTA delivers mail for a list to
// Mailman: a list that is a member of another gets that list's posts. A
// delivery that fails is answered 451, and the sender tries again.
func (k *Sink) Forward(addr string, rcpts ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range rcpts {
		k.forward[strings.ToLower(r)] = addr
	}
}

// Received returns what the sink has accepted so far.
func (k *Sink) Received() []Delivery {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Delivery(nil), k.received...)
}

// Copies counts the copies each recipient has received.
func (k *Sink) Copies() map[string]int {
	n := map[string]int{}
	for _, d := range k.Received() {
		for _, r := range d.To {
			n[strings.ToLower(r)]++
		}
	}
	return n
}

// Wait returns once cond holds for what the sink received, or fails the
// test after timeout. cond runs with the sink locked: it must not call the
// sink's methods.
func (k *Sink) Wait(what string, timeout time.Duration, cond func([]Delivery) bool) {
	k.tb.Helper()
	deadline := time.After(timeout)
	for {
		k.mu.Lock()
		ok, changed := cond(k.received), k.changed
		k.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			k.tb.Fatalf("timed out after %s waiting for %s (received %d messages)", timeout, what, len(k.Received()))
		}
	}
}

type sinkSession struct {
	k    *Sink
	from string
	to   []string
}

func (s *sinkSession) Reset()        { s.from, s.to = "", nil }
func (s *sinkSession) Logout() error { return nil }

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.k.mu.Lock()
	err := s.k.refuse[strings.ToLower(to)]
	s.k.mu.Unlock()
	if err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(s.to) == 0 {
		return errors.New("no recipients")
	}
	s.k.mu.Lock()
	byAddr := map[string][]string{}
	for _, to := range s.to {
		if addr, ok := s.k.forward[strings.ToLower(to)]; ok {
			byAddr[addr] = append(byAddr[addr], to)
		}
	}
	s.k.mu.Unlock()
	for addr, rcpts := range byAddr {
		if err := deliverLMTP(addr, s.from, rcpts, b); err != nil {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 0, 0}, Message: "forwarding: " + err.Error()}
		}
	}
	s.k.mu.Lock()
	s.k.received = append(s.k.received, Delivery{From: s.from, To: s.to, Data: b, At: time.Now()})
	close(s.k.changed)
	s.k.changed = make(chan struct{})
	s.k.mu.Unlock()
	return nil
}

// deliverLMTP sends msg from from to rcpts over LMTP at addr; every
// recipient must be taken.
func deliverLMTP(addr, from string, rcpts []string, msg []byte) error {
	c, err := DialLMTP(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	_, err = w.CloseWithLMTPResponse()
	return err
}
