package outgoing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// txn is one transaction the sink completed.
type txn struct {
	from    string
	rcpts   []string
	data    string
	session int // the connection's number, from 1
}

// sink is an SMTP server on 127.0.0.1 standing in for the MTA: it records
// each transaction it completes, can refuse chosen recipients, MAIL or
// DATA, can require AUTH PLAIN, and can drop its connections or stop.
type sink struct {
	port int
	srv  *smtp.Server
	ln   net.Listener

	mu         sync.Mutex
	txns       []txn
	sessions   int // one per connection: go-smtp makes a session at the first EHLO
	conns      []net.Conn
	refuseRcpt map[string]*smtp.SMTPError
	refuseMail *smtp.SMTPError
	refuseData *smtp.SMTPError
	user, pass string   // set before it serves; see sinkOptions
	authed     []string // the users who authenticated
}

// sinkOptions say how a sink speaks.
type sinkOptions struct {
	mode       string           // as Settings.SecureMode; "" is plain SMTP
	cert       *tls.Certificate // for the TLS modes
	user, pass string           // when set, MAIL needs AUTH PLAIN with these
}

// startSink starts a sink; it is stopped when the test ends.
func startSink(t testing.TB, o sinkOptions) *sink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{port: l.Addr().(*net.TCPAddr).Port, refuseRcpt: map[string]*smtp.SMTPError{}, user: o.user, pass: o.pass, ln: l}
	var ln net.Listener = trackingListener{l, s}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.sessions++
		return &session{s: s, id: s.sessions}, nil
	}))
	s.srv.Domain = "sink.example"
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	switch o.mode {
	case "starttls":
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*o.cert}}
	case "smtps":
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*o.cert}})
	}
	go s.srv.Serve(ln)
	t.Cleanup(s.stop)
	return s
}

// stop closes the listener and every connection, as an MTA that went down.
// The listener is closed here too: Serve may not have registered it with
// the server yet.
func (s *sink) stop() {
	s.srv.Close()
	s.ln.Close()
}

// dropConnections closes the open connections but keeps listening, as an
// MTA that timed out an idle client.
func (s *sink) dropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *sink) refuse(rcpt string, code int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseRcpt[rcpt] = reply(code, text)
}

func reply(code int, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: text}
}

func (s *sink) transactions() []txn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]txn(nil), s.txns...)
}

func (s *sink) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

type trackingListener struct {
	net.Listener
	s *sink
}

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.conns = append(l.s.conns, c)
		l.s.mu.Unlock()
	}
	return c, err
}

type session struct {
	s      *sink
	id     int
	authed bool
	from   string
	rcpts  []string
}

func (x *session) Reset()        { x.from, x.rcpts = "", nil }
func (x *session) Logout() error { return nil }

func (x *session) AuthMechanisms() []string {
	if x.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != x.s.user || pass != x.s.pass {
			return smtp.ErrAuthFailed
		}
		x.authed = true
		x.s.mu.Lock()
		x.s.authed = append(x.s.authed, user)
		x.s.mu.Unlock()
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.user != "" && !x.authed {
		return smtp.ErrAuthRequired
	}
	if x.s.refuseMail != nil {
		return x.s.refuseMail
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if err := x.s.refuseRcpt[to]; err != nil {
		return err
	}
	x.rcpts = append(x.rcpts, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.refuseData != nil {
		return x.s.refuseData
	}
	x.s.txns = append(x.s.txns, txn{x.from, x.rcpts, string(b), x.id})
	return nil
}

// testCert is a self-signed certificate for 127.0.0.1 and the pool that
// trusts it.
func testCert(t testing.TB) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sink.example"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}
