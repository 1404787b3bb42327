package lmtp

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/mta"
)

// Mailman's reply texts.
var (
	errMailboxUnavailable = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Requested action not taken: mailbox unavailable"}
	errDefectsReply       = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message has defects"}
	errTemporary          = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Requested action aborted: error in processing"}
)

// recipient is one accepted RCPT, as the client wrote it (go-smtp matches
// replies by that string) and what it resolved to.
type recipient struct {
	addr string
	t    target
}

type session struct {
	s     *Server
	conn  *limitConn
	mail  bool // a MAIL was accepted: a transaction is open
	from  string
	size  int64 // the size MAIL announced; 0 for none
	rcpts []recipient
}

func (ss *session) Reset()        { ss.mail, ss.from, ss.size, ss.rcpts = false, "", 0, nil }
func (ss *session) Logout() error { return nil }

// errLineTooLong is a message with a line longer than maxDataLine, which
// go-smtp does not read; it then closes the connection.
var errLineTooLong = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Line too long"}

// errTooBig is a message over max_message_size, announced or sent.
var errTooBig = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big for system"}

// errBounceTooBig is a message over [bounces] max_size for a -bounces
// recipient, announced or sent: nothing reads bounces yet, so a flood of
// large ones would only fill the disk, and a real bounce is small.
var errBounceTooBig = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big for a bounce"}

// errNestedMail is a MAIL inside a transaction. go-smtp takes it and keeps
// the recipients given so far, so that they would get the message of
// another sender; RFC 5321 §4.1.4 lets a client send MAIL only when no
// transaction is open, and 503 is the reply to a command out of sequence.
var errNestedMail = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Nested MAIL command"}

// errBadSender is a reverse path that is no mailbox (see badSender).
var errBadSender = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	switch {
	case ss.mail:
		return errNestedMail
	case badSender(from):
		return errBadSender
	case opts != nil && opts.Size > int64(ss.s.maxSize):
		return errTooBig
	}
	ss.mail, ss.from = true, from
	if opts != nil {
		ss.size = opts.Size
	}
	return nil
}

// badSender reports whether a reverse path, as go-smtp hands it over, is no
// mailbox: a control character, a second "@", a domain that is not one.
// go-smtp's parser takes anything up to a space or ">" for the domain, and
// drops the quotes of a quoted local part, so "a@b"@c cannot be told from
// a@b@c; both are refused, and neither would be an address in X-MailFrom.
//
// The domain is checked as RFC 5322's addr-spec has it (a dot-atom or a
// domain literal), which is what Mailman's parser accepts, not with RFC
// 5321's stricter host name syntax: a sender the MTA in front accepted,
// with an underscore or 8-bit bytes in its domain, must not bounce here.
func badSender(from string) bool {
	if from == "" {
		return false // the null reverse path
	}
	if strings.ContainsFunc(from, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return true
	}
	at := strings.LastIndexByte(from, '@')
	if at <= 0 || strings.Contains(from[:at], "@") {
		return true
	}
	domain := from[at+1:]
	if literal, ok := strings.CutPrefix(domain, "["); ok {
		inside, closed := strings.CutSuffix(literal, "]")
		return !closed || inside == "" || strings.ContainsAny(inside, "[]\\")
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" || strings.ContainsAny(label, "()<>[]:;@\\,\" ") {
			return true
		}
	}
	return false
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	t, err := resolve(context.Background(), to, ss.s.exists)
	if errors.Is(err, errNoSuchList) {
		return errMailboxUnavailable
	}
	if err != nil {
		ss.s.log.Error("cannot check a recipient; answering 451", "rcpt", to, "error", err)
		// The failure is this server's, not a client stalling: an MTA
		// sending its queue through a database outage is not cut off
		// by lmtp_max_junk_commands for the 451s it gets.
		ss.conn.progressed()
		return errTemporary
	}
	if ss.s.bounceTooBig(t, ss.size, to, ss.from) {
		return errBounceTooBig
	}
	ss.rcpts = append(ss.rcpts, recipient{addr: to, t: t})
	ss.conn.progressed()
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
		ss.s.log.Warn("refused a message with a line over the limit", "sender", ss.from)
		return errLineTooLong
	}
	if err != nil {
		ss.s.log.Warn("message data not received whole", "sender", ss.from, "error", err)
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
		ss.s.log.Warn("refused a message with defects", "sender", ss.from, "error", err)
		return errDefectsReply
	}
	received := time.Now()
	done := map[target]error{}
	for _, rc := range ss.rcpts {
		if ss.s.bounceTooBig(rc.t, int64(len(data)), rc.addr, ss.from) {
			status.SetStatus(rc.addr, errBounceTooBig)
			continue
		}
		res, seen := done[rc.t]
		if !seen {
			res = ss.s.enqueue(p, rc.t, len(data), received)
			done[rc.t] = res
		}
		status.SetStatus(rc.addr, res)
	}
	return nil
}

// bounceTooBig reports, and logs, whether a message of size is refused to
// the recipient rcpt, which resolved to t: a -bounces address, and size
// over [bounces] max_size.
func (s *Server) bounceTooBig(t target, size int64, rcpt, sender string) bool {
	if t.sub != mta.Bounces || size <= int64(s.maxBounce) {
		return false
	}
	s.log.Warn("refused a bounce over [bounces] max_size", "list", t.list.ListID(), "rcpt", rcpt, "sender", sender, "size", size)
	return true
}

// enqueue queues one copy and returns the recipient's reply (nil is 250).
func (s *Server) enqueue(p prepared, t target, size int, received time.Time) error {
	md := Received(t.list.ListID(), size, received)
	queue := Route(t.sub, md)
	name, err := s.queues.Enqueue(queue, p.message, md)
	if err != nil {
		s.log.Error("cannot queue; answering 451", "message_id", p.messageID, "list", t.list.ListID(), "queue", queue, "error", err)
		return errTemporary
	}
	s.log.Info("accepted", "message_id", p.messageID, "list", t.list.ListID(), "subaddress", t.sub, "queue", queue, "new_entry", name)
	return nil
}
