package store

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DumpFormat names the JSON of a whole site that Dump writes and Restore
// reads (docs/migration.md documents it).
const DumpFormat = "mailman-go site"

// dumpTable is a table of the site and the columns that order its rows
// (":t" marks text, sorted byte by byte on both backends).
type dumpTable struct{ name, order string }

// derivedColumns are kept by triggers, not data: a restored site makes
// them afresh (member_count from the members restored; roster_version
// starts anew, as a cache key of this site's).
var derivedColumns = map[string]bool{"lists.member_count": true, "lists.roster_version": true}

// dumpTables are every table that holds the site, each after the tables
// it refers to; schema_migrations is the store's own, written as the
// dump's schema number. TestDumpTablesAreEveryTable keeps the list whole.
var dumpTables = []dumpTable{
	{"domains", "id"}, {"users", "user_id:t"}, {"addresses", "address_key:t"}, {"domain_owners", "domain_id, user_id:t"},
	{"lists", "id"}, {"list_settings", "list_id, name:t"}, {"members", "id"}, {"preferences", "owner:t, name:t"},
	{"pending", "token:t"}, {"held_messages", "id"}, {"bans", "id"}, {"header_matches", "id"}, {"bounce_events", "id"},
	{"autoresponses", "list_id, address_key:t, day:t"}, {"autoresponse_log", "list_id, address_key:t, kind:t"},
	{"digest_issues", "id"}, {"digest_posts", "id"}, {"templates", "scope:t, name:t"}, {"tasks", "name:t"},
}

// ErrNotEmpty is Restore's answer for a site that already has lists,
// users or domains: a dump restores a whole site, into a new one.
var ErrNotEmpty = errors.New("the site is not empty")

// ErrBadDump is a file that is not a dump Restore can read.
var ErrBadDump = errors.New("not a site dump")

// orderBy is t's ORDER BY clause on this backend.
func (s *Store) orderBy(t dumpTable) string {
	var cols []string
	for _, c := range strings.Split(t.order, ",") {
		c = strings.TrimSpace(c)
		if name, ok := strings.CutSuffix(c, ":t"); ok {
			c = name
			if s.backend == "postgres" {
				c += ` COLLATE "C"`
			}
		}
		cols = append(cols, c)
	}
	return strings.Join(cols, ", ")
}

// schemaVersion is the newest migration applied, read through q (the
// store, or a transaction).
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, wrap(err)
}

