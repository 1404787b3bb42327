// Package store owns what runners in several processes must agree on: the
// mailing lists and their settings, the members of each list, the pending
// requests waiting for a confirmation, the posts held for a moderator, the
// addresses banned from a list or the whole site, and the count of
// automatic replies sent to each address today.
//
// Its API speaks of lists and members, never of SQL. The embedded backend is
// SQLite (modernc.org/sqlite, no cgo) at <var_dir>/data/mailman.db, in WAL
// mode with a busy timeout and immediate write transactions, so that several
// processes read and write at once; nothing is cached but the order of a
// roster's pages, checked against the list's roster version on every read,
// so a list created by `mailmanctl` is seen by running runners at their
// next look-up. Statements are compiled once per connection. Queries are
// written with $N placeholders, which both SQLite and PostgreSQL accept, so
// a PostgreSQL backend adds a driver and its migrations, not a new API.
//
// On PostgreSQL (pgx), booleans are passed as the 0/1 integers their
// columns hold, as pgx will not encode a Go bool into a BIGINT; a
// transaction that reads then writes is written so that another one at
// once under READ COMMITTED (where SQLite's immediate transactions would
// have made it wait) cannot make it act twice: one atomic statement, or a
// write whose count of rows says who won; and AddMembers sends its rows
// with COPY.
//
// The schema lives in migrations/<backend>/NNNN_name.sql, embedded in the
// binary and applied in order when a store is opened; the versions applied
// are recorded in schema_migrations.
//
// The tests run over both backends (backends_test.go); PostgreSQL's run on
// a private cluster of internal/pgtest, and skip where it is not installed.
package store
