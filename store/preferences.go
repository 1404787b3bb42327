package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Preferences are set at four levels, as in Mailman: the system's (fixed
// defaults), a user's, an address's and a membership's; a membership's
// effective value is the first set of member, address, user, system. A
// level holds only what was set at it.

// PreferenceKeys are the preferences' names, sorted.
var PreferenceKeys = []string{"acknowledge_posts", "delivery_mode", "delivery_status", "hide_address", "preferred_language", "receive_list_copy", "receive_own_postings"}

// SystemPreferences are Mailman's defaults, the last level.
var SystemPreferences = map[string]any{
	"acknowledge_posts": false, "delivery_mode": "regular", "delivery_status": "enabled", "hide_address": true,
	"preferred_language": "en", "receive_list_copy": true, "receive_own_postings": true,
}

// DeliveryStatuses are the values of delivery_status, as Mailman names
// them.
var DeliveryStatuses = []string{"enabled", ByUser, ByModerator, ByBounces, "unknown"}

// The owners of a level's preferences.
func UserPrefs(userID string) string     { return "user:" + strings.ToLower(userID) }
func AddressPrefs(email string) string   { return "address:" + key(email) }
func MemberPrefs(memberID string) string { return "member:" + strings.ToLower(memberID) }

// CheckPreference checks a preference's text form and returns its value.
func CheckPreference(name, value string) (any, error) {
	switch name {
	case "acknowledge_posts", "hide_address", "receive_list_copy", "receive_own_postings":
		return ParseBool(value)
	case "delivery_mode":
		if !slices.Contains(DeliveryModes, value) {
			return nil, fmt.Errorf("%w: Accepted Values are: %s", ErrBadValue, strings.Join(DeliveryModes, ", "))
		}
	case "delivery_status":
		if !slices.Contains(DeliveryStatuses, value) {
			return nil, fmt.Errorf("%w: Accepted Values are: %s", ErrBadValue, strings.Join(DeliveryStatuses, ", "))
		}
	case "preferred_language":
		if value == "" || strings.ContainsAny(value, " \r\n") {
			return nil, fmt.Errorf("%w: not a language code", ErrBadValue)
		}
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownSetting, name)
	}
	return value, nil
}

func prefValue(name, text string) any {
	switch name {
	case "acknowledge_posts", "hide_address", "receive_list_copy", "receive_own_postings":
		b, _ := strconv.ParseBool(text)
		return b
	}
	return text
}

// Preferences returns what is set at one level.
func (s *Store) Preferences(ctx context.Context, owner string) (map[string]any, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, value FROM preferences WHERE owner = $1`, owner)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := map[string]any{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, wrap(err)
		}
		out[name] = prefValue(name, value)
	}
	return out, wrap(rows.Err())
}

// SetPreferences sets preferences at one level (checked by
// CheckPreference), all in one transaction; replace clears the level
// first, as a PUT. At the member level the ones delivery reads are also
// the membership's own settings, so that the runners honour them.
func (s *Store) SetPreferences(ctx context.Context, owner string, prefs map[string]string, replace bool) error {
	for name, v := range prefs {
		if _, err := CheckPreference(name, v); err != nil {
			return err
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if replace {
			if _, err := tx.ExecContext(ctx, `DELETE FROM preferences WHERE owner = $1`, owner); err != nil {
				return err
			}
		}
		for name, v := range prefs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO preferences (owner, name, value) VALUES ($1, $2, $3)
				ON CONFLICT (owner, name) DO UPDATE SET value = excluded.value`, owner, name, storedPreference(name, v)); err != nil {
				return err
			}
		}
		if id, ok := strings.CutPrefix(owner, "member:"); ok {
			if err := applyMemberPrefs(ctx, tx, id, prefs); err != nil {
				return err
			}
		}
		return s.refreshLevel(ctx, tx, owner)
	})
}

// storedPreference is a preference's value as the store keeps it: a
// boolean in one spelling, whichever the caller used.
func storedPreference(name, v string) string {
	if b, err := ParseBool(v); err == nil && name != "delivery_mode" && name != "delivery_status" && name != "preferred_language" {
		return strconv.FormatBool(b)
	}
	return v
}

// memberPrefColumns is how a membership's row takes a delivery preference set
// at its own level: the SET clause, with $1 for arg; ok is false for a
// preference the row does not hold.
func memberPrefColumns(name, v string) (set string, arg any, ok bool) {
	switch name {
	case "delivery_mode":
		return `delivery_mode = $1`, v, true
	case "receive_own_postings", "receive_list_copy":
		b, _ := ParseBool(v)
		return name + ` = $1`, boolColumn(b), true
	case "delivery_status":
		if v == "enabled" {
			return `delivery_enabled = 1, delivery_status = $1`, "", true
		}
		return `delivery_enabled = 0, delivery_status = $1`, v, true
	}
	return "", nil, false
}

