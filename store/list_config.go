package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A list's configuration as Mailman's API shows it: 92 keys, 17 of them
// read-only. The keys runners read are columns of lists (see settings);
// the others are kept in list_settings, as JSON, until a runner needs
// them.

// ConfigErrorKind says what is wrong with one key of a configuration
// change.
type ConfigErrorKind int

// The kinds of ConfigError, as Mailman words them.
const (
	UnknownAttribute  ConfigErrorKind = iota // "Unknown attribute: x"
	ReadOnlyAttribute                        // "Read-only attribute: x"
	InvalidValue                             // `Invalid Parameter "x": why`
	MissingValue                             // "Missing Parameter: x"
)

// ConfigError is a configuration change refused because of one key.
type ConfigError struct {
	Kind ConfigErrorKind
	Key  string
	Why  string // for InvalidValue
}

func (e *ConfigError) Error() string {
	switch e.Kind {
	case UnknownAttribute:
		return "Unknown attribute: " + e.Key
	case ReadOnlyAttribute:
		return "Read-only attribute: " + e.Key
	case MissingValue:
		return "Missing Parameter: " + e.Key
	}
	return fmt.Sprintf("Invalid Parameter %q: %s.", e.Key, e.Why)
}

// An extraSetting is a writable key kept in list_settings: its kind
// ("bool", "int", "float", "text", "line", "enum" or "list") and default.
type extraSetting struct {
	kind   string
	values []string
	def    any
}

var extraSettings = map[string]extraSetting{
	"accept_these_nonmembers":        {"list", nil, []string{}},
	"hold_these_nonmembers":          {"list", nil, []string{}},
	"reject_these_nonmembers":        {"list", nil, []string{}},
	"discard_these_nonmembers":       {"list", nil, []string{}},
	"admin_notify_mchanges":          {"bool", nil, false},
	"allow_list_posts":               {"bool", nil, true},
	"anonymous_list":                 {"bool", nil, false},
	"archive_policy":                 {"enum", []string{"never", "private", "public"}, "public"},
	"archive_rendering_mode":         {"enum", []string{"text", "markdown"}, "text"},
	"autorespond_owner":              {"enum", []string{"none", "respond_and_discard", "respond_and_continue"}, "none"},
	"autorespond_postings":           {"enum", []string{"none", "respond_and_discard", "respond_and_continue"}, "none"},
	"autoresponse_owner_text":        {"text", nil, ""},
	"autoresponse_postings_text":     {"text", nil, ""},
	"collapse_alternatives":          {"bool", nil, true},
	"convert_html_to_plaintext":      {"bool", nil, false},
	"digest_send_periodic":           {"bool", nil, true},
	"digest_size_threshold":          {"float", nil, 30.0},
	"digest_volume_frequency":        {"enum", []string{"yearly", "monthly", "quarterly", "weekly", "daily"}, "monthly"},
	"digests_enabled":                {"bool", nil, true},
	"dmarc_mitigate_action":          {"enum", []string{"no_mitigation", "munge_from", "wrap_message", "reject", "discard"}, "no_mitigation"},
	"dmarc_mitigate_unconditionally": {"bool", nil, false},
	"dmarc_moderation_notice":        {"text", nil, ""},
	"dmarc_wrapped_message_text":     {"text", nil, ""},
	"filter_action":                  {"enum", []string{"hold", "reject", "discard", "accept", "defer", "forward", "preserve"}, "discard"},
	"filter_content":                 {"bool", nil, false},
	"filter_extensions":              {"list", nil, []string{}},
	"filter_types":                   {"list", nil, []string{}},
	"pass_extensions":                {"list", nil, []string{}},
	"pass_types":                     {"list", nil, []string{}},
	"first_strip_reply_to":           {"bool", nil, false},
	"reply_to_address":               {"text", nil, ""},
	"gateway_to_mail":                {"bool", nil, false},
	"gateway_to_news":                {"bool", nil, false},
	"linked_newsgroup":               {"text", nil, ""},
	"newsgroup_moderation":           {"enum", []string{"none", "open_moderated", "moderated"}, "none"},
	"nntp_prefix_subject_too":        {"bool", nil, true},
	"info":                           {"text", nil, ""},
	"max_days_to_hold":               {"int", nil, 0},
	"personalize":                    {"enum", []string{"none", "individual", "full"}, "none"},
	"posting_pipeline":               {"enum", PipelineNames, "default-posting-pipeline"},
	"preferred_language":             {"line", nil, "en"},
}

// PipelineNames are Mailman's pipelines, in order, the names a list's
// posting_pipeline may take.
var PipelineNames = []string{"default-owner-pipeline", "default-posting-pipeline", "virgin"}

