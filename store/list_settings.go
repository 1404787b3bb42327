package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// extraValues reads settings of extraSettings for a list, as JSON
// decodes them, the defaults for those it has not set.
func (s *Store) extraValues(ctx context.Context, listID string, names ...string) (map[string]any, error) {
	id, err := listRowIDByListID(ctx, s.db, listID)
	if err != nil {
		return nil, wrap(err)
	}
	v := map[string]any{}
	args := []any{id}
	var marks []string
	for _, k := range names {
		v[k] = extraSettings[k].def
		args = append(args, k)
		marks = append(marks, fmt.Sprintf("$%d", len(args)))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name, value FROM list_settings WHERE list_id = $1 AND name IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, wrap(err)
		}
		var x any
		if err := json.Unmarshal([]byte(value), &x); err != nil {
			return nil, fmt.Errorf("list %s: setting %s: %w", listID, name, err)
		}
		v[name] = x
	}
	return v, wrap(rows.Err())
}

// AdminNotifyMchanges reads a list's admin_notify_mchanges: whether its
// owners are told of each subscription and unsubscription.
func (s *Store) AdminNotifyMchanges(ctx context.Context, listID string) (bool, error) {
	v, err := s.extraValues(ctx, listID, "admin_notify_mchanges")
	if err != nil {
		return false, err
	}
	on, _ := v["admin_notify_mchanges"].(bool)
	return on, nil
}

// DMARCSettings are a list's DMARC mitigation settings, Mailman's names.
type DMARCSettings struct {
	Action        string // dmarc_mitigate_action: no_mitigation, munge_from, wrap_message, reject, discard
	Always        bool   // dmarc_mitigate_unconditionally
	Notice        string // dmarc_moderation_notice, the reason a post is rejected with; "" for the built-in one
	WrappedText   string // dmarc_wrapped_message_text
	AnonymousList bool   // anonymous_list, which needs no mitigation
}

// DMARCSettings reads a list's DMARC settings, the defaults for those it
// has not set.
func (s *Store) DMARCSettings(ctx context.Context, listID string) (DMARCSettings, error) {
	v, err := s.extraValues(ctx, listID, "dmarc_mitigate_action", "dmarc_mitigate_unconditionally", "dmarc_moderation_notice",
		"dmarc_wrapped_message_text", "anonymous_list")
	if err != nil {
		return DMARCSettings{}, err
	}
	d := DMARCSettings{}
	d.Action, _ = v["dmarc_mitigate_action"].(string)
	d.Always, _ = v["dmarc_mitigate_unconditionally"].(bool)
	d.Notice, _ = v["dmarc_moderation_notice"].(string)
	d.WrappedText, _ = v["dmarc_wrapped_message_text"].(string)
	d.AnonymousList, _ = v["anonymous_list"].(bool)
	return d, nil
}

// DeliverySettings are the settings of a list that outgoing applies to
// each post, Mailman's names.
type DeliverySettings struct {
	// Personalize is none, individual (a copy for each member) or full
	// (each copy addressed To its member too).
	Personalize string
	Info        string // info, what $info says in a header or a footer
}

// DeliverySettings reads a list's delivery settings, the defaults for
// those it has not set.
func (s *Store) DeliverySettings(ctx context.Context, listID string) (DeliverySettings, error) {
	v, err := s.extraValues(ctx, listID, "personalize", "info")
	if err != nil {
		return DeliverySettings{}, err
	}
	d := DeliverySettings{}
	d.Personalize, _ = v["personalize"].(string)
	d.Info, _ = v["info"].(string)
	return d, nil
}
