package migrate

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/templates"
)

// renamed21 are the 2.1 settings Mailman 3 calls otherwise (its
// importer's NAME_MAPPINGS).
var renamed21 = map[string]string{
	"autorespond_admin":                      "autorespond_owner",
	"autoresponse_admin_text":                "autoresponse_owner_text",
	"autoresponse_graceperiod":               "autoresponse_grace_period",
	"bounce_processing":                      "process_bounces",
	"bounce_unrecognized_goes_to_list_owner": "forward_unrecognized_bounces_to",
	"filter_filename_extensions":             "filter_extensions",
	"filter_mime_types":                      "filter_types",
	"generic_nonmember_action":               "default_nonmember_action",
	"include_list_post_header":               "allow_list_posts",
	"mod_password":                           "moderator_password",
	// 2.1's spelling, which Mailman 3's importer does not know: it drops
	// the setting.
	"digest_size_threshhold":   "digest_size_threshold",
	"news_moderation":          "newsgroup_moderation",
	"news_prefix_subject_too":  "nntp_prefix_subject_too",
	"pass_filename_extensions": "pass_extensions",
	"pass_mime_types":          "pass_types",
	"real_name":                "display_name",
	"send_goodbye_msg":         "send_goodbye_message",
	"send_welcome_msg":         "send_welcome_message",
	"subscribe_policy":         "subscription_policy",
}

// enums21 turn a 2.1 setting's number into the Mailman 3 value's name,
// as Mailman 3's importer does.
var enums21 = map[string][]string{
	"autorespond_requests":            {"none", "respond_and_discard", "respond_and_continue"},
	"default_nonmember_action":        {"defer", "hold", "reject", "discard"}, // 2.1's accept is 3's defer
	"digest_volume_frequency":         {"yearly", "monthly", "quarterly", "weekly", "daily"},
	"filter_action":                   {"discard", "reject", "forward", "preserve"},
	"forward_unrecognized_bounces_to": {"discard", "administrators", "site_owner"},
	"newsgroup_moderation":            {"none", "open_moderated", "moderated"},
	"personalize":                     {"none", "individual", "full"},
	"reply_goes_to_list":              {"no_munging", "point_to_list", "explicit_header"},
	"subscription_policy":             {"open", "confirm", "moderate", "confirm_then_moderate"},
}

// responders21 are the 2.1 autoresponder switches, a yes or no that is
// Mailman 3's respond_and_continue or none.
var responders21 = map[string]bool{"autorespond_owner": true, "autorespond_postings": true}

// seconds21 are 2.1 durations in seconds; days21 in days.
var (
	seconds21 = map[string]bool{"bounce_info_stale_after": true, "bounce_you_are_disabled_warnings_interval": true}
	days21    = map[string]bool{"autoresponse_grace_period": true}
)

// moderation21 are 2.1's member_moderation_action values.
var moderation21 = []string{"hold", "reject", "discard"}

// dmarc21 are 2.1's dmarc_moderation_action and from_is_list values.
var dmarc21 = []string{"no_mitigation", "munge_from", "wrap_message", "reject", "discard"}

// handled21 are the 2.1 keys the import carries by its own rules, not as
// settings of the same name.
var handled21 = map[string]bool{
	"members": true, "digest_members": true, "user_options": true, "delivery_status": true, "language": true,
	"usernames": true, "passwords": true, "owner": true, "moderator": true,
	"accept_these_nonmembers": true, "hold_these_nonmembers": true, "reject_these_nonmembers": true, "discard_these_nonmembers": true,
	"ban_list": true, "acceptable_aliases": true, "created_at": true, "last_post_time": true, "post_id": true, "volume": true, "next_digest_number": true, "digest_last_sent_at": true, "header_filter_rules": true, "private_roster": true,
	"archive": true, "archive_private": true, "default_member_moderation": true, "member_moderation_action": true,
	"dmarc_moderation_action": true, "from_is_list": true,
	"msg_header": true, "msg_footer": true, "digest_header": true, "digest_footer": true, "goodbye_msg": true, "welcome_msg": true,
}

