package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mailman-go/mailman/config"
)

//go:embed migrations
var migrations embed.FS

// Errors callers branch on.
var (
	ErrListExists = errors.New("list already exists")
	// ErrAddressClash is a new list whose posting address is another
	// list's sub-address (s2-owner@ beside s2@), or whose sub-addresses
	// would be another list's posting address: mail for one would reach
	// the other.
	ErrAddressClash = errors.New("address already used by another list")
	ErrNoSuchList   = errors.New("no such list")
	ErrNoSuchMember = errors.New("no such member")
	ErrNoSuchToken  = errors.New("no such pending request")
	ErrNoSuchHeld   = errors.New("no such held message")
	// ErrUnavailable marks a failure of the database itself (locked for too
	// long, gone, out of space): temporary, to be retried, never the
	// message's fault. Its Temporary method says so to the runners' loop.
	ErrUnavailable error = unavailableError{}
)

type unavailableError struct{}

func (unavailableError) Error() string   { return "database unavailable" }
func (unavailableError) Temporary() bool { return true }

// Store is an open store.
type Store struct {
	db      *sqlDB
	backend string        // "sqlite" or "postgres": the folder of its migrations
	pool    *pgxpool.Pool // PostgreSQL's connections, for COPY; nil for SQLite
	rosters *rosterOrders
}

// Open opens the store named by url ([database] url): empty for SQLite at
// the var_dir's (config.Paths.Database), "sqlite:PATH" or "sqlite:///PATH" for SQLite
// elsewhere (a relative PATH is taken from varDir), or "postgres://..."
// (or "postgresql://...") for PostgreSQL. It creates an SQLite database if
// needed (a PostgreSQL database must exist) and applies the migrations it
// lacks.
func Open(ctx context.Context, dbURL, varDir string) (*Store, error) {
	if isPostgres(dbURL) {
		return openPostgres(ctx, dbURL, -1)
	}
	file, err := sqlitePath(dbURL, varDir)
	if err != nil {
		return nil, err
	}
	return openSQLite(ctx, file, -1, true)
}

// OpenExisting opens the store as Open does, but never creates it, and is
// what runners use: a runner that made an empty database in place of a
// missing one (its folder moved, its disk not yet mounted) would answer
// 550 for every list and bounce the site's mail. A missing or unreadable
// database, or a PostgreSQL server that cannot be reached, is
// ErrUnavailable. When retry is not nil, an unavailable database is waited
// for, with back-off, until ctx ends; retry is told each failure and the
// wait before the next try, so that a runner started before its database
// (after a power cut) neither gives up nor spins.
func OpenExisting(ctx context.Context, dbURL, varDir string, retry func(err error, wait time.Duration)) (*Store, error) {
	open := func() (*Store, error) { return openPostgres(ctx, dbURL, -1) }
	if !isPostgres(dbURL) {
		file, err := sqlitePath(dbURL, varDir)
		if err != nil {
			return nil, err
		}
		open = func() (*Store, error) { return openExistingSQLite(ctx, file) }
	}
	return waitOpen(ctx, open, retry)
}

// OpenWaiting is Open, waiting as OpenExisting does for a database that
// is unavailable: what `mailmanctl start` uses, which creates the SQLite
// database of a new site but must not fail because PostgreSQL is still
// starting.
func OpenWaiting(ctx context.Context, dbURL, varDir string, retry func(err error, wait time.Duration)) (*Store, error) {
	return waitOpen(ctx, func() (*Store, error) { return Open(ctx, dbURL, varDir) }, retry)
}

