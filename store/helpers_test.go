package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

// listAddr parses a list address the test knows to be valid.
func listAddr(tb testing.TB, s string) ListAddress {
	tb.Helper()
	a, err := ParseListAddress(s)
	if err != nil {
		tb.Fatalf("ParseListAddress(%q): %v", s, err)
	}
	return a
}

// createList creates the list with posting address addr and owners.
func createList(tb testing.TB, s *Store, addr string, owners ...string) *List {
	tb.Helper()
	l, err := s.CreateList(context.Background(), NewList{Address: listAddr(tb, addr), Owners: owners})
	if err != nil {
		tb.Fatalf("CreateList(%s): %v", addr, err)
	}
	return l
}

// addMembers subscribes addresses in role and fails tb unless all are added.
func addMembers(tb testing.TB, s *Store, a ListAddress, role Role, addresses ...string) {
	tb.Helper()
	res, err := s.AddMembers(context.Background(), a, role, addresses, nil)
	if err != nil {
		tb.Fatalf("AddMembers(%s, %s, %q): %v", a, role, addresses, err)
	}
	if res.Added != len(addresses) || len(res.Existing) != 0 {
		tb.Fatalf("AddMembers(%s, %s, %q) = %+v, want all %d added", a, role, addresses, res, len(addresses))
	}
}

// countRows counts the rows of a table, optionally restricted by a WHERE
// clause, straight from the database.
func countRows(tb testing.TB, s *Store, table, where string, args ...any) int {
	tb.Helper()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int
	if err := s.db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

// addresses returns the addresses of ms, in order.
func addresses(ms []Member) []string {
	as := make([]string, len(ms))
	for i, m := range ms {
		as[i] = m.Address
	}
	return as
}

// atOnce calls f(0), …, f(n-1) in goroutines of their own, as nearly at
// once as it can, and waits for them.
func atOnce(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// within reports whether t lies in [from, to], to the nanosecond.
func within(t, from, to time.Time) bool { return !t.Before(from) && !t.After(to) }
