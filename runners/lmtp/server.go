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
	"sync/atomic"
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
	maxSize  int

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
	s := &Server{store: st, queues: queues, hostname: hostname, log: log, maxConns: cfg.MTA.LMTPMaxConnections, maxSize: cfg.MTA.MaxMessageSize, known: map[string]time.Time{}, conns: map[*limitConn]struct{}{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c.Conn().(*limitConn)}, nil
	}))
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

// recipient is one accepted RCPT, as the client wrote it (go-smtp matches
// replies by that string) and what it resolved to.
type recipient struct {
	addr string
	t    target
}

type session struct {
	s     *Server
	conn  *limitConn
	from  string
	rcpts []recipient
}

func (ss *session) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *session) Logout() error { return nil }

// errLineTooLong is a message with a line longer than go-smtp reads (1 MiB,
// a thousand times what RFC 5322 allows); go-smtp then closes the connection.
var errLineTooLong = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Line too long"}

// errTooBig is a message over max_message_size, announced or sent.
var errTooBig = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big for system"}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if opts != nil && opts.Size > int64(ss.s.maxSize) {
		return errTooBig
	}
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
	// Read at most the limit, the line end limitConn may have added and one
	// byte to tell an oversized message; go-smtp discards the rest.
	data, err := io.ReadAll(io.LimitReader(r, int64(ss.s.maxSize)+int64(len(padding))+1))
	if errors.Is(err, smtp.ErrTooLongLine) {
		// The same message would fail the same way every time: a 451
		// would have the MTA retry it for days.
		ss.s.log.Warn("refused a message with a line over the limit", "from", ss.from)
		return errLineTooLong
	}
	if err != nil {
		ss.s.log.Warn("message data not received whole", "from", ss.from, "error", err)
		return errTemporary
	}
	if ss.conn.padded.Swap(false) {
		data = data[:len(data)-len(padding)]
	}
	if len(data) > ss.s.maxSize {
		return errTooBig
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
	s   *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			lc := &limitConn{Conn: c, size: fmt.Sprint("SIZE ", l.s.maxSize), buf: make([]byte, 8<<10)}
			lc.release = func() { <-l.sem; l.s.untrack(lc) }
			l.s.track(lc)
			return lc, nil
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
//
// It also reads the message data in go-smtp's place (see readData), so it
// hands go-smtp commands one line per Read: go-smtp's buffer then never
// holds bytes sent after a DATA command before limitConn knows, from the
// 354 it writes, that they are data.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
	size    string // the LHLO keyword with the real limit

	mu        sync.Mutex
	pending   []byte
	dataStart bool // a 354 was written: what the client sends next is data

	// Read's own state: go-smtp reads from one goroutine at a time (the
	// session's, or the one it runs LMTPData in, never both).
	buf    []byte // twice a Read's room
	in     []byte // read from the client, not yet given to go-smtp (in buf)
	obuf   []byte
	out    []byte // data re-encoded for go-smtp, not yet given to it (in obuf)
	inData bool
	dec    decodeState
	enc    encodeState
	padded atomic.Bool // the data being read was given to go-smtp with padding appended

	stopped atomic.Bool // Shutdown ended the session: every read fails
}

// stopReading makes the connection's reads fail from now on, whatever
// deadline go-smtp sets before each one.
func (c *limitConn) stopReading() {
	c.stopped.Store(true)
	c.Conn.SetReadDeadline(time.Unix(1, 0))
}