// templates21 are the 2.1 texts that become Mailman 3 templates.
var templates21 = map[string]string{
	"msg_header":    "list:member:regular:header",
	"msg_footer":    "list:member:regular:footer",
	"digest_header": "list:member:digest:header",
	"digest_footer": "list:member:digest:footer",
	"goodbye_msg":   "list:user:notice:goodbye",
}

// placeholders21 turn 2.1's %(name)s into Mailman 3's $name, longest
// first, as Mailman 3's importer does.
var placeholders21 = strings.NewReplacer(
	"\r\n", "\n",
	"%(real_name)s@%(host_name)s", "To unsubscribe send an email to ${short_listname}-leave@${domain}",
	"%(real_name)s mailing list", "${display_name} mailing list -- ${listname}",
	"%(web_page_url)slistinfo%(cgiext)s/%(_internal_name)s\n", "",
	"%(real_name)s", "${display_name}",
	"%(list_name)s", "${listname}",
	"%(description)s", "${description}",
	"%(info)s", "${info}",
	"%(cgiext)s", "",
	"%(user_address)s", "${user_email}",
	"%(user_delivered_to)s", "${user_delivered_to}",
	"%(user_password)s", "",
	"%(user_name)s", "${user_name}",
)

// Options21 say how Import21 runs.
type Options21 struct {
	// DryRun reads and checks everything and writes nothing: the store
	// is not used, and may be nil.
	DryRun bool
	// TemplateDir is where the list's texts are written as templates,
	// each registered for the list by its file: URI.
	TemplateDir string
	// Progress, when set, is told how many members are in.
	Progress func(done int)
	// Create makes the list when there is none (with the mail server's
	// maps of it, which this package does not know); nil means the list
	// must exist.
	Create func(context.Context, store.NewList) (*store.List, error)
}

// Report21 says what Import21 did, or would do on a dry run.
type Report21 struct {
	List      string            `json:"list"`
	Created   bool              `json:"created"`
	Charset   string            `json:"charset"`
	Settings  map[string]string `json:"settings"`
	Dropped   []Dropped         `json:"dropped"`
	Members   map[string]int    `json:"members"` // added, by role
	Existing  map[string]int    `json:"existing"`
	Skipped   []Dropped         `json:"skipped"` // addresses not imported, and why
	Patterns  map[string]int    `json:"nonmember_patterns"`
	Bans      int               `json:"bans"`
	Aliases   int               `json:"acceptable_aliases"`
	Headers   int               `json:"header_matches"`
	Templates []string          `json:"templates"`
}

// Dropped is a 2.1 key, or an address, that was not carried over, and
// why.
type Dropped struct {
	Key string `json:"key"`
	Why string `json:"why"`
}

// member21 is one member as the import makes it.
type member21 struct {
	address, name string
	prefs         map[string]string
	moderation    string // "" for the list's default
}

