// Package lmtp is the runner that takes mail from the MTA over LMTP
// (RFC 2033): it checks at RCPT that each recipient is a list or one of its
// sub-addresses, and after DATA queues the message once per distinct
// recipient, answering each recipient only once its entry is on disk.
//
// Replies follow Mailman 3.3.8 where it is right (550 "Requested action not
// taken: mailbox unavailable" for an unknown list, 501 "Message has
// defects") and RFC 2033 where it is not: every accepted recipient gets
// exactly one reply after DATA, and a failure that is not the message's
// fault (the database, the disk) is a 451, never a 5xx that would bounce
// good mail.
package lmtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// Queuer durably queues entries by queue name; a *switchboard.Journal is
// one, and the runner's.
type Queuer interface {
	Enqueue(queue string, msg []byte, md switchboard.Msgdata) (string, error)
}

// Server is the LMTP runner's server.
type Server struct {
	store     *store.Store
	queues    Queuer
	hostname  string
	log       *slog.Logger
	smtp      *smtp.Server
	maxConns  int
	maxSize   int
	maxBounce int // [bounces] max_size
	// A session's bounds (see limitConn.overLimit).
	maxSession time.Duration
	maxJunk    int
	now        func() time.Time // the clock sessions are timed by; tests set it

	knownMu sync.Mutex
	known   map[string]time.Time // list address → until when it is known to exist

	connsMu sync.Mutex
	conns   map[*limitConn]struct{} // open connections, for Shutdown to end
}

// New makes a server that looks lists up in st and queues through queues
// (which must serve every name in Queues).
func New(cfg *config.Config, st *store.Store, queues Queuer, log *slog.Logger) *Server {
	hostname, err := os.Hostname()
	if err != nil || hostname == "" {
		hostname = "localhost"
	}
	s := &Server{
		store: st, queues: queues, hostname: hostname, log: log,
		maxConns: cfg.MTA.LMTPMaxConnections, maxSize: cfg.MTA.MaxMessageSize, maxBounce: cfg.Bounces.MaxSize,
		maxSession: cfg.MTA.LMTPMaxSessionTime.D(), maxJunk: cfg.MTA.LMTPMaxJunkCommands, now: time.Now,
		known: map[string]time.Time{}, conns: map[*limitConn]struct{}{},
	}
	s.smtp = newSMTPServer(cfg, hostname, log, smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c.Conn().(*limitConn)}, nil
	}))
	return s
}

// newSMTPServer is go-smtp as the runner sets it up, serving be.
func newSMTPServer(cfg *config.Config, hostname string, log *slog.Logger, be smtp.Backend) *smtp.Server {
	srv := smtp.NewServer(be)
	srv.LMTP = true
	srv.Domain = hostname
	// The size limit is the session's, not go-smtp's: go-smtp refuses a
	// message of exactly MaxMessageBytes (it wants room for one byte more
	// before it reads the final "."), and its count would include the line
	// end limitConn may add. limitConn advertises the limit in the LHLO
	// reply, Mail checks SIZE= and LMTPData the data.
	srv.MaxMessageBytes = 0
	srv.MaxRecipients = cfg.MTA.LMTPMaxRecipients
	// A local MTA passes on whatever it received; long lines are accepted
	// up to a bound that keeps a hostile client's line from eating memory.
	srv.MaxLineLength = maxDataLine
	srv.ReadTimeout = cfg.MTA.LMTPTimeout.D()
	srv.WriteTimeout = cfg.MTA.LMTPTimeout.D()
	srv.ErrorLog = errorLog{log}
	return srv
}

// maxDataLine is the longest line of a message the runner takes, a
// thousand times what RFC 5322 allows.
const maxDataLine = 1 << 20

// Listen opens the TCP address host:port and, when socket is set, the unix
// socket (replacing a stale one, writable by the MTA's group).
func Listen(host string, port int, socket string) ([]net.Listener, error) {
	tcp, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return nil, fmt.Errorf("lmtp: %w", err)
	}
	ls := []net.Listener{tcp}
	if socket != "" {
		os.Remove(socket)
		u, err := net.Listen("unix", socket)
		if err != nil {
			tcp.Close()
			return nil, fmt.Errorf("lmtp: %w", err)
		}
		os.Chmod(socket, 0o660)
		ls = append(ls, u)
	}
	return ls, nil
}

// Serve serves the listeners until Shutdown.
func (s *Server) Serve(ls []net.Listener) error {
	sem := make(chan struct{}, s.maxConns)
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errc <- s.smtp.Serve(&limitListener{Listener: l, sem: sem, s: s}) }()
	}
	err := <-errc
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for those open to end,
// until ctx is done; then it ends them. An entry is queued before its 250
// is sent, so a connection cut now loses nothing: the MTA retries what it
// was not told.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.smtp.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	// go-smtp's Close does nothing once its Shutdown has begun, so the
	// sessions would go on past the runner's end, answering 451 from a
	// closed journal. Each connection's reads fail from now on instead: a
	// session waiting for a command says 421 and ends, one reading a
	// message answers it 451 (the MTA sends it again), and one queueing a
	// message finishes, answers 250, and ends at its next read.
	s.connsMu.Lock()
	for c := range s.conns {
		c.stopReading()
	}
	s.connsMu.Unlock()
	for deadline := time.Now().Add(shutdownGrace); ; time.Sleep(10 * time.Millisecond) {
		s.connsMu.Lock()
		open := len(s.conns)
		if open > 0 && time.Now().After(deadline) {
			// A session stuck in its store or journal: closing the
			// connection is all that is left.
			for c := range s.conns {
				c.Conn.Close()
			}
		}
		s.connsMu.Unlock()
		if open == 0 || time.Now().After(deadline) {
			return nil
		}
	}
}

// shutdownGrace bounds how long Shutdown waits, past its deadline, for the
// sessions it has ended to let go of their connections.
const shutdownGrace = time.Second

func (s *Server) track(c *limitConn) {
	s.connsMu.Lock()
	s.conns[c] = struct{}{}
	s.connsMu.Unlock()
}

func (s *Server) untrack(c *limitConn) {
	s.connsMu.Lock()
	delete(s.conns, c)
	s.connsMu.Unlock()
}

// knownFor is how long a list found to exist is taken to exist without
// asking the store again. Only positive answers are kept, so a list
// created while the runner runs is served at once; a message to a list
// removed within this time is accepted and then shunted by the incoming
// runner, as one that arrived just before the removal would be.
const knownFor = 2 * time.Second

func (s *Server) exists(ctx context.Context, a store.ListAddress) (bool, error) {
	key := a.String()
	s.knownMu.Lock()
	until, ok := s.known[key]
	s.knownMu.Unlock()
	if ok && time.Now().Before(until) {
		return true, nil
	}
	_, err := s.store.List(ctx, a)
	switch {
	case err == nil:
		s.knownMu.Lock()
		if len(s.known) > 10000 {
			clear(s.known)
		}
		s.known[key] = time.Now().Add(knownFor)
		s.knownMu.Unlock()
		return true, nil
	case errors.Is(err, store.ErrNoSuchList):
		return false, nil
	}
	return false, err
}

// errorLog sends go-smtp's own error lines to the runner's log.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.log.Warn("lmtp server", "error", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (e errorLog) Println(v ...any) {
	e.log.Warn("lmtp server", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}
