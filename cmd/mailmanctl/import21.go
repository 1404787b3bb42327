package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/lifecycle"
	"github.com/mailman-go/mailman/migrate"
	"github.com/mailman-go/mailman/store"
)

// cmdImport21 is Mailman's `mailman import21 LIST config.pck`: a Mailman
// 2.1 list's settings, rosters and texts brought into LIST (created when
// there is none), through migrate.Import21; with --all, every list of a
// 2.1 site's lists folder, each at its own host. --dry-run reads and
// reports only.
func cmdImport21(e *env, args []string) error {
	fs, cfgPath := e.flags("import21")
	all := fs.String("all", "", "a Mailman 2.1 lists folder (/var/lib/mailman/lists): import every list in it, each as NAME@its host_name")
	dryRun := fs.Bool("dry-run", false, "read the files and show what would be imported; change nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	var found []migrate.Found21
	switch {
	case *all != "" && len(rest) == 0:
		if found, err = migrate.Site21(*all); err != nil {
			return err
		}
		if len(found) == 0 {
			return fmt.Errorf("%s: no list folder with a config.pck", *all)
		}
	case *all == "" && len(rest) == 2:
		address, err := store.ParseListAddress(rest[0])
		if err != nil {
			return usageError{err.Error()}
		}
		found = []migrate.Found21{{Address: address, Path: rest[1]}}
	default:
		return usagef("need a list address and a Mailman 2.1 config.pck, or --all and a lists folder")
	}
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return err
	}
	// As lists create: the import may be what makes a new site's store;
	// a dry run reads the files alone.
	var st *store.Store
	if !*dryRun {
		if st, err = store.Open(context.Background(), cfg.Database.URL, cfg.VarDir()); err != nil {
			return err
		}
		defer st.Close()
	}
	var reports []*migrate.Report21
	var failed []string
	for i, f := range found {
		if len(found) > 1 && isTerminal(e.stderr) {
			fmt.Fprintf(e.stderr, "\r\033[Kimporting %d of %d: %s", i+1, len(found), f.Address)
		}
		r, err := import21(e, cfg, st, f, *dryRun)
		if err != nil {
			if len(found) == 1 {
				return err
			}
			// One list that fails leaves the others to be imported.
			failed = append(failed, fmt.Sprintf("%s: %v", f.Address, err))
			continue
		}
		reports = append(reports, r)
	}
	if len(found) > 1 && isTerminal(e.stderr) {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	if err := printImport21(e, reports, found, *dryRun, *asJSON); err != nil {
		return err
	}
	if len(failed) > 0 {
		return errors.New("not imported:\n  " + strings.Join(failed, "\n  "))
	}
	return nil
}

// import21 imports one list.
func import21(e *env, cfg *config.Config, st *store.Store, f migrate.Found21, dryRun bool) (*migrate.Report21, error) {
	file, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	c, err := migrate.ReadConfig21(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	o := migrate.Options21{DryRun: dryRun, TemplateDir: filepath.Join(cfg.VarDir(), "templates", "lists"),
		// As lists create makes a list: with the mail server's maps.
		Create: func(ctx context.Context, n store.NewList) (*store.List, error) {
			l, warning, err := lifecycle.Create(ctx, cfg, st, n)
			e.warn(warning)
			return l, err
		}}
	return migrate.Import21(context.Background(), st, f.Address, c, o)
}

// printImport21 prints the reports: one list's in full, several as a
// table of one line a list.
func printImport21(e *env, reports []*migrate.Report21, found []migrate.Found21, dryRun, asJSON bool) error {
	if asJSON {
		if len(found) == 1 && len(reports) == 1 {
			return writeJSON(e.stdout, reports[0])
		}
		return writeJSON(e.stdout, reports)
	}
	verb := "Imported"
	if dryRun {
		verb = "Would import"
	}
	if len(found) > 1 {
		fmt.Fprintf(e.stdout, "%s %d of %d lists\n", verb, len(reports), len(found))
		t := newTable(e.stdout, "LIST", "MEMBERS", "OWNERS", "MODERATORS", "NONMEMBERS", "NOT CARRIED")
		for _, r := range reports {
			t.row(r.List, r.Members["member"], r.Members["owner"], r.Members["moderator"], r.Members["nonmember"], len(r.Dropped)+len(r.Skipped))
		}
		return t.flush()
	}
	if len(reports) == 0 {
		return nil
	}
	r := reports[0]
	fmt.Fprintf(e.stdout, "%s %s from %s (strings in %s)\n", verb, r.List, found[0].Path, r.Charset)
	t := newTable(e.stdout, "WHAT", "COUNT")
	t.row("settings", len(r.Settings))
	for _, role := range []store.Role{store.Regular, store.Owner, store.Moderator, store.Nonmember} {
		t.row(string(role)+"s", r.Members[string(role)])
	}
	t.row("bans", r.Bans)
	t.row("acceptable aliases", r.Aliases)
	t.row("header matches", r.Headers)
	t.row("templates", strings.Join(r.Templates, " "))
	if err := t.flush(); err != nil {
		return err
	}
	for role, n := range r.Existing {
		if n > 0 {
			fmt.Fprintf(e.stdout, "%d %s(s) already there, left as they were\n", n, role)
		}
	}
	if len(r.Dropped)+len(r.Skipped) > 0 {
		fmt.Fprintln(e.stdout, "\nNot imported:")
		t := newTable(e.stdout, "KEY", "WHY")
		for _, d := range append(r.Dropped, r.Skipped...) {
			t.row(d.Key, d.Why)
		}
		return t.flush()
	}
	return nil
}