// Import21 brings a Mailman 2.1 list's configuration and rosters into
// the list at address, made with o.Create when there is none. Run again,
// it updates the settings and adds only the members not already there.
func Import21(ctx context.Context, st *store.Store, address store.ListAddress, c *Config21, o Options21) (*Report21, error) {
	r := &Report21{List: address.String(), Charset: c.Charset(), Settings: map[string]string{},
		Members: map[string]int{}, Existing: map[string]int{}, Patterns: map[string]int{}}
	settings := r.settings(c, address)
	rosters, patterns := r.rosters(c, settings["default_member_action"])
	texts := r.texts(c, address)
	bans := c.Strings("ban_list")
	aliases := aliases21(c, address)
	headers := r.headerMatches(c)
	if o.DryRun {
		for role, ms := range rosters {
			for _, m := range ms {
				if bannedBy(bans, m.address) {
					r.Skipped = append(r.Skipped, Dropped{m.address, "banned, not imported as " + string(role)})
					continue
				}
				r.Members[string(role)]++
			}
		}
		r.Bans, r.Aliases, r.Headers = len(bans), len(aliases), len(headers)
		for k, ps := range patterns {
			r.Patterns[k] = len(ps)
		}
		r.Templates = sortedKeys(texts)
		return r, nil
	}

	list, err := st.List(ctx, address)
	if errors.Is(err, store.ErrNoSuchList) && o.Create != nil {
		list, err = o.Create(ctx, store.NewList{Address: address})
		r.Created = err == nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", address, err)
	}
	for _, k := range sortedKeys(settings) {
		err := st.PatchListConfig(ctx, list.ListID, map[string]store.ConfigChange{k: {Values: []string{settings[k]}}}, false)
		var ce *store.ConfigError
		if errors.As(err, &ce) {
			r.Dropped = append(r.Dropped, Dropped{k, ce.Error()})
			delete(r.Settings, k)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: setting %s: %w", address, k, err)
		}
	}
	lists := map[string][]string{"acceptable_aliases": aliases}
	for k, ps := range patterns {
		lists[k] = ps
	}
	for _, k := range sortedKeys(lists) {
		vs := make([]any, len(lists[k]))
		for i, a := range lists[k] {
			vs[i] = a
		}
		if err := st.PatchListConfig(ctx, list.ListID, map[string]store.ConfigChange{k: {JSON: vs}}, false); err != nil {
			return nil, fmt.Errorf("list %s: %s: %w", address, k, err)
		}
		if k != "acceptable_aliases" {
			r.Patterns[k] = len(vs)
		}
	}
	r.Aliases = len(aliases)
	for _, b := range bans {
		if err := st.Ban(ctx, list.ListID, b); err != nil {
			r.Skipped = append(r.Skipped, Dropped{b, "ban: " + err.Error()})
			continue
		}
		r.Bans++
	}
	if h, ok := history21(c); ok {
		if err := st.SetListHistory(ctx, list.ListID, h); err != nil {
			return nil, fmt.Errorf("list %s: its history: %w", address, err)
		}
	}
	if n, ok := digestNumbers21(c); ok {
		if err := st.SetDigestNumbers(ctx, list.ListID, n); err != nil {
			return nil, fmt.Errorf("list %s: digest numbers: %w", address, err)
		}
	}
	if err := r.addHeaderMatches(ctx, st, list.ListID, headers); err != nil {
		return nil, err
	}
	if err := r.writeTemplates(ctx, st, list, texts, o.TemplateDir); err != nil {
		return nil, err
	}
	done := 0
	for _, role := range []store.Role{store.Regular, store.Owner, store.Moderator, store.Nonmember} {
		if err := r.addRoster(ctx, st, address, role, rosters[role], o.Progress, &done); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// settings are the list settings of c, by Mailman 3's names, in the
// API's forms.
func (r *Report21) settings(c *Config21, address store.ListAddress) map[string]string {
	out := map[string]string{}
	for _, k := range c.Keys() {
		if handled21[k] {
			continue
		}
		name := k
		if n, ok := renamed21[k]; ok {
			name = n
		}
		if !store.IsConfigKey(name) {
			r.Dropped = append(r.Dropped, Dropped{k, "Mailman 3 has no such setting, nor this core"})
			continue
		}
		v, why := value21(c, k, name)
		if why != "" {
			r.Dropped = append(r.Dropped, Dropped{k, why})
			continue
		}
		out[name] = v
	}
	// Mailman 2.1's moderation of members: a moderated list's default
	// action is the one for moderated members; else members' posts go on.
	out["default_member_action"] = "defer"
	if on, _ := c.Int("default_member_moderation"); on != 0 {
		n, _ := c.Int("member_moderation_action")
		out["default_member_action"] = pick(moderation21, n, "hold")
	}
	// from_is_list applies to every post, dmarc_moderation_action to those
	// from a domain that asks; Mailman 3 has one action and a switch.
	fromIsList, _ := c.Int("from_is_list")
	dmarcAction, _ := c.Int("dmarc_moderation_action")
	if fromIsList > dmarcAction {
		out["dmarc_mitigate_action"], out["dmarc_mitigate_unconditionally"] = pick(dmarc21, fromIsList, "no_mitigation"), "True"
	} else {
		out["dmarc_mitigate_action"], out["dmarc_mitigate_unconditionally"] = pick(dmarc21, dmarcAction, "no_mitigation"), "False"
	}
	// Two switches with three meaningful states, and a missing
	// archive_private taken as private, as Mailman 3 does.
	out["archive_policy"] = "never"
	if on, _ := c.Int("archive"); on != 0 {
		out["archive_policy"] = "private"
		if p, ok := c.Int("archive_private"); ok && p == 0 {
			out["archive_policy"] = "public"
		}
	}
	if v, ok := c.Int("private_roster"); ok {
		if vis := pick([]string{"public", "members", "moderators"}, v, ""); vis != "" {
			out["member_roster_visibility"] = vis
		}
	}
	if w, ok := c.String("welcome_msg"); ok && strings.TrimSpace(w) != "" {
		out["welcome_message"] = w
	}
	for k, v := range out {
		r.Settings[k] = v
	}
	return out
}

// value21 is 2.1 setting key's value as the API writes Mailman 3's name,
// or why it is not carried.
func value21(c *Config21, key, name string) (string, string) {
	v := c.raw(key)
	switch {
	case name == "moderator_password":
		return "", "Mailman 2.1 kept it as an unsalted SHA-1, which this core does not take: set a new one"
	case name == "preferred_language":
		s, _ := c.String(key)
		return s, ""
	case name == "bounce_matching_headers":
		// 2.1's text starts with comment lines, which are no rules.
		var rules []string
		for _, l := range c.Strings(key) {
			if !strings.HasPrefix(l, "#") {
				rules = append(rules, l)
			}
		}
		return strings.Join(rules, "\n"), ""
	case responders21[name]:
		if n, _ := asInt(v); n != 0 {
			return "respond_and_continue", ""
		}
		return "none", ""
	case enums21[name] != nil:
		n, ok := asInt(v)
		if !ok || n < 0 || n >= len(enums21[name]) {
			return "", fmt.Sprintf("%v is not one of Mailman 2.1's values", v)
		}
		return enums21[name][n], ""
	case seconds21[name]:
		f, _ := c.Float(key)
		return store.FormatDays(int(f / 86400)), ""
	case days21[name]:
		n, _ := asInt(v)
		return store.FormatDays(n), ""
	}
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x), ""
	case int:
		return strconv.Itoa(x), ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), ""
	case pyStr, string:
		s, _ := c.String(key)
		return s, ""
	case []any:
		return strings.Join(c.Strings(key), "\n"), ""
	case nil:
		return "", "no value"
	}
	return "", fmt.Sprintf("a %T, which Mailman 3 has no setting for", v)
}

