// Package runners owns what every runner shares: the Runner shape that
// queue runners and servers alike have, the Site a runner is built from,
// and the loop of a queue runner: recover the slice's claimed entries, wait
// for work, dequeue, dispose, finish, and shunt what fails. Each runner is
// a small Handler (or, for a server, a Runner) in a subpackage that only
// says what to do with one message; everything about queues, crashes,
// temporary failures and shutdown is decided here, once.
//
// Log lines use one vocabulary of keys (logkeys_test.go): "list" is always a
// list-id, "entry" a queue entry's name, "message_id" the Message-ID,
// "rcpt" a recipient's address and "error" what went wrong.
package runners

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/switchboard"
)

// Handler disposes of one message. The loop calls it with an entry it has
// claimed and, when it returns, finishes the entry, keeps it for later, or
// shunts it.
type Handler interface {
	// Dispose deals with e, logging to log, which names the entry and its
	// message. A non-nil error, or a panic, shunts the message with the
	// error recorded, unless the error is temporary (see Temporary). ctx is
	// not cancelled by a stop request: the message in hand is allowed to
	// finish.
	Dispose(ctx context.Context, e *switchboard.Entry, log *slog.Logger) (Outcome, error)
}

// Periodic is a Handler that also has work to do on a schedule, besides
// its messages, as Mailman's runners do in _do_periodic: the loop calls
// Tick when it starts and then about every Every(), between messages. An
// error is logged; the next tick comes on time.
type Periodic interface {
	Handler
	Every() time.Duration
	Tick(ctx context.Context, log *slog.Logger) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, e *switchboard.Entry, log *slog.Logger) (Outcome, error)

// Dispose calls f.
func (f HandlerFunc) Dispose(ctx context.Context, e *switchboard.Entry, log *slog.Logger) (Outcome, error) {
	return f(ctx, e, log)
}

// Outcome is what Dispose decided. The zero Outcome means done: the entry is
// removed from the queue.
type Outcome struct {
	// KeepUntil, when set, keeps the entry (with any changes Dispose made to
	// its metadata) in the queue and does not hand it out again before then.
	KeepUntil time.Time
}

// Done is the Outcome of a message that has been dealt with.
var Done = Outcome{}

// A temporary failure says nothing about the message itself (a database
// that is down, a full disk): the message goes back to its place in the
// queue, unchanged, and the loop pauses before trying again, instead of
// shunting it. The loop decides it once, for every handler: an error is
// temporary when the first in its chain with a Temporary method says so, as
// the store's ErrUnavailable errors and the switchboard's failed writes
// do. A handler returns such errors as they are, wrapped with context.
type temporary interface{ Temporary() bool }

// IsTemporary reports whether err is a temporary failure.
func IsTemporary(err error) bool {
	var t temporary
	return errors.As(err, &t) && t.Temporary()
}

// TemporaryError marks a failure as temporary that does not say so itself
// (a handler's own judgement), with the pause it asks for.
type TemporaryError struct {
	Err        error
	RetryAfter time.Duration // 0: the loop's TemporaryPause
}

func (e *TemporaryError) Error() string   { return "temporary failure: " + e.Err.Error() }
func (e *TemporaryError) Unwrap() error   { return e.Err }
func (e *TemporaryError) Temporary() bool { return true }

// Temporary marks err as temporary, to be retried after the given pause
// (0 for the loop's).
func Temporary(err error, retryAfter time.Duration) error {
	return &TemporaryError{Err: err, RetryAfter: retryAfter}
}

// DefaultTemporaryPause is how long the loop waits after a temporary
// failure when neither the error nor the loop says otherwise.
const DefaultTemporaryPause = 5 * time.Second

