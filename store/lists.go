package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailman-go/mailman/mta"

	"github.com/mailman-go/mailman/config"
)

// List is a mailing list and the settings runners read. Names and defaults
// are Mailman's (its legacy-default style).
type List struct {
	Address                    ListAddress `json:"-"`
	PostingAddress             string      `json:"posting_address"`
	ListID                     string      `json:"list_id"`
	DisplayName                string      `json:"display_name"`
	Description                string      `json:"description"`
	SubjectPrefix              string      `json:"subject_prefix"`
	DefaultMemberAction        string      `json:"default_member_action"`
	DefaultNonmemberAction     string      `json:"default_nonmember_action"`
	SubscriptionPolicy         string      `json:"subscription_policy"`
	UnsubscriptionPolicy       string      `json:"unsubscription_policy"`
	MaxMessageSize             int         `json:"max_message_size"` // KB; 0 means no limit
	MaxNumRecipients           int         `json:"max_num_recipients"`
	RequireExplicitDestination bool        `json:"require_explicit_destination"`
	Administrivia              bool        `json:"administrivia"`
	ReplyGoesToList            string      `json:"reply_goes_to_list"`
	Emergency                  bool        `json:"emergency"`
	IncludeRFC2369Headers      bool        `json:"include_rfc2369_headers"`
	PostID                     int         `json:"post_id"`
	CreatedAt                  time.Time   `json:"created_at"`
	LastPostAt                 time.Time   `json:"last_post_at,omitzero"`
	// ModeratorPassword is the hash of the password that approves a post
	// (see CheckModeratorPassword), "" when none is set.
	ModeratorPassword     string `json:"-"`
	AdminImmedNotify      bool   `json:"admin_immed_notify"`
	RespondToPostRequests bool   `json:"respond_to_post_requests"`
	// AcceptableAliases are the addresses, besides the posting address,
	// that make a post's destination explicit: each an address or a ^regex.
	AcceptableAliases []string `json:"acceptable_aliases"`
	// BounceMatchingHeaders are "Header: regex" lines; a post with a
	// matching header is held.
	BounceMatchingHeaders []string `json:"bounce_matching_headers"`
	SendWelcomeMessage    bool     `json:"send_welcome_message"`
	SendGoodbyeMessage    bool     `json:"send_goodbye_message"`
	// WelcomeMessage and GoodbyeMessage are the list's own words, added to
	// the standard welcome and goodbye.
	WelcomeMessage         string `json:"welcome_message"`
	GoodbyeMessage         string `json:"goodbye_message"`
	MemberRosterVisibility string `json:"member_roster_visibility"` // public, members or moderators
	// AutorespondRequests is none, respond_and_discard or
	// respond_and_continue, for mail to the -request address.
	AutorespondRequests     string `json:"autorespond_requests"`
	AutoresponseRequestText string `json:"autoresponse_request_text"`
	AutoresponseGracePeriod int    `json:"autoresponse_grace_period"` // days between two automatic answers to one address; 0 answers every message
	// AutomaticPostAction is hold, discard or accept: what becomes of a
	// post sent automatically, such as an out-of-office reply to a post.
	AutomaticPostAction string `json:"automatic_post_action"`
	// Bounce processing, as Mailman names it (see BounceSettings); the
	// two intervals in days.
	ProcessBounces                       bool   `json:"process_bounces"`
	BounceScoreThreshold                 int    `json:"bounce_score_threshold"`
	BounceInfoStaleAfter                 int    `json:"bounce_info_stale_after"`
	BounceYouAreDisabledWarnings         int    `json:"bounce_you_are_disabled_warnings"`
	BounceYouAreDisabledWarningsInterval int    `json:"bounce_you_are_disabled_warnings_interval"`
	BounceNotifyOwnerOnBounceIncrement   bool   `json:"bounce_notify_owner_on_bounce_increment"`
	BounceNotifyOwnerOnDisable           bool   `json:"bounce_notify_owner_on_disable"`
	BounceNotifyOwnerOnRemoval           bool   `json:"bounce_notify_owner_on_removal"`
	ForwardUnrecognizedBouncesTo         string `json:"forward_unrecognized_bounces_to"` // discard, administrators or site_owner
	// Advertised lists are shown to people who are not their members.
	Advertised bool `json:"advertised"`
	// MemberCount is the number of regular members, kept by triggers as
	// they come and go.
	MemberCount int `json:"-"`
	// Volume is the volume of the list's next digest issue.
	Volume int `json:"volume"`

	id int64
}

