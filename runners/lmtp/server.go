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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// route is where mail for one sub-address goes, and the metadata it gets.
type route struct {
	queue string
	set   func(md switchboard.Msgdata)
}

// routes is Mailman's table (spec §4), by canonical sub-address.
var routes = map[string]route{
	"":        {"incoming", func(md switchboard.Msgdata) { md.Set("to_list", true) }},
	"owner":   {"incoming", func(md switchboard.Msgdata) { md.Set("subaddress", "owner"); md.Set("to_owner", true) }},
	"request": {"command", func(md switchboard.Msgdata) { md.Set("subaddress", "request"); md.Set("to_request", true) }},
	"join":    {"command", func(md switchboard.Msgdata) { md.Set("subaddress", "join") }},
	"leave":   {"command", func(md switchboard.Msgdata) { md.Set("subaddress", "leave") }},
	"confirm": {"command", func(md switchboard.Msgdata) { md.Set("subaddress", "confirm") }},
	"bounces": {"bounces", func(md switchboard.Msgdata) { md.Set("subaddress", "bounces") }},
}

// Queues lists the queues the LMTP runner fills: those of its routes.
var Queues = func() []string {
	var qs []string
	for _, r := range routes {
		if !slices.Contains(qs, r.queue) {
			qs = append(qs, r.queue)
		}
	}
	slices.Sort(qs)
	return qs
}()

// Mailman's reply texts.
var (
	errMailboxUnavailable = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Requested action not taken: mailbox unavailable"}
	errDefectsReply       = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message has defects"}
	errTemporary          = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Requested action aborted: error in processing"}
)

// Queuer durably queues entries by queue name; a *switchboard.Journal is
// one, and the runner's.
type Queuer interface {
	Enqueue(queue string, msg []byte, md switchboard.Msgdata) (string, error)
}

// Server is the LMTP runner's server.
type Server struct {
	store    *store.Store
	queues   Queuer
	hostname string
	log      *slog.Logger
	smtp     *smtp.Server
	maxConns int

	knownMu sync.Mutex
	known   map[string]time.Time // list address → until when it is known to exist
}

// New makes a server that looks lists up in st and queues through queues
// (which must serve every name in Queues).
func New(cfg *config.Config, st *store.Store, queues Queuer, log *slog.Logger) *Server {
	hostname, err := os.Hostname()
	if err != nil || hostname == "" {
		hostname = "localhost"
	}
	s := &Server{store: st, queues: queues, hostname: hostname, log: log, maxConns: cfg.MTA.LMTPMaxConnections, known: map[string]time.Time{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.LMTP = true
	srv.Domain = hostname
	srv.MaxMessageBytes = int64(cfg.MTA.MaxMessageSize)
	srv.MaxRecipients = cfg.MTA.LMTPMaxRecipients
	// A local MTA passes on whatever it received; long lines are accepted
	// up to a bound that keeps a hostile client's line from eating memory.
	srv.MaxLineLength = 1 << 20
	srv.ReadTimeout = cfg.MTA.LMTPTimeout.D()
	srv.WriteTimeout = cfg.MTA.LMTPTimeout.D()
	srv.ErrorLog = errorLog{log}
	s.smtp = srv
	return s
}

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
		go func() { errc <- s.smtp.Serve(&limitListener{Listener: l, sem: sem}) }()
	}
	err := <-errc
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for those open to end,
// until ctx is done; then it closes them. An entry is queued before its 250
// is sent, so a connection cut now loses nothing: the MTA retries what it
// was not told.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.smtp.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return s.smtp.Close()
	}
	return err
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

// recipient is one accepted RCPT, as the client wrote it (go-smtp matches
// replies by that string) and what it resolved to.
type recipient struct {
	addr string
	t    target
}

type session struct {
	s     *Server
	from  string
	rcpts []recipient
}

