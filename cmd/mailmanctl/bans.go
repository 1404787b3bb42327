package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/mailman-go/mailman/store"
)

// banScope turns a list's name (its address or list-id) into the list-id the store's bans take,
// checking that the list exists so that the error names the address the
// user typed; "" is the site.
func banScope(ctx context.Context, st *store.Store, list string) (listID, name string, err error) {
	if list == "" {
		return "", "every list", nil
	}
	l, err := st.FindList(ctx, list)
	if err != nil {
		return "", "", err
	}
	return l.ListID, l.PostingAddress, nil
}

func cmdBansList(e *env, args []string) error {
	fs, cfgPath := e.flags("bans list")
	asJSON := fs.Bool("json", false, "print a JSON array")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usagef("wrong number of arguments")
	}
	list := ""
	if len(rest) == 1 {
		list = rest[0]
		// A bad address is the command line's fault, before any store.
		if _, err := store.ParseListIdentifier(list); err != nil {
			return usageError{err.Error()}
		}
	}
	st, err := e.openStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	listID, name, err := banScope(ctx, st, list)
	if err != nil {
		return err
	}
	bans, err := st.Bans(ctx, listID)
	if err != nil {
		return err
	}
	if *asJSON {
		if bans == nil {
			bans = []string{}
		}
		return writeJSON(e.stdout, bans)
	}
	if len(bans) == 0 && list == "" {
		fmt.Fprintln(e.stdout, "No site-wide bans")
		return nil
	}
	if len(bans) == 0 {
		fmt.Fprintf(e.stdout, "No bans for %s\n", name)
		return nil
	}
	t := newTable(e.stdout, "PATTERN", "KIND")
	for _, b := range bans {
		kind := "address"
		if strings.HasPrefix(b, "^") {
			kind = "regex"
		}
		t.row(b, kind)
	}
	return t.flush()
}

// banCommand parses the arguments of bans add and remove: a list address
// and a pattern, or --site and a pattern. It returns the list's id ("" for
// the site), a name for it, the pattern and the open store.
func banCommand(e *env, fs *flag.FlagSet, cfgPath *string, args []string) (listID, name, pattern string, st *store.Store, err error) {
	site := fs.Bool("site", false, "the ban is for every list of the site")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return "", "", "", nil, err
	}
	list := ""
	switch {
	case *site && len(rest) == 1:
		pattern = rest[0]
	case !*site && len(rest) == 2:
		list, pattern = rest[0], rest[1]
		if _, err := store.ParseListIdentifier(list); err != nil {
			return "", "", "", nil, usageError{err.Error()}
		}
	default:
		return "", "", "", nil, usagef("need a list address or --site, and a pattern (an address or a ^regex)")
	}
	st, err = e.openStore(*cfgPath)
	if err != nil {
		return "", "", "", nil, err
	}
	listID, name, err = banScope(context.Background(), st, list)
	if err != nil {
		st.Close()
		return "", "", "", nil, err
	}
	return listID, name, pattern, st, nil
}

func cmdBansAdd(e *env, args []string) error {
	fs, cfgPath := e.flags("bans add")
	listID, name, pattern, st, err := banCommand(e, fs, cfgPath, args)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Ban(context.Background(), listID, pattern); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Banned %s from %s\n", pattern, name)
	return nil
}

func cmdBansRemove(e *env, args []string) error {
	fs, cfgPath := e.flags("bans remove")
	listID, name, pattern, st, err := banCommand(e, fs, cfgPath, args)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Unban(context.Background(), listID, pattern); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Removed the ban on %s from %s\n", pattern, name)
	return nil
}
