package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// List is a mailing list and the settings runners read. Names and defaults
// are Mailman's (its legacy-default style).
type List struct {
	Address                    ListAddress `json:"-"`
	PostingAddress             string      `json:"posting_address"`
	ListID                     string      `json:"list_id"`
	DisplayName                string      `json:"display_name"`
	Description                string      `json:"description"`
	SubjectPrefix              string      `json:"subject_prefix"`
	DefaultMemberAction        string      `json:"default_member_action"`
	DefaultNonmemberAction     string      `json:"default_nonmember_action"`
	SubscriptionPolicy         string      `json:"subscription_policy"`
	UnsubscriptionPolicy       string      `json:"unsubscription_policy"`
	MaxMessageSize             int         `json:"max_message_size"` // KB; 0 means no limit
	MaxNumRecipients           int         `json:"max_num_recipients"`
	RequireExplicitDestination bool        `json:"require_explicit_destination"`
	Administrivia              bool        `json:"administrivia"`
	ReplyGoesToList            string      `json:"reply_goes_to_list"`
	Emergency                  bool        `json:"emergency"`
	IncludeRFC2369Headers      bool        `json:"include_rfc2369_headers"`
	PostID                     int         `json:"post_id"`
	CreatedAt                  time.Time   `json:"created_at"`
	LastPostAt                 time.Time   `json:"last_post_at,omitzero"`

	id int64
}

// A setting is one list field that `lists set` may change: its column and
// how a value is checked.
type setting struct {
	column string
	kind   string   // "text", "int", "bool", or "enum"
	values []string // for enum
}

var (
	actions  = []string{"accept", "defer", "discard", "hold", "reject"}
	policies = []string{"confirm", "confirm_then_moderate", "moderate", "open"}
)

// settings are the keys of `lists set`, named as in Mailman.
var settings = map[string]setting{
	"display_name":                 {"display_name", "text", nil},
	"description":                  {"description", "text", nil},
	"subject_prefix":               {"subject_prefix", "text", nil},
	"default_member_action":        {"default_member_action", "enum", actions},
	"default_nonmember_action":     {"default_nonmember_action", "enum", actions},
	"subscription_policy":          {"subscription_policy", "enum", policies},
	"unsubscription_policy":        {"unsubscription_policy", "enum", policies},
	"max_message_size":             {"max_message_size", "int", nil},
	"max_num_recipients":           {"max_num_recipients", "int", nil},
	"require_explicit_destination": {"require_explicit_destination", "bool", nil},
	"administrivia":                {"administrivia", "bool", nil},
	"reply_goes_to_list":           {"reply_goes_to_list", "enum", []string{"explicit_header", "no_munging", "point_to_list"}},
	"emergency":                    {"emergency", "bool", nil},
	"include_rfc2369_headers":      {"include_rfc2369_headers", "bool", nil},
}

