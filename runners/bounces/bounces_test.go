package bounces

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/switchboard"
)

// TestOldBouncesAreRemoved: the runner removes a bounce once it is max_age
// old, one log line each, and keeps a younger one, not handed out again
// before it is; the time is the sessions' received_time, by an injected
// clock.
func TestOldBouncesAreRemoved(t *testing.T) {
	const maxAge = 7 * 24 * time.Hour
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	root := t.TempDir()
	queue, err := switchboard.Open(root, "bounces")
	if err != nil {
		t.Fatal(err)
	}
	shunt, err := switchboard.Open(root, "shunt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { queue.Close(); shunt.Close() })
	var logs bytes.Buffer
	h := &Handler{MaxAge: maxAge, Now: func() time.Time { return now }}
	loop := &runners.Loop{Queue: queue, Shunt: shunt, Slice: switchboard.Whole, Handler: h, SleepTime: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))}

	cases := []struct {
		id       string
		received time.Duration // before now; -1 for none
		removed  bool
		until    time.Time // when kept
	}{
		{"older", maxAge + time.Hour, true, time.Time{}},
		{"just-old", maxAge, true, time.Time{}},
		{"young", 24 * time.Hour, false, now.Add(maxAge - 24*time.Hour)},
		{"just-young", maxAge - time.Second, false, now.Add(time.Second)},
		{"no-time", -1, false, now.Add(maxAge)},
	}
	names := map[string]string{}
	for _, tc := range cases {
		md := switchboard.Msgdata{}
		md.Set(msgdata.ListID, "test.example.com")
		if tc.received >= 0 {
			md.Set(msgdata.ReceivedTime, now.Add(-tc.received).Format(time.RFC3339Nano))
		}
		name, err := queue.Enqueue([]byte("Message-ID: <"+tc.id+">\n\nbounce\n"), md)
		if err != nil {
			t.Fatal(err)
		}
		names[tc.id] = name
	}
	if n := loop.Drain(context.Background()); n != len(cases) {
		t.Fatalf("drained %d entries, want %d", n, len(cases))
	}
	for _, tc := range cases {
		line := "entry=" + names[tc.id] + " message_id=<" + tc.id + "> list=test.example.com"
		if tc.removed && !strings.Contains(logs.String(), line) {
			t.Errorf("%s: no log line %q:\n%s", tc.id, line, &logs)
		}
		if !tc.removed && strings.Contains(logs.String(), line) {
			t.Errorf("%s removed:\n%s", tc.id, &logs)
		}
	}
	if n := strings.Count(logs.String(), "removed a bounce unread"); n != 2 {
		t.Errorf("%d removals logged, want 2:\n%s", n, &logs)
	}

	// What is kept is due at its max_age, no sooner; then it is removed.
	for _, tc := range cases {
		if tc.removed {
			continue
		}
		if ready, _, _ := queue.Ready(switchboard.Whole, tc.until.Add(-time.Millisecond)); hasID(t, queue, ready, tc.id) {
			t.Errorf("%s handed out before %s", tc.id, tc.until)
		}
		ready, _, err := queue.Ready(switchboard.Whole, tc.until)
		if err != nil {
			t.Fatal(err)
		}
		if !hasID(t, queue, ready, tc.id) {
			t.Errorf("%s not due at %s", tc.id, tc.until)
		}
	}
	now = now.Add(maxAge)
	due, _, err := queue.Ready(switchboard.Whole, now)
	if err != nil || len(due) != 3 {
		t.Fatalf("%d entries due after max_age, %v; want 3", len(due), err)
	}
	for _, file := range due {
		e, err := queue.Dequeue(file)
		if err != nil {
			t.Fatal(err)
		}
		out, err := h.Dispose(context.Background(), e, loop.Logger)
		if err != nil || out != runners.Done {
			t.Errorf("%s at its max_age: %+v, %v; want it removed", e.MessageID(), out, err)
		}
	}
}

func hasID(t *testing.T, q *switchboard.Switchboard, files []string, id string) bool {
	t.Helper()
	for _, f := range files {
		e, err := switchboard.ReadFile(filepath.Join(q.Dir(), f))
		if err != nil {
			t.Fatal(err)
		}
		if e.MessageID() == "<"+id+">" {
			return true
		}
	}
	return false
}
