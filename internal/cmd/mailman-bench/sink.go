package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is the SMTP server both list servers deliver to: it counts, per
// Message-ID, the recipients it has taken, and when the last of them came.
type sink struct {
	srv *smtp.Server

	mu      sync.Mutex
	got     map[string]arrival
	changed chan struct{}
}

type arrival struct {
	rcpts int
	last  time.Time
}

// startSink listens on 127.0.0.1:port.
func startSink(port int) (*sink, error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	k := &sink{got: map[string]arrival{}, changed: make(chan struct{})}
	k.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }))
	k.srv.Domain = "sink.example"
	k.srv.MaxRecipients = 0
	go k.srv.Serve(l)
	return k, nil
}

func (k *sink) Close() { k.srv.Close() }

// wait returns when the sink has had rcpts recipients of the message with
// Message-ID id: the time the last of them arrived.
func (k *sink) wait(id string, rcpts int, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		k.mu.Lock()
		a, changed := k.got[id], k.changed
		k.mu.Unlock()
		if a.rcpts >= rcpts {
			return a.last, nil
		}
		select {
		case <-changed:
		case <-deadline:
			return time.Time{}, fmt.Errorf("sink: %d of %d recipients of <%s> after %s", a.rcpts, rcpts, id, timeout)
		}
	}
}

type sinkSession struct {
	k     *sink
	rcpts int
}

func (s *sinkSession) Reset()                               { s.rcpts = 0 }
func (s *sinkSession) Logout() error                        { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error {
	s.rcpts++
	return nil
}

// Data reads the message whole, as a real MTA must before it answers, and
// takes its Message-ID from the header.
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	id := messageID(b)
	at := time.Now()
	s.k.mu.Lock()
	a := s.k.got[id]
	a.rcpts += s.rcpts
	a.last = at
	s.k.got[id] = a
	close(s.k.changed)
	s.k.changed = make(chan struct{})
	s.k.mu.Unlock()
	return nil
}

// messageID is the Message-ID of a message, without its angle brackets.
func messageID(msg []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(msg))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(name, "Message-ID") {
			return strings.Trim(strings.TrimSpace(value), "<>")
		}
	}
	return ""
}
