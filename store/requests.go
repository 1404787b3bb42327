package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrTokenExpired is returned for a pending request whose time ran out; the
// request is removed.
var ErrTokenExpired = errors.New("pending request expired")

// Pending is a request waiting for a confirmation: a subscription, an
// unsubscription, a held message's moderation.
type Pending struct {
	Token     string          `json:"token"`
	ListID    string          `json:"list_id,omitempty"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
	ExpiresAt time.Time       `json:"expires_at"`
}

// PendingHeld is the type of the pending request Hold makes: its payload
// is {"id": ID}, the held message's id, and its token is the held
// message's Token, which a moderator's "confirm TOKEN" reply carries.
const PendingHeld = "held message"

// AddPending records a request of a type with a payload (any JSON value)
// for a list (listID "" for none) and returns its token: 40 hex digits from
// the system's secure random source, as unguessable as Mailman's SHA-1 ones
// should have been.
func (s *Store) AddPending(ctx context.Context, listID, typ string, payload any, life time.Duration) (string, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("pending payload: %w", err)
	}
	token := newToken()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var id sql.NullInt64
		if listID != "" {
			n, err := listRowIDByListID(ctx, tx, listID)
			if err != nil {
				return err
			}
			id = sql.NullInt64{Int64: n, Valid: true}
		}
		return insertPending(ctx, tx, token, id, typ, "", body, life)
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// newToken returns a pending request's token: 40 hex digits.
func newToken() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// insertPending writes the row of a pending request, made now, expiring
// after life; addressKey is "" for a request about no one address.
func insertPending(ctx context.Context, tx *sql.Tx, token string, listRow sql.NullInt64, typ, addressKey string, body []byte, life time.Duration) error {
	now := time.Now()
	if addressKey == "" {
		// Without the column, so that databases from before it was added
		// can still be written while they are being upgraded.
		_, err := tx.ExecContext(ctx, `INSERT INTO pending (token, list_id, type, payload, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			token, listRow, typ, string(body), now.UnixNano(), now.Add(life).UnixNano())
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO pending (token, list_id, type, address_key, payload, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		token, listRow, typ, addressKey, string(body), now.UnixNano(), now.Add(life).UnixNano())
	return err
}

const pendingColumns = `p.token, l.list_id, p.type, p.payload, p.created_at, p.expires_at`

func scanPending(row interface{ Scan(...any) error }) (*Pending, error) {
	var p Pending
	var listID sql.NullString
	var payload string
	var created, expires int64
	if err := row.Scan(&p.Token, &listID, &p.Type, &payload, &created, &expires); err != nil {
		return nil, err
	}
	p.ListID, p.Payload = listID.String, json.RawMessage(payload)
	p.CreatedAt, p.ExpiresAt = fromNanos(created), fromNanos(expires)
	return &p, nil
}

// TakePending removes and returns the request with token, so that it is
// confirmed once only; an expired one is removed and ErrTokenExpired returned.
func (s *Store) TakePending(ctx context.Context, token string) (*Pending, error) {
	var p *Pending
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = scanPending(tx.QueryRowContext(ctx, `SELECT `+pendingColumns+`
			FROM pending p LEFT JOIN lists l ON l.id = p.list_id WHERE p.token = $1`, token))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("token %s: %w", token, ErrNoSuchToken)
		}
		if err != nil {
			return err
		}
		// Under PostgreSQL's READ COMMITTED another transaction may
		// have read the row too: the one whose DELETE removes it takes
		// it, and the other finds none, so that it is confirmed once.
		r, err := tx.ExecContext(ctx, `DELETE FROM pending WHERE token = $1`, token)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("token %s: %w", token, ErrNoSuchToken)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if time.Now().After(p.ExpiresAt) {
		return nil, fmt.Errorf("token %s: %w", token, ErrTokenExpired)
	}
	return p, nil
}

