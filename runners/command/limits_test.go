package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/mailman-go/mailman/subscription"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/store"
)

// day1 is when the clock of these tests starts; day 2 is a day after.
var day1 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

// clocked sets the fixture's clock to *now and its log to a buffer.
func clocked(f *fixture, now *time.Time) *bytes.Buffer {
	var buf bytes.Buffer
	f.log = slog.New(slog.NewTextHandler(&buf, nil))
	f.h.Now = func() time.Time { return *now }
	return &buf
}

// mailTo counts the messages in ss addressed to addr.
func mailTo(t *testing.T, ss []sent, addr string) int {
	n := 0
	for _, s := range ss {
		for _, r := range s.recipients(t) {
			if r == addr {
				n++
			}
		}
	}
	return n
}

// TestDailyLimitPerAddress: whatever the messages, the list writes to one
// address at most max_autoresponses_per_day (10) times a day, counting
// results, confirmations and answers together; the next day it writes
// again.
func TestDailyLimitPerAddress(t *testing.T) {
	const vic = "vic@example.org"
	tests := []struct {
		name           string
		raw            func(i int) string
		sub            string
		day1, day2     int // messages sent each day
		toVic1, toVic2 int // mail vic gets each day
		all1           int // mail sent on day 1 to anyone
	}{
		{"echo in vic's name", func(i int) string { return letter("From: "+vic+"\r\nSubject: echo "+fmt.Sprint(i)+"\r\n", "") }, "request", 30, 3, 10, 3, 10},
		// The first join asks vic to confirm; each later one answers
		// that a subscription is pending.
		{"joins in vic's name", func(int) string { return letter("From: "+vic+"\r\nSubject: join\r\n", "") }, "join", 30, 1, 10, 1, 10},
		{"joins of vic's address from many senders", func(i int) string {
			return letter(fmt.Sprintf("From: x%d@example.net\r\nSubject: join address=%s\r\n", i, vic), "")
		}, "request", 30, 1, 1, 0, 31},
		// One message from vic naming 11 other addresses: the 11th
		// confirmation, and the results, are past vic's limit.
		{"a message from vic joining many addresses", func(i int) string {
			var lines []string
			for j := range 11 {
				lines = append(lines, fmt.Sprintf("join address=other%d.%d@example.net", i, j))
			}
			return letter("From: "+vic+"\r\nSubject: "+lines[0]+"\r\n", strings.Join(lines[1:], "\r\n")+"\r\n")
		}, "request", 1, 0, 0, 0, 10},
		{"autoresponses in vic's name", func(i int) string { return letter("From: "+vic+"\r\nSubject: hello\r\n", "") }, "request", 30, 1, 10, 1, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if strings.HasPrefix(tt.name, "autoresponses") {
				f.set(t, "autorespond_requests", "respond_and_discard")
				f.set(t, "autoresponse_grace_period", "0")
			}
			now := day1
			log := clocked(f, &now)
			for i := range tt.day1 {
				f.dispose(t, tt.raw(i), tt.sub)
			}
			ss := f.sent(t)
			if n := mailTo(t, ss, vic); n != tt.toVic1 || len(ss) != tt.all1 {
				t.Errorf("day 1: %d messages to %s and %d in all, want %d and %d", n, vic, len(ss), tt.toVic1, tt.all1)
			}
			if tt.all1 == 10 && !strings.Contains(log.String(), "rcpt="+vic+" count=11") {
				t.Errorf("the mail past the limit is not logged:\n%s", log)
			}
			now = now.Add(24 * time.Hour)
			for i := range tt.day2 {
				f.dispose(t, tt.raw(tt.day1+i), tt.sub)
			}
			if n := mailTo(t, f.sent(t), vic); n != tt.toVic2 {
				t.Errorf("day 2: %d messages to %s, want %d", n, vic, tt.toVic2)
			}
		})
	}
}

// TestConfirmationPastTheLimit: an address that had its day's mail gets no
// confirmation, and no request is left pending that would refuse its own
// join; the next day its join is asked to confirm.
func TestConfirmationPastTheLimit(t *testing.T) {
	const vic = "vic@example.org"
	f := newFixture(t)
	now := day1
	clocked(f, &now)
	for range 10 {
		f.dispose(t, letter("From: "+vic+"\r\nSubject: echo x\r\n", ""), "request")
	}
	if n := len(f.sent(t)); n != 10 {
		t.Fatalf("%d replies, want 10", n)
	}
	f.dispose(t, letter("From: someone@example.net\r\nSubject: join address="+vic+"\r\n", ""), "request")
	ss := f.sent(t)
	if mailTo(t, ss, vic) != 0 {
		t.Errorf("mail to %s past the limit: %q", vic, subjects(ss))
	}
	if _, err := f.st.PendingFor(context.Background(), "test.example.com", subscription.PendingSubscription, vic); !errors.Is(err, store.ErrNoSuchToken) {
		t.Errorf("a request pending with no confirmation sent: %v", err)
	}
	now = now.Add(24 * time.Hour)
	f.dispose(t, letter("From: "+vic+"\r\nSubject: join\r\n", ""), "request")
	if _, token := confirmation(t, f.sent(t)); token == "" {
		t.Error("no token the next day")
	}
}

// TestResultsRepeatLittle: a message of half a megabyte to -request gets
// a reply of a few kilobytes: each command line, and each header of the
// details, is repeated at most 200 bytes long, and the body past the lines
// read is counted, not sent back.
func TestResultsRepeatLittle(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("attack ", 6000) // 42 KB
	body := strings.Repeat("echo "+long+"\r\n", 10) + strings.Repeat(long+"\r\n", 2)
	raw := letter("Subject: echo "+long+"\r\n", body)
	f.dispose(t, raw, "request")
	r := results(t, f.sent(t))
	got := r.body()
	t.Logf("a message of %d bytes, a reply of %d", len(raw), len(got))
	if len(raw) < 500<<10 || len(got) > 4<<10 {
		t.Errorf("a message of %d bytes got a reply of %d bytes:\n%.3000s", len(raw), len(got), got)
	}
	if !strings.Contains(got, "    Subject: echo attack attack") || !strings.Contains(got, "echo attack attack") || !strings.Contains(got, "[...]") {
		t.Errorf("reply:\n%s", got)
	}
	if !strings.Contains(got, "- Ignored:\n2 more lines, after the first 10, not read") {
		t.Errorf("the lines not read are not counted:\n%s", got)
	}
}

// TestResultsCut: a reply longer than email_commands_max_reply_size is cut
// at a line, with a line that says so.
func TestResultsCut(t *testing.T) {
	f := newFixture(t)
	f.h.Settings.MaxReplySize = 1024
	f.set(t, "member_roster_visibility", "public")
	var addrs []string
	for i := range 100 {
		addrs = append(addrs, fmt.Sprintf("member%03d@example.org", i))
	}
	if _, err := f.st.AddMembers(context.Background(), f.list, store.Regular, addrs, nil); err != nil {
		t.Fatal(err)
	}
	f.dispose(t, letter("Subject: who\r\n", ""), "request")
	got := results(t, f.sent(t)).body()
	const note = "\n[The results are cut here: a reply carries at most 1024 bytes of them.]\n"
	if len(got) > 1024 || !strings.HasSuffix(got, note) || !strings.Contains(got, "    member000@example.org\n") || strings.Contains(got, "member099") {
		t.Errorf("reply of %d bytes:\n%s", len(got), got)
	}
	if line := strings.TrimSuffix(got, note); !strings.HasSuffix(line, "@example.org\n") {
		t.Errorf("not cut at a line:\n%s", got)
	}
}
