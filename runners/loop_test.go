package runners

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/switchboard"
)

type testQueues struct {
	root            string
	incoming, shunt *switchboard.Switchboard
	mu              sync.Mutex
	seen            []string // Message-IDs in the order the handler saw them
}

func newQueues(t *testing.T) *testQueues {
	t.Helper()
	q := &testQueues{root: t.TempDir()}
	var err error
	if q.incoming, err = switchboard.Open(q.root, "incoming"); err != nil {
		t.Fatal(err)
	}
	if q.shunt, err = switchboard.Open(q.root, "shunt"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.incoming.Close(); q.shunt.Close() })
	return q
}

func (q *testQueues) open(name string) (*switchboard.Switchboard, error) {
	if name != "incoming" {
		return nil, fmt.Errorf("no queue %s", name)
	}
	return switchboard.Open(q.root, name)
}

func (q *testQueues) loop(t *testing.T, h HandlerFunc) *Loop {
	return &Loop{
		Queue: q.incoming, Shunt: q.shunt, Slice: switchboard.Whole,
		Handler: HandlerFunc(func(ctx context.Context, e *switchboard.Entry, log *slog.Logger) (Outcome, error) {
			q.mu.Lock()
			q.seen = append(q.seen, e.MessageID())
			q.mu.Unlock()
			return h(ctx, e, log)
		}),
		SleepTime: time.Hour,
		Logger:    slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
}

func (q *testQueues) enqueue(t *testing.T, ids ...string) []string {
	t.Helper()
	var names []string
	for _, id := range ids {
		md := switchboard.Msgdata{}
		md.Set(msgdata.ListID, "test.example.com")
		name, err := q.incoming.Enqueue([]byte("Message-ID: <"+id+">\n\nbody\n"), md)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

func (q *testQueues) seenIDs() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return strings.Join(q.seen, " ")
}

func count(t *testing.T, s *switchboard.Switchboard) switchboard.Counts {
	t.Helper()
	c, err := s.Count()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoopShuntsErrorsAndPanicsAndUnshuntReplays(t *testing.T) {
	q := newQueues(t)
	q.enqueue(t, "ok1", "borked", "panic", "ok2")
	l := q.loop(t, func(_ context.Context, e *switchboard.Entry, _ *slog.Logger) (Outcome, error) {
		switch e.MessageID() {
		case "<borked>":
			return Done, errors.New("borked")
		case "<panic>":
			panic("boom")
		}
		return Done, nil
	})
	if n := l.Drain(t.Context()); n != 4 {
		t.Fatalf("Drain processed %d, want 4", n)
	}
	if got := q.seenIDs(); got != "<ok1> <borked> <panic> <ok2>" {
		t.Errorf("handled %s", got)
	}
	if c := count(t, q.incoming); c.Total() != 0 {
		t.Errorf("incoming holds %+v", c)
	}
	ready, _, _ := q.shunt.Ready(switchboard.Whole, time.Now())
	if len(ready) != 2 {
		t.Fatalf("shunt holds %v, want 2 entries", ready)
	}
	wantErr := map[string]string{"<borked>": "borked", "<panic>": "panic: boom"}
	for _, f := range ready {
		e, err := switchboard.ReadFile(filepath.Join(q.shunt.Dir(), f))
		if err != nil {
			t.Fatal(err)
		}
		if e.Msgdata.String(msgdata.WhichQ) != "incoming" {
			t.Errorf("%s: whichq = %q", e.MessageID(), e.Msgdata.String(msgdata.WhichQ))
		}
		if !strings.HasPrefix(e.Msgdata.String(msgdata.Error), wantErr[e.MessageID()]) {
			t.Errorf("%s: error = %q", e.MessageID(), e.Msgdata.String(msgdata.Error))
		}
		if e.Msgdata.String(msgdata.ListID) != "test.example.com" {
			t.Errorf("%s lost its metadata", e.MessageID())
		}
	}

	got, err := Unshunt(q.shunt, q.open, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Err != nil || got[1].Err != nil || got[0].Queue != "incoming" {
		t.Fatalf("Unshunt = %+v", got)
	}
	if c := count(t, q.shunt); c.Total() != 0 {
		t.Errorf("shunt still holds %+v", c)
	}
	ready, _, _ = q.incoming.Ready(switchboard.Whole, time.Now())
	for _, f := range ready {
		e, _ := switchboard.ReadFile(filepath.Join(q.incoming.Dir(), f))
		if _, ok := e.Msgdata[msgdata.WhichQ]; ok {
			t.Error("unshunted entry still carries whichq")
		}
		if _, ok := e.Msgdata[msgdata.Error]; ok {
			t.Error("unshunted entry still carries error")
		}
	}
	ok := q.loop(t, func(context.Context, *switchboard.Entry, *slog.Logger) (Outcome, error) { return Done, nil })
	if n := ok.Drain(t.Context()); n != 2 {
		t.Errorf("after unshunt the runner processed %d, want 2", n)
	}
}

func TestUnshuntDiscardAndUnknownQueue(t *testing.T) {
	q := newQueues(t)
	for _, whichq := range []string{"incoming", "nowhere"} {
		md := switchboard.Msgdata{}
		md.Set(msgdata.WhichQ, whichq)
		if _, err := q.shunt.Enqueue([]byte("Message-ID: <"+whichq+">\n\n"), md); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Unshunt(q.shunt, q.open, false)
	if err != nil {
		t.Fatal(err)
	}
	var failed int
	for _, u := range got {
		if u.Err != nil {
			failed++
			if u.MessageID != "<nowhere>" || !strings.Contains(u.Err.Error(), `whichq "nowhere"`) {
				t.Errorf("unexpected failure %+v", u)
			}
		}
	}
	if failed != 1 || count(t, q.shunt).Ready != 1 {
		t.Fatalf("Unshunt = %+v; shunt %+v", got, count(t, q.shunt))
	}
	if _, err := Unshunt(q.shunt, q.open, true); err != nil {
		t.Fatal(err)
	}
	if c := count(t, q.shunt); c.Total() != 0 {
		t.Errorf("discard left %+v", c)
	}
}

func TestLoopPreservesCorruptEntryAndGoesOn(t *testing.T) {
	q := newQueues(t)
	names := q.enqueue(t, "a", "b", "c")
	if err := os.WriteFile(filepath.Join(q.incoming.Dir(), names[1]+".msg"), []byte("garbage"), 0o660); err != nil {
		t.Fatal(err)
	}
	l := q.loop(t, func(context.Context, *switchboard.Entry, *slog.Logger) (Outcome, error) { return Done, nil })
	l.Drain(t.Context())
	if got := q.seenIDs(); got != "<a> <c>" {
		t.Errorf("handled %s, want <a> <c>", got)
	}
	bad, _ := switchboard.Open(q.root, switchboard.BadQueue)
	defer bad.Close()
	if c := count(t, bad); c.Preserved != 1 {
		t.Errorf("bad holds %+v, want 1 preserved", c)
	}
	if c := count(t, q.incoming); c.Total() != 0 {
		t.Errorf("incoming holds %+v", c)
	}
}

func TestLoopKeepUntil(t *testing.T) {
	q := newQueues(t)
	q.enqueue(t, "later")
	now := time.Now()
	calls := 0
	l := q.loop(t, func(_ context.Context, e *switchboard.Entry, _ *slog.Logger) (Outcome, error) {
		calls++
		if calls == 1 {
			e.Msgdata.Set("tries", 1)
			return Outcome{KeepUntil: now.Add(time.Hour)}, nil
		}
		if e.Msgdata.Int("tries") != 1 {
			t.Error("metadata changed before keeping was lost")
		}
		return Done, nil
	})
	l.now = func() time.Time { return now }
	if n := l.Drain(t.Context()); n != 1 {
		t.Fatalf("first Drain processed %d", n)
	}
	if c := count(t, q.incoming); c != (switchboard.Counts{Deferred: 1}) {
		t.Fatalf("after keeping: %+v", c)
	}
	if n := l.Drain(t.Context()); n != 0 || calls != 1 {
		t.Fatalf("entry handed out before it was due (%d calls)", calls)
	}
	now = now.Add(time.Hour)
	if n := l.Drain(t.Context()); n != 1 || calls != 2 {
		t.Fatalf("entry not handed out when due (%d calls)", calls)
	}
	if c := count(t, q.incoming); c.Total() != 0 {
		t.Errorf("queue holds %+v", c)
	}
}

func TestLoopTemporaryFailureKeepsMessageInPlace(t *testing.T) {
	q := newQueues(t)
	names := q.enqueue(t, "a", "b")
	fail := true
	l := q.loop(t, func(context.Context, *switchboard.Entry, *slog.Logger) (Outcome, error) {
		if fail {
			return Done, Temporary(errors.New("database is locked"), time.Minute)
		}
		return Done, nil
	})
	p := l.pass(t.Context())
	if p.processed != 0 || p.pause != time.Minute {
		t.Fatalf("pass = %+v, want a one-minute pause and nothing processed", p)
	}
	ready, _, _ := q.incoming.Ready(switchboard.Whole, time.Now())
	if len(ready) != 2 || ready[0] != names[0]+".msg" || ready[1] != names[1]+".msg" {
		t.Fatalf("queue after a temporary failure: %v, want %v in place", ready, names)
	}
	if c := count(t, q.shunt); c.Total() != 0 {
		t.Errorf("a temporary failure shunted: %+v", c)
	}
	fail = false
	if n := l.Drain(t.Context()); n != 2 {
		t.Errorf("Drain after recovery processed %d", n)
	}
	if got := q.seenIDs(); got != "<a> <a> <b>" {
		t.Errorf("handled %s", got)
	}
}

func TestLoopStopLetsMessageInHandFinish(t *testing.T) {
	q := newQueues(t)
	q.enqueue(t, "first", "second")
	inHand, release := make(chan struct{}), make(chan struct{})
	l := q.loop(t, func(ctx context.Context, e *switchboard.Entry, _ *slog.Logger) (Outcome, error) {
		if e.MessageID() == "<first>" {
			close(inHand)
			<-release
			if ctx.Err() != nil {
				return Done, errors.New("handler context was cancelled")
			}
		}
		return Done, nil
	})
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- l.Run(ctx, nil) }()
	<-inHand
	stop()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := q.seenIDs(); got != "<first>" {
		t.Errorf("handled %s, want only <first>", got)
	}
	if c := count(t, q.incoming); c != (switchboard.Counts{Ready: 1}) {
		t.Errorf("incoming holds %+v, want the second message ready", c)
	}
	if c := count(t, q.shunt); c.Total() != 0 {
		t.Errorf("stop shunted the message in hand: %+v", c)
	}
}

func TestLoopWakesOnEnqueueAndRecoversAtStart(t *testing.T) {
	q := newQueues(t)
	names := q.enqueue(t, "crashed")
	if _, err := q.incoming.Dequeue(names[0] + ".msg"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 2)
	l := q.loop(t, func(_ context.Context, e *switchboard.Entry, _ *slog.Logger) (Outcome, error) {
		got <- e.MessageID()
		return Done, nil
	})
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	go l.Run(ctx, nil)
	// SleepTime is an hour, so only recovery and the watcher can bring
	// these messages in before the deadline.
	for _, want := range []string{"<crashed>", "<new>"} {
		if want == "<new>" {
			q.enqueue(t, "new")
		}
		select {
		case id := <-got:
			if id != want {
				t.Errorf("handled %s, want %s", id, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s was not handled", want)
		}
	}
}

// ticker is a Periodic handler that counts its ticks and fails the first.
type ticker struct {
	HandlerFunc
	every time.Duration
	ticks chan int
	n     int
}

func (k *ticker) Every() time.Duration { return k.every }

func (k *ticker) Tick(context.Context, *slog.Logger) error {
	k.n++
	k.ticks <- k.n
	if k.n == 1 {
		return errors.New("the first tick fails")
	}
	return nil
}

// A Periodic handler ticks at start and then on schedule, even with no
// message and a long sleep_time, and a failed tick does not stop the next.
func TestLoopTicksPeriodicHandler(t *testing.T) {
	q := newQueues(t)
	l := q.loop(t, func(context.Context, *switchboard.Entry, *slog.Logger) (Outcome, error) { return Done, nil })
	k := &ticker{HandlerFunc: l.Handler.(HandlerFunc), every: 20 * time.Millisecond, ticks: make(chan int, 10)}
	l.Handler = k
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx, nil) }()
	for want := 1; want <= 3; want++ {
		select {
		case n := <-k.ticks:
			if n != want {
				t.Fatalf("tick %d, want %d", n, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no tick %d", want)
		}
	}
	q.enqueue(t, "during-ticks")
	deadline := time.Now().Add(5 * time.Second)
	for q.seenIDs() != "<during-ticks>" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if q.seenIDs() != "<during-ticks>" {
		t.Errorf("messages seen while ticking: %q", q.seenIDs())
	}
}

// A message that keeps its handler past StuckAfter is reported with its
// entry; one that finishes in time is not.
func TestLoopWatchdogReportsStuckMessage(t *testing.T) {
	q := newQueues(t)
	release := make(chan struct{})
	l := q.loop(t, func(ctx context.Context, e *switchboard.Entry, _ *slog.Logger) (Outcome, error) {
		if e.MessageID() == "<stuck@test>" {
			<-release
		}
		return Done, nil
	})
	stuck := make(chan string, 2)
	l.StuckAfter = 100 * time.Millisecond
	l.OnStuck = func(entry string) { stuck <- entry }
	names := q.enqueue(t, "quick@test", "stuck@test")
	done := make(chan int)
	go func() { done <- l.Drain(context.Background()) }()
	select {
	case got := <-stuck:
		if got != names[1] {
			t.Errorf("OnStuck(%s), want the stuck entry %s", got, names[1])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnStuck 5 s after a handler hung")
	}
	close(release)
	if n := <-done; n != 2 {
		t.Errorf("Drain processed %d, want 2", n)
	}
	select {
	case got := <-stuck:
		t.Errorf("OnStuck(%s) called again", got)
	case <-time.After(2 * l.StuckAfter):
	}
}
