package lmtp

import (
	"io"
	"strings"
	"testing"
	"time"
)

// step is one move of a session under its bounds: lines sent and the
// replies they get, or the sessions' clock moved on.
type step struct {
	send    string
	expect  []string
	advance time.Duration
}

func noops(n int) step {
	return step{send: strings.Repeat("NOOP\r\n", n), expect: repeated("250 2.0.0", n)}
}

func repeated(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// transaction is one message to test@, as Postfix sends it on a
// connection it reuses: RSET first.
var transaction = []step{
	{send: "RSET\r\nMAIL FROM:<anne@example.org>\r\nRCPT TO:<test@example.com>\r\nDATA\r\n", expect: []string{"250 ", "250 ", "250 ", "354 "}},
	{send: post, expect: []string{"250 2.0.0 <test@example.com>"}},
}

// TestSessionLimits: a session is closed with 421 at its first command
// past lmtp_max_session_time, or past lmtp_max_junk_commands commands in a
// row that got nowhere, and the closing is logged with the client's
// address and the reason; neither bound cuts a message short or ends
// Postfix's reuse of a connection.
func TestSessionLimits(t *testing.T) {
	const limit = 10 * time.Minute // the defaults: lmtp_max_session_time, and 100 junk commands
	lhlo := step{send: "LHLO x\r\n", expect: []string{"250-"}}
	type limitCase struct {
		name   string
		steps  []step
		reason string // the closing's, "" when the session must stay open
	}
	cases := []limitCase{
		{"a command just inside the time", []step{lhlo, {advance: limit - time.Second}, noops(1)}, ""},
		{"a command at the time", []step{lhlo, {advance: limit}, {send: "NOOP\r\n"}}, reasonSessionTime},
		{"QUIT past the time", []step{lhlo, {advance: 2 * limit}, {send: "QUIT\r\n", expect: []string{"221 "}}}, ""},
		{"in a transaction past the time", []step{
			lhlo, {send: "MAIL FROM:<anne@example.org>\r\nRCPT TO:<test@example.com>\r\n", expect: []string{"250 ", "250 "}},
			{advance: limit}, {send: "DATA\r\n"},
		}, reasonSessionTime},
		{"a message being read is not cut short", []step{
			lhlo, {send: "MAIL FROM:<anne@example.org>\r\nRCPT TO:<test@example.com>\r\nDATA\r\n", expect: []string{"250 ", "250 ", "354 "}},
			{advance: limit}, {send: post, expect: []string{"250 2.0.0 <test@example.com>"}},
			{send: "RSET\r\n"},
		}, reasonSessionTime},
		// LHLO and 99 NOOPs are 100 commands in a row.
		{"100 junk commands", []step{lhlo, noops(99)}, ""},
		{"101 junk commands", []step{lhlo, noops(99), {send: "NOOP\r\n"}}, reasonJunk},
		{"refused commands are junk too", []step{
			lhlo, {send: "MAIL FROM:<anne@example.org>\r\n", expect: []string{"250 "}},
			{send: strings.Repeat("RCPT TO:<nolist@example.com>\r\n", 98), expect: repeated("550 5.1.1", 98)},
			{send: "RCPT TO:<nolist@example.com>\r\n"},
		}, reasonJunk},
		{"an accepted recipient starts the count again", []step{
			lhlo, noops(97),
			{send: "MAIL FROM:<anne@example.org>\r\nRCPT TO:<test@example.com>\r\n", expect: []string{"250 ", "250 "}},
			noops(100), {send: "NOOP\r\n"},
		}, reasonJunk},
		{"a message starts the count again", append(append([]step{lhlo, noops(96)}, transaction...), noops(100), step{send: "NOOP\r\n"}), reasonJunk},
	}
	// Postfix's reuse: a message every 3 s, and an address probe (MAIL,
	// RCPT, RSET, no DATA) between two, for its 300 s, then QUIT.
	postfix := []step{lhlo}
	for range 100 {
		postfix = append(postfix, transaction...)
		postfix = append(postfix,
			step{send: "MAIL FROM:<>\r\nRCPT TO:<test@example.com>\r\nRSET\r\n", expect: []string{"250 ", "250 ", "250 "}},
			step{advance: 3 * time.Second})
	}
	cases = append(cases, limitCase{"Postfix reusing a connection for 300 s", append(postfix, step{send: "QUIT\r\n", expect: []string{"221 "}}), ""})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			c := ts.dial(t)
			for _, s := range tc.steps {
				ts.clock.Advance(s.advance)
				if s.send != "" {
					c.send(s.send)
				}
				c.expect(s.expect...)
			}
			if tc.reason == "" {
				if strings.Contains(ts.logs.String(), "closed a session") {
					t.Errorf("the session was closed:\n%s", ts.logs)
				}
				return
			}
			if got, want := c.reply(), strings.TrimSuffix(replyOverLimit, "\r\n"); got != want {
				t.Fatalf("reply %q, want %q", got, want)
			}
			c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if rest, err := io.ReadAll(c.r); err != nil || len(rest) > 0 {
				t.Errorf("after the 421: %q, %v; want the connection closed", rest, err)
			}
			want := `msg="closed a session" remote=` + c.c.LocalAddr().String() + ` reason="` + tc.reason + `"`
			if n := strings.Count(ts.logs.String(), want); n != 1 {
				t.Errorf("%d lines %s in the log:\n%s", n, want, ts.logs)
			}
		})
	}
}
