package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// memberOptions are the per-member settings SetMemberOption changes, named
// as in Mailman, with their columns.
var memberOptions = map[string]string{
	"moderation_action":    "moderation_action",
	"delivery_enabled":     "delivery_enabled",
	"receive_own_postings": "receive_own_postings",
	"receive_list_copy":    "receive_list_copy",
	"delivery_mode":        "delivery_mode",
}

// The values of a member's delivery_mode, as Mailman names them: each
// post, or a digest (summary digests are sent as MIME ones, as Mailman
// does).
const (
	RegularDelivery = "regular"
	MIMEDigests     = "mime_digests"
	PlainDigests    = "plaintext_digests"
	SummaryDigests  = "summary_digests"
)

// DeliveryModes are the values of a member's delivery_mode.
var DeliveryModes = []string{RegularDelivery, MIMEDigests, PlainDigests, SummaryDigests}

// MemberOptions lists the names SetMemberOption accepts, sorted.
func MemberOptions() []string {
	names := make([]string, 0, len(memberOptions))
	for n := range memberOptions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// SetMemberOption changes one setting of address in role of a list:
// moderation_action (accept, defer, discard, hold, reject, or "" for the
// list's default), delivery_enabled, receive_own_postings or
// receive_list_copy (true/false), delivery_mode (one of DeliveryModes).
func (s *Store) SetMemberOption(ctx context.Context, a ListAddress, address string, role Role, name, value string) error {
	column, ok := memberOptions[name]
	if !ok {
		return fmt.Errorf("%w %q (member settings: %s)", ErrUnknownSetting, name, strings.Join(MemberOptions(), ", "))
	}
	var v any
	switch name {
	case "moderation_action":
		if value != "" && !slices.Contains(actions, value) {
			return fmt.Errorf("%w for %s: %q is not one of %s, or empty for the list's default", ErrBadValue, name, value, strings.Join(actions, ", "))
		}
		v = value
	case "delivery_mode":
		if !slices.Contains(DeliveryModes, value) {
			return fmt.Errorf("%w for %s: %q is not one of %s", ErrBadValue, name, value, strings.Join(DeliveryModes, ", "))
		}
		v = value
	default:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("%w for %s: %q is not true or false", ErrBadValue, name, value)
		}
		v = boolColumn(b)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowID(ctx, tx, a)
		if err != nil {
			return err
		}
		set := column + ` = $1`
		if name == "delivery_enabled" {
			// Turned on, a member starts afresh: a score and warnings
			// kept would turn delivery off again at the next bounce,
			// as Mailman's do. Turned off here, it is an administrator's
			// doing.
			if v == boolColumn(true) {
				set += `, delivery_status = '', bounce_score = 0, last_bounce_received = 0, last_warning_sent = 0, total_warnings_sent = 0`
			} else {
				set += `, delivery_status = '` + ByModerator + `'`
			}
		}
		var rowID int64
		err = tx.QueryRowContext(ctx, `UPDATE members SET `+set+` WHERE list_id = $2 AND address_key = $3 AND role = $4 RETURNING id`, v, id, key(address), string(role)).Scan(&rowID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s is not a %s of %s: %w", address, role, a, ErrNoSuchMember)
		}
		if err != nil || !slices.ContainsFunc(deliveryPrefs, func(p deliveryPref) bool { return p.name == name }) {
			return err
		}
		// A delivery preference set for the membership itself, which
		// its user's and address's no longer reach.
		pref := value
		if b, ok := v.(int); ok && name != "delivery_mode" {
			pref = strconv.FormatBool(b == 1)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO preferences (owner, name, value) VALUES ($1, $2, $3)
			ON CONFLICT (owner, name) DO UPDATE SET value = excluded.value`, MemberPrefs(MemberID(rowID)), name, pref)
		return err
	})
}
