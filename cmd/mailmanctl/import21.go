package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailman-go/mailman/lifecycle"
	"github.com/mailman-go/mailman/migrate"
	"github.com/mailman-go/mailman/store"
)

// cmdImport21 is Mailman's `mailman import21 LIST config.pck`: a Mailman
// 2.1 list's settings, rosters and texts brought into LIST (created when
// there is none), through migrate.Import21; --dry-run reads and reports
// only.
func cmdImport21(e *env, args []string) error {
	fs, cfgPath := e.flags("import21")
	dryRun := fs.Bool("dry-run", false, "read the file and show what would be imported; change nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usagef("need a list address and a Mailman 2.1 config.pck")
	}
	address, err := store.ParseListAddress(rest[0])
	if err != nil {
		return usageError{err.Error()}
	}
	f, err := os.Open(rest[1])
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := migrate.ReadConfig21(f)
	if err != nil {
		return fmt.Errorf("%s: %w", rest[1], err)
	}
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return err
	}
	// As lists create: the import may be what makes a new site's store;
	// a dry run reads the file alone.
	var st *store.Store
	if !*dryRun {
		if st, err = store.Open(context.Background(), cfg.Database.URL, cfg.VarDir()); err != nil {
			return err
		}
		defer st.Close()
	}
	o := migrate.Options21{DryRun: *dryRun, TemplateDir: filepath.Join(cfg.VarDir(), "templates", "lists"),
		// As lists create makes a list: with the mail server's maps.
		Create: func(ctx context.Context, n store.NewList) (*store.List, error) {
			l, warning, err := lifecycle.Create(ctx, cfg, st, n)
			e.warn(warning)
			return l, err
		}}
	if isTerminal(e.stderr) {
		o.Progress = func(done int) { fmt.Fprintf(e.stderr, "\rimporting members: %d", done) }
		defer fmt.Fprint(e.stderr, "\r\033[K")
	}
	r, err := migrate.Import21(context.Background(), st, address, c, o)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, r)
	}
	verb := "Imported"
	if *dryRun {
		verb = "Would import"
	}
	fmt.Fprintf(e.stdout, "%s %s from %s (strings in %s)\n", verb, r.List, rest[1], r.Charset)
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
