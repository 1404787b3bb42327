package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The kinds of bounce event.
const (
	BounceNormal    = "normal"    // a failure a bounce or an SMTP refusal reported
	BounceProbe     = "probe"     // a probe sent to the address came back
	BouncePolicy    = "policy"    // a refusal for policy or content (5.7.x): recorded, never scored
	BounceComplaint = "complaint" // a feedback report: the subscriber called the list's mail spam
)

// Why a member's delivery is off (Mailman's DeliveryStatus); "" while it
// is on.
const (
	ByBounces   = "by_bounces"
	ByUser      = "by_user"
	ByModerator = "by_moderator"
)

// BounceEvent is one failure of delivery to an address of a list.
type BounceEvent struct {
	ID        int64     `json:"id"`
	ListID    string    `json:"list"`
	Address   string    `json:"address"`
	MessageID string    `json:"message_id"`
	Reason    string    `json:"reason"`
	Status    string    `json:"status,omitempty"` // RFC 3463's code, when known
	Kind      string    `json:"kind"`
	At        time.Time `json:"at"`
	Processed bool      `json:"processed"`
}

// RecordBounce records a bounce event, unprocessed: its Kind is normal
// when empty, its At now when zero. It returns the event's id.
func (s *Store) RecordBounce(ctx context.Context, e BounceEvent) (int64, error) {
	if e.Kind == "" {
		e.Kind = BounceNormal
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		list, err := listRowIDByListID(ctx, tx, e.ListID)
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO bounce_events (list_id, address, message_id, reason, status, kind, at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			list, key(e.Address), e.MessageID, e.Reason, e.Status, e.Kind, e.At.UnixNano()).Scan(&id)
	})
	return id, err
}

const bounceColumns = `b.id, l.list_id, b.address, b.message_id, b.reason, b.status, b.kind, b.at, b.processed`

func scanBounce(row interface{ Scan(...any) error }) (BounceEvent, error) {
	var b BounceEvent
	var at int64
	err := row.Scan(&b.ID, &b.ListID, &b.Address, &b.MessageID, &b.Reason, &b.Status, &b.Kind, &at, &b.Processed)
	b.At = fromNanos(at)
	return b, err
}

func (s *Store) bounces(ctx context.Context, where string, args ...any) ([]BounceEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+bounceColumns+` FROM bounce_events b JOIN lists l ON l.id = b.list_id WHERE `+where+` ORDER BY b.id`, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var bs []BounceEvent
	for rows.Next() {
		b, err := scanBounce(rows)
		if err != nil {
			return nil, wrap(err)
		}
		bs = append(bs, b)
	}
	return bs, wrap(rows.Err())
}

// Bounces returns the bounce events of the list with list-id listID,
// oldest first.
func (s *Store) Bounces(ctx context.Context, listID string) ([]BounceEvent, error) {
	return s.bounces(ctx, `l.list_id = $1`, listID)
}

// MemberBounces returns the bounce events of address on a list, oldest
// first: the member's bounce history.
func (s *Store) MemberBounces(ctx context.Context, listID, address string) ([]BounceEvent, error) {
	return s.bounces(ctx, `l.list_id = $1 AND b.address = $2`, listID, key(address))
}

// UnprocessedBounces returns up to limit events not processed yet, of
// every list, oldest first.
func (s *Store) UnprocessedBounces(ctx context.Context, limit int) ([]BounceEvent, error) {
	return s.bounces(ctx, `b.processed = 0 AND b.id IN (SELECT id FROM bounce_events WHERE processed = 0 ORDER BY id LIMIT $1)`, limit)
}

// BounceSettings are what a list does about bounces (Mailman's settings).
type BounceSettings struct {
	ProcessBounces         bool
	Threshold              int           // bounce_score_threshold
	StaleAfter             time.Duration // bounce_info_stale_after
	Warnings               int           // bounce_you_are_disabled_warnings
	WarningsInterval       time.Duration // bounce_you_are_disabled_warnings_interval
	NotifyOwnerOnIncrement bool
	NotifyOwnerOnDisable   bool
	NotifyOwnerOnRemoval   bool
	ForwardUnrecognizedTo  string // discard, administrators or site_owner
}