// Dump writes the whole site as one JSON document: every table's rows,
// in an order both backends give alike, values as JSON numbers and
// strings (bytes, and text that is not UTF-8, as {"b64": ...}), with the
// named files (a site's secrets outside the database) before them. A dump
// of the same site is the same on SQLite and PostgreSQL. It reads in one
// transaction, so the dump is of one moment while the site runs.
func (s *Store) Dump(ctx context.Context, w io.Writer, files map[string]string) error {
	version, err := schemaVersion(ctx, s.db)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback()
	bw := bufio.NewWriter(w)
	head, err := json.Marshal(map[string]any{"format": DumpFormat, "version": 1, "schema": version, "files": files})
	if err != nil {
		return err
	}
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"tables":[`)
	for i, t := range dumpTables {
		if i > 0 {
			bw.WriteString(",")
		}
		if err := s.dumpTable(ctx, tx, bw, t); err != nil {
			return fmt.Errorf("dump %s: %w", t.name, wrap(err))
		}
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

func (s *Store) dumpTable(ctx context.Context, tx *sql.Tx, w *bufio.Writer, t dumpTable) error {
	probe, err := tx.QueryContext(ctx, `SELECT * FROM `+t.name+` WHERE 1 = 0`)
	if err != nil {
		return err
	}
	all, err := probe.Columns()
	probe.Close()
	if err != nil {
		return err
	}
	var cols []string
	for _, c := range all {
		if !derivedColumns[t.name+"."+c] {
			cols = append(cols, c)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+t.name+` ORDER BY `+s.orderBy(t))
	if err != nil {
		return err
	}
	defer rows.Close()
	head, _ := json.Marshal(map[string]any{"name": t.name, "columns": cols})
	w.Write(head[:len(head)-1])
	w.WriteString(`,"rows":[`)
	values := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	for n := 0; rows.Next(); n++ {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := make([]any, len(cols))
		for i, v := range values {
			row[i] = dumpValue(v)
		}
		b, err := json.Marshal(row)
		if err != nil {
			return err
		}
		if n > 0 {
			w.WriteString(",")
		}
		w.WriteString("\n")
		w.Write(b)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.WriteString("]}")
	return nil
}

// dumpValue is a column's value as the dump writes it.
func dumpValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return map[string]string{"b64": base64.StdEncoding.EncodeToString(x)}
	case string:
		if !utf8.ValidString(x) {
			return map[string]string{"b64": base64.StdEncoding.EncodeToString([]byte(x))}
		}
		return x
	case int32:
		return int64(x)
	case bool:
		// Booleans are 0 and 1 in this store's schema on both backends.
		if x {
			return int64(1)
		}
		return int64(0)
	}
	return v
}

// Restore reads a dump into this site, which must be new (ErrNotEmpty
// otherwise), in one transaction: a dump that fails half-way leaves the
// site as it was. It returns the dump's files.
func (s *Store) Restore(ctx context.Context, r io.Reader) (map[string]string, error) {
	var files map[string]string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, t := range []string{"domains", "lists", "users", "addresses"} {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: it has %s; a dump restores a whole site, into a new one", ErrNotEmpty, t)
			}
		}
		version, err := schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		d := &dumpReader{dec: json.NewDecoder(bufio.NewReader(r)), tx: tx, ctx: ctx, version: version}
		d.dec.UseNumber()
		if files, err = d.read(); err != nil {
			return err
		}
		// The triggers counted the members as they came; counted again
		// here, so that a dump made with its counts (by hand) cannot
		// leave them wrong.
		if _, err := tx.ExecContext(ctx, `UPDATE lists SET member_count = (SELECT COUNT(*) FROM members WHERE members.list_id = lists.id AND members.role = 'member')`); err != nil {
			return err
		}
		if s.backend == "postgres" {
			for _, t := range dumpTables {
				if t.order != "id" {
					continue
				}
				if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t.name+`', 'id'), COALESCE((SELECT MAX(id) FROM `+t.name+`), 0) + 1, false)`); err != nil {
					return fmt.Errorf("%s: the next id: %w", t.name, err)
				}
			}
		}
		return nil
	})
	return files, err
}

// dumpReader reads a dump as a stream, inserting each row as it comes, so
// that a site of a million members is never whole in memory.
type dumpReader struct {
	dec     *json.Decoder
	tx      *sql.Tx
	ctx     context.Context
	version int
}

func (d *dumpReader) delim(want json.Delim) error {
	tok, err := d.dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadDump, err)
	}
	if tok != want {
		return fmt.Errorf("%w: %v where %v belongs", ErrBadDump, tok, want)
	}
	return nil
}

func (d *dumpReader) key() (string, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadDump, err)
	}
	k, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%w: %v where a key belongs", ErrBadDump, tok)
	}
	return k, nil
}

