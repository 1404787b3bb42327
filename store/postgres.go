package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres connects to the PostgreSQL database at dbURL and migrates
// it. The database must exist; its tables are made by the migrations.
// Every host of a site opens the same database: the migrations take an
// advisory lock, and everything a second host needs (held messages,
// pending requests, post numbers, bounces) is in it.
func openPostgres(ctx context.Context, dbURL string) (*Store, error) {
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
	s := &Store{db: stdlib.OpenDBFromPool(pool), backend: "postgres", pool: pool}
	s.prepareLookups()
	if err := s.migrate(ctx, -1); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	return s, nil
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