// history21 is the list's history as 2.1 kept it: created_at and
// last_post_time (seconds since the epoch, 0 for never) and post_id, the
// next post's number, as Mailman 3's importer carries them.
func history21(c *Config21) (store.ListHistory, bool) {
	created, ok := c.Float("created_at")
	if !ok || created <= 0 {
		return store.ListHistory{}, false
	}
	h := store.ListHistory{CreatedAt: fromSeconds(created)}
	if last, ok := c.Float("last_post_time"); ok && last > 0 {
		h.LastPostAt = fromSeconds(last)
	}
	if id, ok := c.Float("post_id"); ok && id >= 1 {
		h.PostID = int(id)
	}
	return h, true
}

// fromSeconds is 2.1's time (float seconds) as a time, to the microsecond
// as Mailman 3 keeps it.
func fromSeconds(s float64) time.Time {
	return time.Unix(0, int64(s*1e6)*1000).UTC()
}

// digestNumbers21 are the numbers of the list's next digest and when the
// last was sent, as 2.1 kept them.
func digestNumbers21(c *Config21) (store.DigestNumbers, bool) {
	volume, okV := c.Int("volume")
	number, okN := c.Int("next_digest_number")
	if !okV || !okN || volume < 1 || number < 1 {
		return store.DigestNumbers{}, false
	}
	n := store.DigestNumbers{Volume: volume, Number: number}
	if at, ok := c.Float("digest_last_sent_at"); ok && at > 0 {
		n.LastSentAt = fromSeconds(at)
	}
	return n, true
}

// bannedBy reports whether one of bans bans address.
func bannedBy(bans []string, address string) bool {
	return slices.ContainsFunc(bans, func(b string) bool { return store.BanMatches(b, address) })
}

func pick(names []string, n int, def string) string {
	if n < 0 || n >= len(names) {
		return def
	}
	return names[n]
}

