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