// A setting is one list field that `lists set` may change: its column and
// how a value is checked.
type setting struct {
	column string
	kind   string   // "text", "int", "bool", "enum", "password", or "lines"
	values []string // for enum
}

var (
	actions  = []string{"hold", "reject", "discard", "accept", "defer"}
	policies = []string{"open", "confirm", "moderate", "confirm_then_moderate"}
)

// settings are the keys of `lists set`, named as in Mailman.
var settings = map[string]setting{
	"display_name":                              {"display_name", "text", nil},
	"description":                               {"description", "text", nil},
	"subject_prefix":                            {"subject_prefix", "text", nil},
	"default_member_action":                     {"default_member_action", "enum", actions},
	"default_nonmember_action":                  {"default_nonmember_action", "enum", actions},
	"subscription_policy":                       {"subscription_policy", "enum", policies},
	"unsubscription_policy":                     {"unsubscription_policy", "enum", policies},
	"max_message_size":                          {"max_message_size", "int", nil},
	"max_num_recipients":                        {"max_num_recipients", "int", nil},
	"require_explicit_destination":              {"require_explicit_destination", "bool", nil},
	"administrivia":                             {"administrivia", "bool", nil},
	"reply_goes_to_list":                        {"reply_goes_to_list", "enum", []string{"explicit_header", "no_munging", "point_to_list"}},
	"emergency":                                 {"emergency", "bool", nil},
	"include_rfc2369_headers":                   {"include_rfc2369_headers", "bool", nil},
	"moderator_password":                        {"moderator_password", "password", nil},
	"admin_immed_notify":                        {"admin_immed_notify", "bool", nil},
	"respond_to_post_requests":                  {"respond_to_post_requests", "bool", nil},
	"acceptable_aliases":                        {"acceptable_aliases", "lines", nil},
	"bounce_matching_headers":                   {"bounce_matching_headers", "lines", nil},
	"send_welcome_message":                      {"send_welcome_message", "bool", nil},
	"send_goodbye_message":                      {"send_goodbye_message", "bool", nil},
	"welcome_message":                           {"welcome_message", "text", nil},
	"goodbye_message":                           {"goodbye_message", "text", nil},
	"member_roster_visibility":                  {"member_roster_visibility", "enum", []string{"members", "moderators", "public"}},
	"autorespond_requests":                      {"autorespond_requests", "enum", []string{"none", "respond_and_continue", "respond_and_discard"}},
	"autoresponse_request_text":                 {"autoresponse_request_text", "text", nil},
	"autoresponse_grace_period":                 {"autoresponse_grace_period", "int", nil},
	"automatic_post_action":                     {"automatic_post_action", "enum", []string{"accept", "discard", "hold"}},
	"process_bounces":                           {"process_bounces", "bool", nil},
	"bounce_score_threshold":                    {"bounce_score_threshold", "int", nil},
	"bounce_info_stale_after":                   {"bounce_info_stale_after", "int", nil},
	"bounce_you_are_disabled_warnings":          {"bounce_you_are_disabled_warnings", "int", nil},
	"bounce_you_are_disabled_warnings_interval": {"bounce_you_are_disabled_warnings_interval", "int", nil},
	"bounce_notify_owner_on_bounce_increment":   {"bounce_notify_owner_on_bounce_increment", "bool", nil},
	"bounce_notify_owner_on_disable":            {"bounce_notify_owner_on_disable", "bool", nil},
	"bounce_notify_owner_on_removal":            {"bounce_notify_owner_on_removal", "bool", nil},
	"forward_unrecognized_bounces_to":           {"forward_unrecognized_bounces_to", "enum", []string{"administrators", "discard", "site_owner"}},
	"advertised":                                {"advertised", "bool", nil},
}