// memberRow is the row id of the membership with member_id memberID.
func memberRow(memberID string) (int64, error) {
	n, err := strconv.ParseInt(memberID, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("member %s: %w", memberID, ErrNoSuchMember)
	}
	return n, nil
}

// applyMemberPrefs writes a membership's delivery preferences into its
// row.
func applyMemberPrefs(ctx context.Context, tx *sql.Tx, memberID string, prefs map[string]string) error {
	n, err := memberRow(memberID)
	if err != nil {
		return err
	}
	for name, v := range prefs {
		set, arg, ok := memberPrefColumns(name, v)
		if !ok {
			continue
		}
		res, err := tx.ExecContext(ctx, `UPDATE members SET `+set+` WHERE id = $2`, arg, n)
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c == 0 {
			return fmt.Errorf("member %s: %w", memberID, ErrNoSuchMember)
		}
	}
	return nil
}

// DeletePreferences clears one level.
func (s *Store) DeletePreferences(ctx context.Context, owner string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM preferences WHERE owner = $1`, owner); err != nil {
			return err
		}
		return s.refreshLevel(ctx, tx, owner)
	})
}

// EffectivePreferences resolves a membership's preferences: member,
// then its address, then the address's user, then the system.
func (s *Store) EffectivePreferences(ctx context.Context, m *Member) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range SystemPreferences {
		out[k] = v
	}
	levels := []string{}
	if m.UserID != "" {
		levels = append(levels, UserPrefs(m.UserID))
	}
	levels = append(levels, AddressPrefs(m.Address), MemberPrefs(m.MemberID))
	for _, owner := range levels {
		p, err := s.Preferences(ctx, owner)
		if err != nil {
			return nil, err
		}
		for k, v := range p {
			out[k] = v
		}
	}
	return out, nil
}

// deliveryPref is a preference delivery reads from a membership's own
// columns, and the column it is kept in.
type deliveryPref struct{ name, column string }

// deliveryPrefs are the delivery preferences.
var deliveryPrefs = []deliveryPref{
	{"delivery_mode", "delivery_mode"},
	{"receive_own_postings", "receive_own_postings"},
	{"receive_list_copy", "receive_list_copy"},
	{"delivery_status", "delivery_enabled"},
}

// refreshDeliveryPrefs writes into the columns of the memberships cond
// selects (a condition on members) each delivery preference they do not
// set themselves, as their address, else its user, else the system sets
// it: the runners read a membership's columns alone, so that a post's
// recipients cost no look-up of preferences, and the levels are resolved
// here, when one changes. A delivery turned off by bounces or by a
// moderator stays off whatever the levels say: only the member's choice
// (enabled or by_user) follows them.
func (s *Store) refreshDeliveryPrefs(ctx context.Context, tx execer, cond string, args ...any) error {
	memberOwner := `'member:' || printf('%032x', members.id)`
	if s.backend == "postgres" {
		memberOwner = `'member:' || lpad(to_hex(members.id), 32, '0')`
	}
	for _, p := range deliveryPrefs {
		n := strconv.Itoa(len(args) + 1)
		effective := `COALESCE(
			(SELECT value FROM preferences WHERE owner = 'address:' || members.address_key AND name = $` + n + `),
			(SELECT pu.value FROM addresses a JOIN preferences pu ON pu.owner = 'user:' || a.user_id
				WHERE a.address_key = members.address_key AND a.user_id <> '' AND pu.name = $` + n + `),
			$` + strconv.Itoa(len(args)+2) + `)`
		var set string
		where := cond
		switch p.name {
		case "delivery_mode":
			set = `delivery_mode = ` + effective
		case "delivery_status":
			set = `delivery_enabled = CASE ` + effective + ` WHEN 'enabled' THEN 1 ELSE 0 END,
				delivery_status = CASE ` + effective + ` WHEN 'enabled' THEN '' ELSE ` + effective + ` END`
			where += ` AND (members.delivery_enabled = 1 OR members.delivery_status = '` + ByUser + `')`
		default:
			set = p.column + ` = CASE ` + effective + ` WHEN 'true' THEN 1 ELSE 0 END`
		}
		def := fmt.Sprint(SystemPreferences[p.name])
		q := `UPDATE members SET ` + set + ` WHERE ` + where + `
			AND NOT EXISTS (SELECT 1 FROM preferences WHERE owner = ` + memberOwner + ` AND name = $` + n + `)`
		if _, err := tx.ExecContext(ctx, q, append(args[:len(args):len(args)], p.name, def)...); err != nil {
			return fmt.Errorf("delivery preference %s: %w", p.name, err)
		}
	}
	return nil
}

// execer is a *sql.Tx, or pgxExecer.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// refreshNewMembers refreshes the memberships of the list with row id
// listRow whose address, or its user, has set a delivery preference: what
// a new membership inherits. The set is found from the preferences, which
// a site has few of, not from a roster just made of 100,000 addresses.
//
// Most sites have none: levelPrefsExist, asked first, spares each new
// membership the four statements.
func (s *Store) refreshNewMembers(ctx context.Context, tx execer, listRow int64) error {
	// Driven by the preferences, through the index of members by
	// address: the list's own index would read its whole roster.
	return s.refreshDeliveryPrefs(ctx, tx, `members.address_key IN (
		SELECT substr(owner, 9) FROM preferences WHERE owner >= 'address:' AND owner < 'address;'
		UNION SELECT a.address_key FROM preferences p JOIN addresses a ON a.user_id = substr(p.owner, 6)
			WHERE p.owner >= 'user:' AND p.owner < 'user;' AND a.user_id <> '')
		AND +members.list_id = $1`, listRow)
}

// levelPrefsExist asks whether any address or user has set a delivery
// preference.
var levelPrefsExist = func() string {
	names := make([]string, len(deliveryPrefs))
	for i, p := range deliveryPrefs {
		names[i] = "'" + p.name + "'"
	}
	return `SELECT EXISTS (SELECT 1 FROM preferences
	WHERE (owner >= 'address:' AND owner < 'address;' OR owner >= 'user:' AND owner < 'user;')
	AND name IN (` + strings.Join(names, ", ") + `))`
}()

// refreshLevel refreshes the memberships a level's preferences reach.
func (s *Store) refreshLevel(ctx context.Context, tx execer, owner string) error {
	kind, id, _ := strings.Cut(owner, ":")
	switch kind {
	case "user":
		return s.refreshDeliveryPrefs(ctx, tx, `members.address_key IN (SELECT address_key FROM addresses WHERE user_id = $1)`, id)
	case "address":
		return s.refreshDeliveryPrefs(ctx, tx, `members.address_key = $1`, id)
	case "member":
		n, err := memberRow(id)
		if err != nil {
			return err
		}
		return s.refreshDeliveryPrefs(ctx, tx, `members.id = $1`, n)
	}
	return nil
}

// MemberSettings are one membership's own preferences and moderation
// action, as an import sets them.
type MemberSettings struct {
	MemberID         string
	Prefs            map[string]string // preferences set at the member level
	ModerationAction string            // "" leaves it as it is
}

// SetMemberSettings sets the preferences and moderation actions of many
// memberships in one transaction, in statements of many rows each: a
// roster imported whole (100,000 members) costs one commit and some
// hundreds of statements, not some for each member. Every value is
// checked before anything is written.
func (s *Store) SetMemberSettings(ctx context.Context, ms []MemberSettings) error {
	// change is one column change to the rows of many members.
	type change struct {
		set string
		arg any
	}
	var rows [][3]any // preferences: owner, name, value
	groups := map[change][]int64{}
	for _, m := range ms {
		id, err := memberRow(m.MemberID)
		if err != nil {
			return err
		}
		for name, v := range m.Prefs {
			if _, err := CheckPreference(name, v); err != nil {
				return fmt.Errorf("member %s: %w", m.MemberID, err)
			}
			v = storedPreference(name, v)
			rows = append(rows, [3]any{MemberPrefs(m.MemberID), name, v})
			if set, arg, ok := memberPrefColumns(name, v); ok {
				groups[change{set, arg}] = append(groups[change{set, arg}], id)
			}
		}
		if m.ModerationAction != "" {
			if !slices.Contains(actions, m.ModerationAction) {
				return fmt.Errorf("member %s: %w for moderation_action: %q is not one of %s", m.MemberID, ErrBadValue, m.ModerationAction, strings.Join(actions, ", "))
			}
			c := change{`moderation_action = $1`, m.ModerationAction}
			groups[c] = append(groups[c], id)
		}
	}
	// Chunks stay well under SQLite's and PostgreSQL's limits on a
	// statement's parameters.
	const chunk = 500
	return s.tx(ctx, func(tx *sql.Tx) error {
		for part := range slices.Chunk(rows, chunk) {
			var marks []string
			args := make([]any, 0, 3*len(part))
			for _, r := range part {
				n := len(args)
				marks = append(marks, fmt.Sprintf("($%d, $%d, $%d)", n+1, n+2, n+3))
				args = append(args, r[0], r[1], r[2])
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO preferences (owner, name, value) VALUES `+strings.Join(marks, ", ")+`
				ON CONFLICT (owner, name) DO UPDATE SET value = excluded.value`, args...); err != nil {
				return err
			}
		}
		for c, ids := range groups {
			for part := range slices.Chunk(ids, chunk) {
				args := []any{c.arg}
				var marks []string
				for _, id := range part {
					args = append(args, id)
					marks = append(marks, fmt.Sprintf("$%d", len(args)))
				}
				if _, err := tx.ExecContext(ctx, `UPDATE members SET `+c.set+` WHERE id IN (`+strings.Join(marks, ", ")+`)`, args...); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
