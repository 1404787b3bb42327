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

// BounceEvent is a delivery to a member that failed for good.
type BounceEvent struct {
	ListID    string    `json:"list"`
	Address   string    `json:"address"`
	MessageID string    `json:"message_id"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
	Processed bool      `json:"processed"`
}

// RecordBounce records that a message to address failed for good, with the
// mail server's reason.
func (s *Store) RecordBounce(ctx context.Context, listID, address, messageID, reason string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO bounce_events (list_id, address, message_id, reason, at) VALUES ($1, $2, $3, $4, $5)`,
			id, key(address), messageID, reason, time.Now().UnixNano())
		return err
	})
}

// Bounces returns the bounce events of the list with list-id listID, oldest
// first.
func (s *Store) Bounces(ctx context.Context, listID string) ([]BounceEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT l.list_id, b.address, b.message_id, b.reason, b.at, b.processed
		FROM bounce_events b JOIN lists l ON l.id = b.list_id WHERE l.list_id = $1 ORDER BY b.id`, listID)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var bs []BounceEvent
	for rows.Next() {
		var b BounceEvent
		var at int64
		if err := rows.Scan(&b.ListID, &b.Address, &b.MessageID, &b.Reason, &at, &b.Processed); err != nil {
			return nil, wrap(err)
		}
		b.At = fromNanos(at)
		bs = append(bs, b)
	}
	return bs, wrap(rows.Err())
}