// lineSettings say, for each setting of kind "lines", what separates its
// entries besides a newline and how one entry is checked.
var lineSettings = map[string]struct {
	seps  string
	check func(string) error
}{
	// Addresses are often given as "a@x, b@x" on one line.
	"acceptable_aliases":      {",", checkAlias},
	"bounce_matching_headers": {"", checkHeaderPattern},
}

// checkAlias accepts an address, or a ^regex that compiles as the
// implicit-dest rule compiles it.
func checkAlias(entry string) error {
	if !strings.HasPrefix(entry, "^") {
		return nil
	}
	if _, err := regexp.Compile("(?i)" + entry); err != nil {
		return fmt.Errorf("%q is not a valid regular expression: %v", entry, err)
	}
	return nil
}

// checkHeaderPattern accepts "Name: regex": a header field name (RFC 5322
// ftext) and a regex that compiles as the suspicious-header rule compiles it.
func checkHeaderPattern(entry string) error {
	name, pattern, ok := strings.Cut(entry, ":")
	pattern = strings.TrimSpace(pattern)
	if !ok || pattern == "" {
		return fmt.Errorf("%q is not a header name, a colon and a regular expression", entry)
	}
	if _, err := config.ParseHeaderCheck(name, pattern); err != nil {
		return fmt.Errorf("%q: %v", entry, err)
	}
	return nil
}

// splitEntries splits value into trimmed entries at newlines and at any
// of seps, dropping the empty ones.
func splitEntries(value, seps string) []string {
	fields := strings.FieldsFunc(value, func(r rune) bool { return r == '\n' || strings.ContainsRune(seps, r) })
	entries := []string{}
	for _, f := range fields {
		if f = strings.TrimSpace(f); f != "" {
			entries = append(entries, f)
		}
	}
	return entries
}

