package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DigestSettings are a list's digest settings, Mailman's names.
type DigestSettings struct {
	Enabled   bool    // digests_enabled
	Threshold float64 // digest_size_threshold, KB; 0: only when sent periodically or by hand
	Periodic  bool    // digest_send_periodic
	Frequency string  // digest_volume_frequency: yearly, monthly, quarterly, weekly, daily
}

// SentPeriodically reports whether the periodic run sends the list's
// digest: it has digests, and sends them periodically.
func (d DigestSettings) SentPeriodically() bool { return d.Enabled && d.Periodic }

// DigestNumbers are the numbers a list's next digest issue takes, and
// when the last was sent (zero: never).
type DigestNumbers struct {
	Volume, Number int
	LastSentAt     time.Time
}

// DigestIssue is a closed issue of a list's digest.
type DigestIssue struct {
	ID             int64
	ListID         string
	Volume, Number int
	ClosedAt       time.Time
	Posts          int
}

// ErrNoDigestPosts is CloseDigestIssue's answer for a list with no post
// waiting for its digest.
var ErrNoDigestPosts = errors.New("no posts waiting for the digest")

var digestSettingNames = []string{"digests_enabled", "digest_size_threshold", "digest_send_periodic", "digest_volume_frequency"}

// DigestSettings reads a list's digest settings, the defaults for those it
// has not set.
func (s *Store) DigestSettings(ctx context.Context, listID string) (DigestSettings, error) {
	v, err := s.extraValues(ctx, listID, digestSettingNames...)
	if err != nil {
		return DigestSettings{}, err
	}
	d := DigestSettings{}
	d.Enabled, _ = v["digests_enabled"].(bool)
	d.Threshold, _ = v["digest_size_threshold"].(float64)
	d.Periodic, _ = v["digest_send_periodic"].(bool)
	d.Frequency, _ = v["digest_volume_frequency"].(string)
	return d, nil
}

// AddDigestPost adds a post to the list's next digest issue, once for key
// (the queue entry that carried it: a step run again after a crash adds
// nothing), and returns the bytes of the posts now waiting.
func (s *Store) AddDigestPost(ctx context.Context, listID, key string, msg []byte, at time.Time) (int64, error) {
	var waiting int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO digest_posts (list_id, post_key, message, size, added_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (list_id, post_key) DO NOTHING`, id, key, msg, len(msg), at.UnixNano()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM digest_posts WHERE list_id = $1 AND issue_id IS NULL`, id).Scan(&waiting)
	})
	return waiting, err
}

// DigestWaiting returns the number and bytes of the posts waiting for the
// list's next issue.
func (s *Store) DigestWaiting(ctx context.Context, listID string) (posts int, bytes int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(p.size), 0) FROM digest_posts p JOIN lists l ON l.id = p.list_id
		WHERE l.list_id = $1 AND p.issue_id IS NULL`, listID).Scan(&posts, &bytes)
	return posts, bytes, wrap(err)
}

// DigestNumbers reads the numbers the list's next issue takes.
func (s *Store) DigestNumbers(ctx context.Context, listID string) (DigestNumbers, error) {
	var n DigestNumbers
	var last int64
	err := s.db.QueryRowContext(ctx, `SELECT digest_volume, digest_number, digest_last_sent_at FROM lists WHERE list_id = $1`, listID).
		Scan(&n.Volume, &n.Number, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return n, fmt.Errorf("list-id %s: %w", listID, ErrNoSuchList)
	}
	n.LastSentAt = fromNanos(last)
	return n, wrap(err)
}

// CloseDigestIssue makes the posts waiting for the list's digest one
// issue, numbered by number from the list's numbers, in one transaction:
// the list's numbers move on to the next issue and the time is recorded
// as the last sent. The issue is the caller's to send until claimUntil
// (see ClaimDigestIssue). With no post waiting it returns
// ErrNoDigestPosts.
func (s *Store) CloseDigestIssue(ctx context.Context, listID string, at, claimUntil time.Time, number func(DigestNumbers) (volume, issue int)) (*DigestIssue, error) {
	var is *DigestIssue
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// The first statement writes, so that two hosts closing the
		// list's issue at once take turns (PostgreSQL locks the row,
		// SQLite the database) and never give two issues one number.
		var id, last int64
		var n DigestNumbers
		err := tx.QueryRowContext(ctx, `UPDATE lists SET digest_number = digest_number WHERE list_id = $1
			RETURNING id, digest_volume, digest_number, digest_last_sent_at`, listID).Scan(&id, &n.Volume, &n.Number, &last)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("list-id %s: %w", listID, ErrNoSuchList)
		}
		if err != nil {
			return err
		}
		n.LastSentAt = fromNanos(last)
		vol, num := number(n)
		is = &DigestIssue{ListID: listID, Volume: vol, Number: num, ClosedAt: at}
		if err := tx.QueryRowContext(ctx, `INSERT INTO digest_issues (list_id, volume, number, closed_at, claimed_until) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			id, vol, num, at.UnixNano(), claimUntil.UnixNano()).Scan(&is.ID); err != nil {
			return err
		}
		// The posts are counted as they are taken: on PostgreSQL a post
		// committed since the transaction began is taken too.
		res, err := tx.ExecContext(ctx, `UPDATE digest_posts SET issue_id = $1 WHERE list_id = $2 AND issue_id IS NULL`, is.ID, id)
		if err != nil {
			return err
		}
		taken, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if taken == 0 {
			return ErrNoDigestPosts
		}
		is.Posts = int(taken)
		_, err = tx.ExecContext(ctx, `UPDATE lists SET digest_volume = $1, digest_number = $2, digest_last_sent_at = $3 WHERE id = $4`,
			vol, num+1, at.UnixNano(), id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return is, nil
}