// rosters are the members of each role the import adds, with their
// options, as Mailman 3's importer gives them.
func (r *Report21) rosters(c *Config21, defaultAction string) (map[store.Role][]member21, map[string][]string) {
	regular, digest := c.Dict("members"), c.Dict("digest_members")
	options, status, langs, names := c.Dict("user_options"), c.Dict("delivery_status"), c.Dict("language"), c.Dict("usernames")
	memberModeration, _ := c.Int("member_moderation_action")
	out := map[store.Role][]member21{}
	patterns := map[string][]string{}
	// address is the address as written: 2.1 keeps a member's key in
	// lower case and its case, when it differs, as the value.
	address := func(key string) string {
		for _, d := range []map[string]any{regular, digest} {
			if s, ok := d[key].(string); ok && s != "" {
				return s
			}
		}
		return key
	}
	seen := map[string]bool{}
	for _, key := range append(sortedKeys(regular), sortedKeys(digest)...) {
		lower := strings.ToLower(key)
		if seen[lower] {
			continue
		}
		seen[lower] = true
		m := member21{address: address(key), prefs: map[string]string{}}
		if _, err := mail.ParseAddress(m.address); err != nil {
			if _, err := mail.ParseAddress(lower); err != nil {
				r.Skipped = append(r.Skipped, Dropped{key, "not an address"})
				continue
			}
			m.address = lower
		}
		if n, ok := names[lower].(string); ok {
			m.name = n
		}
		opts, hasOpts := asInt(options[lower])
		if _, ok := digest[key]; ok {
			if _, alsoRegular := regular[key]; !alsoRegular {
				m.prefs["delivery_mode"] = store.MIMEDigests
				if hasOpts && opts&8 != 0 {
					m.prefs["delivery_mode"] = store.PlainDigests
				}
			}
		}
		if l, ok := langs[lower].(string); ok && l != "" {
			m.prefs["preferred_language"] = l
		}
		if t, ok := status[lower].([]any); ok && len(t) > 0 {
			if n, _ := asInt(t[0]); n > 0 {
				m.prefs["delivery_status"] = pick([]string{"enabled", "unknown", store.ByUser, store.ByModerator, store.ByBounces}, n, "unknown")
			}
		}
		if hasOpts {
			action := "defer"
			if opts&128 != 0 {
				action = pick(moderation21, memberModeration, "hold")
			}
			if action != defaultAction {
				m.moderation = action
			}
			setFlag(m.prefs, "acknowledge_posts", opts&4 != 0)
			setFlag(m.prefs, "hide_address", opts&16 != 0)
			setFlag(m.prefs, "receive_own_postings", opts&2 == 0)
			setFlag(m.prefs, "receive_list_copy", opts&256 == 0)
		}
		out[store.Regular] = append(out[store.Regular], m)
	}
	for role, key := range map[store.Role]string{store.Owner: "owner", store.Moderator: "moderator"} {
		for _, a := range c.Strings(key) {
			out[role] = append(out[role], member21{address: strings.ToLower(a)})
		}
	}
	for _, action := range []string{"accept", "hold", "reject", "discard"} {
		key := action + "_these_nonmembers"
		if action == "accept" {
			// 2.1's accept is Mailman 3's defer: the other rules still run.
			action = "defer"
		}
		for _, a := range c.Strings(key) {
			// A regexp, or a list named by its address (@list), stays in
			// the setting, as in Mailman 3.
			if strings.HasPrefix(a, "^") || strings.HasPrefix(a, "@") {
				patterns[key] = append(patterns[key], a)
				continue
			}
			out[store.Nonmember] = append(out[store.Nonmember], member21{address: strings.ToLower(a), moderation: action})
		}
	}
	return out, patterns
}

// setFlag records a preference that is not the site's default: a
// membership left at it follows its user's and address's, as in Mailman.
func setFlag(prefs map[string]string, name string, v bool) {
	if v != store.SystemPreferences[name] {
		prefs[name] = strconv.FormatBool(v)
	}
}