// Settings lists the keys SetListSetting accepts, sorted.
func Settings() []string {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ErrUnknownSetting and ErrBadValue are wrapped by SetListSetting's errors.
var (
	ErrUnknownSetting = errors.New("unknown setting")
	ErrBadValue       = errors.New("bad value")
)

const listColumns = `id, list_name, mail_host, display_name, description, subject_prefix,
	default_member_action, default_nonmember_action, subscription_policy, unsubscription_policy,
	max_message_size, max_num_recipients, require_explicit_destination, administrivia,
	reply_goes_to_list, emergency, include_rfc2369_headers, post_id, created_at, last_post_at`

func scanList(row interface{ Scan(...any) error }) (*List, error) {
	var l List
	var created, lastPost int64
	err := row.Scan(&l.id, &l.Address.Name, &l.Address.Domain, &l.DisplayName, &l.Description, &l.SubjectPrefix,
		&l.DefaultMemberAction, &l.DefaultNonmemberAction, &l.SubscriptionPolicy, &l.UnsubscriptionPolicy,
		&l.MaxMessageSize, &l.MaxNumRecipients, &l.RequireExplicitDestination, &l.Administrivia,
		&l.ReplyGoesToList, &l.Emergency, &l.IncludeRFC2369Headers, &l.PostID, &created, &lastPost)
	if err != nil {
		return nil, err
	}
	l.PostingAddress, l.ListID = l.Address.String(), l.Address.ListID()
	l.CreatedAt, l.LastPostAt = fromNanos(created), fromNanos(lastPost)
	return &l, nil
}

// NewList describes a list to create.
type NewList struct {
	Address     ListAddress
	DisplayName string   // default: the list name with its first letter upper-cased, as Mailman
	Owners      []string // member addresses, possibly "Name <addr>"
}

// CreateList creates a list, with its owners, in one transaction.
func (s *Store) CreateList(ctx context.Context, n NewList) (*List, error) {
	// The address may not have come through ParseListAddress.
	if a, err := ParseListAddress(n.Address.String()); err != nil || a != n.Address {
		return nil, fmt.Errorf("%w: %q is not a lower-case list address", ErrInvalidAddress, n.Address.String())
	}
	display := n.DisplayName
	if display == "" {
		display = strings.ToUpper(n.Address.Name[:1]) + n.Address.Name[1:]
	}
	type owner struct{ addr, name string }
	var owners []owner
	for _, o := range n.Owners {
		addr, name, err := ParseMemberAddress(o)
		if err != nil {
			return nil, fmt.Errorf("owner: %w", err)
		}
		owners = append(owners, owner{addr, name})
	}
	now := time.Now().UnixNano()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO lists (list_name, mail_host, list_id, display_name, subject_prefix, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			n.Address.Name, n.Address.Domain, n.Address.ListID(), display, "["+display+"] ", now).Scan(&id)
		if isUniqueViolation(err) {
			return fmt.Errorf("%s: %w", n.Address, ErrListExists)
		}
		if err != nil {
			return err
		}
		for _, o := range owners {
			if _, err := tx.ExecContext(ctx, `INSERT INTO members (list_id, address_key, address, display_name, role, subscribed_at)
				VALUES ($1, $2, $3, $4, 'owner', $5) ON CONFLICT DO NOTHING`, id, key(o.addr), o.addr, o.name, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.List(ctx, n.Address)
}

// List returns the list with the posting address a.
func (s *Store) List(ctx context.Context, a ListAddress) (*List, error) {
	l, err := scanList(s.queryRow(ctx, &s.listByAddress, a.Name, a.Domain))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", a, ErrNoSuchList)
	}
	return l, wrap(err)
}

// ListByID returns the list whose list-id is id (name.domain).
func (s *Store) ListByID(ctx context.Context, id string) (*List, error) {
	l, err := scanList(s.queryRow(ctx, &s.listByID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("list-id %s: %w", id, ErrNoSuchList)
	}
	return l, wrap(err)
}

// Lists returns every list, sorted by domain and then by name, so that a
// domain's lists stand together.
func (s *Store) Lists(ctx context.Context) ([]*List, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+listColumns+` FROM lists ORDER BY mail_host, list_name`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var ls []*List
	for rows.Next() {
		l, err := scanList(rows)
		if err != nil {
			return nil, wrap(err)
		}
		ls = append(ls, l)
	}
	return ls, wrap(rows.Err())
}

// RemoveList deletes a list with its members, pending requests and held messages.
func (s *Store) RemoveList(ctx context.Context, a ListAddress) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM lists WHERE list_name = $1 AND mail_host = $2`, a.Name, a.Domain)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s: %w", a, ErrNoSuchList)
		}
		return nil
	})
}

// SetListSetting changes one setting, named as in Settings, from its text
// form: "true"/"false" (or yes/no, on/off) for booleans, a number, or one of
// an enumeration's values.
func (s *Store) SetListSetting(ctx context.Context, a ListAddress, name, value string) error {
	st, ok := settings[name]
	if !ok {
		return fmt.Errorf("%w %q (settings: %s)", ErrUnknownSetting, name, strings.Join(Settings(), ", "))
	}
	var v any
	switch st.kind {
	case "text":
		v = value
	case "int":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return fmt.Errorf("%w for %s: %q is not a whole number of 0 or more", ErrBadValue, name, value)
		}
		v = n
	case "bool":
		switch strings.ToLower(value) {
		case "true", "yes", "on", "1":
			v = true
		case "false", "no", "off", "0":
			v = false
		default:
			return fmt.Errorf("%w for %s: %q is not true or false", ErrBadValue, name, value)
		}
	case "enum":
		if !slices.Contains(st.values, value) {
			return fmt.Errorf("%w for %s: %q is not one of %s", ErrBadValue, name, value, strings.Join(st.values, ", "))
		}
		v = value
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE lists SET `+st.column+` = $1 WHERE list_name = $2 AND mail_host = $3`, v, a.Name, a.Domain)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s: %w", a, ErrNoSuchList)
		}
		return nil
	})
}
