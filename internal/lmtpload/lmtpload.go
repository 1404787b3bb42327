// Package lmtpload is an LMTP client for load: it sends transactions the
// way Postfix's LMTP client does. When the server offers PIPELINING it
// sends MAIL, every RCPT and DATA in one write, then the message, so a
// benchmark measures the server rather than round trips a real MTA does
// not make; when it does not (Mailman 3's aiosmtpd server), it waits for
// each reply, as Postfix must. It knows nothing of the server behind the
// port; the benchmarks drive this project and Mailman 3 with it alike.
package lmtpload

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Reply is one LMTP reply: its code and its text (all lines joined).
type Reply struct {
	Code int
	Text string
}

// OK reports whether the reply is a 2xx.
func (r Reply) OK() bool { return r.Code >= 200 && r.Code < 300 }

func (r Reply) String() string { return fmt.Sprintf("%d %s", r.Code, r.Text) }

// Client is one LMTP connection. It is not safe for concurrent use.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	// LockStep makes Send wait for each reply before the next command.
	// Dial sets it when the server does not offer PIPELINING.
	LockStep bool
}

// Dial connects, reads the greeting and says LHLO.
func Dial(addr string, timeout time.Duration) (*Client, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}
	if err := c.hello(); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) hello() error {
	g, err := c.reply()
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if g.Code != 220 {
		return fmt.Errorf("greeting: %v", g)
	}
	c.w.WriteString("LHLO loadgen.example\r\n")
	if err := c.w.Flush(); err != nil {
		return err
	}
	h, err := c.reply()
	if err != nil {
		return fmt.Errorf("LHLO: %w", err)
	}
	if h.Code != 250 {
		return fmt.Errorf("LHLO: %v", h)
	}
	c.LockStep = true
	for _, line := range strings.Split(h.Text, "\n") {
		if strings.EqualFold(strings.TrimSpace(line), "PIPELINING") {
			c.LockStep = false
		}
	}
	return nil
}

// Close says QUIT and closes the connection.
func (c *Client) Close() error {
	c.w.WriteString("QUIT\r\n")
	c.w.Flush()
	return c.conn.Close()
}

// Send runs one transaction: from, rcpts and msg (with CRLF line ends and
// no end-of-data line). It returns the reply to each recipient in order:
// the RCPT reply when that refused it, else its reply after the data. An
// error means the connection is no longer usable.
func (c *Client) Send(from string, rcpts []string, msg []byte) ([]Reply, error) {
	c.conn.SetDeadline(time.Now().Add(time.Minute))
	if c.LockStep {
		return c.sendLockStep(from, rcpts, msg)
	}
	fmt.Fprintf(c.w, "MAIL FROM:<%s>\r\n", from)
	for _, r := range rcpts {
		fmt.Fprintf(c.w, "RCPT TO:<%s>\r\n", r)
	}
	c.w.WriteString("DATA\r\n")
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	mail, err := c.reply()
	if err != nil {
		return nil, fmt.Errorf("MAIL: %w", err)
	}
	replies := make([]Reply, len(rcpts))
	for i := range rcpts {
		if replies[i], err = c.reply(); err != nil {
			return nil, fmt.Errorf("RCPT: %w", err)
		}
		if !mail.OK() {
			replies[i] = mail
		}
	}
	data, err := c.reply()
	if err != nil {
		return nil, fmt.Errorf("DATA: %w", err)
	}
	return c.finish(replies, data, msg)
}

// sendLockStep is Send for a server without PIPELINING: each command waits
// for its reply, and DATA is not sent when no recipient was accepted.
func (c *Client) sendLockStep(from string, rcpts []string, msg []byte) ([]Reply, error) {
	mail, err := c.command("MAIL FROM:<" + from + ">")
	if err != nil {
		return nil, fmt.Errorf("MAIL: %w", err)
	}
	replies := make([]Reply, len(rcpts))
	if !mail.OK() {
		for i := range replies {
			replies[i] = mail
		}
		return replies, nil
	}
	accepted := 0
	for i, r := range rcpts {
		if replies[i], err = c.command("RCPT TO:<" + r + ">"); err != nil {
			return nil, fmt.Errorf("RCPT: %w", err)
		}
		if replies[i].OK() {
			accepted++
		}
	}
	if accepted == 0 {
		if _, err := c.command("RSET"); err != nil {
			return nil, fmt.Errorf("RSET: %w", err)
		}
		return replies, nil
	}
	data, err := c.command("DATA")
	if err != nil {
		return nil, fmt.Errorf("DATA: %w", err)
	}
	return c.finish(replies, data, msg)
}

// command sends one command line and reads its reply.
func (c *Client) command(line string) (Reply, error) {
	c.w.WriteString(line + "\r\n")
	if err := c.w.Flush(); err != nil {
		return Reply{}, err
	}
	return c.reply()
}

// finish sends the message after the reply to DATA and reads a reply for
// each accepted recipient. A transaction whose DATA was refused is still
// open, and RFC 5321 §4.1.4 has the client end it before the next MAIL,
// as Postfix does with RSET: a server answers a MAIL inside a transaction
// 503.
func (c *Client) finish(replies []Reply, data Reply, msg []byte) ([]Reply, error) {
	if data.Code != 354 {
		for i := range replies {
			if replies[i].OK() {
				replies[i] = data
			}
		}
		if _, err := c.command("RSET"); err != nil {
			return nil, fmt.Errorf("RSET: %w", err)
		}
		return replies, nil
	}
	writeDotStuffed(c.w, msg)
	c.w.WriteString(".\r\n")
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	for i := range replies {
		if !replies[i].OK() {
			continue
		}
		var err error
		if replies[i], err = c.reply(); err != nil {
			return nil, fmt.Errorf("after data: %w", err)
		}
	}
	return replies, nil
}

// writeDotStuffed writes msg with RFC 5321 dot-stuffing, ending it with a
// line end if it lacks one.
func writeDotStuffed(w *bufio.Writer, msg []byte) {
	if len(msg) > 0 && msg[len(msg)-1] != '\n' {
		msg = append(bytes.Clone(msg), '\r', '\n')
	}
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line = msg[:i+1]
		}
		if line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
		msg = msg[len(line):]
	}
}

// reply reads one possibly multi-line reply.
func (c *Client) reply() (Reply, error) {
	var r Reply
	var text []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return r, err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return r, fmt.Errorf("malformed reply %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			return r, fmt.Errorf("malformed reply %q", line)
		}
		r.Code = code
		more := len(line) > 3 && line[3] == '-'
		if len(line) > 4 {
			text = append(text, line[4:])
		}
		if !more {
			r.Text = strings.Join(text, "\n")
			return r, nil
		}
	}
}