func (d *dumpReader) read() (map[string]string, error) {
	if err := d.delim('{'); err != nil {
		return nil, err
	}
	var files map[string]string
	format, seenTables := "", false
	for d.dec.More() {
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		switch k {
		case "format":
			if err := d.dec.Decode(&format); err != nil || format != DumpFormat {
				return nil, fmt.Errorf("%w: format %q, not %q", ErrBadDump, format, DumpFormat)
			}
		case "version":
			var v int
			if err := d.dec.Decode(&v); err != nil || v != 1 {
				return nil, fmt.Errorf("%w: version %d of the format; this store reads 1", ErrBadDump, v)
			}
		case "schema":
			var v int
			if err := d.dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("%w: schema: %v", ErrBadDump, err)
			}
			if v != d.version {
				return nil, fmt.Errorf("%w: made at schema %d, and this store is at %d: restore it with the version of mailman-go that made it, then move that site on", ErrBadDump, v, d.version)
			}
		case "files":
			if err := d.dec.Decode(&files); err != nil {
				return nil, fmt.Errorf("%w: files: %v", ErrBadDump, err)
			}
		case "tables":
			if format == "" {
				return nil, fmt.Errorf("%w: tables before the format", ErrBadDump)
			}
			if err := d.tables(); err != nil {
				return nil, err
			}
			seenTables = true
		default:
			return nil, fmt.Errorf("%w: unknown key %q", ErrBadDump, k)
		}
	}
	if !seenTables {
		return nil, fmt.Errorf("%w: no tables", ErrBadDump)
	}
	return files, nil
}

func (d *dumpReader) tables() error {
	if err := d.delim('['); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, t := range dumpTables {
		known[t.name] = true
	}
	for d.dec.More() {
		if err := d.delim('{'); err != nil {
			return err
		}
		var name string
		var cols []string
		for d.dec.More() {
			k, err := d.key()
			if err != nil {
				return err
			}
			switch k {
			case "name":
				if err := d.dec.Decode(&name); err != nil || !known[name] {
					return fmt.Errorf("%w: table %q", ErrBadDump, name)
				}
			case "columns":
				if err := d.dec.Decode(&cols); err != nil {
					return fmt.Errorf("%w: %s's columns: %v", ErrBadDump, name, err)
				}
				for _, c := range cols {
					if !validColumn(c) {
						return fmt.Errorf("%w: %s: column %q", ErrBadDump, name, c)
					}
				}
			case "rows":
				if name == "" || len(cols) == 0 {
					return fmt.Errorf("%w: rows before their table's name and columns", ErrBadDump)
				}
				if err := d.rows(name, cols); err != nil {
					return err
				}
			default:
				return fmt.Errorf("%w: unknown key %q in table %s", ErrBadDump, k, name)
			}
		}
		if err := d.delim('}'); err != nil {
			return err
		}
	}
	return d.delim(']')
}

// validColumn keeps a dump's column names to names: they go into SQL.
func validColumn(c string) bool {
	if c == "" || len(c) > 64 {
		return false
	}
	for _, r := range c {
		if !(r == '_' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

func (d *dumpReader) rows(table string, cols []string) error {
	marks := make([]string, len(cols))
	for i := range cols {
		marks[i] = "$" + strconv.Itoa(i+1)
	}
	stmt, err := d.tx.PrepareContext(d.ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES (`+strings.Join(marks, ", ")+`)`)
	if err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	defer stmt.Close()
	if err := d.delim('['); err != nil {
		return err
	}
	for n := 1; d.dec.More(); n++ {
		var row []any
		if err := d.dec.Decode(&row); err != nil {
			return fmt.Errorf("%w: %s row %d: %v", ErrBadDump, table, n, err)
		}
		if len(row) != len(cols) {
			return fmt.Errorf("%w: %s row %d has %d values for %d columns", ErrBadDump, table, n, len(row), len(cols))
		}
		for i, v := range row {
			if row[i], err = restoreValue(v); err != nil {
				return fmt.Errorf("%w: %s row %d, %s: %v", ErrBadDump, table, n, cols[i], err)
			}
		}
		if _, err := stmt.ExecContext(d.ctx, row...); err != nil {
			return fmt.Errorf("%s row %d: %w", table, n, err)
		}
	}
	return d.delim(']')
}

// restoreValue turns a dumped value back into what the column holds.
func restoreValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, string:
		return x, nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		return x.Float64()
	case map[string]any:
		s, ok := x["b64"].(string)
		if !ok || len(x) != 1 {
			return nil, errors.New("an object that is not {\"b64\": ...}")
		}
		return base64.StdEncoding.DecodeString(s)
	}
	return nil, fmt.Errorf("a %T", v)
}
