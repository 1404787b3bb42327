package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres connects to the PostgreSQL database at dbURL and migrates
// it up to version upTo (-1: all). The database must exist; its tables are
// made by the migrations.
// Every host of a site opens the same database: the migrations take an
// advisory lock, and everything a second host needs (held messages,
// pending requests, post numbers, bounces) is in it.
func openPostgres(ctx context.Context, dbURL string, upTo int) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		// pgx's message may quote the URL, password and all.
		return nil, fmt.Errorf("[database] url %s: not a PostgreSQL URL", redact(dbURL))
	}
	where := redact(dbURL)
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	// A connection that broke while idle (the server restarted) is found
	// and replaced before a statement meets it.
	cfg.HealthCheckPeriod = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", where, wrap(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store %s: %w", where, wrapConnect(err))
	}
	s := &Store{db: newSQLDB(stdlib.OpenDBFromPool(pool), false), backend: "postgres", pool: pool, rosters: newRosterOrders()}
	if err := s.migrate(ctx, upTo); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	return s, nil
}

// pgTx runs f in a transaction of pgx's own, for what database/sql cannot
// do (COPY), committed if f returns nil.
func (s *Store) pgTx(ctx context.Context, f func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap(err)
	}
	if err := f(tx); err != nil {
		tx.Rollback(ctx)
		return wrap(listGone(err))
	}
	return wrap(tx.Commit(ctx))
}

// listGone makes PostgreSQL's foreign key violation ErrNoSuchList. Every
// foreign key is a list's row id, and under READ COMMITTED a transaction
// may read a list that another is removing, then fail on the key when it
// writes a row of that list once the removal is committed; SQLite's
// immediate transactions keep the removal out from the read to the commit.
func listGone(err error) error {
	if postgresCode(err) == "23503" {
		return fmt.Errorf("%w: removed meanwhile (%v)", ErrNoSuchList, err)
	}
	return err
}

// addMembersCopy is AddMembers on PostgreSQL. A thousand addresses at a
// time are sent with COPY into a temporary table and moved from there into
// members by one statement, rather than each by an INSERT of its own (and
// a round trip); a membership already there, or twice in ps, is left as it
// was and reported in Existing, in ps's order, as the SQLite path does.
func (s *Store) addMembersCopy(ctx context.Context, a ListAddress, role Role, ps []newMember, progress func(done int)) (AddResult, error) {
	var res AddResult
	now := time.Now().UnixNano()
	err := s.pgTx(ctx, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM lists WHERE list_name = $1 AND mail_host = $2`, a.Name, a.Domain).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%s: %w", a, ErrNoSuchList)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE new_members (n BIGINT, address_key TEXT, address TEXT, display_name TEXT) ON COMMIT DROP`); err != nil {
			return err
		}
		for start := 0; start < len(ps); start += progressEvery {
			batch := ps[start:min(start+progressEvery, len(ps))]
			values := make([][]any, len(batch))
			for i, p := range batch {
				values[i] = []any{int64(i), key(p.addr), p.addr, p.name}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"new_members"}, []string{"n", "address_key", "address", "display_name"}, pgx.CopyFromRows(values)); err != nil {
				return err
			}
			// In the batch's order, so that of an address given twice
			// the first is added, as one INSERT each would add it.
			rows, err := tx.Query(ctx, `WITH batch AS (DELETE FROM new_members RETURNING *)
				INSERT INTO members (list_id, address_key, address, display_name, role, subscribed_at)
				SELECT $1, address_key, address, display_name, $2, $3 FROM batch ORDER BY n
				ON CONFLICT DO NOTHING RETURNING address_key`, id, string(role), now)
			if err != nil {
				return err
			}
			added, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			keys := make(map[string]bool, len(added))
			for _, k := range added {
				keys[k] = true
			}
			for _, p := range batch {
				if k := key(p.addr); keys[k] {
					delete(keys, k)
					res.Added++
				} else {
					res.Existing = append(res.Existing, p.addr)
				}
			}
			if done := start + len(batch); progress != nil && done%progressEvery == 0 {
				progress(done)
			}
		}
		for _, q := range linkUsersSQL(postgresNewID) {
			if _, err := tx.Exec(ctx, q, id, now); err != nil {
				return err
			}
		}
		var prefs bool
		if err := tx.QueryRow(ctx, levelPrefsExist).Scan(&prefs); err != nil || !prefs {
			return err
		}
		return s.refreshNewMembers(ctx, pgxExecer{tx}, id)
	})
	if err != nil {
		return AddResult{}, err
	}
	return res, nil
}

// pgxExecer runs statements in a pgx transaction for code written for
// database/sql's.
type pgxExecer struct{ tx pgx.Tx }

func (e pgxExecer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tag, err := e.tx.Exec(ctx, query, args...)
	return driver.RowsAffected(tag.RowsAffected()), err
}

// connectTimeout bounds a connection attempt when the URL sets none
// (connect_timeout=N), so that a server that is down costs a 451, not a
// hung session.
const connectTimeout = 5 * time.Second

// wrapConnect marks a failure to reach the server as ErrUnavailable: a
// server that is down or restarting is temporary, whatever the error.
// Refusals that will not pass by themselves (a wrong password, a database
// that does not exist) are left as they are.
func wrapConnect(err error) error {
	switch postgresCode(err) {
	case "28P01", "28000", "3D000", "42501":
		return err
	}
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// postgresCode is the SQLSTATE of a PostgreSQL error, or "".
func postgresCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// postgresUnavailable reports whether err is PostgreSQL's server or its
// connection failing, rather than the statement: a connection lost or
// refused, the server shutting down or starting up, too many connections,
// a serialization failure or deadlock to retry, a read-only standby.
func postgresUnavailable(err error) bool {
	code := postgresCode(err)
	switch {
	case code == "":
	case len(code) == 5 && (code[:2] == "08" || code[:2] == "53" || code[:2] == "57" || code[:2] == "58"):
		return true
	case code == "40001", code == "40P01", code == "55P03", code == "25006":
		return true
	default:
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}
