package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// A Style is a named set of settings a new list starts with, as
// Mailman's list styles.
type Style struct {
	Name        string
	Description string
	columns     map[string]any // lists' columns
	extras      map[string]any // list_settings
}

// DefaultStyle is the style of a list made without one.
const DefaultStyle = "legacy-default"

// Styles are Mailman 3.3's styles: the defaults (a discussion list), an
// announcement list whose members cannot post, and a discussion list that
// is not advertised, whose archive is private and whose subscribers are
// approved.
var Styles = []Style{
	{Name: "legacy-announce", Description: "Announce only mailing list style.",
		columns: map[string]any{"default_member_action": "hold", "default_nonmember_action": "discard", "send_welcome_message": 1, "send_goodbye_message": 1},
		extras:  map[string]any{"allow_list_posts": false, "anonymous_list": false}},
	{Name: "legacy-default", Description: "Ordinary discussion mailing list style."},
	{Name: "private-default", Description: "Discussion mailing list style with private archives.",
		columns: map[string]any{"advertised": 0, "subscription_policy": "confirm_then_moderate"},
		extras:  map[string]any{"archive_policy": "private"}},
}

// ErrNoSuchStyle is a style name not in Styles.
var ErrNoSuchStyle = errors.New("no such style")

func findStyle(name string) (Style, error) {
	if name == "" {
		name = DefaultStyle
	}
	i := slices.IndexFunc(Styles, func(s Style) bool { return s.Name == name })
	if i < 0 {
		return Style{}, fmt.Errorf("%q: %w", name, ErrNoSuchStyle)
	}
	return Styles[i], nil
}

// apply sets st's settings on the list with row id.
func (st Style) apply(ctx context.Context, tx *sql.Tx, id int64) error {
	for col, v := range st.columns {
		if _, err := tx.ExecContext(ctx, `UPDATE lists SET `+col+` = $1 WHERE id = $2`, v, id); err != nil {
			return err
		}
	}
	for name, v := range st.extras {
		b, _ := json.Marshal(v)
		if _, err := tx.ExecContext(ctx, `INSERT INTO list_settings (list_id, name, value) VALUES ($1, $2, $3)`, id, name, string(b)); err != nil {
			return err
		}
	}
	return nil
}
