// Package runnertest sets up what the tests of a queue runner share: a
// store in a temporary folder holding the list test@example.com and its
// people, and the queues the runner writes, so that each runner's tests
// say only what is particular to them. It knows the store and the
// switchboard, and nothing of any one runner.
package runnertest

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// Site is a store with the list test@example.com and a queue root, in a
// temporary folder removed when the test ends.
type Site struct {
	Store *store.Store
	List  store.ListAddress
	Root  string // the queue root
	tb    testing.TB
}

// New makes the site, with people: for each role, the addresses ("addr"
// or "Name <addr>") that have it.
func New(tb testing.TB, people map[store.Role][]string) *Site {
	tb.Helper()
	dir := tb.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, "", dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	a, _ := store.ParseListAddress("test@example.com")
	if _, err := st.CreateList(ctx, store.NewList{Address: a}); err != nil {
		tb.Fatal(err)
	}
	for _, role := range store.Roles {
		if len(people[role]) == 0 {
			continue
		}
		if _, err := st.AddMembers(ctx, a, role, people[role], nil); err != nil {
			tb.Fatal(err)
		}
	}
	return &Site{Store: st, List: a, Root: config.PathsIn(dir).Queues, tb: tb}
}

// Queue opens the named queue, closed when the test ends.
func (s *Site) Queue(name string) *switchboard.Switchboard {
	s.tb.Helper()
	q, err := switchboard.Open(s.Root, name)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.tb.Cleanup(func() { q.Close() })
	return q
}

// Set changes one of the list's settings.
func (s *Site) Set(key, value string) {
	s.tb.Helper()
	if err := s.Store.SetListSetting(context.Background(), s.List, key, value); err != nil {
		s.tb.Fatal(err)
	}
}

// Queued returns the entries ready in q, oldest first, leaving them there.
func Queued(tb testing.TB, q *switchboard.Switchboard) []*switchboard.Entry {
	tb.Helper()
	return read(tb, q, false)
}

// Take returns the entries ready in q, oldest first, and removes them, so
// that the next call sees only what came since.
func Take(tb testing.TB, q *switchboard.Switchboard) []*switchboard.Entry {
	tb.Helper()
	return read(tb, q, true)
}

func read(tb testing.TB, q *switchboard.Switchboard, remove bool) []*switchboard.Entry {
	tb.Helper()
	files, _, err := q.Ready(switchboard.Whole, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	var es []*switchboard.Entry
	for _, file := range files {
		path := filepath.Join(q.Dir(), file)
		e, err := switchboard.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		es = append(es, e)
		if remove {
			if err := os.Remove(path); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return es
}

// HoldWriteLock holds an immediate write transaction on the SQLite
// database db, as another process would, until the func it returns is
// called: writers of the store wait busy_timeout, then fail as unavailable.
func HoldWriteLock(t *testing.T, db string) func() {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := d.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "UPDATE lists SET post_id = post_id"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Error(err)
		}
		conn.Close()
		d.Close()
	}
}
