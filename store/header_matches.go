package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mailman-go/mailman/config"
)

// HeaderMatch is one of a list's header checks, as Mailman's: a header
// whose value the pattern finds sends the post to the action's chain (""
// for the site's default).
type HeaderMatch struct {
	Position int
	Header   string // lower-cased
	Pattern  string
	Action   string
	Tag      string
}

// Errors of header matches callers branch on.
var (
	ErrNoSuchHeaderMatch = errors.New("no such header match")
	ErrHeaderMatchExists = errors.New("header match already exists")
)

// HeaderMatchActions are the chains a header match may send a post to.
var HeaderMatchActions = []string{"hold", "reject", "discard", "accept", "defer"}

// checkHeaderMatch checks hm and lower-cases its header.
func checkHeaderMatch(hm *HeaderMatch) error {
	if hm.Pattern == "" {
		return fmt.Errorf("%w: an empty pattern", ErrBadValue)
	}
	c, err := config.ParseHeaderCheck(hm.Header, hm.Pattern)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	hm.Header = c.Header
	if hm.Action != "" && !slices.Contains(HeaderMatchActions, hm.Action) {
		return fmt.Errorf("%w: action %q is not one of %s", ErrBadValue, hm.Action, strings.Join(HeaderMatchActions, ", "))
	}
	return nil
}

// HeaderMatches returns a list's header matches in order.
func (s *Store) HeaderMatches(ctx context.Context, listID string) ([]HeaderMatch, error) {
	id, err := listRowIDByListID(ctx, s.db, listID)
	if err != nil {
		return nil, wrap(err)
	}
	return headerMatches(ctx, s.db, id)
}

func headerMatches(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, id int64) ([]HeaderMatch, error) {
	rows, err := q.QueryContext(ctx, `SELECT position, header, pattern, action, tag FROM header_matches WHERE list_id = $1 ORDER BY position`, id)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var hms []HeaderMatch
	for rows.Next() {
		var hm HeaderMatch
		if err := rows.Scan(&hm.Position, &hm.Header, &hm.Pattern, &hm.Action, &hm.Tag); err != nil {
			return nil, wrap(err)
		}
		hms = append(hms, hm)
	}
	return hms, wrap(rows.Err())
}

// AddHeaderMatch adds hm at position at (moving those from there down),
// or last when at is negative or past the end, and returns its position.
func (s *Store) AddHeaderMatch(ctx context.Context, listID string, hm HeaderMatch, at int) (int, error) {
	if err := checkHeaderMatch(&hm); err != nil {
		return 0, err
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		hms, err := headerMatches(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, x := range hms {
			if x.Header == hm.Header && x.Pattern == hm.Pattern {
				return fmt.Errorf("%s: %s: %w", hm.Header, hm.Pattern, ErrHeaderMatchExists)
			}
		}
		if at < 0 || at > len(hms) {
			at = len(hms)
		}
		// Two steps, so that no two rows share a position on the way.
		if _, err := tx.ExecContext(ctx, `UPDATE header_matches SET position = -position - 1 WHERE list_id = $1 AND position >= $2`, id, at); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE header_matches SET position = -position WHERE list_id = $1 AND position < 0`, id); err != nil {
			return err
		}
		hm.Position = at
		_, err = tx.ExecContext(ctx, `INSERT INTO header_matches (list_id, position, header, pattern, action, tag) VALUES ($1, $2, $3, $4, $5, $6)`,
			id, at, hm.Header, hm.Pattern, hm.Action, hm.Tag)
		return err
	})
	return at, err
}

// ReplaceHeaderMatch changes the header match at position, which may
// move to hm.Position.
func (s *Store) ReplaceHeaderMatch(ctx context.Context, listID string, position int, hm HeaderMatch) error {
	if err := checkHeaderMatch(&hm); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		hms, err := headerMatches(ctx, tx, id)
		if err != nil {
			return err
		}
		if position < 0 || position >= len(hms) {
			return fmt.Errorf("position %d: %w", position, ErrNoSuchHeaderMatch)
		}
		hms = slices.Delete(hms, position, position+1)
		for _, x := range hms {
			if x.Header == hm.Header && x.Pattern == hm.Pattern {
				return fmt.Errorf("%s: %s: %w", hm.Header, hm.Pattern, ErrHeaderMatchExists)
			}
		}
		to := min(max(hm.Position, 0), len(hms))
		hms = slices.Insert(hms, to, hm)
		return rewriteHeaderMatches(ctx, tx, id, hms)
	})
}

// rewriteHeaderMatches replaces a list's header matches with hms, in
// their order.
func rewriteHeaderMatches(ctx context.Context, tx *sql.Tx, id int64, hms []HeaderMatch) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM header_matches WHERE list_id = $1`, id); err != nil {
		return err
	}
	for i, x := range hms {
		if _, err := tx.ExecContext(ctx, `INSERT INTO header_matches (list_id, position, header, pattern, action, tag) VALUES ($1, $2, $3, $4, $5, $6)`,
			id, i, x.Header, x.Pattern, x.Action, x.Tag); err != nil {
			return err
		}
	}
	return nil
}

// DeleteHeaderMatch removes the header match at position; those after it
// move up. position < 0 removes them all.
func (s *Store) DeleteHeaderMatch(ctx context.Context, listID string, position int) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		if position < 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM header_matches WHERE list_id = $1`, id)
			return err
		}
		hms, err := headerMatches(ctx, tx, id)
		if err != nil {
			return err
		}
		if position >= len(hms) {
			return fmt.Errorf("position %d: %w", position, ErrNoSuchHeaderMatch)
		}
		return rewriteHeaderMatches(ctx, tx, id, slices.Delete(hms, position, position+1))
	})
}
