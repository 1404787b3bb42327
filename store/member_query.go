package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// MemberQuery selects memberships, as Mailman's members/find does; empty
// fields match everything.
type MemberQuery struct {
	ListID string
	// Subscriber is an address, a pattern with * wildcards matched
	// against addresses and display names, or a user id.
	Subscriber       string
	Role             Role
	ModerationAction string
	DeliveryMode     string
	DeliveryStatus   string // enabled, by_user, by_bounces, by_moderator
	Offset           int
	Limit            int // < 0: all
}

// Roster is whether q selects a list's roster or one role of it, with
// nothing else: what Postorius pages and scripts export.
func (q MemberQuery) Roster() bool {
	return q.ListID != "" && q.Subscriber == "" && q.ModerationAction == "" && q.DeliveryMode == "" && q.DeliveryStatus == ""
}

// RosterVersion returns the roster version of the list with list-id
// listID: it changes whenever a membership of the list, or the user of one
// of its addresses, does.
func (s *Store) RosterVersion(ctx context.Context, listID string) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT roster_version FROM lists WHERE list_id = $1`, strings.ToLower(listID)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("list-id %s: %w", listID, ErrNoSuchList)
	}
	return v, wrap(err)
}

const memberQueryFrom = ` FROM members m JOIN lists l ON l.id = m.list_id LEFT JOIN addresses a ON a.address_key = m.address_key`

// where is q's condition on members m alone and its arguments; listRow
// is the row id of q.ListID's list, resolved first so that neither the
// count nor the page joins another table to filter.
func (q MemberQuery) where(listRow int64) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.ListID != "" {
		add(`m.list_id = ?`, listRow)
	}
	switch sub := strings.TrimSpace(q.Subscriber); {
	case sub == "":
	case strings.Contains(sub, "*"):
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(sub))
		add(`(m.address_key LIKE ? ESCAPE '\' OR lower(m.display_name) LIKE ? ESCAPE '\')`, strings.ReplaceAll(esc, "*", "%"))
	case strings.Contains(sub, "@"):
		add(`m.address_key = ?`, key(sub))
	default:
		add(`m.address_key IN (SELECT address_key FROM addresses WHERE user_id = ?)`, strings.ToLower(sub))
	}
	if q.Role != "" {
		add(`m.role = ?`, string(q.Role))
	}
	if q.ModerationAction != "" {
		add(`m.moderation_action = ?`, q.ModerationAction)
	}
	if q.DeliveryMode != "" {
		add(`m.delivery_mode = ?`, q.DeliveryMode)
	}
	switch q.DeliveryStatus {
	case "":
	case "enabled":
		conds = append(conds, `m.delivery_enabled = 1`)
	case ByModerator:
		add(`m.delivery_enabled = 0 AND (m.delivery_status = ? OR m.delivery_status = '')`, q.DeliveryStatus)
	default:
		add(`m.delivery_enabled = 0 AND m.delivery_status = ?`, q.DeliveryStatus)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// FindMembers returns one page of the memberships q selects, ordered by
// list, address and role as Mailman orders them, and how many it selects
// in all. A list's roster, or one role of it, is paged from the order
// rosterOrders keeps; other selections cost a count and a page query.
func (s *Store) FindMembers(ctx context.Context, q MemberQuery) ([]Member, int, error) {
	var listRow, version int64
	var members int
	if q.ListID != "" {
		err := s.db.QueryRowContext(ctx, `SELECT id, roster_version, member_count FROM lists WHERE list_id = $1`, strings.ToLower(q.ListID)).Scan(&listRow, &version, &members)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, wrap(err)
		}
	}
	where, args := q.where(listRow)
	if q.Roster() {
		return s.rosterPage(ctx, q, rosterKey{listRow, q.Role}, version, members, where, args)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM members m`+where, args...).Scan(&total); err != nil {
		return nil, 0, wrap(err)
	}
	limit := q.Limit
	if limit < 0 {
		limit = -1
	}
	if q.Offset >= total && total > 0 || limit == 0 || total == 0 {
		return nil, total, nil
	}
	// The page's ids are taken from an index alone, so that skipping to
	// a late page reads no row; only the page's rows are read and joined.
	n := len(args)
	inner := `SELECT m.id FROM members m` + where + fmt.Sprintf(` ORDER BY m.address_key, m.role LIMIT $%d OFFSET $%d`, n+1, n+2)
	if q.ListID == "" {
		inner = `SELECT m.id FROM members m JOIN lists l ON l.id = m.list_id` + where +
			fmt.Sprintf(` ORDER BY l.list_id, m.address_key, m.role LIMIT $%d OFFSET $%d`, n+1, n+2)
	}
	about := total - q.Offset
	if limit >= 0 {
		about = min(about, limit)
	}
	ms, err := s.queryMembers(ctx, about, "", ` WHERE m.id IN (`+inner+`) ORDER BY l.list_id, m.address_key, m.role`, append(args, s.pageLimit(limit), q.Offset)...)
	return ms, total, err
}

// rosterPage is FindMembers for a list's roster, or one role of it: the
// whole roster in one query, a page by the ids of its slice of the order
// kept. members is the list's count of regular members, the size of its
// usual roster.
func (s *Store) rosterPage(ctx context.Context, q MemberQuery, key rosterKey, version int64, members int, where string, args []any) ([]Member, int, error) {
	if q.Offset == 0 && q.Limit < 0 {
		ms, err := s.wholeRoster(ctx, strings.ToLower(q.ListID), key, version, members, where, args)
		return ms, len(ms), err
	}
	ids, err := s.rosters.Get(ctx, key, version, func() ([]int64, error) {
		return s.rosterIDs(context.WithoutCancel(ctx), where, args)
	})
	if err != nil {
		return nil, 0, err
	}
	from := min(q.Offset, len(ids))
	to := len(ids)
	if q.Limit >= 0 {
		to = min(from+q.Limit, len(ids))
	}
	if from == to {
		return nil, len(ids), nil
	}
	ms, err := s.queryMembers(ctx, to-from, strings.ToLower(q.ListID), ` WHERE m.id IN (`+s.idSet(1)+`) ORDER BY m.address_key, m.role`, idArray(ids[from:to]))
	return ms, len(ids), err
}

// wholeRoster reads a whole roster. A big list's roster of members is
// read in parts at once, one a core, by LIMIT and OFFSET over the roster's
// index: each part its own statement, and so consistent with the others
// only if the list's roster version is the same after them all as it was
// before (the triggers change it in the transaction that changes any
// membership); if not, it is read again in one statement.
func (s *Store) wholeRoster(ctx context.Context, listID string, key rosterKey, version int64, members int, where string, args []any) ([]Member, error) {
	const order = ` ORDER BY m.address_key, m.role`
	parts := runtime.GOMAXPROCS(0)
	if key.role != Regular || members < 20000 || parts < 2 {
		return s.queryMembers(ctx, members, listID, where+order, args...)
	}
	per := members/parts + 1
	read := make([][]Member, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	n := len(args)
	for i := range parts {
		limit := per
		if i == parts-1 {
			limit = -1
		}
		wg.Go(func() {
			read[i], errs[i] = s.queryMembers(ctx, per, listID, where+order+fmt.Sprintf(` LIMIT $%d OFFSET $%d`, n+1, n+2), append(args[:n:n], s.pageLimit(limit), i*per)...)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var after int64
	if err := s.db.QueryRowContext(ctx, `SELECT roster_version FROM lists WHERE id = $1`, key.list).Scan(&after); err != nil {
		return nil, wrap(err)
	}
	if after != version {
		return s.queryMembers(ctx, members, listID, where+order, args...)
	}
	return slices.Concat(read...), nil
}

// queryMembers reads the memberships of memberQueryFrom with the
// condition and order rest, with their list-ids and users; about is how
// many are expected, to allocate once. When they are all of one list,
// listID names it, and its row is not joined to each.
func (s *Store) queryMembers(ctx context.Context, about int, listID, rest string, args ...any) ([]Member, error) {
	query := `SELECT ` + memberColumns + `, l.list_id, coalesce(a.user_id, '')` + memberQueryFrom + rest
	if listID != "" {
		query = `SELECT ` + memberColumns + `, '', coalesce(a.user_id, '') FROM members m LEFT JOIN addresses a ON a.address_key = m.address_key` + rest
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	ms := make([]Member, 0, max(about, 0))
	for rows.Next() {
		var list, user string
		m, err := scanMember(rows, &list, &user)
		if err != nil {
			return nil, wrap(err)
		}
		m.ListID, m.UserID = cmp.Or(listID, list), user
		ms = append(ms, m)
	}
	return ms, wrap(rows.Err())
}

// pageLimit is limit as the backend's LIMIT takes it: SQLite reads -1 as
// none, PostgreSQL wants NULL.
func (s *Store) pageLimit(limit int) any {
	if limit < 0 && s.backend == "postgres" {
		return nil
	}
	return max(limit, -1)
}

// MemberByID returns the membership with member_id id.
func (s *Store) MemberByID(ctx context.Context, id string) (*Member, error) {
	n, err := strconv.ParseInt(strings.TrimLeft(strings.ToLower(id), "0"), 16, 64)
	if err != nil && strings.Trim(id, "0") != "" || len(id) > 32 {
		return nil, fmt.Errorf("member %s: %w", id, ErrNoSuchMember)
	}
	var list, user string
	m, err := scanMember(s.db.QueryRowContext(ctx, `SELECT `+memberColumns+`, l.list_id, coalesce(a.user_id, '')`+memberQueryFrom+` WHERE m.id = $1`, n), &list, &user)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("member %s: %w", id, ErrNoSuchMember)
	}
	if err != nil {
		return nil, wrap(err)
	}
	m.ListID, m.UserID = list, user
	return &m, nil
}

// MoveMember moves a membership to another address, as when a member
// changes which of their addresses gets a list's mail.
func (s *Store) MoveMember(ctx context.Context, memberID, address string) error {
	addr, name, err := ParseMemberAddress(address)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(memberID, 16, 64)
	if err != nil {
		return fmt.Errorf("member %s: %w", memberID, ErrNoSuchMember)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE members SET address_key = $1, address = $2, display_name = CASE WHEN $3 = '' THEN display_name ELSE $3 END WHERE id = $4`,
			key(addr), addr, name, n)
		if isUniqueViolation(err) {
			return fmt.Errorf("%s: %w", addr, ErrAlreadyMember)
		}
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c == 0 {
			return fmt.Errorf("member %s: %w", memberID, ErrNoSuchMember)
		}
		return nil
	})
}
