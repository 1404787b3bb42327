// Package scheduler is the scheduler runner: it runs the site's periodic
// jobs (package scheduler) at the times the configuration gives, inside
// the master instead of a crontab. Its jobs are the periodic digests, the
// upkeep Mailman's task runner does (expired requests, and posts held past
// their list's max_days_to_hold), and the moderators' reminders. It has
// no queue; what the jobs send goes to the virgin queue.
package scheduler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/digest"
	"github.com/mailman-go/mailman/moderation"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/scheduler"
	"github.com/mailman-go/mailman/store"
)

// The jobs' names, as their records and `mailmanctl tasks` give them.
const (
	Digests = "digests"
	Upkeep  = "upkeep"
	Notify  = "notify"
)

// Entry is one of the site's jobs: its name, when it runs, and what it
// does, for people.
type Entry struct {
	Name     string
	Schedule config.Schedule
	Key      string // the configuration key of its schedule
	What     string
}

// Schedules are the site's jobs, in the order they run in one tick.
func Schedules(cfg *config.Config) []Entry {
	return []Entry{
		{Upkeep, config.Schedule{Every: cfg.Mailman.RunTasksEvery}, "[mailman] run_tasks_every",
			"evicts expired requests, discards posts held past max_days_to_hold"},
		{Digests, cfg.Digests.SendAt, "[digests] send_at", "sends the periodic digests"},
		{Notify, cfg.Scheduler.NotifyAt, "[scheduler] notify_at", "reminds moderators of requests waiting"},
	}
}

// sentPostsKept is how long the keys of posts already sent in a digest are
// kept, so that a step run again after a crash does not add them again.
const sentPostsKept = 7 * 24 * time.Hour

type runner struct {
	s     *scheduler.Scheduler
	every time.Duration
}

// Build is the scheduler runner's builder.
func Build(site *runners.Site) (runners.Runner, error) {
	st, err := site.Store()
	if err != nil {
		return nil, err
	}
	virgin, err := site.Queue("virgin")
	if err != nil {
		return nil, err
	}
	pipeline, err := site.Queue("pipeline")
	if err != nil {
		return nil, err
	}
	sender := digest.NewSender(st, virgin, site.Config.Mailman.SiteOwner, site.Log)
	mod := &moderation.Moderator{Store: st, Pipeline: pipeline, Virgin: virgin, Log: site.Log}
	runs := map[string]func(context.Context, time.Time) (string, error){
		Digests: func(ctx context.Context, now time.Time) (string, error) {
			sent, err := sender.Periodic(ctx, now)
			return digestsResult(sent), err
		},
		Upkeep: func(ctx context.Context, now time.Time) (string, error) { return upkeep(ctx, st, mod, now) },
		Notify: func(ctx context.Context, now time.Time) (string, error) {
			n, err := mod.RemindModerators(ctx, now)
			return fmt.Sprintf("reminded the moderators of %d list(s)", n), err
		},
	}
	var jobs []scheduler.Job
	for _, e := range Schedules(site.Config) {
		jobs = append(jobs, scheduler.Job{Name: e.Name, Schedule: e.Schedule, Run: runs[e.Name]})
	}
	return &runner{
		s:     &scheduler.Scheduler{Store: st, Jobs: jobs, Log: site.Log},
		every: site.Config.Scheduler.CheckEvery.D(),
	}, nil
}

// Run runs the jobs due now and then as they come due, until ctx ends.
func (r *runner) Run(ctx context.Context, ready func()) error {
	ready()
	return r.s.Run(ctx, r.every)
}

func digestsResult(sent []store.DigestIssue) string {
	if len(sent) == 0 {
		return "no digest due"
	}
	lists := map[string]bool{}
	var issues []string
	for _, is := range sent {
		lists[is.ListID] = true
		issues = append(issues, fmt.Sprintf("%s vol %d no %d", is.ListID, is.Volume, is.Number))
	}
	return fmt.Sprintf("sent %d issue(s) of %d list(s): %s", len(sent), len(lists), strings.Join(issues, ", "))
}

// upkeep is what Mailman's task runner does each run_tasks_every, and
// what it leaves to scripts: held posts past their time.
func upkeep(ctx context.Context, st *store.Store, mod *moderation.Moderator, now time.Time) (string, error) {
	evicted, err := st.EvictExpired(ctx, now)
	if err != nil {
		return "", err
	}
	discarded, err := mod.DiscardExpired(ctx, now)
	if err != nil {
		return "", err
	}
	forgotten, err := st.PurgeDigestPosts(ctx, now.Add(-sentPostsKept))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("evicted %d expired request(s), discarded %d held post(s), forgot %d sent digest post(s)", evicted, discarded, forgotten), nil
}
