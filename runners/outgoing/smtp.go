package outgoing

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/mta"
)

// connErrorCode is the code Mailman gives a recipient when the conversation
// itself failed (no connection, a broken one, an I/O error): temporary.
const connErrorCode = 444

// defaultTimeout is RFC 5321's timeout for a command's answer.
const defaultTimeout = 5 * time.Minute

// timeout bounds the connection and each command.
func (h *Handler) timeout() time.Duration {
	if h.Settings.Timeout > 0 {
		return h.Settings.Timeout
	}
	return defaultTimeout
}

// refusal is the mail server's answer for a recipient it did not take.
type refusal struct {
	rcpt string
	code int
	text string
}

// permanent is Mailman's rule: a 5xx reply other than 552 (which RFC 5321
// §4.5.3.1.10 says clients should treat as temporary) is for good.
func (r refusal) permanent() bool { return r.code >= 500 && r.code != 552 }

func (r refusal) reason() string { return strconv.Itoa(r.code) + " " + r.text }

// enhancedCode is RFC 3463's class.subject.detail.
var enhancedCode = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}$`)

// status is the refusal's enhanced status code, or the class its reply
// code says when the server gave none.
func (r refusal) status() string {
	if f := strings.Fields(r.text); len(f) > 0 && enhancedCode.MatchString(f[0]) {
		return f[0]
	}
	return strconv.Itoa(r.code/100) + ".0.0"
}

// refusalOf turns an error of the SMTP conversation about rcpt into its
// refusal: the server's code and text, or connErrorCode for anything that
// is not a reply.
func refusalOf(rcpt string, err error) refusal {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return refusal{rcpt, connErrorCode, err.Error()}
	}
	text := se.Message
	if c := se.EnhancedCode; c != smtp.EnhancedCodeNotSet && c != smtp.NoEnhancedCode {
		text = fmt.Sprintf("%d.%d.%d %s", c[0], c[1], c[2], text)
	}
	return refusal{rcpt, se.Code, text}
}

// refuseAll is err's refusal for each of rcpts.
func refuseAll(rcpts []string, err error) []refusal {
	rs := make([]refusal, 0, len(rcpts))
	for _, r := range rcpts {
		rs = append(rs, refusalOf(r, err))
	}
	return rs
}

// smtpTxn is one SMTP transaction of a delivery.
type smtpTxn struct {
	from  string
	rcpts []string
	data  []byte
}

// deliver sends data to rcpts (sorted): under VERP one transaction per
// recipient with its own envelope sender; with each, one per recipient
// with the copy each makes for it; else one per chunk of at most
// MaxRecipients. Transactions of one recipient each go over up to
// [mta] smtp_connections connections at once: the kept one, and others
// opened for the delivery. It returns how many recipients the server
// took and the refusals of the others, sorted by recipient.
func (h *Handler) deliver(log *slog.Logger, from string, rcpts []string, verp bool, data []byte, each func(rcpt string) []byte) (int, []refusal) {
	var txns []smtpTxn
	switch {
	case verp:
		for _, r := range rcpts {
			txns = append(txns, smtpTxn{mta.VERP(from, r), []string{r}, data})
		}
	case each != nil:
		for _, r := range rcpts {
			txns = append(txns, smtpTxn{from, []string{r}, data})
		}
	default:
		size := h.Settings.MaxRecipients
		if size <= 0 {
			size = len(rcpts)
		}
		for chunk := range slices.Chunk(rcpts, size) {
			txns = append(txns, smtpTxn{from, chunk, data})
		}
	}
	// Made as each is sent, not for every member at once.
	copyFor := func(t smtpTxn) []byte {
		if each != nil && len(t.rcpts) == 1 {
			return each(t.rcpts[0])
		}
		return t.data
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	queue := make(chan smtpTxn, len(txns))
	for _, t := range txns {
		queue <- t
	}
	close(queue)
	var mu sync.Mutex // guards delivered and refused
	delivered := 0
	var refused []refusal
	record := func(n int, rs []refusal) {
		mu.Lock()
		delivered += n
		refused = append(refused, rs...)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	if extra := min(h.Settings.Connections, len(txns)) - 1; extra > 0 && (verp || each != nil) {
		for range extra {
			wg.Go(func() {
				// A connection the server will not give leaves its
				// share to the others.
				c, err := h.dial()
				used := 0
				for err == nil {
					t, ok := <-queue
					if !ok {
						c.Quit()
						return
					}
					n, rs, broken := transaction(c, t.from, t.rcpts, copyFor(t))
					record(n, rs)
					used++
					switch {
					case broken:
						c.Close()
					case h.spent(used):
						c.Quit()
					default:
						continue
					}
					if len(queue) == 0 {
						// Nothing left for another connection: none is
						// opened for nothing.
						return
					}
					c, err = h.dial()
					used = 0
				}
			})
		}
	}
	var connErr error
	for t := range queue {
		c, err := h.connection(log)
		if err != nil {
			// A failure to set up the session says nothing about the
			// recipients, whatever its code (a 554 greeting, a 535 to
			// AUTH): it is temporary for them. And what no other
			// connection takes waits, rather than each transaction
			// waiting for its own connection timeout.
			record(0, refuseConnection(t.rcpts, err))
			connErr = err
			break
		}
		n, rs, broken := transaction(c, t.from, t.rcpts, copyFor(t))
		h.used++
		switch {
		case broken:
			h.drop()
		case h.spent(h.used):
			// A failed QUIT only ends a connection already done with.
			_ = h.quit()
		}
		record(n, rs)
	}
	wg.Wait()
	for t := range queue {
		// Left when no connection could be had.
		record(0, refuseConnection(t.rcpts, connErr))
	}
	slices.SortFunc(refused, func(a, b refusal) int { return strings.Compare(a.rcpt, b.rcpt) })
	return delivered, refused
}

// refuseConnection is the temporary refusal of rcpts when no connection
// to the server could be had.
func refuseConnection(rcpts []string, err error) []refusal {
	rs := make([]refusal, 0, len(rcpts))
	for _, r := range rcpts {
		rs = append(rs, refusal{r, connErrorCode, err.Error()})
	}
	return rs
}

// transaction runs MAIL, RCPT for each of rcpts and DATA on c. Unlike
// go-smtp's SendMail, which stops at the first refused RCPT, a refused
// recipient is recorded and the others go on; an error at MAIL or DATA is
// every recipient's it concerns. broken says c cannot be trusted for
// another transaction: its owner closes it.
func transaction(c *smtp.Client, from string, rcpts []string, data []byte) (n int, refused []refusal, broken bool) {
	if err := c.Mail(mta.SMTPAddress(from), nil); err != nil {
		return 0, refuseAll(rcpts, err), abort(c, err)
	}
	var accepted []string
	for i, r := range rcpts {
		err := c.Rcpt(mta.SMTPAddress(r), nil)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted = append(accepted, r)
		case errors.As(err, &se):
			refused = append(refused, refusalOf(r, err))
		default:
			return 0, append(refused, refuseAll(append(accepted, rcpts[i:]...), err)...), true
		}
	}
	if len(accepted) == 0 {
		return 0, refused, abort(c, nil)
	}
	if err := sendData(c, data); err != nil {
		return 0, append(refused, refuseAll(accepted, err)...), abort(c, err)
	}
	return len(accepted), refused, false
}

func sendData(c *smtp.Client, data []byte) error {
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Close()
}

// abort ends a transaction that did not complete: after a reply (or none,
// err nil) RSET leaves the connection ready for the next one; after any
// other error, or a failed RSET, the connection cannot be trusted: abort
// reports it broken.
func abort(c *smtp.Client, err error) (broken bool) {
	var se *smtp.SMTPError
	if err != nil && !errors.As(err, &se) {
		return true
	}
	return c.Reset() != nil
}

// connection returns the kept connection, checked with a NOOP (the server
// may have closed it while idle), or a new one.
func (h *Handler) connection(log *slog.Logger) (*smtp.Client, error) {
	if h.client != nil {
		if h.client.Noop() == nil {
			return h.client, nil
		}
		h.drop()
	}
	c, err := h.dial()
	if err != nil {
		// Once per outage, as Mailman: every message of a long outage
		// would otherwise say the same.
		if !h.down {
			log.Error("cannot connect to SMTP server", "host", h.Settings.Host, "port", h.port(), "error", err)
		}
		h.down = true
		return nil, err
	}
	if h.down {
		log.Info("connected to SMTP server again", "host", h.Settings.Host, "port", h.port())
	}
	h.down = false
	h.client, h.used = c, 0
	return c, nil
}

func (h *Handler) port() int {
	if h.Settings.Port == 0 {
		return 25
	}
	return h.Settings.Port
}

// dial connects, says EHLO and authenticates.
func (h *Handler) dial() (*smtp.Client, error) {
	s := h.Settings
	addr := net.JoinHostPort(s.Host, strconv.Itoa(h.port()))
	tlsConfig := &tls.Config{ServerName: s.Host, RootCAs: h.rootCAs}
	timeout := h.timeout()
	dialer := &net.Dialer{Timeout: timeout}
	var conn net.Conn
	var err error
	switch s.SecureMode {
	case "", "smtp", "starttls":
		conn, err = dialer.Dial("tcp", addr)
	case "smtps":
		// The dialer's timeout bounds the TLS handshake too.
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).Dial("tcp", addr)
	default:
		return nil, fmt.Errorf("smtp_secure_mode %q is not smtp, starttls or smtps", s.SecureMode)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s (%s): %w", addr, orSMTP(s.SecureMode), err)
	}
	tc := &timedConn{Conn: conn, timeout: timeout}
	var c *smtp.Client
	if s.SecureMode == "starttls" {
		// go-smtp exports STARTTLS only as part of making a client, which
		// greets the server as "localhost" first and reads its answers
		// with its own 5-minute timeouts, set before ours can be: the one
		// deadline held on the connection bounds that whole exchange.
		// Hello below gives our name in the EHLO that starts the TLS
		// session.
		tc.until = time.Now().Add(timeout)
		c, err = smtp.NewClientStartTLS(tc, tlsConfig)
		tc.until = time.Time{}
		if err != nil {
			return nil, fmt.Errorf("connect to %s (starttls): %w", addr, err)
		}
		// go-smtp's own clearing of its deadlines was held too.
		tc.Conn.SetDeadline(time.Time{})
	} else {
		c = smtp.NewClient(tc)
	}
	// A stalled server costs the message a retry, not the runner forever.
	c.CommandTimeout, c.SubmissionTimeout = timeout, 2*timeout
	if err := c.Hello(h.hostname()); err != nil {
		c.Close()
		return nil, fmt.Errorf("EHLO to %s: %w", addr, err)
	}
	if s.User != "" && s.Pass != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.User, s.Pass)); err != nil {
			c.Close()
			return nil, fmt.Errorf("AUTH PLAIN as %s at %s: %w", s.User, addr, err)
		}
	}
	return c, nil
}

func orSMTP(mode string) string {
	if mode == "" {
		return "smtp"
	}
	return mode
}

func (h *Handler) hostname() string {
	if h.Settings.Hostname != "" {
		return h.Settings.Hostname
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		return name
	}
	return "localhost"
}

// timedConn gives every write a deadline of its own: go-smtp sets none
// while it writes the body of DATA, so a server that stopped reading would
// hold the runner for good once the socket's buffers are full. While until
// is set it also holds every deadline to until, whatever go-smtp asks.
type timedConn struct {
	net.Conn
	timeout time.Duration
	until   time.Time
}

func (c *timedConn) Write(b []byte) (int, error) {
	if c.until.IsZero() {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return 0, fmt.Errorf("set write deadline: %w", err)
		}
	}
	return c.Conn.Write(b)
}

func (c *timedConn) SetDeadline(t time.Time) error {
	if !c.until.IsZero() {
		t = c.until
	}
	return c.Conn.SetDeadline(t)
}

// spent reports whether a connection that carried used transactions has
// carried all that [mta] max_sessions_per_connection allows.
func (h *Handler) spent(used int) bool {
	return h.Settings.MaxSessions > 0 && used >= h.Settings.MaxSessions
}

// quit ends the kept connection with a QUIT (closing it when the QUIT
// fails), for the next delivery to open another.
func (h *Handler) quit() error {
	if h.client == nil {
		return nil
	}
	c := h.client
	h.client = nil
	if err := c.Quit(); err != nil {
		c.Close()
		return fmt.Errorf("quit SMTP connection: %w", err)
	}
	return nil
}

// drop closes the kept connection without a word to the server: it is
// broken or cannot be trusted.
func (h *Handler) drop() {
	if h.client != nil {
		h.client.Close()
		h.client = nil
	}
}

// Close quits the kept connection.
func (h *Handler) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.quit()
}
