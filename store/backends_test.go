package store

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/mailman-go/mailman/internal/pgtest"
)

// cluster is the private PostgreSQL server the tests run on; nil where
// PostgreSQL is not installed.
var cluster *pgtest.Cluster

func TestMain(m *testing.M) {
	// A worker of TestConcurrentProcesses is given its database's URL.
	if os.Getenv(envWorker) != "" {
		os.Exit(m.Run())
	}
	code := pgtest.Main(m, pgtest.Options{}, &cluster)
	if durable != nil {
		durable.Stop()
	}
	os.Exit(code)
}

// testDB is one database: what Open takes to open it.
type testDB struct{ url, varDir string }

// open opens a store on d and closes it when tb ends.
func (d testDB) open(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(context.Background(), d.url, d.varDir)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// A backend is a kind of database the store runs on, and how a test gets
// a new, empty one of its own.
type backend struct {
	name  string
	newDB func(tb testing.TB) testDB
}

// backends are those every test runs over.
var backends = []backend{sqliteBackend, postgresBackend}

var (
	sqliteBackend   = backend{"sqlite", func(tb testing.TB) testDB { return testDB{"", tb.TempDir()} }}
	postgresBackend = backend{"postgres", func(tb testing.TB) testDB {
		pgtest.Need(tb, cluster)
		return testDB{cluster.NewDatabase(tb), tb.TempDir()}
	}}
)

// forBackends runs test over each backend, as a subtest named after it.
// The subtests run side by side: they share nothing, and SQLite's work is
// this process's while PostgreSQL's is mostly its server's.
func forBackends(t *testing.T, test func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b)
		})
	}
}

// newStore opens a store on a new database of b's of its own and closes
// it when tb ends.
func newStore(tb testing.TB, b backend) *Store {
	tb.Helper()
	return b.newDB(tb).open(tb)
}

// benchBackends are those the benchmarks run over: PostgreSQL on a
// cluster of its own that keeps its fsyncs, since commits that need not
// reach the disk would flatter it beside SQLite, which syncs each one.
var benchBackends = []backend{sqliteBackend, {"postgres", func(tb testing.TB) testDB {
	c := durableCluster(tb)
	return testDB{c.NewDatabase(tb), tb.TempDir()}
}}}

// forBenchBackends runs bench over each of benchBackends, as a
// sub-benchmark named after it.
func forBenchBackends(b *testing.B, bench func(b *testing.B, be backend)) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) { bench(b, be) })
	}
}

// The durable cluster is started by the first benchmark that needs it, so
// that the tests do not pay for it, and stopped by TestMain.
var (
	durableOnce sync.Once
	durable     *pgtest.Cluster
	durableErr  error
)

func durableCluster(tb testing.TB) *pgtest.Cluster {
	tb.Helper()
	durableOnce.Do(func() { durable, durableErr = pgtest.Start(pgtest.Options{Durable: true}) })
	if errors.Is(durableErr, pgtest.ErrNotInstalled) {
		pgtest.Need(tb, nil)
	}
	if durableErr != nil {
		tb.Fatal(durableErr)
	}
	return durable
}