// durationSettings are the columns, in days, the API shows as durations.
var durationSettings = map[string]bool{
	"autoresponse_grace_period":                 true,
	"bounce_info_stale_after":                   true,
	"bounce_you_are_disabled_warnings_interval": true,
}

// readOnlyConfig are the keys the API shows and no one sets.
var readOnlyConfig = map[string]func(*List) any{
	"bounces_address": func(l *List) any { return l.Address.Name + "-bounces@" + l.Address.Domain },
	"created_at":      func(l *List) any { return FormatTime(l.CreatedAt) },
	"fqdn_listname":   func(l *List) any { return l.PostingAddress },
	"join_address":    func(l *List) any { return l.Address.Name + "-join@" + l.Address.Domain },
	"last_post_at": func(l *List) any {
		if l.LastPostAt.IsZero() {
			return nil
		}
		return FormatTime(l.LastPostAt)
	},
	"leave_address":    func(l *List) any { return l.Address.Name + "-leave@" + l.Address.Domain },
	"list_name":        func(l *List) any { return l.Address.Name },
	"mail_host":        func(l *List) any { return l.Address.Domain },
	"no_reply_address": func(l *List) any { return "noreply@" + l.Address.Domain },
	"owner_address":    func(l *List) any { return l.Address.Name + "-owner@" + l.Address.Domain },
	"post_id":          func(l *List) any { return l.PostID },
	"posting_address":  func(l *List) any { return l.PostingAddress },
	"request_address":  func(l *List) any { return l.Address.Name + "-request@" + l.Address.Domain },
	"usenet_watermark": func(*List) any { return nil },
}

// notMailmans are the writable keys this core has and Mailman 3 has not
// (Mailman 2.1's, kept by a site moved from it): a PUT may leave them out.
var notMailmans = map[string]bool{
	"automatic_post_action": true, "bounce_matching_headers": true, "goodbye_message": true, "welcome_message": true,
}

// FormatTime is a time as Mailman's API writes it: naive UTC ISO 8601
// with microseconds.
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000")
}

// FormatDays is a number of days as Mailman's API writes a duration.
func FormatDays(days int) string { return strconv.Itoa(days) + "d" }

// ParseDuration reads Mailman's duration form, 1w2d3h4m5s or a number of
// days, in whole days.
func ParseDuration(s string) (int, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return n, nil
	}
	m := durationForm.FindStringSubmatch(s)
	if m == nil || s == "" {
		return 0, fmt.Errorf("%q is not a duration such as 1w2d3h4m5s", s)
	}
	var secs float64
	for i, unit := range []float64{7 * 86400, 86400, 3600, 60, 1} {
		if m[i+1] != "" {
			f, _ := strconv.ParseFloat(m[i+1], 64)
			secs += f * unit
		}
	}
	if secs != math.Trunc(secs/86400)*86400 {
		return 0, fmt.Errorf("%q is not a whole number of days", s)
	}
	return int(secs / 86400), nil
}

var durationForm = regexp.MustCompile(`^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$`)

// digestNumberKeys are the read-only keys ListConfig reads with the
// digest's numbers.
var digestNumberKeys = []string{"digest_last_sent_at", "next_digest_number", "volume"}

// readOnly reports whether the API shows key and no one sets it.
func readOnly(key string) bool {
	_, ro := readOnlyConfig[key]
	return ro || slices.Contains(digestNumberKeys, key)
}

