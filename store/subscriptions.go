package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrAlreadyMember is returned by Subscribe for an address that is already
// a member of the list.
var ErrAlreadyMember = errors.New("already a member")

// AddressStatus says what the site knows of an address: whether it has
// been seen at all (Known) and whether it has shown that it receives mail
// (Verified): it confirmed a token sent to it, or an administrator made it a
// member of a list.
type AddressStatus struct {
	Known, Verified bool
}

// AddressStatus returns what the site knows of address.
func (s *Store) AddressStatus(ctx context.Context, address string) (AddressStatus, error) {
	var st AddressStatus
	var verifiedAt sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT verified_at FROM addresses WHERE address_key = $1`, key(address)).Scan(&verifiedAt)
	switch {
	case err == nil:
		st.Known, st.Verified = true, verifiedAt.Int64 != 0
	case !errors.Is(err, sql.ErrNoRows):
		return st, wrap(err)
	}
	if st.Verified {
		return st, nil
	}
	var n int
	err = s.db.QueryRowContext(ctx, `SELECT count(*) FROM members WHERE address_key = $1 AND role <> 'nonmember'`, key(address)).Scan(&n)
	if err != nil {
		return st, wrap(err)
	}
	if n > 0 {
		st.Known, st.Verified = true, true
	}
	return st, nil
}

// RecordAddress remembers an address met by a workflow, unverified, unless
// the site knows it already.
func (s *Store) RecordAddress(ctx context.Context, address, displayName string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO addresses (address_key, address, display_name, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (address_key) DO NOTHING`, key(address), address, displayName, time.Now().UnixNano())
		return err
	})
}

// verifyAddress marks address as verified, now, unless it was already.
func verifyAddress(ctx context.Context, tx *sql.Tx, address, displayName string) error {
	now := time.Now().UnixNano()
	_, err := tx.ExecContext(ctx, `INSERT INTO addresses (address_key, address, display_name, verified_at, created_at) VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (address_key) DO UPDATE SET verified_at = $4 WHERE addresses.verified_at = 0`, key(address), address, displayName, now)
	return err
}

// VerifyAddress marks address as verified: it confirmed a token sent to it.
func (s *Store) VerifyAddress(ctx context.Context, address, displayName string) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return verifyAddress(ctx, tx, address, displayName) })
}

// Subscription is an address joining a list as a member.
type Subscription struct {
	Address      string `json:"address"`
	DisplayName  string `json:"display_name,omitempty"`
	DeliveryMode string `json:"delivery_mode,omitempty"` // "" is regular, or what the address's or user's preferences say
	// AsUser makes the membership its user's rather than the address's
	// (Mailman's subscription_mode as_user): it follows the user's
	// preferred address.
	AsUser bool `json:"as_user,omitempty"`
}

// Subscribe makes sub a member of the list with list-id listID, marks its
// address verified and, when token is not "", removes the pending request
// that asked for it, all in one transaction: a confirmation either
// subscribes and is used up, or does neither.
func (s *Store) Subscribe(ctx context.Context, listID string, sub Subscription, token string) (*Member, error) {
	mode := cmp.Or(sub.DeliveryMode, DeliveryModes[0])
	subMode := "as_address"
	if sub.AsUser {
		subMode = "as_user"
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		var rowID int64
		err = tx.QueryRowContext(ctx, `INSERT INTO members (list_id, address_key, address, display_name, role, delivery_mode, subscription_mode, subscribed_at)
			VALUES ($1, $2, $3, $4, 'member', $5, $6, $7) RETURNING id`, id, key(sub.Address), sub.Address, sub.DisplayName, mode, subMode, time.Now().UnixNano()).Scan(&rowID)
		if isUniqueViolation(err) {
			return fmt.Errorf("%s of %s: %w", sub.Address, listID, ErrAlreadyMember)
		}
		if err != nil {
			return err
		}
		if sub.DeliveryMode != "" {
			// Asked for with the subscription: the membership's own.
			if _, err := tx.ExecContext(ctx, `INSERT INTO preferences (owner, name, value) VALUES ($1, 'delivery_mode', $2)`, MemberPrefs(MemberID(rowID)), mode); err != nil {
				return err
			}
		}
		if err := verifyAddress(ctx, tx, sub.Address, sub.DisplayName); err != nil {
			return err
		}
		if err := linkAddress(ctx, tx, sub.Address, sub.DisplayName); err != nil {
			return err
		}
		// What the address and its user prefer.
		if err := s.refreshLevel(ctx, tx, AddressPrefs(sub.Address)); err != nil {
			return err
		}
		return deletePending(ctx, tx, token)
	})
	if err != nil {
		return nil, err
	}
	return s.Member(ctx, listID, sub.Address, Regular)
}