// Bounces is the list's BounceSettings.
func (l *List) Bounces() BounceSettings {
	return BounceSettings{
		ProcessBounces: l.ProcessBounces, Threshold: l.BounceScoreThreshold,
		StaleAfter:             time.Duration(l.BounceInfoStaleAfter) * 24 * time.Hour,
		Warnings:               l.BounceYouAreDisabledWarnings,
		WarningsInterval:       time.Duration(l.BounceYouAreDisabledWarningsInterval) * 24 * time.Hour,
		NotifyOwnerOnIncrement: l.BounceNotifyOwnerOnBounceIncrement, NotifyOwnerOnDisable: l.BounceNotifyOwnerOnDisable,
		NotifyOwnerOnRemoval: l.BounceNotifyOwnerOnRemoval, ForwardUnrecognizedTo: l.ForwardUnrecognizedBouncesTo,
	}
}

// What processing a bounce event did.
const (
	BounceIgnored  = "ignored"  // no regular member of that address, or the list processes no bounces
	BounceRecorded = "recorded" // a policy refusal: kept in the history, not scored
	BounceResidual = "residual" // delivery was off already because of bounces
	BounceSameDay  = "same day" // the member bounced today already: at most one point a day
	BounceScored   = "scored"   // the score went up, below the threshold
	BounceProbing  = "probe"    // the threshold is reached and a probe is to be sent (the score restarts)
	BounceDisabled = "disabled" // delivery is now off because of bounces
	BounceStopped  = "stopped"  // a complaint: delivery is now off, as the subscriber asked
)

// BounceOutcome is what ProcessBounce did with one event.
type BounceOutcome struct {
	Event    BounceEvent
	Action   string // one of the Bounce* actions above
	Score    int    // the member's score after it
	Settings BounceSettings
}