// ConfigKeys lists every key of a list's configuration, sorted.
func ConfigKeys() []string {
	keys := slices.Clone(digestNumberKeys)
	for k := range settings {
		keys = append(keys, k)
	}
	for k := range extraSettings {
		keys = append(keys, k)
	}
	for k := range readOnlyConfig {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// IsConfigKey reports whether key is one of ConfigKeys.
func IsConfigKey(key string) bool {
	_, col := settings[key]
	_, extra := extraSettings[key]
	return col || extra || readOnly(key)
}

// ListConfig returns a list's configuration by key, as the API shows it;
// a key whose value is nil is shown by no one.
func (s *Store) ListConfig(ctx context.Context, listID string) (map[string]any, error) {
	l, err := s.ListByID(ctx, listID)
	if err != nil {
		return nil, err
	}
	cfg := make(map[string]any, 92)
	for k, get := range readOnlyConfig {
		cfg[k] = get(l)
	}
	for k, v := range columnConfig(l) {
		cfg[k] = v
	}
	for k, e := range extraSettings {
		cfg[k] = e.def
	}
	// The digest's numbers move with every issue, outside the list's row
	// as the store reads it everywhere else.
	n, err := s.DigestNumbers(ctx, listID)
	if err != nil {
		return nil, err
	}
	cfg["volume"], cfg["next_digest_number"], cfg["digest_last_sent_at"] = n.Volume, n.Number, nil
	if !n.LastSentAt.IsZero() {
		cfg["digest_last_sent_at"] = FormatTime(n.LastSentAt)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name, value FROM list_settings WHERE list_id = $1`, l.id)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, wrap(err)
		}
		if _, ok := extraSettings[name]; !ok {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(value), &v); err != nil {
			return nil, fmt.Errorf("list %s: setting %s: %w", listID, name, err)
		}
		cfg[name] = v
	}
	return cfg, wrap(rows.Err())
}

// columnConfig is the configuration kept in a list's columns.
func columnConfig(l *List) map[string]any {
	password := any(nil)
	if l.ModeratorPassword != "" {
		password = l.ModeratorPassword
	}
	return map[string]any{
		"display_name":                              l.DisplayName,
		"description":                               l.Description,
		"subject_prefix":                            l.SubjectPrefix,
		"default_member_action":                     l.DefaultMemberAction,
		"default_nonmember_action":                  l.DefaultNonmemberAction,
		"subscription_policy":                       l.SubscriptionPolicy,
		"unsubscription_policy":                     l.UnsubscriptionPolicy,
		"max_message_size":                          l.MaxMessageSize,
		"max_num_recipients":                        l.MaxNumRecipients,
		"require_explicit_destination":              l.RequireExplicitDestination,
		"administrivia":                             l.Administrivia,
		"reply_goes_to_list":                        l.ReplyGoesToList,
		"emergency":                                 l.Emergency,
		"include_rfc2369_headers":                   l.IncludeRFC2369Headers,
		"moderator_password":                        password,
		"admin_immed_notify":                        l.AdminImmedNotify,
		"respond_to_post_requests":                  l.RespondToPostRequests,
		"acceptable_aliases":                        l.AcceptableAliases,
		"bounce_matching_headers":                   strings.Join(l.BounceMatchingHeaders, "\n"),
		"send_welcome_message":                      l.SendWelcomeMessage,
		"send_goodbye_message":                      l.SendGoodbyeMessage,
		"welcome_message":                           l.WelcomeMessage,
		"goodbye_message":                           l.GoodbyeMessage,
		"member_roster_visibility":                  l.MemberRosterVisibility,
		"autorespond_requests":                      l.AutorespondRequests,
		"autoresponse_request_text":                 l.AutoresponseRequestText,
		"autoresponse_grace_period":                 FormatDays(l.AutoresponseGracePeriod),
		"automatic_post_action":                     l.AutomaticPostAction,
		"process_bounces":                           l.ProcessBounces,
		"bounce_score_threshold":                    l.BounceScoreThreshold,
		"bounce_info_stale_after":                   FormatDays(l.BounceInfoStaleAfter),
		"bounce_you_are_disabled_warnings":          l.BounceYouAreDisabledWarnings,
		"bounce_you_are_disabled_warnings_interval": FormatDays(l.BounceYouAreDisabledWarningsInterval),
		"bounce_notify_owner_on_bounce_increment":   l.BounceNotifyOwnerOnBounceIncrement,
		"bounce_notify_owner_on_disable":            l.BounceNotifyOwnerOnDisable,
		"bounce_notify_owner_on_removal":            l.BounceNotifyOwnerOnRemoval,
		"forward_unrecognized_bounces_to":           l.ForwardUnrecognizedBouncesTo,
		"advertised":                                l.Advertised,
	}
}

// ConfigChange is one key's new value from the API: its form values (one,
// or several for a list-valued key), or a JSON value.
type ConfigChange struct {
	Values []string
	JSON   any // set instead of Values for a JSON body
}

// text is c as one text value, and whether it is one.
func (c ConfigChange) text() (string, bool) {
	switch v := c.JSON.(type) {
	case nil:
		if len(c.Values) == 1 {
			return c.Values[0], true
		}
		return "", len(c.Values) == 0
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// entries is c as a list of strings; "" is the empty list, as in Mailman.
func (c ConfigChange) entries() ([]string, bool) {
	if c.JSON != nil {
		switch v := c.JSON.(type) {
		case string:
			return splitEntries(v, ""), true
		case []any:
			out := []string{}
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, false
				}
				if s != "" {
					out = append(out, s)
				}
			}
			return out, true
		}
		return nil, false
	}
	out := []string{}
	for _, v := range c.Values {
		out = append(out, splitEntries(v, "")...)
	}
	return out, true
}

// PatchListConfig changes the keys of changes, all in one transaction,
// after checking them all: a ConfigError names the first key refused
// (in key order). With all set, every writable key must be there, as for
// Mailman's PUT.
func (s *Store) PatchListConfig(ctx context.Context, listID string, changes map[string]ConfigChange, all bool) error {
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	columns := map[string]any{}
	extras := map[string]string{}
	for _, k := range keys {
		c := changes[k]
		if readOnly(k) {
			return &ConfigError{Kind: ReadOnlyAttribute, Key: k}
		}
		if st, ok := settings[k]; ok {
			v, err := columnChange(k, st, c)
			if err != nil {
				return err
			}
			columns[st.column] = v
			continue
		}
		e, ok := extraSettings[k]
		if !ok {
			return &ConfigError{Kind: UnknownAttribute, Key: k}
		}
		v, err := e.check(k, c)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(v)
		extras[k] = string(b)
	}
	if all {
		for _, k := range ConfigKeys() {
			if !readOnly(k) && !notMailmans[k] {
				if _, ok := changes[k]; !ok {
					return &ConfigError{Kind: MissingValue, Key: k}
				}
			}
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := listRowIDByListID(ctx, tx, listID)
		if err != nil {
			return err
		}
		for col, v := range columns {
			if _, err := tx.ExecContext(ctx, `UPDATE lists SET `+col+` = $1 WHERE id = $2`, v, id); err != nil {
				return err
			}
		}
		for name, v := range extras {
			if _, err := tx.ExecContext(ctx, `INSERT INTO list_settings (list_id, name, value) VALUES ($1, $2, $3)
				ON CONFLICT (list_id, name) DO UPDATE SET value = excluded.value`, id, name, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// columnChange checks a change of a key kept in a column.
func columnChange(k string, st setting, c ConfigChange) (any, error) {
	var text string
	if st.kind == "lines" {
		es, ok := c.entries()
		if !ok {
			return nil, &ConfigError{Kind: InvalidValue, Key: k, Why: "Expected a list of strings"}
		}
		text = strings.Join(es, "\n")
	} else {
		t, ok := c.text()
		if !ok {
			return nil, &ConfigError{Kind: InvalidValue, Key: k, Why: "Expected one value"}
		}
		text = t
	}
	switch {
	case durationSettings[k]:
		days, err := ParseDuration(text)
		if err != nil {
			return nil, &ConfigError{Kind: InvalidValue, Key: k, Why: err.Error()}
		}
		text = strconv.Itoa(days)
	case st.kind == "enum" && !slices.Contains(st.values, text):
		return nil, &ConfigError{Kind: InvalidValue, Key: k, Why: "Accepted Values are: " + strings.Join(st.values, ", ")}
	case st.kind == "bool":
		if _, err := ParseBool(text); err != nil {
			return nil, &ConfigError{Kind: InvalidValue, Key: k, Why: "Invalid boolean value: " + text}
		}
	case st.kind == "int":
		if n, err := strconv.Atoi(text); err != nil || n < 0 {
			return nil, &ConfigError{Kind: InvalidValue, Key: k, Why: fmt.Sprintf("invalid literal for int() with base 10: '%s'", text)}
		}
	case k == "description" && strings.ContainsAny(text, "\r\n"):
		return nil, &ConfigError{Kind: InvalidValue, Key: k, Why: "Description must be a single line"}
	}
	v, err := st.columnValue(k, text)
	if err != nil {
		return nil, &ConfigError{Kind: InvalidValue, Key: k, Why: strings.TrimPrefix(err.Error(), ErrBadValue.Error()+" for "+k+": ")}
	}
	return v, nil
}

// check checks a change of a key kept in list_settings and returns its
// value.
func (e extraSetting) check(k string, c ConfigChange) (any, error) {
	bad := func(why string) error { return &ConfigError{Kind: InvalidValue, Key: k, Why: why} }
	if e.kind == "list" {
		es, ok := c.entries()
		if !ok {
			return nil, bad("Expected a list of strings")
		}
		return es, nil
	}
	text, ok := c.text()
	if !ok {
		return nil, bad("Expected one value")
	}
	switch e.kind {
	case "bool":
		b, err := ParseBool(text)
		if err != nil {
			return nil, bad("Invalid boolean value: " + text)
		}
		return b, nil
	case "int":
		n, err := strconv.Atoi(text)
		if err != nil || n < 0 {
			return nil, bad(fmt.Sprintf("invalid literal for int() with base 10: '%s'", text))
		}
		return n, nil
	case "float":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, bad(fmt.Sprintf("could not convert string to float: '%s'", text))
		}
		return f, nil
	case "enum":
		if !slices.Contains(e.values, text) {
			return nil, bad("Accepted Values are: " + strings.Join(e.values, ", "))
		}
	case "line":
		if strings.ContainsAny(text, "\r\n") || text == "" {
			return nil, bad("Expected one line")
		}
	}
	return text, nil
}

// ParseBool reads a boolean as Mailman's API does: true/yes/1/on/enable(d)
// or false/no/0/off/disable(d), in any case.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "1", "on", "enable", "enabled":
		return true, nil
	case "false", "no", "0", "off", "disable", "disabled":
		return false, nil
	}
	return false, fmt.Errorf("%w: %q is not a boolean", ErrBadValue, s)
}
