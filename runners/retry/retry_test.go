package retry

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/switchboard"
)

func TestDueEntriesMoveToOutgoing(t *testing.T) {
	root := t.TempDir()
	open := func(name string) *switchboard.Switchboard {
		q, err := switchboard.Open(root, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
	retry, outgoing, shunt := open("retry"), open("outgoing"), open("shunt")
	md := switchboard.Msgdata{}
	md.Set(msgdata.ListID, "test.example.com")
	md.Set(msgdata.Recipients, []string{"cris@example.com"})
	if _, err := retry.Enqueue([]byte("Message-ID: <due>\n\nbody\n"), md); err != nil {
		t.Fatal(err)
	}
	if _, err := retry.EnqueueAt(time.Now().Add(time.Hour), []byte("Message-ID: <later>\n\nbody\n"), md); err != nil {
		t.Fatal(err)
	}
	l := &runners.Loop{
		Queue: retry, Shunt: shunt, Slice: switchboard.Whole, SleepTime: time.Hour,
		Handler: &Handler{Outgoing: outgoing},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if n := l.Drain(t.Context()); n != 1 {
		t.Fatalf("moved %d entries, want only the due one", n)
	}
	ready, _, _ := outgoing.Ready(switchboard.Whole, time.Now())
	if len(ready) != 1 {
		t.Fatalf("outgoing holds %v", ready)
	}
	e, err := outgoing.Dequeue(ready[0])
	if err != nil {
		t.Fatal(err)
	}
	var rcpts []string
	e.Msgdata.Get(msgdata.Recipients, &rcpts)
	if e.MessageID() != "<due>" || len(rcpts) != 1 || rcpts[0] != "cris@example.com" {
		t.Errorf("moved %s with recipients %v", e.MessageID(), rcpts)
	}
	if c, _ := retry.Count(); c != (switchboard.Counts{Deferred: 1}) {
		t.Errorf("retry holds %+v, want the deferred entry only", c)
	}
}
