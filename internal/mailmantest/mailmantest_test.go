package mailmantest

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestMain(m *testing.M) { Main(m) }

// lmtpBackend accepts every recipient but those starting with "bad".
type lmtpBackend struct{ got chan string }

func (b lmtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &lmtpSession{got: b.got}, nil
}

type lmtpSession struct {
	got   chan string
	rcpts []string
}

func (s *lmtpSession) Reset()                               {}
func (s *lmtpSession) Logout() error                        { return nil }
func (s *lmtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *lmtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *lmtpSession) Data(r io.Reader) error { return errors.New("LMTPData is used") }
func (s *lmtpSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	b, _ := io.ReadAll(r)
	s.got <- string(b)
	for _, to := range s.rcpts {
		var err error
		if strings.HasPrefix(to, "bad") {
			err = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		status.SetStatus(to, err)
	}
	return nil
}

func TestDialLMTP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	srv := smtp.NewServer(lmtpBackend{got})
	srv.LMTP = true
	go srv.Serve(l)
	defer srv.Close()

	c, err := DialLMTP(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("anne@example.com", nil); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"test@example.com", "bad@example.com"} {
		if err := c.Rcpt(to, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: hi\r\n\r\nhello\r\n")
	_, err = w.CloseWithLMTPResponse()
	var per smtp.LMTPDataError
	if !errors.As(err, &per) || len(per) != 1 || per["bad@example.com"] == nil || per["bad@example.com"].Code != 451 {
		t.Errorf("per-recipient replies: %v", err)
	}
	select {
	case body := <-got:
		if !strings.Contains(body, "hello") {
			t.Errorf("server got %q", body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server got nothing")
	}
}

func TestSiteStartDrainStop(t *testing.T) {
	s := NewSite(t, "")
	if _, err := s.Queue("retry").Enqueue([]byte("Message-ID: <x>\n\nbody\n"), nil); err != nil {
		t.Fatal(err)
	}
	if n := s.Drain("retry"); n != 1 {
		t.Fatalf("Drain processed %d", n)
	}
	if c, _ := s.Queue("outgoing").Count(); c.Ready != 1 {
		t.Fatalf("outgoing holds %+v", c)
	}
	s.Start("retry")
	st := s.Status()
	if st.PID == 0 || len(st.Runners) != 1 || st.Runners[0].State != "running" {
		t.Fatalf("status after start: %+v", st)
	}
	s.Stop()
	if st := s.Status(); st.PID != 0 {
		t.Fatalf("status after stop: %+v", st)
	}
}