// Loop runs one slice of one queue.
type Loop struct {
	Queue     *switchboard.Switchboard
	Shunt     *switchboard.Switchboard
	Slice     switchboard.Slice
	Handler   Handler
	SleepTime time.Duration // rescan period when no watcher event comes
	Logger    *slog.Logger
	// TemporaryPause is the pause after a temporary failure that asks for
	// none of its own; 0 means DefaultTemporaryPause.
	TemporaryPause time.Duration

	// StuckAfter, when set, bounds how long one message may stay in the
	// handler; past it OnStuck is called, which in a runner process exits
	// so that the master starts a new one, whose recovery counts the
	// attempt and preserves the entry in bad/ after the third. A hung
	// handler cannot be taken back from inside the process, and Mailman's
	// users met runners that hung on one message unnoticed for hours.
	StuckAfter time.Duration
	OnStuck    func(entry string)

	now     func() time.Time // for tests; time.Now when nil
	noWatch bool             // for benchmarks of the rescan path
}

func (l *Loop) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// Recover takes back the entries of the slice left claimed by a runner that
// died, as every runner must when it starts.
func (l *Loop) Recover() error {
	rs, err := l.Queue.Recover(l.Slice)
	for _, r := range rs {
		if r.Preserved != nil {
			l.Logger.Error("preserved entry in bad", "entry", r.Name, "attempts", r.Attempts, "reason", r.Preserved)
		} else {
			l.Logger.Warn("recovered entry left in flight", "entry", r.Name, "attempts", r.Attempts)
		}
	}
	return err
}

