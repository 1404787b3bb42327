package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Task is the record of one of the scheduler's jobs: when it is due, who
// holds it while it runs, and how its last run went.
type Task struct {
	Name           string    `json:"name"`
	DueAt          time.Time `json:"due_at"`
	HeldBy         string    `json:"held_by,omitempty"`
	HeldUntil      time.Time `json:"held_until,omitzero"`
	LastStartedAt  time.Time `json:"last_started_at,omitzero"`
	LastFinishedAt time.Time `json:"last_finished_at,omitzero"`
	LastRanOn      string    `json:"last_ran_on,omitempty"`
	LastResult     string    `json:"last_result,omitempty"`
	LastFailed     bool      `json:"last_failed"`
	Runs           int       `json:"runs"`
}

// ErrNoSuchTask is the error for a task the store has no record of.
var ErrNoSuchTask = errors.New("no such task")

// EnsureTask records the task, due at first, when the store has no record
// of it; a task recorded as due later than latest (its schedule was
// changed to an earlier time) is made due at latest.
func (s *Store) EnsureTask(ctx context.Context, name string, first, latest time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tasks (name, due_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
			name, first.UnixNano()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE tasks SET due_at = $1 WHERE name = $2 AND due_at > $1`, latest.UnixNano(), name)
		return err
	})
}

// ClaimTask gives the task to holder until until when it is due at now
// and no one else's hold on it is current; it reports whether holder has
// it. One statement decides, so that of hosts claiming at once on one
// database exactly one gets it.
func (s *Store) ClaimTask(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE tasks SET held_by = $1, held_until = $2, last_started_at = $3
		WHERE name = $4 AND due_at <= $3 AND held_until <= $3`, holder, until.UnixNano(), now.UnixNano(), name)
	if err != nil {
		return false, wrap(err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap(err)
}

// FinishTask records how holder's run of the task went and when it is due
// next, and lets go of it. A holder whose hold ran out and was taken by
// another records nothing: it gets ErrNoSuchTask.
func (s *Store) FinishTask(ctx context.Context, name, holder string, finished, next time.Time, result string, failed bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE tasks SET due_at = $1, held_by = '', held_until = 0, last_finished_at = $2,
		last_ran_on = $3, last_result = $4, last_failed = $5, runs = runs + 1 WHERE name = $6 AND held_by = $3`,
		next.UnixNano(), finished.UnixNano(), holder, result, boolColumn(failed), name)
	if err != nil {
		return wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("task %s, held by %s: %w", name, holder, ErrNoSuchTask)
	}
	return nil
}

// MakeTaskDue makes a recorded task due at now, for a run by hand.
func (s *Store) MakeTaskDue(ctx context.Context, name string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE tasks SET due_at = $1 WHERE name = $2`, now.UnixNano(), name)
	if err != nil {
		return wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("task %s: %w", name, ErrNoSuchTask)
	}
	return nil
}

// Tasks returns every task recorded, by name.
func (s *Store) Tasks(ctx context.Context) ([]Task, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, due_at, held_by, held_until, last_started_at, last_finished_at,
		last_ran_on, last_result, last_failed, runs FROM tasks ORDER BY name`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Task
	for rows.Next() {
		var t Task
		var due, held, started, finished, failed int64
		if err := rows.Scan(&t.Name, &due, &t.HeldBy, &held, &started, &finished, &t.LastRanOn, &t.LastResult, &failed, &t.Runs); err != nil {
			return nil, wrap(err)
		}
		t.DueAt, t.HeldUntil, t.LastStartedAt, t.LastFinishedAt = fromNanos(due), fromNanos(held), fromNanos(started), fromNanos(finished)
		t.LastFailed = failed != 0
		out = append(out, t)
	}
	return out, wrap(rows.Err())
}
