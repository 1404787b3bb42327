package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Role is a member's role in a list.
type Role string

// The roles, as Mailman names them.
const (
	Owner     Role = "owner"
	Moderator Role = "moderator"
	Regular   Role = "member"
	Nonmember Role = "nonmember"
)

// Roles lists every role.
var Roles = []Role{Owner, Moderator, Regular, Nonmember}

// ParseRole checks a role's name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(s))
	if !slices.Contains(Roles, r) {
		return "", fmt.Errorf("unknown role %q (roles: owner, moderator, member, nonmember)", s)
	}
	return r, nil
}

// Member is one address's membership of a list in one role.
type Member struct {
	// MemberID is Mailman's member_id: 32 hex digits, unique on the site.
	MemberID           string    `json:"member_id"`
	Address            string    `json:"address"`
	DisplayName        string    `json:"display_name"`
	Role               Role      `json:"role"`
	DeliveryEnabled    bool      `json:"delivery_enabled"`
	ModerationAction   string    `json:"moderation_action"` // "" means the list's default action
	ReceiveOwnPostings bool      `json:"receive_own_postings"`
	ReceiveListCopy    bool      `json:"receive_list_copy"` // false: no list copy of a post that names them in To or Cc
	DeliveryMode       string    `json:"delivery_mode"`     // regular, mime_digests, plaintext_digests or summary_digests
	SubscribedAt       time.Time `json:"subscribed_at"`
	// DeliveryStatus says why delivery is off: by_bounces, by_user or
	// by_moderator (Mailman's names); "enabled" while it is on.
	DeliveryStatus     string    `json:"delivery_status"`
	BounceScore        int       `json:"bounce_score"`
	LastBounceReceived time.Time `json:"last_bounce_received,omitzero"`
	LastWarningSent    time.Time `json:"last_warning_sent,omitzero"`
	TotalWarningsSent  int       `json:"total_warnings_sent"`
	// SubscriptionMode is as_address, or as_user when the membership
	// follows its user's preferred address.
	SubscriptionMode string `json:"subscription_mode"`
	// ListID and UserID are filled by FindMembers and MemberByID; UserID
	// is "" for an address no user holds.
	ListID string `json:"list_id,omitempty"`
	UserID string `json:"user_id,omitempty"`
}

// String is the address with its display name, as "Anne <anne@example.com>",
// quoted or RFC 2047-encoded where the name needs it, so that it can go into
// a header as it is and parses back to the same member.
func (m Member) String() string {
	if m.DisplayName == "" {
		return m.Address
	}
	if plainName.MatchString(m.DisplayName) {
		return m.DisplayName + " <" + m.Address + ">"
	}
	return (&mail.Address{Name: m.DisplayName, Address: m.Address}).String()
}

// plainName is a display name that needs no quoting: RFC 5322 atext words
// separated by single spaces.
var plainName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+( [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")

const memberColumns = `m.id, m.subscription_mode, m.address, m.display_name, m.role, m.delivery_enabled, m.moderation_action, m.receive_own_postings, m.receive_list_copy, m.delivery_mode, m.subscribed_at,
	m.delivery_status, m.bounce_score, m.last_bounce_received, m.last_warning_sent, m.total_warnings_sent`

// scanMember reads memberColumns and then extra.
func scanMember(row interface{ Scan(...any) error }, extra ...any) (Member, error) {
	var v rawColumns
	dest := make([]any, 0, len(v)+len(extra))
	for i := range v {
		dest = append(dest, &v[i])
	}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return Member{}, err
	}
	m := Member{
		MemberID: MemberID(v.int(0)), SubscriptionMode: v.str(1), Address: v.str(2), DisplayName: v.str(3), Role: Role(v.str(4)),
		DeliveryEnabled: v.int(5) != 0, ModerationAction: v.str(6), ReceiveOwnPostings: v.int(7) != 0, ReceiveListCopy: v.int(8) != 0,
		DeliveryMode: v.str(9), SubscribedAt: fromNanos(v.int(10)), DeliveryStatus: v.str(11), BounceScore: int(v.int(12)),
		LastBounceReceived: fromNanos(v.int(13)), LastWarningSent: fromNanos(v.int(14)), TotalWarningsSent: int(v.int(15)),
	}
	switch {
	case m.DeliveryEnabled:
		m.DeliveryStatus = "enabled"
	case m.DeliveryStatus == "":
		// Turned off before delivery_status was kept.
		m.DeliveryStatus = ByModerator
	}
	return m, v.err()
}

// rawColumns are memberColumns as the driver gives them: database/sql's
// own conversion into an int or a named string type goes through a string
// and reflection, and cost a third of reading a big roster.
type rawColumns [16]any

func (v *rawColumns) int(i int) int64 {
	switch x := v[i].(type) {
	case int64:
		return x
	case nil:
		return 0
	}
	n, err := strconv.ParseInt(v.str(i), 10, 64)
	if err != nil {
		v[i] = badColumn{i, v[i]}
	}
	return n
}

func (v *rawColumns) str(i int) string {
	switch x := v[i].(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	}
	v[i] = badColumn{i, v[i]}
	return ""
}

// err is the first column that could not be read as its type.
func (v *rawColumns) err() error {
	for _, x := range v {
		if b, ok := x.(badColumn); ok {
			return fmt.Errorf("member column %d: unexpected %T", b.i, b.v)
		}
	}
	return nil
}

type badColumn struct {
	i int
	v any
}

// MemberID is the member_id of the membership with row id n: 32 hex
// digits.
func MemberID(n int64) string {
	var b [32]byte
	h := strconv.AppendUint(b[:0], uint64(n), 16)
	pad := 32 - len(h)
	copy(b[pad:], h)
	for i := range pad {
		b[i] = '0'
	}
	return string(b[:])
}

// rowQuerier is a *sql.DB or a *sql.Tx.
type rowQuerier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// listRowID returns the row id of the list with posting address a.
func listRowID(ctx context.Context, q rowQuerier, a ListAddress) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM lists WHERE list_name = $1 AND mail_host = $2`, a.Name, a.Domain).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%s: %w", a, ErrNoSuchList)
	}
	return id, err
}

// listRowIDByListID returns the row id of the list with list-id listID.
func listRowIDByListID(ctx context.Context, q rowQuerier, listID string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM lists WHERE list_id = $1`, listID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("list-id %s: %w", listID, ErrNoSuchList)
	}
	return id, err
}

