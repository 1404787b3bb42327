package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// stopServer stops the cluster's server, as a crash or a restart would,
// and returns the function that starts it again, which the test's end
// calls too if the test did not.
func stopServer(t *testing.T) (start func()) {
	t.Helper()
	if err := cluster.StopServer(true); err != nil {
		t.Fatal(err)
	}
	stopped := true
	start = func() {
		if !stopped {
			return
		}
		stopped = false
		if err := cluster.StartServer(); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(start)
	return start
}

// A runner started while PostgreSQL is down fails as unavailable, waits
// for it when asked to, and connects once the server is started again:
// TestOpenExisting for a server rather than a file.
func TestOpenExistingPostgres(t *testing.T) {
	ctx := context.Background()
	db := postgresBackend.newDB(t)
	made, err := Open(ctx, db.url, db.varDir)
	if err != nil {
		t.Fatal(err)
	}
	createList(t, made, "test@example.com")
	made.Close()

	start := stopServer(t)
	if st, err := OpenExisting(ctx, db.url, db.varDir, nil); !errors.Is(err, ErrUnavailable) {
		if st != nil {
			st.Close()
		}
		t.Fatalf("OpenExisting with the server down: %v, want ErrUnavailable", err)
	}
	checkOpenExistingWaits(t, db.url, db.varDir, start)
}

// A store whose server has gone (stopped, restarting) fails with
// ErrUnavailable, to be retried, not as the message's fault, and works
// again once the server is back, without being reopened: TestUnavailable
// for a server rather than a lock.
func TestUnavailablePostgres(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, postgresBackend)
	l := createList(t, s, "test@example.com")
	a := l.Address
	addMembers(t, s, a, Regular, "anne@example.com")

	start := stopServer(t)
	for name, f := range map[string]func() error{
		"SetListSetting": func() error { return s.SetListSetting(ctx, a, "emergency", "yes") },
		"AddMembers": func() error {
			_, err := s.AddMembers(ctx, a, Regular, []string{"bob@example.com"}, nil)
			return err
		},
		"AddPending": func() error {
			_, err := s.AddPending(ctx, "", "x", "x", time.Hour)
			return err
		},
		"RemoveList": func() error { return s.RemoveList(ctx, a) },
		"ListByID":   func() error { _, err := s.ListByID(ctx, l.ListID); return err },
		"Member":     func() error { _, err := s.Member(ctx, l.ListID, "anne@example.com", Regular); return err },
	} {
		if err := f(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with the server down = %v, want ErrUnavailable", name, err)
		}
	}

	start()
	// Connections the server closed may fail a statement or two more,
	// as unavailable, before the pool has replaced them.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.SetListSetting(ctx, a, "emergency", "yes")
		if err == nil {
			break
		}
		if !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("SetListSetting once the server is back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m, err := s.Member(ctx, l.ListID, "anne@example.com", Regular); err != nil || m.Address != "anne@example.com" {
		t.Errorf("Member once the server is back = %v, %v", m, err)
	}
	if l, err := s.ListByID(ctx, l.ListID); err != nil || !l.Emergency {
		t.Errorf("ListByID once the server is back = %+v, %v", l, err)
	}

	// Errors of the package itself are not ErrUnavailable.
	for _, err := range []error{
		func() error { _, err := s.ListByID(ctx, "missing.example.com"); return err }(),
		s.SetListSetting(ctx, a, "nonexistent", "x"),
		func() error { _, err := s.CreateList(ctx, NewList{Address: a}); return err }(),
	} {
		if err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("error %v marked unavailable", err)
		}
	}
}
