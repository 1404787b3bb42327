package lmtp

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

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
			lc := &limitConn{Conn: c, s: l.s, opened: l.s.now(), size: fmt.Sprint("SIZE ", l.s.maxSize), buf: make([]byte, 8<<10)}
			lc.release = func() { <-l.sem; l.s.untrack(lc) }
			l.s.track(lc)
			return lc, nil
		default:
			l.s.log.Warn("refused a connection", "remote", c.RemoteAddr().String(), "reason", "over lmtp_max_connections")
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

	s      *Server
	opened time.Time    // by s.now
	junk   atomic.Int64 // commands since the last recipient accepted or message received

	mu        sync.Mutex
	pending   []byte
	dataStart bool   // a 354 was written: what the client sends next is data
	reply     string // limitConn's reply, to write in place of go-smtp's next one

	// Read's own state: go-smtp reads from one goroutine at a time (the
	// session's, or the one it runs LMTPData in, never both).
	buf      []byte // room for more than a command line
	in       []byte // read from the client, not yet given to go-smtp (in buf)
	obuf     []byte
	out      []byte // for go-smtp, not yet given to it: a command line (in buf), standIn, or data re-encoded (in obuf)
	inData   bool
	overlong bool // the command line being read is over the limit
	dec      decodeState
	enc      encodeState
	padded   atomic.Bool // the data being read was given to go-smtp with padding appended

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
		c.progressed()
		c.dataStart, c.inData = false, true
		c.dec, c.enc = decBegin, encBegin
		c.padded.Store(false)
	}
	c.mu.Unlock()
	// Data bytes may decode to nothing (a leading dot); read on rather
	// than return 0 bytes, which bufio takes for a broken reader.
	for len(c.out) == 0 {
		if !c.inData {
			if err := c.readCommand(); err != nil {
				return 0, err
			}
			continue
		}
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

// RFC 5321 §4.5.3.1.4 limits a command line to 512 octets, its CRLF
// included, and RFC 1870 lengthens MAIL's by 26 for the SIZE parameter
// the LHLO reply offers. go-smtp has one limit for command and message
// lines alike (maxDataLine), and closes the connection after the 500 it
// gives a line over it; readCommand keeps the session.
const (
	maxCommandLine = 512
	maxMailLine    = maxCommandLine + 26
)

// standIn is the command readCommand hands go-smtp in place of a line it
// answers itself: go-smtp answers it with one reply line and nothing else,
// which Write replaces with limitConn's, so that the reply comes in its
// turn and is flushed before the next read like any other.
var standIn = []byte("NOOP\r\n")

// closingStandIn is standIn for a reply that ends the session: go-smtp
// answers QUIT with one line, which Write replaces, and closes.
var closingStandIn = []byte("QUIT\r\n")

// readCommand puts in c.out the next whole command line for go-smtp, or
// standIn for a line go-smtp would answer wrongly, with the reply to give
// it in c.reply. It never hands go-smtp part of a line: go-smtp's line
// reader (bufio's ReadLine) returns what it holds when the next read fails
// as if it were a whole line, so a line cut by a timeout or a closed
// connection would be run as a command.
func (c *limitConn) readCommand() error {
	for {
		i := bytes.IndexByte(c.in, '\n')
		if i < 0 {
			if c.overlong || len(c.in) > maxMailLine {
				// Too long whatever its verb: only its end is still
				// wanted, so the line takes no memory however long.
				c.overlong, c.in = true, c.in[:0]
			}
			if err := c.more(); err != nil {
				return err
			}
			continue
		}
		line := c.in[:i+1]
		c.in = c.in[i+1:]
		if reason := c.overLimit(line); reason != "" {
			c.s.log.Warn("closed a session", "remote", c.RemoteAddr().String(), "reason", reason)
			c.mu.Lock()
			c.reply = replyOverLimit
			c.mu.Unlock()
			c.out = closingStandIn
			return nil
		}
		reply := answer(line)
		if c.overlong || len(line) > lineLimit(line) {
			c.overlong, reply = false, replyTooLong
		}
		if reply == "" {
			c.out = line
			return nil
		}
		c.mu.Lock()
		c.reply = reply
		c.mu.Unlock()
		c.out = standIn
		return nil
	}
}

// A session is bounded in time and in the commands it gives without
// getting anywhere, so that a client sending a NOOP every few seconds, just
// inside lmtp_timeout, cannot hold one of the lmtp_max_connections slots
// for ever and lock the MTA out. Neither bound cuts a message short: the
// time is checked at each command, and the message's data is no command.
// Postfix's LMTP client keeps a connection for reuse for 300 s
// (lmtp_connection_reuse_time_limit), giving per message RSET, MAIL, RCPT
// and DATA, so the defaults (10 minutes, 100 commands) never end one of
// its sessions.
const (
	reasonSessionTime = "over lmtp_max_session_time"
	reasonJunk        = "over lmtp_max_junk_commands"
)

// overLimit says why the session must end before the command line is run,
// or "" to run it. QUIT is always run: it ends the session anyway. Every
// other command counts towards lmtp_max_junk_commands but for progress:
// an accepted recipient or a message received (progressed) starts the
// count again.
func (c *limitConn) overLimit(line []byte) string {
	if bytes.EqualFold(bytes.TrimRight(line, " \t\r\n"), []byte("QUIT")) {
		return ""
	}
	if c.s.now().Sub(c.opened) >= c.s.maxSession {
		return reasonSessionTime
	}
	if c.junk.Add(1) > int64(c.s.maxJunk) {
		return reasonJunk
	}
	return ""
}

// progressed starts the count of junk commands again: the session has got
// somewhere.
func (c *limitConn) progressed() { c.junk.Store(0) }

// lineLimit is how long the command line may be, by its verb.
func lineLimit(line []byte) int {
	if len(line) > 4 && bytes.EqualFold(line[:4], []byte("MAIL")) {
		return maxMailLine
	}
	return maxCommandLine
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

func (c *limitConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	switch {
	case c.reply != "":
		// go-smtp's reply to standIn.
		p, c.reply = []byte(c.reply), ""
	case bytes.HasPrefix(p, []byte("354 ")):
		c.dataStart = true
	default:
		p = c.correct(p)
	}
	if p != nil {
		start := len(c.pending)
		c.pending = append(c.pending, p...)
		sanitize(c.pending[start:])
	}
	return n, nil
}