// addRoster adds role's members that are not there yet, then their
// options.
func (r *Report21) addRoster(ctx context.Context, st *store.Store, address store.ListAddress, role store.Role, ms []member21, progress func(int), done *int) error {
	if len(ms) == 0 {
		return nil
	}
	// The bans read once, not asked for each of 100,000 addresses.
	listBans, err := st.Bans(ctx, address.ListID())
	if err != nil {
		return err
	}
	siteBans, err := st.Bans(ctx, "")
	if err != nil {
		return err
	}
	bans := append(listBans, siteBans...)
	var addresses []string
	byAddress := map[string]member21{}
	for _, m := range ms {
		if _, twice := byAddress[strings.ToLower(m.address)]; twice {
			// 2.1 lets an address stand twice in one list; the first
			// is the one kept, as in Mailman 3.
			continue
		}
		if bannedBy(bans, m.address) {
			r.Skipped = append(r.Skipped, Dropped{m.address, "banned, not imported as " + string(role)})
			continue
		}
		a := m.address
		if m.name != "" {
			a = (&mail.Address{Name: m.name, Address: m.address}).String()
		}
		addresses = append(addresses, a)
		byAddress[strings.ToLower(m.address)] = m
	}
	res, err := st.AddMembers(ctx, address, role, addresses, func(n int) {
		if progress != nil {
			progress(*done + n)
		}
	})
	if err != nil {
		return fmt.Errorf("list %s: %ss: %w", address, role, err)
	}
	*done += len(addresses)
	r.Members[string(role)] += res.Added
	r.Existing[string(role)] += len(res.Existing)
	existing := map[string]bool{}
	for _, e := range res.Existing {
		existing[strings.ToLower(e)] = true
	}
	members, err := st.Members(ctx, address, role)
	if err != nil {
		return err
	}
	var settings []store.MemberSettings
	for _, mb := range members {
		key := strings.ToLower(mb.Address)
		m, ok := byAddress[key]
		if !ok || existing[key] || m.moderation == "" && len(m.prefs) == 0 {
			// An existing membership keeps the options it has here.
			continue
		}
		settings = append(settings, store.MemberSettings{MemberID: mb.MemberID, Prefs: m.prefs, ModerationAction: m.moderation})
	}
	if err := st.SetMemberSettings(ctx, settings); err != nil {
		return fmt.Errorf("list %s: %ss' options: %w", address, role, err)
	}
	return nil
}

// aliases21 are the list's acceptable_aliases as Mailman 3's importer
// makes them: every 2.1 alias is a regexp, anchored; and the list's
// name at any domain, which 2.1 took.
func aliases21(c *Config21, address store.ListAddress) []string {
	var out []string
	for _, a := range c.Strings("acceptable_aliases") {
		if !strings.HasPrefix(a, "^") {
			a = "^" + a
		}
		out = append(out, a)
	}
	return append(out, "^"+address.Name+"@")
}