// Settings lists the keys SetListSetting accepts, sorted.
func Settings() []string {
	keys := make([]string, 0, len(settings)+len(extraSettings))
	for k := range settings {
		keys = append(keys, k)
	}
	for k := range extraSettings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ErrUnknownSetting and ErrBadValue are wrapped by SetListSetting's errors.
var (
	ErrUnknownSetting = errors.New("unknown setting")
	ErrBadValue       = errors.New("bad value")
)

const listColumns = `id, list_name, mail_host, display_name, description, subject_prefix,
	default_member_action, default_nonmember_action, subscription_policy, unsubscription_policy,
	max_message_size, max_num_recipients, require_explicit_destination, administrivia,
	reply_goes_to_list, emergency, include_rfc2369_headers, post_id, created_at, last_post_at,
	moderator_password, admin_immed_notify, respond_to_post_requests, acceptable_aliases, bounce_matching_headers,
	send_welcome_message, send_goodbye_message, welcome_message, goodbye_message, member_roster_visibility,
	autorespond_requests, autoresponse_request_text, autoresponse_grace_period, automatic_post_action,
	process_bounces, bounce_score_threshold, bounce_info_stale_after, bounce_you_are_disabled_warnings,
	bounce_you_are_disabled_warnings_interval, bounce_notify_owner_on_bounce_increment, bounce_notify_owner_on_disable,
	bounce_notify_owner_on_removal, forward_unrecognized_bounces_to, advertised, member_count, digest_volume`

// scanList reads listColumns.
func scanList(row interface{ Scan(...any) error }) (*List, error) {
	var l List
	var created, lastPost int64
	var aliases, headers string
	err := row.Scan(&l.id, &l.Address.Name, &l.Address.Domain, &l.DisplayName, &l.Description, &l.SubjectPrefix,
		&l.DefaultMemberAction, &l.DefaultNonmemberAction, &l.SubscriptionPolicy, &l.UnsubscriptionPolicy,
		&l.MaxMessageSize, &l.MaxNumRecipients, &l.RequireExplicitDestination, &l.Administrivia,
		&l.ReplyGoesToList, &l.Emergency, &l.IncludeRFC2369Headers, &l.PostID, &created, &lastPost,
		&l.ModeratorPassword, &l.AdminImmedNotify, &l.RespondToPostRequests, &aliases, &headers,
		&l.SendWelcomeMessage, &l.SendGoodbyeMessage, &l.WelcomeMessage, &l.GoodbyeMessage, &l.MemberRosterVisibility,
		&l.AutorespondRequests, &l.AutoresponseRequestText, &l.AutoresponseGracePeriod, &l.AutomaticPostAction,
		&l.ProcessBounces, &l.BounceScoreThreshold, &l.BounceInfoStaleAfter, &l.BounceYouAreDisabledWarnings,
		&l.BounceYouAreDisabledWarningsInterval, &l.BounceNotifyOwnerOnBounceIncrement, &l.BounceNotifyOwnerOnDisable,
		&l.BounceNotifyOwnerOnRemoval, &l.ForwardUnrecognizedBouncesTo, &l.Advertised, &l.MemberCount, &l.Volume)
	if err != nil {
		return nil, err
	}
	l.PostingAddress, l.ListID = l.Address.String(), l.Address.ListID()
	l.CreatedAt, l.LastPostAt = fromNanos(created), fromNanos(lastPost)
	// Stored one a line, already checked; never nil, so that JSON shows [].
	l.AcceptableAliases, l.BounceMatchingHeaders = splitEntries(aliases, ""), splitEntries(headers, "")
	return &l, nil
}

// NewList describes a list to create.
type NewList struct {
	Address     ListAddress
	DisplayName string   // default: the list name with its first letter upper-cased, as Mailman
	Owners      []string // member addresses, possibly "Name <addr>"
	// AllowAddressClash lets the list be made beside one whose
	// sub-address it is (s2-owner@ beside s2@), or the other way round:
	// for a site moved from Mailman, which allows such lists, whose mail
	// the LMTP runner routes as Mailman does (to the list of that name).
	AllowAddressClash bool
	// RequireDomain refuses a list whose domain the site does not have
	// (ErrNoSuchDomain), as Mailman's API does; without it the domain is
	// added, as the command line makes lists.
	RequireDomain bool
	// Style names one of Styles; "" is DefaultStyle.
	Style string
	// Settings are settings of the site's the list starts with (a site's
	// dmarc_mitigate_action for new lists); its style's win.
	Settings map[string]any
}

// CreateList creates a list, with its owners, in one transaction.
func (s *Store) CreateList(ctx context.Context, n NewList) (*List, error) {
	// The address may not have come through ParseListAddress.
	if a, err := ParseListAddress(n.Address.String()); err != nil || a != n.Address {
		return nil, fmt.Errorf("%w: %q is not a lower-case list address", ErrInvalidAddress, n.Address.String())
	}
	display := n.DisplayName
	if display == "" {
		display = strings.ToUpper(n.Address.Name[:1]) + n.Address.Name[1:]
	}
	type owner struct{ addr, name string }
	var owners []owner
	for _, o := range n.Owners {
		addr, name, err := ParseMemberAddress(o)
		if err != nil {
			return nil, fmt.Errorf("owner: %w", err)
		}
		owners = append(owners, owner{addr, name})
	}
	style, err := findStyle(n.Style)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if !n.AllowAddressClash {
			if err := checkNoClash(ctx, tx, n.Address); err != nil {
				return err
			}
		}
		if n.RequireDomain {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM domains WHERE mail_host = $1`, n.Address.Domain).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%s: %w", n.Address.Domain, ErrNoSuchDomain)
			}
			if err != nil {
				return err
			}
		} else if err := ensureDomain(ctx, tx, n.Address.Domain, now); err != nil {
			return err
		}
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO lists (list_name, mail_host, list_id, display_name, subject_prefix, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			n.Address.Name, n.Address.Domain, n.Address.ListID(), display, "["+display+"] ", now).Scan(&id)
		if isUniqueViolation(err) {
			return fmt.Errorf("%s: %w", n.Address, ErrListExists)
		}
		if err != nil {
			return err
		}
		for _, o := range owners {
			if _, err := tx.ExecContext(ctx, `INSERT INTO members (list_id, address_key, address, display_name, role, subscribed_at)
				VALUES ($1, $2, $3, $4, 'owner', $5) ON CONFLICT DO NOTHING`, id, key(o.addr), o.addr, o.name, now); err != nil {
				return err
			}
			if err := linkAddress(ctx, tx, o.addr, o.name); err != nil {
				return err
			}
		}
		for name, v := range n.Settings {
			if _, ok := extraSettings[name]; !ok {
				return fmt.Errorf("%w %q", ErrUnknownSetting, name)
			}
			if _, styled := style.extras[name]; styled {
				continue
			}
			b, _ := json.Marshal(v)
			if _, err := tx.ExecContext(ctx, `INSERT INTO list_settings (list_id, name, value) VALUES ($1, $2, $3)`, id, name, string(b)); err != nil {
				return err
			}
		}
		return style.apply(ctx, tx, id)
	})
	if err != nil {
		return nil, err
	}
	return s.List(ctx, n.Address)
}

// checkNoClash refuses a list a whose posting address is a sub-address of
// a list of its domain, or whose sub-addresses are the posting address of
// one. The LMTP runner would take mail to s2-owner@ for the list
// s2-owner, not for s2's owners, as Mailman does: a list made with that
// name would take over another's owner, bounces or confirm address.
func checkNoClash(ctx context.Context, tx *sql.Tx, a ListAddress) error {
	clash := map[string]string{} // a list name that would clash → why
	if dash := strings.LastIndexByte(a.Name, '-'); dash > 0 {
		if sub, ok := mta.Subaddresses[a.Name[dash+1:]]; ok {
			clash[a.Name[:dash]] = fmt.Sprintf("it is the %s address of the list %s@%s", sub, a.Name[:dash], a.Domain)
		}
	}
	for word, sub := range mta.Subaddresses {
		name := a.Name + "-" + word
		clash[name] = fmt.Sprintf("its %s address would be the list %s@%s", sub, name, a.Domain)
	}
	names := make([]any, 0, len(clash)+1)
	marks := make([]string, 0, len(clash))
	names = append(names, a.Domain)
	for name := range clash {
		names = append(names, name)
		marks = append(marks, fmt.Sprintf("$%d", len(names)))
	}
	rows, err := tx.QueryContext(ctx, `SELECT list_name FROM lists WHERE mail_host = $1 AND list_name IN (`+strings.Join(marks, ", ")+`) ORDER BY list_name`, names...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		return fmt.Errorf("%s: %s: %w", a, clash[name], ErrAddressClash)
	}
	return rows.Err()
}

// List returns the list with the posting address a.
func (s *Store) List(ctx context.Context, a ListAddress) (*List, error) {
	l, err := scanList(s.db.QueryRowContext(ctx, `SELECT `+listColumns+` FROM lists WHERE list_name = $1 AND mail_host = $2`, a.Name, a.Domain))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", a, ErrNoSuchList)
	}
	return l, wrap(err)
}

// ListByID returns the list whose list-id is id (name.domain).
func (s *Store) ListByID(ctx context.Context, id string) (*List, error) {
	l, err := scanList(s.db.QueryRowContext(ctx, `SELECT `+listColumns+` FROM lists WHERE list_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("list-id %s: %w", id, ErrNoSuchList)
	}
	return l, wrap(err)
}

// FindList returns the list named by identifier, its posting address or
// its list-id (see ParseListIdentifier).
func (s *Store) FindList(ctx context.Context, identifier string) (*List, error) {
	id, err := ParseListIdentifier(identifier)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(id, "@") {
		return s.ListByID(ctx, id)
	}
	a, err := ParseListAddress(id)
	if err != nil {
		return nil, err
	}
	return s.List(ctx, a)
}

// Lists returns every list, sorted by domain and then by name, so that a
// domain's lists stand together.
func (s *Store) Lists(ctx context.Context) ([]*List, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+listColumns+` FROM lists ORDER BY mail_host, list_name`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var ls []*List
	for rows.Next() {
		l, err := scanList(rows)
		if err != nil {
			return nil, wrap(err)
		}
		ls = append(ls, l)
	}
	return ls, wrap(rows.Err())
}

// RemoveList deletes a list with its members, pending requests, held
// messages, bans and autoresponse counts.
func (s *Store) RemoveList(ctx context.Context, a ListAddress) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM lists WHERE list_name = $1 AND mail_host = $2`, a.Name, a.Domain)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s: %w", a, ErrNoSuchList)
		}
		return nil
	})
}

// SetListSetting changes one setting, named as in Settings, from its text
// form: "true"/"false" (or yes/no, on/off) for booleans, a number, or one of
// an enumeration's values. moderator_password is stored hashed ("" clears
// it). acceptable_aliases and bounce_matching_headers take one entry a line
// (aliases may also be separated by commas), and "" clears them; a ^regex
// alias must compile, and a header entry must be "Name: regex".
func (s *Store) SetListSetting(ctx context.Context, a ListAddress, name, value string) error {
	st, ok := settings[name]
	if _, extra := extraSettings[name]; extra {
		// Kept beside the list's row, and checked as the API checks them.
		err := s.PatchListConfig(ctx, a.ListID(), map[string]ConfigChange{name: {Values: []string{value}}}, false)
		var ce *ConfigError
		if errors.As(err, &ce) {
			return fmt.Errorf("%w: %v", ErrBadValue, err)
		}
		return err
	}
	if !ok {
		return fmt.Errorf("%w %q (settings: %s)", ErrUnknownSetting, name, strings.Join(Settings(), ", "))
	}
	v, err := st.columnValue(name, value)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE lists SET `+st.column+` = $1 WHERE list_name = $2 AND mail_host = $3`, v, a.Name, a.Domain)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s: %w", a, ErrNoSuchList)
		}
		return nil
	})
}

// columnValue checks a setting's text form and returns it as its column
// holds it.
func (st setting) columnValue(name, value string) (any, error) {
	var v any
	switch st.kind {
	case "text":
		v = value
	case "int":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w for %s: %q is not a whole number of 0 or more", ErrBadValue, name, value)
		}
		v = n
	case "bool":
		b, err := ParseBool(value)
		if err != nil {
			return nil, fmt.Errorf("%w for %s: %q is not true or false", ErrBadValue, name, value)
		}
		v = boolColumn(b) // as the column holds it

	case "enum":
		if !slices.Contains(st.values, value) {
			return nil, fmt.Errorf("%w for %s: %q is not one of %s", ErrBadValue, name, value, strings.Join(st.values, ", "))
		}
		v = value
	case "password":
		v = ""
		if value != "" {
			h, err := hashPassword(value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			v = h
		}
	case "lines":
		ls := lineSettings[name]
		entries := splitEntries(value, ls.seps)
		for _, e := range entries {
			if err := ls.check(e); err != nil {
				return nil, fmt.Errorf("%w for %s: %v", ErrBadValue, name, err)
			}
		}
		v = strings.Join(entries, "\n")
	}
	return v, nil
}
