package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/lifecycle"
	"github.com/mailman-go/mailman/store"
)

// openStore opens the existing store of the configuration at cfgPath.
func (e *env) openStore(cfgPath string) (*store.Store, error) {
	_, st, err := e.openSite(cfgPath)
	return st, err
}

// openSite reads the configuration at cfgPath and opens its existing
// store.
func (e *env) openSite(cfgPath string) (*config.Config, *store.Store, error) {
	cfg, err := e.config(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	st, err := openExisting(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// openExisting opens cfg's store for every command but those that make a
// site (lists create, domains create, start): a command run in the wrong folder without
// -C would otherwise leave an empty var/ there and answer as if the site
// had no lists.
func openExisting(cfg *config.Config) (*store.Store, error) {
	st, err := store.OpenExisting(context.Background(), cfg.Database.URL, cfg.VarDir(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w (var_dir is %s; -C FILE or $MAILMAN_CONFIG names another site's configuration)", err, cfg.VarDir())
	}
	return st, nil
}

// multiFlag collects a flag given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// listCommand parses the arguments of a command whose first argument names
// a list (its posting address or its list-id) followed by between minRest
// and maxRest others (maxRest < 0: any number), opens the store and finds
// the list. The caller closes the store.
func listCommand(e *env, fs *flag.FlagSet, cfgPath *string, args []string, minRest, maxRest int) (store.ListAddress, []string, *store.Store, error) {
	a, rest, _, st, err := listCommandConfig(e, fs, cfgPath, args, minRest, maxRest)
	return a, rest, st, err
}

// listCommandConfig is listCommand for a command that needs the
// configuration too.
func listCommandConfig(e *env, fs *flag.FlagSet, cfgPath *string, args []string, minRest, maxRest int) (store.ListAddress, []string, *config.Config, *store.Store, error) {
	id, rest, err := parseListArgs(fs, args, minRest, maxRest)
	if err != nil {
		return store.ListAddress{}, nil, nil, nil, err
	}
	cfg, st, err := e.openSite(*cfgPath)
	if err != nil {
		return store.ListAddress{}, nil, nil, nil, err
	}
	l, err := st.FindList(context.Background(), id)
	if err != nil {
		st.Close()
		return store.ListAddress{}, nil, nil, nil, err
	}
	return l.Address, rest, cfg, st, nil
}

// parseListArgs checks the arguments of a list command: the list's name
// first, then between minRest and maxRest others.
func parseListArgs(fs *flag.FlagSet, args []string, minRest, maxRest int) (string, []string, error) {
	rest, err := parseArgs(fs, args)
	if err != nil {
		return "", nil, err
	}
	if len(rest) == 0 || len(rest)-1 < minRest || (maxRest >= 0 && len(rest)-1 > maxRest) {
		return "", nil, usagef("wrong number of arguments")
	}
	id, err := store.ParseListIdentifier(rest[0])
	if err != nil {
		return "", nil, usageError{err.Error()}
	}
	return id, rest[1:], nil
}

func cmdListsCreate(e *env, args []string) error {
	fs, cfgPath := e.flags("lists create")
	var owners multiFlag
	fs.Var(&owners, "owner", "an owner's address (may be given several times)")
	display := fs.String("display-name", "", "the list's display name (default: its name, capitalised)")
	style := fs.String("style", store.DefaultStyle, "the list style it starts from: legacy-default, legacy-announce or private-default")
	id, _, err := parseListArgs(fs, args, 0, 0)
	if err != nil {
		return err
	}
	// A new list needs its posting address: a list-id does not say where
	// its name ends.
	a, err := store.ParseListAddress(id)
	if err != nil {
		return usageError{err.Error()}
	}
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.Database.URL, cfg.VarDir())
	if err != nil {
		return err
	}
	defer st.Close()
	l, warning, err := lifecycle.Create(ctx, cfg, st, store.NewList{Address: a, DisplayName: *display, Owners: owners, Style: *style})
	e.warn(warning)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Created mailing list: %s\n", l.PostingAddress)
	return nil
}

func cmdListsRemove(e *env, args []string) error {
	fs, cfgPath := e.flags("lists remove")
	a, _, cfg, st, err := listCommandConfig(e, fs, cfgPath, args, 0, 0)
	if err != nil {
		return err
	}
	defer st.Close()
	warning, err := lifecycle.Remove(context.Background(), cfg, st, a)
	if err != nil && !errors.Is(err, lifecycle.ErrMaps) {
		return err
	}
	fmt.Fprintf(e.stdout, "Removed list: %s\n", a)
	e.warn(warning)
	return err
}

func cmdListsList(e *env, args []string) error {
	fs, cfgPath := e.flags("lists list")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	st, err := e.openStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	ls, err := st.Lists(context.Background())
	if err != nil {
		return err
	}
	if *asJSON {
		if ls == nil {
			ls = []*store.List{}
		}
		return writeJSON(e.stdout, ls)
	}
	if len(ls) == 0 {
		fmt.Fprintln(e.stdout, "No mailing lists")
		return nil
	}
	t := newTable(e.stdout, "LIST", "LIST-ID", "DISPLAY NAME", "DESCRIPTION")
	for _, l := range ls {
		t.row(l.PostingAddress, l.ListID, l.DisplayName, l.Description)
	}
	return t.flush()
}

func cmdListsShow(e *env, args []string) error {
	fs, cfgPath := e.flags("lists show")
	asJSON := fs.Bool("json", false, "print a JSON array with the list")
	a, _, st, err := listCommand(e, fs, cfgPath, args, 0, 0)
	if err != nil {
		return err
	}
	defer st.Close()
	l, err := st.List(context.Background(), a)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, []*store.List{l})
	}
	t := newTable(e.stdout, "SETTING", "VALUE")
	rows := [][2]string{
		{"posting_address", l.PostingAddress}, {"list_id", l.ListID},
		{"display_name", l.DisplayName}, {"description", l.Description}, {"subject_prefix", fmt.Sprintf("%q", l.SubjectPrefix)},
		{"default_member_action", l.DefaultMemberAction}, {"default_nonmember_action", l.DefaultNonmemberAction},
		{"automatic_post_action", l.AutomaticPostAction},
		{"process_bounces", fmt.Sprint(l.ProcessBounces)}, {"bounce_score_threshold", fmt.Sprint(l.BounceScoreThreshold)},
		{"bounce_info_stale_after", fmt.Sprint(l.BounceInfoStaleAfter) + " days"},
		{"bounce_you_are_disabled_warnings", fmt.Sprint(l.BounceYouAreDisabledWarnings)},
		{"bounce_you_are_disabled_warnings_interval", fmt.Sprint(l.BounceYouAreDisabledWarningsInterval) + " days"},
		{"bounce_notify_owner_on_bounce_increment", fmt.Sprint(l.BounceNotifyOwnerOnBounceIncrement)},
		{"bounce_notify_owner_on_disable", fmt.Sprint(l.BounceNotifyOwnerOnDisable)},
		{"bounce_notify_owner_on_removal", fmt.Sprint(l.BounceNotifyOwnerOnRemoval)},
		{"forward_unrecognized_bounces_to", l.ForwardUnrecognizedBouncesTo},
		{"subscription_policy", l.SubscriptionPolicy}, {"unsubscription_policy", l.UnsubscriptionPolicy},
		{"max_message_size", fmt.Sprint(l.MaxMessageSize)}, {"max_num_recipients", fmt.Sprint(l.MaxNumRecipients)},
		{"require_explicit_destination", fmt.Sprint(l.RequireExplicitDestination)}, {"administrivia", fmt.Sprint(l.Administrivia)},
		{"reply_goes_to_list", l.ReplyGoesToList}, {"emergency", fmt.Sprint(l.Emergency)},
		{"include_rfc2369_headers", fmt.Sprint(l.IncludeRFC2369Headers)},
		{"moderator_password", map[bool]string{true: "(set)", false: "(none)"}[l.ModeratorPassword != ""]},
		{"admin_immed_notify", fmt.Sprint(l.AdminImmedNotify)}, {"respond_to_post_requests", fmt.Sprint(l.RespondToPostRequests)},
		{"acceptable_aliases", strings.Join(l.AcceptableAliases, ", ")}, {"bounce_matching_headers", strings.Join(l.BounceMatchingHeaders, "; ")},
		{"post_id", fmt.Sprint(l.PostID)},
		{"created_at", l.CreatedAt.Format(time.RFC3339)}, {"last_post_at", formatTime(l.LastPostAt)},
	}
	shown := map[string]bool{}
	for _, r := range rows {
		t.row(r[0], r[1])
		shown[r[0]] = true
	}
	// Then every other setting, as the REST API (and so Postorius) shows it.
	cfg, err := st.ListConfig(context.Background(), l.ListID)
	if err != nil {
		return err
	}
	for _, k := range store.ConfigKeys() {
		v, ok := cfg[k]
		if shown[k] || !ok || v == nil {
			continue
		}
		t.row(k, configValue(v))
	}
	return t.flush()
}

// configValue is a configuration value from the store, as lists show
// prints it: text quoted when spaces at its ends matter, lists joined.
func configValue(v any) string {
	switch v := v.(type) {
	case string:
		if strings.TrimSpace(v) != v {
			return fmt.Sprintf("%q", v)
		}
		return v
	case []string:
		return strings.Join(v, ", ")
	case []any:
		parts := make([]string, len(v))
		for i, p := range v {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339)
}

func cmdListsSet(e *env, args []string) error {
	fs, cfgPath := e.flags("lists set")
	a, rest, st, err := listCommand(e, fs, cfgPath, args, 2, 2)
	var ue usageError
	if errors.As(err, &ue) {
		return usagef("need a list address, a setting and a value (settings: %s)", strings.Join(store.Settings(), ", "))
	}
	if err != nil {
		return err
	}
	defer st.Close()
	return st.SetListSetting(context.Background(), a, rest[0], rest[1])
}

// roleFlag adds the --role flag of members add and remove.
func roleFlag(fs *flag.FlagSet) *string {
	return fs.String("role", string(store.Regular), "owner, moderator, member or nonmember")
}

func cmdMembersAdd(e *env, args []string) error {
	fs, cfgPath := e.flags("members add")
	role := roleFlag(fs)
	file := fs.String("file", "", "read addresses from FILE, one per line (- for standard input)")
	a, addrs, st, err := listCommand(e, fs, cfgPath, args, 0, -1)
	if err != nil {
		return err
	}
	defer st.Close()
	if len(addrs) == 0 && *file == "" {
		return usagef("need a list address and addresses to add (or --file)")
	}
	r, err := store.ParseRole(*role)
	if err != nil {
		return usageError{err.Error()}
	}
	if *file != "" {
		more, err := readAddresses(e, *file)
		if err != nil {
			return err
		}
		addrs = append(addrs, more...)
	}
	var progress func(int)
	if isTerminal(e.stderr) && len(addrs) >= 1000 {
		progress = func(done int) { fmt.Fprintf(e.stderr, "\radding members: %d of %d", done, len(addrs)) }
		defer fmt.Fprint(e.stderr, "\r\033[K")
	}
	res, err := st.AddMembers(context.Background(), a, r, addrs, progress)
	if err != nil {
		return err
	}
	for _, x := range res.Existing {
		fmt.Fprintf(e.stderr, "already a %s of %s, skipped: %s\n", r, a, x)
	}
	fmt.Fprintf(e.stdout, "Added %d %s(s) to %s", res.Added, r, a)
	if len(res.Existing) > 0 {
		fmt.Fprintf(e.stdout, "; %d already there", len(res.Existing))
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// readAddresses reads one address per line; blank lines and lines starting
// with # are skipped.
func readAddresses(e *env, file string) ([]string, error) {
	var r io.Reader = e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var addrs []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			addrs = append(addrs, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return addrs, nil
}

// isTerminal reports whether w is a terminal, where progress is worth showing.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func cmdMembersRemove(e *env, args []string) error {
	fs, cfgPath := e.flags("members remove")
	role := roleFlag(fs)
	a, addrs, st, err := listCommand(e, fs, cfgPath, args, 1, -1)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := store.ParseRole(*role)
	if err != nil {
		return usageError{err.Error()}
	}
	if err := st.RemoveMembers(context.Background(), a, r, addrs); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Removed %d %s(s) from %s\n", len(addrs), r, a)
	return nil
}

func cmdMembersList(e *env, args []string) error {
	fs, cfgPath := e.flags("members list")
	role := fs.String("role", "", "only this role: owner, moderator, member or nonmember")
	asJSON := fs.Bool("json", false, "print a JSON array")
	a, _, st, err := listCommand(e, fs, cfgPath, args, 0, 0)
	if err != nil {
		return err
	}
	defer st.Close()
	var r store.Role
	if *role != "" {
		if r, err = store.ParseRole(*role); err != nil {
			return usageError{err.Error()}
		}
	}
	ms, err := st.Members(context.Background(), a, r)
	if err != nil {
		return err
	}
	if *asJSON {
		if ms == nil {
			ms = []store.Member{}
		}
		return writeJSON(e.stdout, ms)
	}
	t := newTable(e.stdout, "ADDRESS", "DISPLAY NAME", "ROLE", "DELIVERY", "BOUNCE SCORE", "MODERATION", "SUBSCRIBED")
	for _, m := range ms {
		moderation := m.ModerationAction
		if moderation == "" {
			moderation = "list default"
		}
		t.row(m.Address, m.DisplayName, m.Role, m.DeliveryStatus, m.BounceScore, moderation, m.SubscribedAt.Format("2006-01-02"))
	}
	return t.flush()
}