func (ss *session) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	t, err := resolve(context.Background(), to, ss.s.exists)
	if errors.Is(err, errNoSuchList) {
		return errMailboxUnavailable
	}
	if err != nil {
		ss.s.log.Error("cannot check a recipient; answering 451", "rcpt", to, "error", err)
		return errTemporary
	}
	ss.rcpts = append(ss.rcpts, recipient{addr: to, t: t})
	return nil
}

func (ss *session) Data(io.Reader) error {
	return errors.New("lmtp: Data called on an LMTP session")
}

// LMTPData reads the message, then queues it once per distinct target in
// RCPT order, giving each recipient its reply as soon as its entry is durable.
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	data, err := io.ReadAll(r)
	if errors.Is(err, smtp.ErrDataTooLarge) {
		return err
	}
	if err != nil {
		ss.s.log.Warn("message data not received whole", "from", ss.from, "error", err)
		return errTemporary
	}
	p, err := prepare(data, ss.from, ss.s.hostname)
	if err != nil {
		ss.s.log.Warn("refused a message with header defects", "from", ss.from)
		return errDefectsReply
	}
	received := time.Now().UTC().Format(time.RFC3339Nano)
	done := map[target]error{}
	for _, rc := range ss.rcpts {
		res, seen := done[rc.t]
		if !seen {
			res = ss.s.enqueue(p, rc.t, len(data), received)
			done[rc.t] = res
		}
		status.SetStatus(rc.addr, res)
	}
	return nil
}

// enqueue queues one copy and returns the recipient's reply (nil is 250).
func (s *Server) enqueue(p prepared, t target, size int, received string) error {
	rt := routes[t.sub]
	md := switchboard.Msgdata{}
	md.Set("listid", t.list.ListID())
	md.Set("original_size", size)
	md.Set("received_time", received)
	rt.set(md)
	name, err := s.queues.Enqueue(rt.queue, p.message, md)
	if err != nil {
		s.log.Error("cannot queue; answering 451", "message_id", p.messageID, "list", t.list.String(), "queue", rt.queue, "error", err)
		return errTemporary
	}
	s.log.Info("accepted", "message_id", p.messageID, "list", t.list.String(), "subaddress", t.sub, "queue", rt.queue, "entry", name)
	return nil
}

// limitListener answers 421 to connections beyond the cap instead of
// letting them wait unanswered.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, "421 4.3.2 Too many connections, try again later\r\n")
			c.Close()
		}
	}
}

// limitConn holds a connection's slot under the cap, and gathers the
// replies go-smtp writes one by one into one write each time the session
// is about to wait for the client: a pipelined MAIL, RCPT... DATA group
// gets its replies in one packet, as RFC 2920 suggests, and the client
// wakes once instead of once per reply.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()

	mu      sync.Mutex
	pending []byte
}

func (c *limitConn) Close() error {
	c.once.Do(c.release)
	c.flush()
	return c.Conn.Close()
}

func (c *limitConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *limitConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.pending)
	c.pending = c.pending[:0]
	return err
}

// outOfSequence are go-smtp's replies to a command sent out of order, which
// it numbers 502 ("not implemented") where RFC 5321 says 503, and RFC 2033
// insists on 503 for DATA with no accepted recipient. go-smtp writes each
// reply in one Write, so they are corrected here, digit for digit.
var outOfSequence = [][]byte{
	[]byte("502 5.5.1 Please introduce yourself first."),
	[]byte("502 5.5.1 Missing MAIL FROM command."),
	[]byte("502 5.5.1 Missing RCPT TO command."),
}

func (c *limitConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := len(c.pending)
	c.pending = append(c.pending, p...)
	for _, r := range outOfSequence {
		if i := bytes.Index(c.pending[start:], r); i >= 0 && (i == 0 || c.pending[start+i-1] == '\n') {
			c.pending[start+i+2] = '3'
		}
	}
	return len(p), nil
}

// errorLog sends go-smtp's own error lines to the runner's log.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.log.Warn("lmtp server", "error", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (e errorLog) Println(v ...any) {
	e.log.Warn("lmtp server", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}