// headerMatches are 2.1's header_filter_rules as Mailman 3's header
// matches.
func (r *Report21) headerMatches(c *Config21) []store.HeaderMatch {
	var out []store.HeaderMatch
	rules, _ := c.raw("header_filter_rules").([]any)
	for _, rule := range rules {
		t, ok := rule.([]any)
		if !ok || len(t) < 2 {
			continue
		}
		lines, _ := c.str(t[0])
		action, _ := asInt(t[1])
		chain, ok := map[int]string{0: "", 2: "reject", 3: "discard", 6: "accept", 7: "hold"}[action]
		if !ok {
			r.Dropped = append(r.Dropped, Dropped{"header_filter_rules", fmt.Sprintf("action %d (approve, subscribe or unsubscribe) has no Mailman 3 chain", action)})
			continue
		}
		for _, line := range strings.Split(lines, "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			header, pattern, ok := "", "", false
			for _, sep := range []string{": ", ":.*", ":.", ":"} {
				if h, p, found := strings.Cut(line, sep); found {
					header, pattern, ok = h, p, true
					break
				}
			}
			header = strings.ReplaceAll(strings.TrimLeft(strings.ToLower(strings.TrimSpace(header)), "^"), `\`, "")
			if !ok || header == "" {
				r.Dropped = append(r.Dropped, Dropped{"header_filter_rules", fmt.Sprintf("%q names no header", line)})
				continue
			}
			if pattern == "" {
				pattern = ".*"
			}
			if _, err := regexp.Compile(pattern); err != nil {
				r.Dropped = append(r.Dropped, Dropped{"header_filter_rules", fmt.Sprintf("%q: %v", line, err)})
				continue
			}
			out = append(out, store.HeaderMatch{Header: header, Pattern: pattern, Action: chain})
		}
	}
	return out
}

func (r *Report21) addHeaderMatches(ctx context.Context, st *store.Store, listID string, hms []store.HeaderMatch) error {
	have, err := st.HeaderMatches(ctx, listID)
	if err != nil {
		return err
	}
	for _, hm := range hms {
		if slices.ContainsFunc(have, func(h store.HeaderMatch) bool { return h.Header == hm.Header && h.Pattern == hm.Pattern }) {
			continue
		}
		if _, err := st.AddHeaderMatch(ctx, listID, hm, -1); err != nil {
			r.Dropped = append(r.Dropped, Dropped{"header_filter_rules", hm.Header + ": " + err.Error()})
			continue
		}
		have = append(have, hm)
		r.Headers++
	}
	return nil
}

// texts are the list's 2.1 texts that differ from Mailman 3's defaults
// once filled in for the list, as Mailman 3's importer compares them, by
// template name, with their placeholders in Mailman 3's form.
func (r *Report21) texts(c *Config21, address store.ListAddress) map[string]string {
	list := &store.List{Address: address, PostingAddress: address.String(), ListID: address.ListID()}
	list.DisplayName, _ = c.String("real_name")
	list.Description, _ = c.String("description")
	info, _ := c.String("info")
	values := templates.Values(list, "", map[string]string{"info": info})
	defaults := map[string]string{
		"list:member:regular:footer": strings.Join(notice.ListFooter(list), "\n"),
		"list:member:digest:footer":  strings.Join(notice.ListFooter(list), "\n"),
	}
	out := map[string]string{}
	for key, name := range templates21 {
		text, ok := c.String(key)
		if !ok {
			continue
		}
		text = placeholders21.Replace(text)
		expanded := strings.TrimSpace(templates.Expand(text, values))
		if expanded == "" || expanded == strings.TrimSpace(defaults[name]) {
			continue
		}
		out[name] = text
	}
	return out
}

// writeTemplates writes each text to dir and registers it for the list.
func (r *Report21) writeTemplates(ctx context.Context, st *store.Store, list *store.List, texts map[string]string, dir string) error {
	if len(texts) == 0 {
		return nil
	}
	if dir == "" {
		return errors.New("no directory for the list's templates")
	}
	dir = filepath.Join(dir, list.ListID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var ts []store.Template
	for _, name := range sortedKeys(texts) {
		path := filepath.Join(dir, strings.ReplaceAll(name, ":", "-")+".txt")
		if err := os.WriteFile(path, []byte(texts[name]), 0o644); err != nil {
			return err
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		ts = append(ts, store.Template{Name: name, URI: "file://" + abs})
		r.Templates = append(r.Templates, name)
	}
	if err := st.SetTemplates(ctx, store.ListTemplates(list.ListID), ts, false); err != nil {
		return err
	}
	// The text kept in the store too, as if fetched: a site restored on
	// another host (export, import json), where the file is not, still
	// has it.
	for i := range ts {
		ts[i].Scope = store.ListTemplates(list.ListID)
		if err := st.SetTemplateContent(ctx, &ts[i], texts[ts[i].Name], time.Now()); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Found21 is one list of a Mailman 2.1 site: the address it takes here
// (its folder's name at its host_name) and its config.pck.
type Found21 struct {
	Address store.ListAddress
	Path    string
}

// Site21 finds the lists of a Mailman 2.1 site's lists folder
// (/var/lib/mailman/lists: one folder a list, each with its config.pck),
// sorted by address. A folder without a config.pck is not a list; one
// whose file cannot be read, or names no host, is an error naming it.
func Site21(dir string) ([]Found21, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Found21
	for _, e := range entries {
		path := filepath.Join(dir, e.Name(), "config.pck")
		if !e.IsDir() {
			continue
		}
		f, err := os.Open(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c, err := ReadConfig21(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		host, _ := c.String("host_name")
		a, err := store.ParseListAddress(strings.ToLower(e.Name()) + "@" + host)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, Found21{Address: a, Path: path})
	}
	slices.SortFunc(out, func(x, y Found21) int { return strings.Compare(x.Address.String(), y.Address.String()) })
	return out, nil
}
