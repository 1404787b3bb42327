package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// ListArchiving returns what decides whether a list's posts are archived
// and where: its archive_policy (public, private or never) and the
// archivers it has turned on or off (REST archivers), by name; an
// archiver it has not named is on if the site enables it.
func (s *Store) ListArchiving(ctx context.Context, listID string) (policy string, on map[string]bool, err error) {
	policy, on = extraSettings["archive_policy"].def.(string), map[string]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT ls.name, ls.value FROM list_settings ls JOIN lists l ON l.id = ls.list_id
		WHERE l.list_id = $1 AND ls.name IN ('archive_policy', 'archivers')`, listID)
	if err != nil {
		return "", nil, wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return "", nil, wrap(err)
		}
		target := any(&policy)
		if name == "archivers" {
			target = &on
		}
		if err := json.Unmarshal([]byte(value), target); err != nil {
			return "", nil, fmt.Errorf("list %s: setting %s: %w", listID, name, err)
		}
	}
	return policy, on, wrap(rows.Err())
}

// SetListArchivers turns archivers on or off for the list with list-id
// listID, by name, keeping what it had set of the others.
func (s *Store) SetListArchivers(ctx context.Context, listID string, changes map[string]bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		on := map[string]bool{}
		var value string
		err = tx.QueryRowContext(ctx, `SELECT value FROM list_settings WHERE list_id = $1 AND name = 'archivers'`, id).Scan(&value)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			if err := json.Unmarshal([]byte(value), &on); err != nil {
				return fmt.Errorf("list %s: setting archivers: %w", listID, err)
			}
		}
		for name, v := range changes {
			on[name] = v
		}
		b, _ := json.Marshal(on)
		_, err = tx.ExecContext(ctx, `INSERT INTO list_settings (list_id, name, value) VALUES ($1, 'archivers', $2)
			ON CONFLICT (list_id, name) DO UPDATE SET value = excluded.value`, id, string(b))
		return err
	})
}
