package store

import (
	"context"
	"strconv"

	"github.com/mailman-go/mailman/internal/versioncache"
)

// rosterOrders keeps, for each roster read page by page, its memberships'
// row ids in the order pages cut them, under the roster version they were
// read at. A page is then a slice of it and a look-up of its rows by id,
// where SQL's OFFSET walks every membership before the page (14 ms for a
// late page of 100,000 members on SQLite, and a scan to count them). It
// holds at most 4M row ids (32 MB): a site's biggest rosters, a list of
// 1,000,000 members among them.
type rosterOrders = versioncache.Cache[rosterKey, []int64]

func newRosterOrders() *rosterOrders {
	return versioncache.New[rosterKey](4<<20, func(ids []int64) int { return len(ids) })
}

// rosterKey is a roster: a list's row id and a role, "" for all roles.
type rosterKey struct {
	list int64
	role Role
}

// rosterIDs reads the row ids of the memberships where selects, in page
// order, from the roster's index alone.
func (s *Store) rosterIDs(ctx context.Context, where string, args []any) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.id FROM members m`+where+` ORDER BY m.address_key, m.role`, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, wrap(err)
		}
		ids = append(ids, id)
	}
	return ids, wrap(rows.Err())
}

// idSet is SQL for the set of row ids in the JSON array $n, so that a page
// of any length is one statement (kept compiled) and one argument.
func (s *Store) idSet(n int) string {
	if s.backend == "postgres" {
		return `SELECT jsonb_array_elements_text($` + strconv.Itoa(n) + `::jsonb)::bigint`
	}
	return `SELECT value FROM json_each($` + strconv.Itoa(n) + `)`
}

// idArray is ids as the JSON array idSet reads.
func idArray(ids []int64) string {
	b := make([]byte, 0, len(ids)*8+2)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}