func (c *limitConn) SetReadDeadline(t time.Time) error {
	if c.stopped.Load() {
		t = time.Unix(1, 0)
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *limitConn) SetDeadline(t time.Time) error {
	if c.stopped.Load() {
		if err := c.Conn.SetWriteDeadline(t); err != nil {
			return err
		}
		return c.Conn.SetReadDeadline(time.Unix(1, 0))
	}
	return c.Conn.SetDeadline(t)
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
	c.mu.Lock()
	if c.dataStart {
		c.dataStart, c.inData = false, true
		c.dec, c.enc = decBegin, encBegin
		c.padded.Store(false)
	}
	c.mu.Unlock()
	if !c.inData && len(c.out) == 0 {
		return c.readCommand(p)
	}
	// Data bytes may decode to nothing (a leading dot); read on rather
	// than return 0 bytes, which bufio takes for a broken reader.
	for len(c.out) == 0 {
		if len(c.in) == 0 {
			if err := c.more(); err != nil {
				return 0, err
			}
		}
		c.obuf = c.readData(c.obuf[:0])
		c.out = c.obuf
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// readCommand hands go-smtp one command line, or a buffer full of a longer
// one, never a part of a line that fits: go-smtp's line reader (bufio's
// ReadLine) returns what it holds when the next read fails as if it were a
// whole line, so a line cut by the 1 MiB limit, a timeout or a closed
// connection would be run as a command.
func (c *limitConn) readCommand(p []byte) (int, error) {
	// Leave more room in buf than a Read may take.
	p = p[:min(len(p), len(c.buf)/2)]
	for {
		if i := bytes.IndexByte(c.in, '\n'); i >= 0 && i < len(p) {
			line := c.in[:i+1]
			c.in = c.in[i+1:]
			if isBDAT(line) {
				line = []byte(noBDAT)
			}
			return copy(p, line), nil
		}
		if len(c.in) >= len(p) {
			n := copy(p, c.in)
			c.in = c.in[n:]
			return n, nil
		}
		if err := c.more(); err != nil {
			return 0, err
		}
	}
}

// CHUNKING is not offered (Write drops it from the LHLO reply), and BDAT is
// refused: go-smtp's BDAT answers a failure once instead of once per
// recipient, and its goroutine for the message panics when the client goes
// away first. go-smtp gets a BDAT without a size instead, which it refuses
// without reading a chunk; the bytes that follow are commands, as for any
// server without CHUNKING (RFC 3030 §2).
const noBDAT = "BDAT\r\n"

// isBDAT reports whether a whole command line is a BDAT command.
func isBDAT(line []byte) bool {
	return len(line) > 4 && bytes.EqualFold(line[:4], []byte("BDAT")) && bytes.IndexByte([]byte(" \r\n"), line[4]) >= 0
}

// more reads what the client sent next onto c.in. An error that came with
// bytes comes back on the next read.
func (c *limitConn) more() error {
	n := copy(c.buf, c.in)
	m, err := c.Conn.Read(c.buf[n:])
	c.in = c.buf[:n+m]
	if m == 0 {
		return err
	}
	return nil
}

// go-smtp's DATA reader (v0.25) loses track of line starts after a bare CR:
// "\r\r\n.\r\n" is not the end of the data for it, so the session hangs
// until the timeout and the MTA retries for days, a line "..x" after such a
// line keeps its stuffed dot, and ".\rx" loses its CR. limitConn therefore
// decodes the data itself, as RFC 5321 §4.5.2 says (lines end in CRLF; a
// line "." ends the data; a line's leading dot is removed), and hands
// go-smtp an encoding of the same bytes that its reader decodes back to
// them exactly. Bare CR and bare LF are data, kept byte for byte.
type decodeState uint8

const (
	decBegin decodeState = iota // at the start of a line
	decDot                      // after a leading dot
	decDotCR                    // after a leading dot and CR
	decCR                       // after a CR
	decData                     // in a line
)

// encodeState is go-smtp's reader's state, as its transitions go.
type encodeState uint8

const (
	encBegin encodeState = iota // at what it takes for a line start
	encCR                       // after a CR
	encData                     // in a line
)

// padding is what limitConn appends to the data when go-smtp's reader is
// not at a line start at the end of the data, so that the ".\r\n" that
// follows ends it; LMTPData removes it.
const padding = "\r\n"

// readData decodes the client's bytes in c.in up to the end of the data,
// appending go-smtp's encoding of them to out.
func (c *limitConn) readData(out []byte) []byte {
	for i, b := range c.in {
		switch c.dec {
		case decBegin:
			switch b {
			case '.':
				c.dec = decDot
				continue
			case '\r':
				c.dec = decCR
			default:
				c.dec = decData
			}
		case decDot:
			if b == '\r' {
				c.dec = decDotCR
				continue
			}
			c.dec = decData
		case decDotCR:
			if b == '\n' {
				c.in = c.in[i+1:]
				c.inData = false
				if c.enc != encBegin {
					// go-smtp's reader is in a line (after a
					// "\r\r\n"): the CRLF that ended the last line
					// cannot have left it just after a CR.
					out = append(out, padding...)
					c.padded.Store(true)
				}
				return append(out, ".\r\n"...)
			}
			// The line was ".\r" and more: its dot goes, its CR stays.
			out = c.encode(out, '\r')
			if b == '\r' {
				c.dec = decCR
			} else {
				c.dec = decData
			}
		case decCR:
			switch b {
			case '\n':
				c.dec = decBegin
			case '\r': // still just after a CR
			default:
				c.dec = decData
			}
		case decData:
			if b == '\r' {
				c.dec = decCR
			}
		}
		out = c.encode(out, b)
	}
	c.in = c.in[:0]
	return out
}

// encode appends b as go-smtp's reader must receive it to yield b.
func (c *limitConn) encode(out []byte, b byte) []byte {
	switch c.enc {
	case encBegin:
		if b == '.' {
			// Stuffed, as a line start is for go-smtp.
			out = append(out, '.')
		}
		if b == '\r' {
			c.enc = encCR
		} else {
			c.enc = encData
		}
	case encCR:
		// go-smtp takes the CR of "\r\r" for data, not for a line end's.
		if b == '\n' {
			c.enc = encBegin
		} else {
			c.enc = encData
		}
	case encData:
		if b == '\r' {
			c.enc = encCR
		}
	}
	return append(out, b)
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

// corrected are go-smtp replies that RFC 5321 and RFC 3463 word otherwise,
// by the start of the reply line as go-smtp writes it (one line per Write).
var corrected = []struct{ from, to string }{
	// A command out of order is 503, not 502 ("not implemented"); RFC
	// 2033 insists on 503 for DATA with no accepted recipient.
	{"502 5.5.1 Please introduce yourself first.", "503 5.5.1 Please introduce yourself first."},
	{"502 5.5.1 Missing MAIL FROM command.", "503 5.5.1 Missing MAIL FROM command."},
	{"502 5.5.1 Missing RCPT TO command.", "503 5.5.1 Missing RCPT TO command."},
	// An unknown command is X.5.1 (invalid command), not X.5.2 (syntax).
	{"500 5.5.2 Syntax errors, ", "500 5.5.1 Syntax errors, "},
	// A line that is no command at all is a syntax error, 500.
	{"501 5.5.2 Bad command", "500 5.5.2 Bad command"},
	// go-smtp closes the connection after too many errors with a 500,
	// which tells the MTA to bounce the mail it has not sent yet; it is a
	// 421, as for every closing by the server.
	{"500 5.5.1 Too many errors. Quiting now", "421 4.7.0 Too many errors, closing connection"},
	// A line too long is a syntax error, not a network one (X.4.0).
	{"500 5.4.0 Too long line", "500 5.5.2 Too long line"},
	// BDAT, as readCommand hands it to go-smtp.
	{"501 5.5.4 Missing chunk size argument", "502 5.5.1 BDAT not offered, use DATA"},
	// An unknown MAIL or RCPT parameter is 555 (RFC 5321 §4.1.1.11).
	{"500 5.5.4 Unknown ", "555 5.5.4 Unknown "},
	// RFC 3463's codes for a bad sender and a bad recipient address, and
	// for accepting them.
	{"501 5.5.2 Was expecting MAIL arg syntax", "501 5.1.7 Was expecting MAIL arg syntax"},
	{"501 5.5.2 Was expecting RCPT arg syntax", "501 5.1.3 Was expecting RCPT arg syntax"},
	{"250 2.0.0 Roger, accepting mail from ", "250 2.1.0 Roger, accepting mail from "},
	{"250 2.0.0 I'll make sure <", "250 2.1.5 I'll make sure <"},
}

func (c *limitConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	if bytes.HasPrefix(p, []byte("354 ")) {
		c.dataStart = true
	}
	// go-smtp's own size limit is off (see New), so it advertises SIZE
	// without a number; the LHLO reply gets the real one, and no CHUNKING
	// (see noBDAT).
	if s := bytes.TrimRight(p, "\r\n"); len(s) > 4 && bytes.HasPrefix(s, []byte("250")) && (s[3] == '-' || s[3] == ' ') {
		switch string(s[4:]) {
		case "SIZE":
			p = append(s[:4:4], c.size+"\r\n"...)
		case "CHUNKING":
			if s[3] == '-' { // never the last line: SIZE follows
				return n, nil
			}
		}
	}
	for _, r := range corrected {
		if bytes.HasPrefix(p, []byte(r.from)) {
			p = append([]byte(r.to), p[len(r.from):]...)
			break
		}
	}
	start := len(c.pending)
	c.pending = append(c.pending, p...)
	sanitize(c.pending[start:])
	return n, nil
}

// sanitize makes a reply line 7-bit text. go-smtp puts what the client
// sent into some replies (the unknown verb, the addresses): a CR in them
// would end the reply line early for the client, a byte over 127 is not
// text without SMTPUTF8.
func sanitize(line []byte) {
	text := bytes.TrimSuffix(line, []byte("\r\n"))
	for i, b := range text {
		if (b < ' ' && b != '\t') || b > '~' {
			text[i] = '?'
		}
	}
}

// errorLog sends go-smtp's own error lines to the runner's log.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.log.Warn("lmtp server", "error", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (e errorLog) Println(v ...any) {
	e.log.Warn("lmtp server", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}