// Run recovers, then processes entries as they arrive until ctx is done,
// calling ready (when not nil) once it watches its queue. A stop lets the
// message in hand finish; Run then returns nil.
func (l *Loop) Run(ctx context.Context, ready func()) error {
	if err := l.Recover(); err != nil {
		l.Logger.Error("recovery incomplete", "error", err)
	}
	var wake <-chan struct{}
	if !l.noWatch {
		w, err := l.Queue.Watch(l.Slice, func(err error) {
			l.Logger.Warn("queue watcher reported an error; rescanning", "error", err)
		})
		if err != nil {
			l.Logger.Warn("no queue watcher; relying on rescans", "error", err, "sleep_time", l.SleepTime)
		} else {
			defer w.Close()
			wake = w.C
		}
	}
	if ready != nil {
		ready()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	periodic, _ := l.Handler.(Periodic)
	var nextTick time.Time
	for {
		if periodic != nil && !l.clock().Before(nextTick) {
			if err := periodic.Tick(ctx, l.Logger); err != nil {
				l.Logger.Error("periodic task failed", "error", err)
			}
			nextTick = l.clock().Add(periodic.Every())
		}
		p := l.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		switch {
		case p.pause > 0:
			// Arrivals must not cut a pause short: the condition that
			// caused it affects them too.
			timer.Reset(p.pause)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
			continue
		case p.processed > 0:
			continue
		case !p.next.IsZero():
			wait = min(l.SleepTime, max(p.next.Sub(l.clock()), 0))
		default:
			wait = l.SleepTime
		}
		if periodic != nil {
			wait = min(wait, max(nextTick.Sub(l.clock()), 0))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// Drain processes ready entries until none is left and returns how many it
// processed. Tests and tools use it to run a runner in-process.
func (l *Loop) Drain(ctx context.Context) int {
	total := 0
	for ctx.Err() == nil {
		p := l.pass(ctx)
		total += p.processed
		if p.processed == 0 || p.pause > 0 {
			break
		}
	}
	return total
}

// passResult is what one pass over the queue did.
type passResult struct {
	processed int           // entries dealt with (finished, kept, shunted or preserved)
	next      time.Time     // when the next deferred entry is due; zero if none
	pause     time.Duration // set when a temporary failure asks the loop to wait
}

// pass processes the entries ready now, oldest first, stopping early when
// ctx is done or a temporary failure calls for a pause.
func (l *Loop) pass(ctx context.Context) passResult {
	files, next, err := l.Queue.Ready(l.Slice, l.clock())
	if err != nil {
		l.Logger.Error("cannot scan queue", "error", err)
		return passResult{}
	}
	p := passResult{next: next}
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		progressed, pause := l.processOne(f)
		if progressed {
			p.processed++
		}
		if pause > 0 {
			p.pause = pause
			break
		}
	}
	return p
}

// processOne dequeues, disposes and finishes one file. It reports whether it
// made progress, so that a queue whose entries all fail to dequeue is rescanned
// at the sleep_time pace rather than in a busy loop, and how long to pause
// after a temporary failure.
func (l *Loop) processOne(file string) (progressed bool, pause time.Duration) {
	e, err := l.Queue.Dequeue(file)
	if errors.Is(err, switchboard.ErrGone) {
		return false, 0
	}
	if err != nil {
		l.Logger.Error("cannot dequeue", "file", file, "error", err)
		return errors.Is(err, switchboard.ErrCorrupt), 0
	}
	log := EntryLog(l.Logger, e)
	if l.StuckAfter > 0 && l.OnStuck != nil {
		watchdog := time.AfterFunc(l.StuckAfter, func() {
			log.Error("message stuck in its handler; giving up the runner so that it is restarted and the entry recovered", "after", l.StuckAfter)
			l.OnStuck(e.Name)
		})
		defer watchdog.Stop()
	}
	out, err := l.dispose(e, log)
	switch {
	case IsTemporary(err):
		pause := l.pauseFor(err)
		log.Warn("temporary failure; message kept in place, pausing", "error", err, "pause", pause)
		l.release(log, e)
		return false, pause
	case err != nil:
		l.shunt(log, e, err)
	case !out.KeepUntil.IsZero():
		name, err := l.Queue.EnqueueAt(out.KeepUntil, e.Message, e.Msgdata)
		if err != nil {
			log.Error("cannot keep entry for later; releasing it for another try", "error", err)
			l.release(log, e)
			return false, l.SleepTime
		}
		log.Info("kept for later", "until", out.KeepUntil.Format(time.RFC3339Nano), "new_entry", name)
		l.finish(log, e)
	default:
		l.finish(log, e)
	}
	return true, 0
}

// EntryLog is log naming the entry e and its message, as the loop hands
// it to Dispose.
func EntryLog(log *slog.Logger, e *switchboard.Entry) *slog.Logger {
	return log.With("entry", e.Name, "message_id", e.MessageID())
}

// pauseFor is the pause a temporary failure asks for, or the loop's.
func (l *Loop) pauseFor(err error) time.Duration {
	var tmp *TemporaryError
	if errors.As(err, &tmp) && tmp.RetryAfter > 0 {
		return tmp.RetryAfter
	}
	if l.TemporaryPause > 0 {
		return l.TemporaryPause
	}
	return DefaultTemporaryPause
}

func (l *Loop) release(log *slog.Logger, e *switchboard.Entry) {
	if err := l.Queue.Release(e.Name); err != nil {
		log.Error("cannot release entry; it will be recovered at the next start", "error", err)
	}
}

func (l *Loop) finish(log *slog.Logger, e *switchboard.Entry) {
	if err := l.Queue.Finish(e.Name); err != nil {
		log.Error("cannot finish entry; it will be processed again after a restart", "error", err)
	}
}

// dispose calls the handler, turning a panic into an error so that one bad
// message never takes its runner down.
func (l *Loop) dispose(e *switchboard.Entry, log *slog.Logger) (out Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	// The message in hand must finish even when a stop is requested, so the
	// handler's context is never cancelled by the loop.
	return l.Handler.Dispose(context.Background(), e, log)
}

// shunt parks a message whose disposal failed in the shunt queue, recording
// where it came from and why, so that `mailmanctl unshunt` can replay it.
func (l *Loop) shunt(log *slog.Logger, e *switchboard.Entry, cause error) {
	md := e.Msgdata.Clone()
	md.Set(msgdata.WhichQ, l.Queue.Name())
	md.Set(msgdata.Error, cause.Error())
	name, err := l.Shunt.Enqueue(e.Message, md)
	if err != nil {
		log.Error("cannot shunt; preserving in bad", "cause", cause, "error", err)
		if err := l.Queue.Preserve(e.Name); err != nil {
			log.Error("cannot preserve; it will be recovered at the next start", "error", err)
		}
		return
	}
	log.Error("shunted", "shunt_entry", name, "error", cause)
	l.finish(log, e)
}