// newMember is an address AddMembers adds, parsed.
type newMember struct{ addr, name string }

// progressEvery is how many addresses AddMembers adds between calls of
// its progress func.
const progressEvery = 1000

// AddResult says what AddMembers did.
type AddResult struct {
	Added    int
	Existing []string // addresses that already had the role, left as they were
}

// AddMembers subscribes addresses ("addr" or "Name <addr>") to a list in one
// role, all in one transaction: an invalid address fails the whole call
// before anything is written. progress, when set, is called with the count
// done every thousand addresses.
func (s *Store) AddMembers(ctx context.Context, a ListAddress, role Role, addresses []string, progress func(done int)) (AddResult, error) {
	ps := make([]newMember, 0, len(addresses))
	for _, raw := range addresses {
		addr, name, err := ParseMemberAddress(raw)
		if err != nil {
			return AddResult{}, err
		}
		ps = append(ps, newMember{addr, name})
	}
	if s.pool != nil {
		return s.addMembersCopy(ctx, a, role, ps, progress)
	}
	var res AddResult
	now := time.Now().UnixNano()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowID(ctx, tx, a)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO members (list_id, address_key, address, display_name, role, subscribed_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, p := range ps {
			r, err := stmt.ExecContext(ctx, id, key(p.addr), p.addr, p.name, string(role), now)
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n == 1 {
				res.Added++
				if len(ps) <= bulkLink && role != Nonmember {
					if err := linkAddress(ctx, tx, p.addr, p.name); err != nil {
						return err
					}
				}
			} else {
				res.Existing = append(res.Existing, p.addr)
			}
			if progress != nil && (i+1)%progressEvery == 0 {
				progress(i + 1)
			}
		}
		if len(ps) > bulkLink {
			if err := s.linkUsers(ctx, tx, id, now); err != nil {
				return err
			}
		}
		var prefs bool
		if err := tx.QueryRowContext(ctx, levelPrefsExist).Scan(&prefs); err != nil || !prefs {
			return err
		}
		return s.refreshNewMembers(ctx, tx, id)
	})
	if err != nil {
		return AddResult{}, err
	}
	return res, nil
}

// RemoveMembers unsubscribes addresses from one role of a list. If any is not
// a member in that role, nothing is removed.
func (s *Store) RemoveMembers(ctx context.Context, a ListAddress, role Role, addresses []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowID(ctx, tx, a)
		if err != nil {
			return err
		}
		for _, raw := range addresses {
			addr, _, err := ParseMemberAddress(raw)
			if err != nil {
				return err
			}
			r, err := tx.ExecContext(ctx, `DELETE FROM members WHERE list_id = $1 AND address_key = $2 AND role = $3`, id, key(addr), string(role))
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n == 0 {
				return fmt.Errorf("%s is not a %s of %s: %w", addr, role, a, ErrNoSuchMember)
			}
		}
		return nil
	})
}

// Members returns a list's members in role ("" for every role), sorted by
// role and address.
func (s *Store) Members(ctx context.Context, a ListAddress, role Role) ([]Member, error) {
	id, err := listRowID(ctx, s.db, a)
	if err != nil {
		return nil, wrap(err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+memberColumns+` FROM members m
		WHERE m.list_id = $1 AND ($2 = '' OR m.role = $2) ORDER BY m.role, m.address_key`, id, string(role))
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var ms []Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, wrap(err)
		}
		ms = append(ms, m)
	}
	return ms, wrap(rows.Err())
}

// Member looks up one address in one role of the list with list-id listID:
// the look-up a runner makes for each message.
func (s *Store) Member(ctx context.Context, listID, address string, role Role) (*Member, error) {
	m, err := scanMember(s.db.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM members m JOIN lists l ON l.id = m.list_id
		WHERE l.list_id = $1 AND m.address_key = $2 AND m.role = $3`, listID, key(address), string(role)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s in %s: %w", address, listID, ErrNoSuchMember)
	}
	if err != nil {
		return nil, wrap(err)
	}
	return &m, nil
}