// waitOpen calls open until it succeeds, fails for a reason other than
// ErrUnavailable, or ctx ends, waiting between tries from 100 ms doubling
// up to 30 s; retry (if not nil, else open is called once) is told each
// failure and the wait that follows.
func waitOpen(ctx context.Context, open func() (*Store, error), retry func(err error, wait time.Duration)) (*Store, error) {
	wait := 100 * time.Millisecond
	for {
		st, err := open()
		if err == nil || retry == nil || !errors.Is(err, ErrUnavailable) {
			return st, err
		}
		retry(err, wait)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func isPostgres(dbURL string) bool {
	return strings.HasPrefix(dbURL, "postgres://") || strings.HasPrefix(dbURL, "postgresql://")
}

func sqlitePath(dbURL, varDir string) (string, error) {
	switch {
	case dbURL == "":
		return config.PathsIn(varDir).Database, nil
	case strings.HasPrefix(dbURL, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(dbURL, "sqlite:"), "//")
		if p == "" {
			return "", fmt.Errorf("[database] url %q names no file", dbURL)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(varDir, p)
		}
		return p, nil
	}
	return "", fmt.Errorf("[database] url %s: unknown kind of database (use sqlite:PATH or postgres://..., or leave it empty)", redact(dbURL))
}

// redact shows a database URL in an error message without anything that
// may hold a password: user information, the query (pgx takes password=
// there) and any value that is not a URL at all (a key=value DSN).
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return "(not shown)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// openSQLite opens file, creating it (and its folder) when create is set,
// and migrates it up to version upTo (-1: all).
func openSQLite(ctx context.Context, file string, upTo int, create bool) (*Store, error) {
	mode := "rw"
	if create {
		if err := os.MkdirAll(filepath.Dir(file), 0o770); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		// SQLite would make the file 0644, readable by every user of the
		// host; it gives its -wal and -shm files the database's own mode,
		// so making the file first, as the rest of var_dir is, covers all
		// three.
		f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o660)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		f.Close()
		mode = "rwc"
	}
	// synchronous(FULL): a held message or a pending subscription is
	// committed when the queue entry it came from is removed, so a commit
	// must survive a power cut, not only a crash. _txlock=immediate takes the
	// write lock when a transaction begins, so that busy_timeout can queue
	// writers instead of failing a read-then-write upgrade.
	// The path goes into a URI, where SQLite decodes %XX and stops at ? and #.
	dsn := "file:" + uriPath.Replace(file) + "?_pragma=busy_timeout(" + strconv.Itoa(int(busyTimeout.Milliseconds())) + ")&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(FULL)&_txlock=immediate&mode=" + mode
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", file, err)
	}
	db.SetMaxOpenConns(4)
	// As many kept idle, or each one over the default two is closed when
	// given back and the next opened afresh, its statements compiled again.
	db.SetMaxIdleConns(4)
	s := &Store{db: newSQLDB(db, true), backend: "sqlite", rosters: newRosterOrders()}
	// Switching a new database to WAL, or recovering a WAL left by a crash,
	// can answer SQLITE_BUSY without waiting on busy_timeout; wait here
	// instead, as long as busy_timeout would.
	deadline := time.Now().Add(busyTimeout)
	for {
		err = s.migrate(ctx, upTo)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) || ctx.Err() != nil {
			db.Close()
			return nil, fmt.Errorf("open store %s: %w", file, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// busyTimeout is how long a statement waits for another process's write
// lock before it fails.
const busyTimeout = 10 * time.Second

var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// Close closes the store.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.pool != nil {
		s.pool.Close()
	}
	return err
}

// SchemaVersion returns the highest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), wrap(err)
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(backend string) ([]migration, error) {
	dir := path.Join("migrations", backend)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: not NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(migrations, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{v, e.Name(), string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies, each in its own transaction, the migrations newer than
// the database's version, up to upTo (-1: all). Processes starting at once
// serialise on the write lock, and each checks the version inside it.
func (s *Store) migrate(ctx context.Context, upTo int) error {
	ms, err := loadMigrations(s.backend)
	if err != nil {
		return err
	}
	// Under the lock too: two of PostgreSQL's CREATE TABLE IF NOT EXISTS
	// at once may both create, and one then fails on the catalogue's
	// unique index.
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return err
	}
	for _, m := range ms {
		if upTo >= 0 && m.version > upTo {
			break
		}
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if err := s.lockMigrations(ctx, tx); err != nil {
				return err
			}
			var done int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// lockMigrations makes hosts starting at once on a PostgreSQL database take
// turns until tx ends; SQLite's write lock, taken as tx began, does this
// for it.
func (s *Store) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if s.backend != "postgres" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+migrationLock+`)`)
	return err
}

// migrationLock is the PostgreSQL advisory lock that serialises
// migrations across hosts ("mailman" in ASCII, as a number).
const migrationLock = "30787877880029550"

// tx runs f in a write transaction, committed if f returns nil.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return wrap(listGone(err))
	}
	return wrap(tx.Commit())
}

// wrap marks the database's own failures with ErrUnavailable, leaving the
// errors of this package (and nil) as they are.
func wrap(err error) error {
	if err != nil && !errors.Is(err, ErrUnavailable) && (sqliteUnavailable(err) || postgresUnavailable(err)) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

func sqliteUnavailable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
		sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOMEM:
		return true
	}
	return false
}

// isUniqueViolation reports whether err is a UNIQUE constraint failure.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return postgresCode(err) == "23505"
}

// boolColumn is b as the 0/1 the boolean columns hold: pgx will not
// encode a Go bool into PostgreSQL's BIGINT (SQLite takes either).
func boolColumn(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// toNanos is fromNanos's inverse: the zero time is 0.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func openExistingSQLite(ctx context.Context, file string) (*Store, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w: %v (mailmanctl start, or lists create, makes a new site's)", file, ErrUnavailable, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open store %s: not a file", file)
	}
	return openSQLite(ctx, file, -1, false)
}