// EvictExpired removes the requests whose time ran out before now and
// returns how many.
func (s *Store) EvictExpired(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM pending WHERE expires_at < $1`, now.UnixNano())
		if err == nil {
			n, _ = r.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// HeldMessage is a post waiting for a moderator.
type HeldMessage struct {
	ID        int64           `json:"id"`
	ListID    string          `json:"list"`
	Sender    string          `json:"sender"`
	Subject   string          `json:"subject"`
	MessageID string          `json:"message_id"`
	Reasons   []string        `json:"reasons"`
	HeldAt    time.Time       `json:"held_at"`
	Token     string          `json:"token"` // of its PendingHeld request; "" if held before tokens were
	Message   []byte          `json:"-"`
	Msgdata   json.RawMessage `json:"-"` // the queue metadata to send it on with
}

// Hold stores a held message and, in the same transaction, the pending
// request (of type PendingHeld, expiring after life) whose token confirms
// its moderation, so that no post is held without its token nor a token
// made for a post not held. It returns the message's id and the token.
// h.ID, h.Token and h.HeldAt are not read.
func (s *Store) Hold(ctx context.Context, h *HeldMessage, life time.Duration) (id int64, token string, err error) {
	reasons, _ := json.Marshal(h.Reasons)
	msgdata := h.Msgdata
	if msgdata == nil {
		msgdata = json.RawMessage("{}")
	}
	token = newToken()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		listRow, err := listRowIDByListID(ctx, tx, h.ListID)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO held_messages (list_id, sender, subject, message_id, reasons, message, msgdata, held_at, token)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			listRow, h.Sender, h.Subject, h.MessageID, string(reasons), h.Message, string(msgdata), time.Now().UnixNano(), token).Scan(&id)
		if err != nil {
			return err
		}
		body, _ := json.Marshal(struct {
			ID int64 `json:"id"`
		}{id})
		return insertPending(ctx, tx, token, sql.NullInt64{Int64: listRow, Valid: true}, PendingHeld, "", body, life)
	})
	if err != nil {
		return 0, "", err
	}
	return id, token, nil
}

const heldColumns = `h.id, l.list_id, h.sender, h.subject, h.message_id, h.reasons, h.message, h.msgdata, h.held_at, h.token`

func scanHeld(row interface{ Scan(...any) error }) (*HeldMessage, error) {
	var h HeldMessage
	var reasons, msgdata string
	var at int64
	if err := row.Scan(&h.ID, &h.ListID, &h.Sender, &h.Subject, &h.MessageID, &reasons, &h.Message, &msgdata, &at, &h.Token); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(reasons), &h.Reasons); err != nil {
		return nil, fmt.Errorf("held message %d: reasons: %w", h.ID, err)
	}
	h.Msgdata, h.HeldAt = json.RawMessage(msgdata), fromNanos(at)
	return &h, nil
}

// HeldMessages returns the held messages of the list with list-id listID,
// or of every list when listID is "", oldest first.
func (s *Store) HeldMessages(ctx context.Context, listID string) ([]*HeldMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+heldColumns+` FROM held_messages h JOIN lists l ON l.id = h.list_id
		WHERE $1 = '' OR l.list_id = $1 ORDER BY h.id`, listID)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var hs []*HeldMessage
	for rows.Next() {
		h, err := scanHeld(rows)
		if err != nil {
			return nil, wrap(err)
		}
		hs = append(hs, h)
	}
	return hs, wrap(rows.Err())
}

// HeldMessage returns one held message.
func (s *Store) HeldMessage(ctx context.Context, id int64) (*HeldMessage, error) {
	h, err := scanHeld(s.db.QueryRowContext(ctx, `SELECT `+heldColumns+` FROM held_messages h JOIN lists l ON l.id = h.list_id WHERE h.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("held message %d: %w", id, ErrNoSuchHeld)
	}
	return h, wrap(err)
}

// HeldByToken returns the held message whose pending request has token:
// the one a moderator's "confirm TOKEN" reply names. The request itself
// may have expired or been taken; the message is there until deleted.
func (s *Store) HeldByToken(ctx context.Context, token string) (*HeldMessage, error) {
	// The messages held before tokens all have "", which names none of them.
	if token == "" {
		return nil, fmt.Errorf("held message with token %q: %w", token, ErrNoSuchHeld)
	}
	h, err := scanHeld(s.db.QueryRowContext(ctx, `SELECT `+heldColumns+` FROM held_messages h JOIN lists l ON l.id = h.list_id WHERE h.token = $1`, token))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("held message with token %s: %w", token, ErrNoSuchHeld)
	}
	return h, wrap(err)
}

// DeleteHeld removes a held message once it has been dealt with, and its
// pending request, so that a later "confirm TOKEN" finds nothing.
func (s *Store) DeleteHeld(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var token string
		err := tx.QueryRowContext(ctx, `DELETE FROM held_messages WHERE id = $1 RETURNING token`, id).Scan(&token)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("held message %d: %w", id, ErrNoSuchHeld)
		}
		if err != nil || token == "" {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM pending WHERE token = $1 AND type = $2`, token, PendingHeld)
		return err
	})
}

// CountHeld counts the held messages of the list with list-id listID,
// without reading them; a list that does not exist holds none.
func (s *Store) CountHeld(ctx context.Context, listID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM held_messages h JOIN lists l ON l.id = h.list_id WHERE l.list_id = $1`, listID).Scan(&n)
	return n, wrap(err)
}

// HeldPage returns one page of the list's held messages, oldest first,
// and how many it holds; limit < 0 means all.
func (s *Store) HeldPage(ctx context.Context, listID string, offset, limit int) ([]*HeldMessage, int, error) {
	total, err := s.CountHeld(ctx, listID)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+heldColumns+` FROM held_messages h JOIN lists l ON l.id = h.list_id
		WHERE l.list_id = $1 ORDER BY h.id LIMIT $2 OFFSET $3`, listID, s.pageLimit(limit), offset)
	if err != nil {
		return nil, 0, wrap(err)
	}
	defer rows.Close()
	var hs []*HeldMessage
	for rows.Next() {
		h, err := scanHeld(rows)
		if err != nil {
			return nil, 0, wrap(err)
		}
		hs = append(hs, h)
	}
	return hs, total, wrap(rows.Err())
}

// HeldPastMaxDays returns the ids of the held messages older at now than
// their list's max_days_to_hold, oldest first; a list whose
// max_days_to_hold is 0 keeps them until a moderator decides.
func (s *Store) HeldPastMaxDays(ctx context.Context, now time.Time) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT list_id, value FROM list_settings WHERE name = 'max_days_to_hold'`)
	if err != nil {
		return nil, wrap(err)
	}
	cutoffs := map[int64]time.Time{}
	for rows.Next() {
		var list int64
		var value string
		if err := rows.Scan(&list, &value); err != nil {
			rows.Close()
			return nil, wrap(err)
		}
		var days int
		if err := json.Unmarshal([]byte(value), &days); err != nil {
			rows.Close()
			return nil, fmt.Errorf("setting max_days_to_hold %q: %w", value, err)
		}
		if days > 0 {
			cutoffs[list] = now.AddDate(0, 0, -days)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	var ids []int64
	for list, cutoff := range cutoffs {
		rows, err := s.db.QueryContext(ctx, `SELECT id FROM held_messages WHERE list_id = $1 AND held_at < $2`, list, cutoff.UnixNano())
		if err != nil {
			return nil, wrap(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, wrap(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, wrap(err)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
