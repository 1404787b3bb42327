package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// NextPostID gives a post of the list with list-id listID its number and
// records at as the list's last post time, in one transaction so that two
// runners never give out the same number. It returns the number given.
func (s *Store) NextPostID(ctx context.Context, listID string, at time.Time) (int, error) {
	var id int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE lists SET post_id = post_id + 1, last_post_at = $1 WHERE list_id = $2 RETURNING post_id - 1`,
			at.UnixNano(), listID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("list-id %s: %w", listID, ErrNoSuchList)
		}
		return err
	})
	return id, err
}

// ListHistory is what a list's past leaves in it: when it was made, when
// it last had a post, and the number its next post takes. An import
// carries them; nothing else sets them but the list's own life.
type ListHistory struct {
	CreatedAt  time.Time
	LastPostAt time.Time // zero: no post yet
	PostID     int       // the next post's number; 0 leaves it
}

// SetListHistory sets a list's history, as an import found it.
func (s *Store) SetListHistory(ctx context.Context, listID string, h ListHistory) error {
	var lastPost int64
	if !h.LastPostAt.IsZero() {
		lastPost = h.LastPostAt.UnixNano()
	}
	res, err := s.db.ExecContext(ctx, `UPDATE lists SET created_at = $1, last_post_at = $2,
		post_id = CASE WHEN $3 > 0 THEN $3 ELSE post_id END WHERE list_id = $4`,
		h.CreatedAt.UnixNano(), lastPost, h.PostID, listID)
	if err != nil {
		return wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("list-id %s: %w", listID, ErrNoSuchList)
	}
	return nil
}
