package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// ListQuery selects lists, as Mailman's /lists, /domains/{d}/lists and
// /lists/find do; empty fields match every list.
type ListQuery struct {
	ListID         string
	Domain         string
	AdvertisedOnly bool
	// Subscriber keeps the lists an address (or a user, by its id, or
	// through any of its addresses) is subscribed to, in Role if set.
	Subscriber string
	Role       Role
	Offset     int
	Limit      int // < 0: all
}

// FindLists returns one page of the lists q selects, by list-id, and how
// many it selects: two queries.
func (s *Store) FindLists(ctx context.Context, q ListQuery) ([]*List, int, error) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.ListID != "" {
		add(`list_id = ?`, strings.ToLower(q.ListID))
	}
	if q.Domain != "" {
		add(`mail_host = ?`, strings.ToLower(q.Domain))
	}
	if q.AdvertisedOnly {
		conds = append(conds, `advertised = 1`)
	}
	if q.Subscriber != "" {
		role := ""
		if q.Role != "" {
			args = append(args, string(q.Role))
			role = fmt.Sprintf(" AND m.role = $%d", len(args))
		}
		// An address finds its own memberships and those of the other
		// addresses of its user, as Mailman's user look-up does.
		if strings.Contains(q.Subscriber, "@") {
			add(`id IN (SELECT m.list_id FROM members m WHERE (m.address_key = ? OR m.address_key IN
				(SELECT address_key FROM addresses WHERE user_id <> '' AND user_id = (SELECT user_id FROM addresses WHERE address_key = ?)))`+role+`)`, key(q.Subscriber))
		} else {
			add(`id IN (SELECT m.list_id FROM members m JOIN addresses a ON a.address_key = m.address_key WHERE a.user_id = ?`+role+`)`, strings.ToLower(q.Subscriber))
		}
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM lists`+where, args...).Scan(&total); err != nil {
		return nil, 0, wrap(err)
	}
	n := len(args)
	rows, err := s.db.QueryContext(ctx, `SELECT `+listColumns+` FROM lists`+where+fmt.Sprintf(` ORDER BY list_id LIMIT $%d OFFSET $%d`, n+1, n+2), append(args, s.pageLimit(q.Limit), q.Offset)...)
	if err != nil {
		return nil, 0, wrap(err)
	}
	defer rows.Close()
	var ls []*List
	for rows.Next() {
		l, err := scanList(rows)
		if err != nil {
			return nil, 0, wrap(err)
		}
		ls = append(ls, l)
	}
	return ls, total, wrap(rows.Err())
}
