package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
// in all: two queries, whatever the size of the roster.
func (s *Store) FindMembers(ctx context.Context, q MemberQuery) ([]Member, int, error) {
	var listRow int64
	if q.ListID != "" {
		id, err := listRowIDByListID(ctx, s.db, strings.ToLower(q.ListID))
		if errors.Is(err, ErrNoSuchList) {
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, wrap(err)
		}
		listRow = id
	}
	where, args := q.where(listRow)
	count, countArgs := `SELECT count(*) FROM members m`+where, args
	if q.ListID != "" && q.Role == Regular && q.Subscriber == "" && q.ModerationAction == "" && q.DeliveryMode == "" && q.DeliveryStatus == "" {
		// A roster page, Postorius's members page: the list keeps the
		// count.
		count, countArgs = `SELECT member_count FROM lists WHERE id = $1`, args[:1]
	}
	var total int
	if err := s.db.QueryRowContext(ctx, count, countArgs...).Scan(&total); err != nil {
		return nil, 0, wrap(err)
	}
	limit := q.Limit
	if limit < 0 {
		limit = -1
	}
	if q.Offset >= total && total > 0 || limit == 0 || total == 0 {
		return nil, total, nil
	}
	// The page's ids are taken from an index alone, (list, address,
	// role) for a list's roster, so that skipping to a late page reads no
	// row; only the page's rows are read and joined.
	n := len(args)
	inner := `SELECT m.id FROM members m` + where + fmt.Sprintf(` ORDER BY m.address_key, m.role LIMIT $%d OFFSET $%d`, n+1, n+2)
	if q.ListID == "" {
		inner = `SELECT m.id FROM members m JOIN lists l ON l.id = m.list_id` + where +
			fmt.Sprintf(` ORDER BY l.list_id, m.address_key, m.role LIMIT $%d OFFSET $%d`, n+1, n+2)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+memberColumns+`, l.list_id, coalesce(a.user_id, '')`+memberQueryFrom+`
		WHERE m.id IN (`+inner+`) ORDER BY l.list_id, m.address_key, m.role`, append(args, s.pageLimit(limit), q.Offset)...)
	if err != nil {
		return nil, 0, wrap(err)
	}
	defer rows.Close()
	ms := make([]Member, 0, min(total-q.Offset, max(limit, 0)+total*boolColumn(limit < 0)))
	for rows.Next() {
		var list, user string
		m, err := scanMember(rows, &list, &user)
		if err != nil {
			return nil, 0, wrap(err)
		}
		m.ListID, m.UserID = list, user
		ms = append(ms, m)
	}
	return ms, total, wrap(rows.Err())
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
