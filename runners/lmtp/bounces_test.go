package lmtp

import (
	"strings"
	"testing"

	"github.com/mailman-go/mailman/config"
)

// TestBounceSizeLimit: a message over [bounces] max_size is refused with
// 552 for each -bounces recipient, at RCPT when MAIL announced its size
// and after DATA when not, and logged; its other recipients get it.
func TestBounceSizeLimit(t *testing.T) {
	const limit = 4 << 10
	small := "From: MAILER-DAEMON@example.org\r\nSubject: Undelivered\r\n\r\n" + strings.Repeat("x", limit-200) + "\r\n.\r\n"
	big := "From: MAILER-DAEMON@example.org\r\nSubject: Undelivered\r\n\r\n" + strings.Repeat("x", limit) + "\r\n.\r\n"
	const bounces, verp, list = "test-bounces@example.com", "test-bounces+anne=example.org@example.com", "test@example.com"
	cases := []struct {
		name        string
		mail        string // MAIL's parameters
		msg         string
		rcpts       []string
		rcptReplies []string
		dataReplies []string // one per recipient accepted at RCPT
		queued      map[string]int
		refused     int // log lines
	}{
		{"a small bounce", "", small, []string{bounces}, []string{"250 "}, []string{"250 2.0.0 <" + bounces + ">"}, map[string]int{"bounces": 1}, 0},
		{"a large bounce", "", big, []string{bounces}, []string{"250 "}, []string{"552 5.3.4 <" + bounces + ">"}, map[string]int{"bounces": 0}, 1},
		{"a large VERP bounce", "", big, []string{verp}, []string{"250 "}, []string{"552 5.3.4 <" + verp + ">"}, map[string]int{"bounces": 0}, 1},
		{"a large message to a list and its bounces", "", big, []string{list, bounces}, []string{"250 ", "250 "},
			[]string{"250 2.0.0 <" + list + ">", "552 5.3.4 <" + bounces + ">"}, map[string]int{"incoming": 1, "bounces": 0}, 1},
		{"a large size announced", " SIZE=" + "5000", big, []string{bounces, list}, []string{"552 5.3.4", "250 "},
			[]string{"250 2.0.0 <" + list + ">"}, map[string]int{"incoming": 1, "bounces": 0}, 1},
		{"a small size announced", " SIZE=" + "3000", small, []string{bounces}, []string{"250 "}, []string{"250 2.0.0 <" + bounces + ">"}, map[string]int{"bounces": 1}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, func(c *config.Config) { c.Bounces.MaxSize = limit })
			c := ts.dial(t)
			c.send("LHLO x\r\nMAIL FROM:<>" + tc.mail + "\r\n")
			c.expect("250-", "250 ")
			for i, r := range tc.rcpts {
				c.send("RCPT TO:<" + r + ">\r\n")
				c.expect(tc.rcptReplies[i])
			}
			c.send("DATA\r\n")
			c.expect("354 ")
			c.send(tc.msg)
			c.expect(tc.dataReplies...)
			for queue, want := range tc.queued {
				if got := len(ts.entries(t, queue)); got != want {
					t.Errorf("%s holds %d entries, want %d", queue, got, want)
				}
			}
			if got := strings.Count(ts.logs.String(), `msg="refused a bounce over [bounces] max_size" list=test.example.com`); got != tc.refused {
				t.Errorf("%d refusals logged, want %d:\n%s", got, tc.refused, ts.logs)
			}
		})
	}
}
