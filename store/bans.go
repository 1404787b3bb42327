package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ErrNoSuchBan is returned by Unban for a pattern that is not banned.
var ErrNoSuchBan = errors.New("no such ban")

// banPattern checks a ban's pattern and returns it as stored: an address
// lower-cased, or a ^regex as given, which must compile as IsBanned
// compiles it (Go's RE2 syntax, not Python's: no backreferences or
// look-arounds).
func banPattern(pattern string) (string, error) {
	pattern = strings.TrimSpace(pattern)
	switch {
	case pattern == "":
		return "", fmt.Errorf("%w: an empty ban pattern", ErrBadValue)
	case strings.HasPrefix(pattern, "^"):
		if _, err := regexp.Compile("(?i)" + pattern); err != nil {
			return "", fmt.Errorf("%w: ban pattern %q is not a valid regular expression: %v", ErrBadValue, pattern, err)
		}
		return pattern, nil
	case strings.ContainsAny(pattern, " \t\r\n"):
		// No address has one; a regex is what was meant, without its ^.
		return "", fmt.Errorf("%w: ban pattern %q is neither an address nor a ^regex", ErrBadValue, pattern)
	}
	return key(pattern), nil
}

// banScope resolves listID ("" for the site) to the list's row id, NULL
// for the site, and names it for errors.
func banScope(ctx context.Context, q rowQuerier, listID string) (sql.NullInt64, string, error) {
	if listID == "" {
		return sql.NullInt64{}, "the site", nil
	}
	id, err := listRowIDByListID(ctx, q, listID)
	if err != nil {
		return sql.NullInt64{}, "", err
	}
	return sql.NullInt64{Int64: id, Valid: true}, "list-id " + listID, nil
}

// Ban bans pattern, an address or a ^regex, from the list with list-id
// listID, or from every list of the site when listID is "". Banning what
// is already banned does nothing.
func (s *Store) Ban(ctx context.Context, listID, pattern string) error {
	p, err := banPattern(pattern)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, _, err := banScope(ctx, tx, listID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO bans (list_id, pattern, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			id, p, time.Now().UnixNano())
		return err
	})
}

// Unban lifts a ban that Ban made with the same listID and pattern; a
// pattern that is not banned there is ErrNoSuchBan.
func (s *Store) Unban(ctx context.Context, listID, pattern string) error {
	p, err := banPattern(pattern)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, where, err := banScope(ctx, tx, listID)
		if err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `DELETE FROM bans WHERE coalesce(list_id, 0) = $1 AND pattern = $2`, id.Int64, p)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%s is not banned from %s: %w", p, where, ErrNoSuchBan)
		}
		return nil
	})
}

// Bans returns the patterns banned from the list with list-id listID, or
// from the whole site when listID is "", sorted. A list's do not include
// the site's.
func (s *Store) Bans(ctx context.Context, listID string) ([]string, error) {
	id, _, err := banScope(ctx, s.db, listID)
	if err != nil {
		return nil, wrap(err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT pattern FROM bans WHERE coalesce(list_id, 0) = $1 ORDER BY pattern`, id.Int64)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var ps []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, wrap(err)
		}
		ps = append(ps, p)
	}
	return ps, wrap(rows.Err())
}

// IsBanned reports whether address is banned from the list with list-id
// listID (from the site only when listID is ""): whether, lower-cased, it
// is an address banned from the list or the site, or a ^regex of theirs
// finds it, ignoring case.
func (s *Store) IsBanned(ctx context.Context, listID, address string) (bool, error) {
	id, _, err := banScope(ctx, s.db, listID)
	if err != nil {
		return false, wrap(err)
	}
	addr := key(address)
	// The index gives the list's and the site's bans; of those, only the
	// address itself and the regexes come back to be checked here.
	rows, err := s.db.QueryContext(ctx, `SELECT pattern FROM bans WHERE coalesce(list_id, 0) IN (0, $1)
		AND (pattern = $2 OR substr(pattern, 1, 1) = '^')`, id.Int64, addr)
	if err != nil {
		return false, wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return false, wrap(err)
		}
		if BanMatches(p, addr) {
			return true, nil
		}
	}
	return false, wrap(rows.Err())
}

// BanMatches reports whether a ban's pattern (an address, or a ^regex)
// bans address, as IsBanned checks each: the address lower-cased, the
// regex ignoring case.
func BanMatches(pattern, address string) bool {
	addr := key(address)
	if !strings.HasPrefix(pattern, "^") {
		return pattern == addr
	}
	// Checked by Ban; one that no longer compiles (a change of syntax)
	// bans nobody rather than failing every post.
	re, err := regexp.Compile("(?i)" + pattern)
	return err == nil && re.MatchString(addr)
}

// CountAutoresponse counts one more automatic reply sent to address for
// the list with list-id listID on day's UTC date and returns the count for
// that day, this one included: Mailman's [mta] max_autoresponses_per_day
// is checked against it. The counts of earlier days of the list are
// deleted in the same transaction, so the table holds one day's.
func (s *Store) CountAutoresponse(ctx context.Context, listID, address string, day time.Time) (int, error) {
	date := day.UTC().Format(time.DateOnly)
	var n int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		// YYYY-MM-DD sorts as the dates do.
		if _, err := tx.ExecContext(ctx, `DELETE FROM autoresponses WHERE list_id = $1 AND day < $2`, id, date); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO autoresponses (list_id, address_key, day, count) VALUES ($1, $2, $3, 1)
			ON CONFLICT (list_id, address_key, day) DO UPDATE SET count = autoresponses.count + 1 RETURNING count`,
			id, key(address), date).Scan(&n)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
