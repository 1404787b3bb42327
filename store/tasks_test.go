package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestTaskLifecycle: a task is due when its record says, held by one
// holder while it runs, due again when the holder says, and taken by
// another only once the first's hold has run out.
func TestTaskLifecycle(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
		if err := s.EnsureTask(ctx, "digests", at, at.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		// Recorded once: the second ensure keeps the first due time.
		if err := s.EnsureTask(ctx, "digests", at.Add(time.Hour), at.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name   string
			holder string
			now    time.Time
			want   bool
		}{
			{"not due yet", "a", at.Add(-time.Second), false},
			{"due", "a", at, true},
			{"held by a", "b", at.Add(time.Minute), false},
			{"held by a, a again", "a", at.Add(time.Minute), false},
			{"a's hold ran out", "b", at.Add(10 * time.Minute), true},
		}
		for _, st := range steps {
			got, err := s.ClaimTask(ctx, "digests", st.holder, st.now, st.now.Add(10*time.Minute))
			if err != nil || got != st.want {
				t.Errorf("%s: ClaimTask(%s) = %v, %v; want %v", st.name, st.holder, got, err, st.want)
			}
		}
		if err := s.FinishTask(ctx, "digests", "a", at.Add(11*time.Minute), at.Add(24*time.Hour), "late", false); !errors.Is(err, ErrNoSuchTask) {
			t.Errorf("a, whose hold ran out, finished: %v", err)
		}
		next := at.Add(24 * time.Hour)
		if err := s.FinishTask(ctx, "digests", "b", at.Add(11*time.Minute), next, "sent 2 issues", false); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.ClaimTask(ctx, "digests", "c", at.Add(12*time.Minute), at.Add(22*time.Minute)); ok || err != nil {
			t.Errorf("claimed after the run, before it is due again: %v, %v", ok, err)
		}
		ts, err := s.Tasks(ctx)
		if err != nil || len(ts) != 1 {
			t.Fatalf("Tasks = %+v, %v", ts, err)
		}
		want := Task{Name: "digests", DueAt: next, LastStartedAt: at.Add(10 * time.Minute), LastFinishedAt: at.Add(11 * time.Minute),
			LastRanOn: "b", LastResult: "sent 2 issues", Runs: 1}
		if ts[0] != want {
			t.Errorf("Tasks()[0] = %+v\nwant %+v", ts[0], want)
		}

		// A schedule moved earlier brings the task forward; a run by hand
		// makes it due at once.
		if err := s.EnsureTask(ctx, "digests", at, at.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if ts, _ := s.Tasks(ctx); !ts[0].DueAt.Equal(at.Add(2 * time.Hour)) {
			t.Errorf("due %v after the schedule moved, want %v", ts[0].DueAt, at.Add(2*time.Hour))
		}
		if err := s.MakeTaskDue(ctx, "digests", at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.ClaimTask(ctx, "digests", "c", at.Add(time.Hour), at.Add(2*time.Hour)); !ok || err != nil {
			t.Errorf("a task made due by hand was not claimed: %v, %v", ok, err)
		}
		if err := s.MakeTaskDue(ctx, "nosuch", at); !errors.Is(err, ErrNoSuchTask) {
			t.Errorf("MakeTaskDue(nosuch) = %v", err)
		}
	})
}

// TestClaimTaskTogether: hosts claiming a due task at once on one
// database (each its own Store) run it once.
func TestClaimTaskTogether(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.newDB(t)
		const hosts = 8
		stores := make([]*Store, hosts)
		for i := range stores {
			stores[i] = db.open(t)
		}
		at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
		if err := stores[0].EnsureTask(ctx, "digests", at, at); err != nil {
			t.Fatal(err)
		}
		for round := range 5 {
			now := at.Add(time.Duration(round) * time.Hour)
			var won atomic.Int32
			atOnce(hosts, func(i int) {
				ok, err := stores[i].ClaimTask(ctx, "digests", fmt.Sprint("host-", i), now, now.Add(10*time.Minute))
				if err != nil {
					t.Errorf("host %d: %v", i, err)
				}
				if ok {
					won.Add(1)
					if err := stores[i].FinishTask(ctx, "digests", fmt.Sprint("host-", i), now, now.Add(time.Hour), "ok", false); err != nil {
						t.Errorf("host %d: %v", i, err)
					}
				}
			})
			if n := won.Load(); n != 1 {
				t.Errorf("round %d: %d hosts ran the task", round, n)
			}
		}
	})
}
