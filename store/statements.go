package store

import (
	"context"
	"database/sql"
	"sync"
)

// sqlDB is the store's database. On SQLite it keeps each query's compiled
// statement: modernc's driver compiles a query afresh on every call, and
// compiling costs more than running a look-up by key (a REST request for
// one list spent three quarters of its time in SQLite's parser). pgx keeps
// PostgreSQL's statements itself, on each of its connections; a *sql.Stmt
// there would cost round trips, since the *sql.DB of OpenDBFromPool keeps
// no connection idle and each one given back loses its statements.
type sqlDB struct {
	*sql.DB
	keep  bool // SQLite: keep statements
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

// maxKeptStatements bounds the statements kept; the store's queries are a
// fixed set (a few dozen shapes), so reaching it would mean one built
// per call, which is better left uncompiled than kept forever.
const maxKeptStatements = 512

func newSQLDB(db *sql.DB, keep bool) *sqlDB {
	return &sqlDB{DB: db, keep: keep, stmts: map[string]*sql.Stmt{}}
}

// stmt returns query's kept statement, compiling it on first use; nil when
// statements are not kept or it cannot be compiled (the caller then runs
// the query plainly, and so reports the error as the driver words it).
func (d *sqlDB) stmt(ctx context.Context, query string) *sql.Stmt {
	if !d.keep {
		return nil
	}
	d.mu.RLock()
	st := d.stmts[query]
	d.mu.RUnlock()
	if st != nil {
		return st
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.stmts[query]; st != nil {
		return st
	}
	if len(d.stmts) >= maxKeptStatements {
		return nil
	}
	st, err := d.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	d.stmts[query] = st
	return st
}

func (d *sqlDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := d.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, query, args...)
}

func (d *sqlDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := d.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, query, args...)
}

// Close closes the kept statements and the database.
func (d *sqlDB) Close() error {
	d.mu.Lock()
	for q, st := range d.stmts {
		st.Close()
		delete(d.stmts, q)
	}
	d.mu.Unlock()
	return d.DB.Close()
}
