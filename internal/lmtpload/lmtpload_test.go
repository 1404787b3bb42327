package lmtpload

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// recorder is an LMTP server session that refuses rcpts named "refused@"
// and answers 452 after the data for "later@", keeping what it received.
// Like the LMTP runner (and Dovecot, and Mailman's aiosmtpd), it refuses a
// MAIL inside a transaction.
type recorder struct {
	mail  bool
	rcpts []string
	got   chan []byte
}

func (r *recorder) Reset()               { r.mail, r.rcpts = false, nil }
func (r *recorder) Logout() error        { return nil }
func (r *recorder) Data(io.Reader) error { return nil }
func (r *recorder) Mail(string, *smtp.MailOptions) error {
	if r.mail {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "nested MAIL"}
	}
	r.mail = true
	return nil
}
func (r *recorder) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == "refused@example.com" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"}
	}
	r.rcpts = append(r.rcpts, to)
	return nil
}

func (r *recorder) LMTPData(rd io.Reader, st smtp.StatusCollector) error {
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	r.got <- b
	for _, rc := range r.rcpts {
		var e error
		if rc == "later@example.com" {
			e = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "full"}
		}
		st.SetStatus(rc, e)
	}
	return nil
}

func serve(t *testing.T, got chan []byte) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &recorder{got: got}, nil }))
	srv.LMTP = true
	srv.Domain = "localhost"
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func TestSend(t *testing.T) {
	for _, lockStep := range []bool{false, true} {
		t.Run(fmt.Sprintf("lockstep=%v", lockStep), func(t *testing.T) { testSend(t, lockStep) })
	}
}

func testSend(t *testing.T, lockStep bool) {
	got := make(chan []byte, 4)
	c, err := Dial(serve(t, got), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.LockStep {
		t.Fatal("go-smtp offers PIPELINING; the client should use it")
	}
	c.LockStep = lockStep
	tests := []struct {
		name  string
		rcpts []string
		msg   string
		codes []int
		data  string
	}{
		{"one recipient", []string{"a@example.com"}, "Subject: x\r\n\r\nbody\r\n", []int{250}, "Subject: x\r\n\r\nbody\r\n"},
		{"mixed outcomes", []string{"a@example.com", "refused@example.com", "later@example.com"}, "Subject: y\r\n\r\nb\r\n", []int{250, 550, 452}, "Subject: y\r\n\r\nb\r\n"},
		{"dot-stuffed, no final line end", []string{"a@example.com"}, "Subject: z\r\n\r\n.hidden\r\n.\r\nlast", []int{250}, "Subject: z\r\n\r\n.hidden\r\n.\r\nlast\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			replies, err := c.Send("from@example.com", tt.rcpts, []byte(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range replies {
				if r.Code != tt.codes[i] {
					t.Errorf("recipient %d: %v, want %d", i, r, tt.codes[i])
				}
			}
			if data := <-got; !bytes.Equal(data, []byte(tt.data)) {
				t.Errorf("server got %q, want %q", data, tt.data)
			}
		})
	}
}

func TestAllRefusedSkipsData(t *testing.T) {
	for _, lockStep := range []bool{false, true} {
		t.Run(fmt.Sprintf("lockstep=%v", lockStep), func(t *testing.T) { testAllRefused(t, lockStep) })
	}
}

func testAllRefused(t *testing.T, lockStep bool) {
	got := make(chan []byte, 1)
	c, err := Dial(serve(t, got), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.LockStep = lockStep
	replies, err := c.Send("from@example.com", []string{"refused@example.com"}, []byte("x\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if replies[0].Code != 550 {
		t.Errorf("reply %v, want the RCPT's 550", replies[0])
	}
	// The connection is still in step: the next transaction works.
	if replies, err = c.Send("from@example.com", []string{"a@example.com"}, []byte("x\r\n")); err != nil || replies[0].Code != 250 {
		t.Fatalf("next transaction: %v %v", replies, err)
	}
}

// A server that does not offer PIPELINING, as Mailman 3's, is spoken to in
// lock-step.
func TestDialWithoutPipelining(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(conn, "220 lmtp.example ready\r\n")
		buf := make([]byte, 512)
		conn.Read(buf) // LHLO
		fmt.Fprint(conn, "250-localhost\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250 HELP\r\n")
		conn.Read(buf) // QUIT
	}()
	c, err := Dial(l.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.LockStep {
		t.Error("LockStep is off for a server without PIPELINING")
	}
}
