package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/internal/pgtest"
	"github.com/mailman-go/mailman/store"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{}, &cluster)) }

// clock is the tests' time: set, never slept.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// counting is a job that counts its runs, and fails or panics when told.
type counting struct {
	mu   sync.Mutex
	runs []time.Time
	fail error
	bad  bool
}

func (c *counting) job(name, schedule string) Job {
	s, err := config.ParseSchedule(schedule)
	if err != nil {
		panic(err)
	}
	return Job{Name: name, Schedule: s, Run: func(_ context.Context, now time.Time) (string, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.bad {
			panic("the job broke")
		}
		c.runs = append(c.runs, now)
		return fmt.Sprintf("run %d", len(c.runs)), c.fail
	}}
}

func (c *counting) count() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.runs) }

func openStore(t *testing.T, url, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newScheduler(t *testing.T, st *store.Store, c *clock, holder string, jobs ...Job) (*Scheduler, *bytes.Buffer) {
	var log bytes.Buffer
	return &Scheduler{Store: st, Jobs: jobs, Holder: holder, Now: c.Now, Log: slog.New(slog.NewTextHandler(&log, nil))}, &log
}

var day0 = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

// TestSchedules: a job at a time of day runs once when the time comes and
// again the next day; an interval job runs at once and then each interval;
// a job that is never runs never.
func TestSchedules(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		ticks    []time.Duration // after day0
		want     []time.Duration // the runs, after day0
	}{
		{"12:00", []time.Duration{11 * time.Hour, 12 * time.Hour, 12*time.Hour + 30*time.Second, 13 * time.Hour, 36 * time.Hour},
			[]time.Duration{12 * time.Hour, 36 * time.Hour}},
		{"06:00,18:00", []time.Duration{7 * time.Hour, 17 * time.Hour, 19 * time.Hour, 29 * time.Hour, 31 * time.Hour},
			[]time.Duration{19 * time.Hour, 31 * time.Hour}},
		{"1h", []time.Duration{0, 30 * time.Minute, time.Hour, 90 * time.Minute, 3 * time.Hour},
			[]time.Duration{0, time.Hour, 3 * time.Hour}},
		{"never", []time.Duration{0, 24 * time.Hour}, nil},
	} {
		t.Run(tc.schedule, func(t *testing.T) {
			c := &clock{}
			var job counting
			s, _ := newScheduler(t, openStore(t, "", t.TempDir()), c, "a", job.job("j", tc.schedule))
			for _, at := range tc.ticks {
				c.set(day0.Add(at))
				if err := s.Tick(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			var got []time.Duration
			for _, r := range job.runs {
				got = append(got, r.Sub(day0))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("runs at %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDownAtTheHour: a host that was down when the job was due runs it
// when it comes back, once, and then at its time again.
func TestDownAtTheHour(t *testing.T) {
	dir := t.TempDir()
	c := &clock{}
	var job counting
	s, _ := newScheduler(t, openStore(t, "", dir), c, "a", job.job("digests", "12:00"))
	c.set(day0.Add(9 * time.Hour))
	if err := s.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Down from 10:00 to 15:00; a new process, as after a restart.
	s, _ = newScheduler(t, openStore(t, "", dir), c, "a2", job.job("digests", "12:00"))
	for _, at := range []time.Duration{15 * time.Hour, 15*time.Hour + time.Minute, 36 * time.Hour} {
		c.set(day0.Add(at))
		if err := s.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := job.count(); got != 2 || !job.runs[0].Equal(day0.Add(15*time.Hour)) {
		t.Errorf("runs %v, want at 15:00 and at noon the next day", job.runs)
	}
}

// TestFailedJob: a job that fails, or panics, is recorded as failed and
// tried again five minutes later; the other jobs still run.
func TestFailedJob(t *testing.T) {
	c := &clock{}
	var broken, other counting
	broken.fail = errors.New("the store is away")
	st := openStore(t, "", t.TempDir())
	s, log := newScheduler(t, st, c, "a", broken.job("broken", "12:00"), other.job("other", "12:00"))
	ctx := context.Background()
	for _, at := range []time.Duration{11 * time.Hour, 12 * time.Hour} {
		c.set(day0.Add(at))
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ts, err := st.Tasks(ctx)
	if err != nil || len(ts) != 2 {
		t.Fatalf("Tasks = %+v, %v", ts, err)
	}
	if b := ts[0]; !b.LastFailed || b.LastResult != "the store is away" || !b.DueAt.Equal(day0.Add(12*time.Hour+5*time.Minute)) {
		t.Errorf("the failed job's record: %+v", b)
	}
	if o := ts[1]; o.LastFailed || o.LastResult != "run 1" || o.Runs != 1 {
		t.Errorf("the other job's record: %+v", o)
	}
	if !strings.Contains(log.String(), `msg="task failed" task=broken error="the store is away"`) {
		t.Errorf("log:\n%s", log.String())
	}
	broken.fail, broken.bad = nil, true
	c.set(day0.Add(12*time.Hour + 5*time.Minute))
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if ts, _ := st.Tasks(ctx); !ts[0].LastFailed || ts[0].LastResult != "panic: the job broke" || ts[0].Runs != 2 {
		t.Errorf("after a panic: %+v", ts[0])
	}
	broken.bad = false
	c.set(day0.Add(12*time.Hour + 10*time.Minute))
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if ts, _ := st.Tasks(ctx); ts[0].LastFailed || !ts[0].DueAt.Equal(day0.Add(36*time.Hour)) {
		t.Errorf("after it worked again: %+v", ts[0])
	}
}

// TestTwoHostsOneDatabase: schedulers on two hosts sharing one database,
// ticking at the same moments, run each job once.
func TestTwoHostsOneDatabase(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			url, dir := "", t.TempDir()
			if backend == "postgres" {
				pgtest.Need(t, cluster)
				url = cluster.NewDatabase(t)
			}
			c := &clock{}
			var job counting
			var hosts []*Scheduler
			for _, h := range []string{"A", "B"} {
				s, _ := newScheduler(t, openStore(t, url, dir), c, h, job.job("digests", "12:00"))
				hosts = append(hosts, s)
			}
			for d := range 3 {
				for _, at := range []time.Duration{11 * time.Hour, 12 * time.Hour, 12*time.Hour + 30*time.Second} {
					c.set(day0.Add(time.Duration(d)*24*time.Hour + at))
					var wg sync.WaitGroup
					for _, s := range hosts {
						wg.Go(func() {
							if err := s.Tick(context.Background()); err != nil {
								t.Error(err)
							}
						})
					}
					wg.Wait()
				}
			}
			if got := job.count(); got != 3 {
				t.Errorf("the daily job ran %d times in three days on two hosts, want 3", got)
			}
		})
	}
}