// Unsubscribe removes address as a member of the list with list-id listID
// and, when token is not "", the pending request that asked for it, in one
// transaction. It returns the member as it was. The address stays
// verified.
func (s *Store) Unsubscribe(ctx context.Context, listID, address, token string) (*Member, error) {
	var m Member
	err := s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		m, err = scanMember(tx.QueryRowContext(ctx, `DELETE FROM members WHERE list_id = $1 AND address_key = $2 AND role = 'member'
			RETURNING `+strings.ReplaceAll(memberColumns, "m.", ""), id, key(address)))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s of %s: %w", address, listID, ErrNoSuchMember)
		}
		if err != nil {
			return err
		}
		// A member's address had shown it receives mail; it stays known
		// as such after leaving, as Mailman's user records do.
		if err := verifyAddress(ctx, tx, m.Address, m.DisplayName); err != nil {
			return err
		}
		return deletePending(ctx, tx, token)
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func deletePending(ctx context.Context, tx *sql.Tx, token string) error {
	if token == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM pending WHERE token = $1`, token)
	return err
}

// AddPendingFor is AddPending for a request about one address, which
// PendingFor finds.
func (s *Store) AddPendingFor(ctx context.Context, listID, typ, address string, payload any, life time.Duration) (string, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("pending payload: %w", err)
	}
	token := newToken()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		return insertPending(ctx, tx, token, sql.NullInt64{Int64: id, Valid: true}, typ, key(address), body, life)
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// PendingFor returns the unexpired request of type typ about address for
// the list with list-id listID, or ErrNoSuchToken.
func (s *Store) PendingFor(ctx context.Context, listID, typ, address string) (*Pending, error) {
	p, err := scanPending(s.db.QueryRowContext(ctx, `SELECT `+pendingColumns+` FROM pending p JOIN lists l ON l.id = p.list_id
		WHERE l.list_id = $1 AND p.type = $2 AND p.address_key = $3 AND p.expires_at >= $4 ORDER BY p.created_at DESC LIMIT 1`,
		listID, typ, key(address), time.Now().UnixNano()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s request for %s: %w", typ, address, ErrNoSuchToken)
	}
	return p, wrap(err)
}

// Pending returns the request with token, leaving it in place; an expired
// one is removed and ErrTokenExpired returned.
func (s *Store) Pending(ctx context.Context, token string) (*Pending, error) {
	p, err := scanPending(s.db.QueryRowContext(ctx, `SELECT `+pendingColumns+` FROM pending p LEFT JOIN lists l ON l.id = p.list_id
		WHERE p.token = $1`, token))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("token %s: %w", token, ErrNoSuchToken)
	}
	if err != nil {
		return nil, wrap(err)
	}
	if time.Now().After(p.ExpiresAt) {
		if err := s.DeletePending(ctx, token); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("token %s: %w", token, ErrTokenExpired)
	}
	return p, nil
}

// DeletePending removes the request with token, if there is one.
func (s *Store) DeletePending(ctx context.Context, token string) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return deletePending(ctx, tx, token) })
}

// ReplacePending moves a request to its next step: in one transaction the
// request with token is removed and one of the same list, type and
// address, with payload, expiring after life, is made. It returns the new
// token, so that the old one, which its confirmer has seen, cannot finish
// what the next person must decide.
func (s *Store) ReplacePending(ctx context.Context, token string, payload any, life time.Duration) (string, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("pending payload: %w", err)
	}
	next := newToken()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var listRow sql.NullInt64
		var typ, addressKey string
		err := tx.QueryRowContext(ctx, `DELETE FROM pending WHERE token = $1 RETURNING list_id, type, address_key`, token).Scan(&listRow, &typ, &addressKey)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("token %s: %w", token, ErrNoSuchToken)
		}
		if err != nil {
			return err
		}
		return insertPending(ctx, tx, next, listRow, typ, addressKey, body, life)
	})
	if err != nil {
		return "", err
	}
	return next, nil
}

// AutoresponseDue reports whether the list may answer address
// automatically with an answer of kind now: not when it did within grace
// before. A true answer records now as the last time.
func (s *Store) AutoresponseDue(ctx context.Context, listID, address, kind string, grace time.Duration, now time.Time) (bool, error) {
	// Due when the last answer was at or before cutoff. One statement
	// decides and records, so that two runners at once under PostgreSQL's
	// READ COMMITTED (where a read then a write would both find it due)
	// answer once: the second's upsert waits for the first's row, then
	// sees its time.
	cutoff := int64(math.MaxInt64)
	if grace > 0 {
		cutoff = now.Add(-grace).UnixNano()
	}
	due := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `INSERT INTO autoresponse_log (list_id, address_key, kind, sent_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (list_id, address_key, kind) DO UPDATE SET sent_at = $4 WHERE autoresponse_log.sent_at <= $5 RETURNING 1`,
			id, key(address), kind, now.UnixNano(), cutoff).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		due = err == nil
		return err
	})
	return due, err
}

// ListPending returns a list's unexpired requests of the types given, the
// oldest first.
func (s *Store) ListPending(ctx context.Context, listID string, types ...string) ([]*Pending, error) {
	args := []any{listID, time.Now().UnixNano()}
	var marks []string
	for _, t := range types {
		args = append(args, t)
		marks = append(marks, fmt.Sprintf("$%d", len(args)))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+pendingColumns+` FROM pending p JOIN lists l ON l.id = p.list_id
		WHERE l.list_id = $1 AND p.expires_at >= $2 AND p.type IN (`+strings.Join(marks, ", ")+`) ORDER BY p.created_at, p.token`, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var ps []*Pending
	for rows.Next() {
		p, err := scanPending(rows)
		if err != nil {
			return nil, wrap(err)
		}
		ps = append(ps, p)
	}
	return ps, wrap(rows.Err())
}
