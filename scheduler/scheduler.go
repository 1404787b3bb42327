// Package scheduler owns when a site's periodic work runs, without a
// cron: each job has a schedule and a record in the store saying when it
// is next due and who runs it now. A process takes a due job by holding
// its record for a while, in one statement, so that hosts sharing one
// database run each job once, and a host that was down when a job was
// due runs it when it comes back. It does not know what the jobs do; the
// scheduler runner gives it them.
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/store"
)

// Job is one piece of periodic work.
type Job struct {
	Name     string
	Schedule config.Schedule
	// Run does the work as of now and says what it did, in a few words.
	Run func(ctx context.Context, now time.Time) (string, error)
}

// Scheduler runs a site's jobs when they are due.
type Scheduler struct {
	Store *store.Store
	Jobs  []Job
	// Holder names this process in the jobs' records: Holder() when "".
	Holder string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Hold is how long a run may take before another process may take
	// the job over, taking this one for dead: DefaultHold when 0.
	Hold time.Duration
	Log  *slog.Logger

	// recorded are the jobs whose records this process has made sure of:
	// a schedule changes only with the configuration, read at start.
	recorded map[string]bool
}

// DefaultHold is long enough for the slowest job of a large site (the
// digests of thousands of lists), short enough that a host that died
// running one delays it by no more than this.
const DefaultHold = time.Hour

// retryFailed is how soon a job that failed is tried again, unless its
// schedule comes sooner.
const retryFailed = 5 * time.Minute

// Holder is this process as the jobs' records name it: its host and pid.
func Holder() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Tick runs, one after another, each job due and not held by another
// process; it returns when none is left due.
func (s *Scheduler) Tick(ctx context.Context) error {
	holder := s.Holder
	if holder == "" {
		holder = Holder()
	}
	hold := s.Hold
	if hold == 0 {
		hold = DefaultHold
	}
	for _, j := range s.Jobs {
		if j.Schedule.Never() {
			continue
		}
		now := s.now()
		if !s.recorded[j.Name] {
			first := j.Schedule.Next(now)
			if j.Schedule.IsInterval() {
				first = now
			}
			if err := s.Store.EnsureTask(ctx, j.Name, first, j.Schedule.Next(now)); err != nil {
				return fmt.Errorf("task %s: %w", j.Name, err)
			}
			if s.recorded == nil {
				s.recorded = map[string]bool{}
			}
			s.recorded[j.Name] = true
		}
		mine, err := s.Store.ClaimTask(ctx, j.Name, holder, now, now.Add(hold))
		if err != nil {
			return fmt.Errorf("task %s: %w", j.Name, err)
		}
		if !mine {
			continue
		}
		result, err := s.run(ctx, j, now)
		finished := s.now()
		next := j.Schedule.Next(now)
		if err != nil {
			result = err.Error()
			if retry := finished.Add(retryFailed); retry.Before(next) {
				next = retry
			}
			s.Log.Error("task failed", "task", j.Name, "error", err, "next", next.Format(time.RFC3339))
		} else {
			s.Log.Info("task done", "task", j.Name, "result", result, "duration", finished.Sub(now).Round(time.Millisecond).String(),
				"next", next.Format(time.RFC3339))
		}
		// Recorded even when ctx ended during the run: the record must
		// not stay held for another hour.
		if err := s.Store.FinishTask(context.WithoutCancel(ctx), j.Name, holder, finished, next, result, err != nil); err != nil {
			return fmt.Errorf("task %s: %w", j.Name, err)
		}
	}
	return nil
}

// run runs the job; a job that panics has failed, and the scheduler goes
// on with the others.
func (s *Scheduler) run(ctx context.Context, j Job, now time.Time) (result string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return j.Run(ctx, now)
}

// Run ticks at once and then every interval, until ctx ends. A tick that
// fails (the store unreachable) is logged and the next one tries again.
func (s *Scheduler) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("scheduler tick failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