// ProcessBounce processes the event with id as Mailman does, in one
// transaction, at now: an event older than bounce_info_stale_after after
// the last one restarts the score at 1, another adds a point unless the
// member bounced the same day (UTC) already; at bounce_score_threshold
// the member's delivery is turned off, or, with probes, a probe is to be
// sent (and the score restarts). A probe that came back turns delivery
// off; a complaint too, as the subscriber's own wish, with no warnings. A
// processed event is not processed again.
func (s *Store) ProcessBounce(ctx context.Context, id int64, now time.Time, probes bool) (BounceOutcome, error) {
	var out BounceOutcome
	err := s.tx(ctx, func(tx *sql.Tx) error {
		e, err := scanBounce(tx.QueryRowContext(ctx, `SELECT `+bounceColumns+` FROM bounce_events b JOIN lists l ON l.id = b.list_id WHERE b.id = $1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("bounce event %d: %w", id, ErrNoSuchBounce)
		}
		if err != nil {
			return err
		}
		out = BounceOutcome{Event: e, Action: BounceIgnored}
		if e.Processed {
			return fmt.Errorf("bounce event %d: processed already: %w", id, ErrNoSuchBounce)
		}
		l, err := scanList(tx.QueryRowContext(ctx, `SELECT `+listColumns+` FROM lists WHERE list_id = $1`, e.ListID))
		if err != nil {
			return err
		}
		out.Settings = l.Bounces()
		if _, err := tx.ExecContext(ctx, `UPDATE bounce_events SET processed = 1 WHERE id = $1`, id); err != nil {
			return err
		}
		var m struct {
			id      int64
			enabled bool
			status  string
			score   int
			last    int64
		}
		err = tx.QueryRowContext(ctx, `SELECT id, delivery_enabled, delivery_status, bounce_score, last_bounce_received FROM members
			WHERE list_id = $1 AND address_key = $2 AND role = $3`, l.id, key(e.Address), string(Regular)).Scan(&m.id, &m.enabled, &m.status, &m.score, &m.last)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !l.ProcessBounces && e.Kind != BounceComplaint) {
			return nil
		}
		if err != nil {
			return err
		}
		out.Score = m.score
		set := func(sql string, args ...any) error {
			_, err := tx.ExecContext(ctx, `UPDATE members SET `+sql+` WHERE id = $1`, append([]any{m.id}, args...)...)
			return err
		}
		disable := func(status string) error {
			return set(`delivery_enabled = 0, delivery_status = $2, last_warning_sent = 0, total_warnings_sent = 0`, status)
		}
		switch {
		case e.Kind == BounceComplaint:
			out.Action = BounceStopped
			if !m.enabled {
				return nil
			}
			return disable(ByUser)
		case e.Kind == BouncePolicy:
			out.Action = BounceRecorded
			return nil
		case m.status == ByBounces:
			out.Action = BounceResidual
			return nil
		case e.Kind == BounceProbe:
			out.Action = BounceDisabled
			return disable(ByBounces)
		}
		last := fromNanos(m.last)
		if m.last != 0 && sameDay(last, e.At) {
			out.Action = BounceSameDay
			return set(`last_bounce_received = $2`, e.At.UnixNano())
		}
		if m.last == 0 || e.At.Sub(last) > out.Settings.StaleAfter {
			m.score = 1
		} else {
			m.score++
		}
		out.Score, out.Action = m.score, BounceScored
		if m.score < out.Settings.Threshold {
			return set(`bounce_score = $2, last_bounce_received = $3`, m.score, e.At.UnixNano())
		}
		if probes {
			out.Action, out.Score = BounceProbing, 0
			return set(`bounce_score = 0, last_bounce_received = $2`, e.At.UnixNano())
		}
		out.Action = BounceDisabled
		if err := set(`bounce_score = $2, last_bounce_received = $3`, m.score, e.At.UnixNano()); err != nil {
			return err
		}
		return disable(ByBounces)
	})
	return out, err
}

// ErrNoSuchBounce is an event that is not there, or not to be processed.
var ErrNoSuchBounce = errors.New("no such bounce event")

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.UTC().Date()
	by, bm, bd := b.UTC().Date()
	return ay == by && am == bm && ad == bd
}

// BounceDue is a member whose delivery bounces turned off, and what is due
// for them now.
type BounceDue struct {
	ListID       string
	Address      string
	WarningsSent int
	Remove       bool // every warning is sent and an interval has passed since the last: remove them
}

// BouncesDue returns the members of lists that process bounces whose
// delivery is off because of bounces and for whom something is due at
// now: a warning, while fewer than bounce_you_are_disabled_warnings were
// sent and the interval has passed since the last (or none was sent);
// removal, once every warning was sent and one more interval has passed,
// or at once when the list sends none.
func (s *Store) BouncesDue(ctx context.Context, now time.Time) ([]BounceDue, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT l.list_id, m.address, m.total_warnings_sent, m.last_warning_sent,
		l.bounce_you_are_disabled_warnings, l.bounce_you_are_disabled_warnings_interval
		FROM members m JOIN lists l ON l.id = m.list_id
		WHERE m.role = $1 AND m.delivery_status = $2 AND l.process_bounces = 1 ORDER BY m.id`, string(Regular), ByBounces)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var due []BounceDue
	for rows.Next() {
		var d BounceDue
		var last int64
		var warnings, days int
		if err := rows.Scan(&d.ListID, &d.Address, &d.WarningsSent, &last, &warnings, &days); err != nil {
			return nil, wrap(err)
		}
		interval := time.Duration(days) * 24 * time.Hour
		passed := last == 0 || !now.Before(fromNanos(last).Add(interval))
		switch {
		case warnings == 0:
			d.Remove = true
		case !passed:
			continue
		case d.WarningsSent >= warnings:
			d.Remove = true
		}
		due = append(due, d)
	}
	return due, wrap(rows.Err())
}

// RecordBounceWarning counts a warning sent at now to address, whose
// delivery bounces turned off.
func (s *Store) RecordBounceWarning(ctx context.Context, listID, address string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		list, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `UPDATE members SET total_warnings_sent = total_warnings_sent + 1, last_warning_sent = $1
			WHERE list_id = $2 AND address_key = $3 AND role = $4 AND delivery_status = $5`, now.UnixNano(), list, key(address), string(Regular), ByBounces)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%s is no member of %s disabled by bounces: %w", address, listID, ErrNoSuchMember)
		}
		return nil
	})
}

// The pending requests of bounce processing: a probe's token names the
// member it was sent to, and a warning's token re-enables the member's
// delivery when they confirm it; their payload is {"address": ADDRESS}.
const (
	PendingProbe    = "probe"
	PendingReenable = "re-enable"
)

// BouncePayload is the payload of PendingProbe and PendingReenable.
type BouncePayload struct {
	Address string `json:"address"`
}
