package runners

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mailman-go/mailman/switchboard"
)

// benchmarkWakeup measures how long a runner waiting on an empty queue takes
// to start disposing of a message after Enqueue returns: the delay a message
// suffers at each hop between runners. The runner may be woken while Enqueue
// is still syncing the directory, so the delay can be zero; the delay from
// the call to Enqueue, which includes the durable write, is reported too.
func benchmarkWakeup(b *testing.B, watch bool, sleep time.Duration) {
	root := b.TempDir()
	q, _ := switchboard.Open(root, "incoming")
	shunt, _ := switchboard.Open(root, "shunt")
	defer q.Close()
	defer shunt.Close()
	started := make(chan time.Time, 1)
	l := &Loop{
		Queue: q, Shunt: shunt, Slice: switchboard.Whole, SleepTime: sleep,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: HandlerFunc(func(context.Context, *switchboard.Entry, *slog.Logger) (Outcome, error) {
			started <- time.Now()
			return Done, nil
		}),
		noWatch: !watch,
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go l.Run(ctx, nil)
	time.Sleep(50 * time.Millisecond) // let the runner reach its wait
	msg := []byte("Message-ID: <wake@example.com>\n\nbody\n")
	var fromReturn, fromCall []time.Duration
	for b.Loop() {
		called := time.Now()
		if _, err := q.Enqueue(msg, nil); err != nil {
			b.Fatal(err)
		}
		returned := time.Now()
		s := <-started
		fromReturn = append(fromReturn, max(0, s.Sub(returned)))
		fromCall = append(fromCall, s.Sub(called))
		// Let the runner finish this entry and go back to waiting, then
		// enqueue the next one at a random point of its rescan period.
		for c, _ := q.Count(); c.Total() > 0; c, _ = q.Count() {
			time.Sleep(100 * time.Microsecond)
		}
		time.Sleep(time.Millisecond + rand.N(min(sleep, 50*time.Millisecond)))
	}
	report := func(ds []time.Duration, unit string) {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "median-"+unit)
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-"+unit)
	}
	report(fromReturn, "µs")
	report(fromCall, "µs-from-call")
}

// BenchmarkWakeupFsnotify is the wake-up delay through the fsnotify watcher.
func BenchmarkWakeupFsnotify(b *testing.B) { benchmarkWakeup(b, true, time.Hour) }

// BenchmarkWakeupRescan is the wake-up delay with no watcher, through the
// periodic rescan alone, at a 50 ms sleep_time (the delay is about half the
// sleep_time; Mailman polls every second).
func BenchmarkWakeupRescan(b *testing.B) { benchmarkWakeup(b, false, 50*time.Millisecond) }
