package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	schedrunner "github.com/mailman-go/mailman/runners/scheduler"
	"github.com/mailman-go/mailman/store"
)

// taskReport is one job's line of mailmanctl tasks.
type taskReport struct {
	Name       string    `json:"name"`
	Schedule   string    `json:"schedule"`
	What       string    `json:"what"`
	LastRun    time.Time `json:"last_run,omitzero"`
	LastRanOn  string    `json:"last_ran_on,omitempty"`
	LastResult string    `json:"last_result,omitempty"`
	LastFailed bool      `json:"last_failed"`
	Runs       int       `json:"runs"`
	Running    string    `json:"running_on,omitempty"`
	Next       time.Time `json:"next_run,omitzero"`
}

// cmdTasks shows the scheduler runner's jobs, from their records in the
// store (those of every host sharing it), or makes one due now (--run).
func cmdTasks(e *env, args []string) error {
	fs, cfgPath := e.flags("tasks")
	run := fs.String("run", "", "make the job of this name due now: the scheduler runner runs it within [scheduler] check_every")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, st, err := e.openSite(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Now()
	entries := schedrunner.Schedules(cfg)
	if *run != "" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name)
		}
		if !slices.Contains(names, *run) {
			return usagef("no job %q (the jobs are %v)", *run, names)
		}
		err := st.MakeTaskDue(ctx, *run, now)
		if errors.Is(err, store.ErrNoSuchTask) {
			// The scheduler has not run yet: the record it will find.
			err = st.EnsureTask(ctx, *run, now, now)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s is due now; the scheduler runner runs it within %s\n", *run, cfg.Scheduler.CheckEvery)
		return nil
	}
	recorded, err := st.Tasks(ctx)
	if err != nil {
		return err
	}
	var reports []taskReport
	for _, en := range entries {
		r := taskReport{Name: en.Name, Schedule: en.Schedule.String(), What: en.What}
		i := slices.IndexFunc(recorded, func(t store.Task) bool { return t.Name == en.Name })
		switch {
		case en.Schedule.Never():
		case i < 0:
			// Never run: due as the scheduler will first record it.
			r.Next = en.Schedule.Next(now)
			if en.Schedule.IsInterval() {
				r.Next = now
			}
		default:
			t := recorded[i]
			r.LastRun, r.LastRanOn, r.LastResult, r.LastFailed, r.Runs, r.Next = t.LastStartedAt, t.LastRanOn, t.LastResult, t.LastFailed, t.Runs, t.DueAt
			if t.HeldBy != "" && t.HeldUntil.After(now) {
				r.Running = t.HeldBy
			}
		}
		reports = append(reports, r)
	}
	if *asJSON {
		return writeJSON(e.stdout, reports)
	}
	t := newTable(e.stdout, "TASK", "SCHEDULE", "LAST RUN", "ON", "RESULT", "NEXT RUN")
	for _, r := range reports {
		result := r.LastResult
		switch {
		case r.Running != "":
			result = "running on " + r.Running
		case r.LastFailed:
			result = "FAILED: " + result
		case r.Runs == 0:
			result = "-"
		}
		t.row(r.Name, r.Schedule, when(r.LastRun), dash(r.LastRanOn), result, when(r.Next))
	}
	return t.flush()
}

// when is a time as the tables show it, local as the schedules are.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