// SetDigestNumbers sets the numbers the list's next issue takes and the
// time from which its period runs (mailman digests --bump).
func (s *Store) SetDigestNumbers(ctx context.Context, listID string, n DigestNumbers) error {
	res, err := s.db.ExecContext(ctx, `UPDATE lists SET digest_volume = $1, digest_number = $2, digest_last_sent_at = $3 WHERE list_id = $4`,
		n.Volume, n.Number, toNanos(n.LastSentAt), listID)
	if err != nil {
		return wrap(err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("list-id %s: %w", listID, ErrNoSuchList)
	}
	return nil
}

// UnsentDigestIssues are the list's closed issues not yet handed to
// delivery (a crash came between), oldest first; listID "" means every
// list's.
func (s *Store) UnsentDigestIssues(ctx context.Context, listID string) ([]DigestIssue, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT i.id, l.list_id, i.volume, i.number, i.closed_at,
			(SELECT COUNT(*) FROM digest_posts p WHERE p.issue_id = i.id)
		FROM digest_issues i JOIN lists l ON l.id = i.list_id
		WHERE i.sent_at = 0 AND ($1 = '' OR l.list_id = $1) ORDER BY i.id`, listID)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []DigestIssue
	for rows.Next() {
		var is DigestIssue
		var closed int64
		if err := rows.Scan(&is.ID, &is.ListID, &is.Volume, &is.Number, &closed, &is.Posts); err != nil {
			return nil, wrap(err)
		}
		is.ClosedAt = fromNanos(closed)
		out = append(out, is)
	}
	return out, wrap(rows.Err())
}

// DigestIssuePosts returns an issue's posts in the order they came.
func (s *Store) DigestIssuePosts(ctx context.Context, issueID int64) ([][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT message FROM digest_posts WHERE issue_id = $1 ORDER BY id`, issueID)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var m []byte
		if err := rows.Scan(&m); err != nil {
			return nil, wrap(err)
		}
		out = append(out, m)
	}
	return out, wrap(rows.Err())
}

// ClaimDigestIssue makes a closed, unsent issue the caller's to send
// until until, unless another holds it past now; it reports whether the
// caller has it. A sender that crashed loses its claim when the time
// runs out, and the next run sends the issue.
func (s *Store) ClaimDigestIssue(ctx context.Context, issueID int64, now, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE digest_issues SET claimed_until = $1 WHERE id = $2 AND sent_at = 0 AND claimed_until <= $3`,
		until.UnixNano(), issueID, now.UnixNano())
	if err != nil {
		return false, wrap(err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap(err)
}

// MarkDigestSent records that an issue was handed to delivery. Its posts'
// messages are dropped; their keys stay until PurgeDigestPosts.
func (s *Store) MarkDigestSent(ctx context.Context, issueID int64, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE digest_issues SET sent_at = $1, claimed_until = 0 WHERE id = $2`, at.UnixNano(), issueID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE digest_posts SET message = $1 WHERE issue_id = $2`, []byte{}, issueID)
		return err
	})
}

// PurgeDigestPosts forgets the posts of issues sent before before, and
// returns how many.
func (s *Store) PurgeDigestPosts(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM digest_posts WHERE issue_id IN
		(SELECT id FROM digest_issues WHERE sent_at > 0 AND sent_at < $1)`, before.UnixNano())
	if err != nil {
		return 0, wrap(err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap(err)
}
