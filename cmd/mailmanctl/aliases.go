package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/store"
)

// cmdAliases writes the maps whatever [mta] incoming says: a postmaster who
// asks for them wants them.
func cmdAliases(e *env, args []string) error {
	fs, cfgPath := e.flags("aliases")
	dir := fs.String("directory", "", "write the files here instead of var_dir/data")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := config.FromEnvironment(*cfgPath)
	if err != nil {
		return err
	}
	st, err := store.Open(context.Background(), cfg.Database.URL, cfg.VarDir())
	if err != nil {
		return err
	}
	defer st.Close()
	w, err := writeMaps(cfg, st, *dir)
	if err != nil {
		return err
	}
	for _, f := range w.Files {
		fmt.Fprintf(e.stdout, "Wrote %s\n", f)
	}
	if w.Postmap {
		fmt.Fprintf(e.stdout, "Ran %s on them\n", cfg.MTA.PostmapCommand)
	}
	if w.Warning != "" {
		fmt.Fprintf(e.stderr, "mailmanctl aliases: %s\n", w.Warning)
	}
	return nil
}

// writeMaps writes the Postfix maps of every list in st into dir (by
// default var_dir/data).
func writeMaps(cfg *config.Config, st *store.Store, dir string) (mta.Written, error) {
	ls, err := st.Lists(context.Background())
	if err != nil {
		return mta.Written{}, err
	}
	addrs := make([]string, len(ls))
	for i, l := range ls {
		addrs[i] = l.PostingAddress
	}
	if dir == "" {
		dir = cfg.Paths().Data
	}
	p := mta.Postfix{Dir: dir, LMTPHost: cfg.MTA.LMTPHost, LMTPPort: cfg.MTA.LMTPPort,
		FileType: cfg.MTA.TransportFileType, Postmap: cfg.MTA.PostmapCommand}
	return p.Write(addrs, time.Now())
}

// listsChanged keeps the MTA's maps in step after a list was created or
// removed (what), when [mta] incoming asks for them. The change itself is
// made by then, so a failure here says so.
func listsChanged(e *env, cfg *config.Config, what string, st *store.Store) error {
	if cfg.MTA.Incoming != "postfix" {
		return nil
	}
	w, err := writeMaps(cfg, st, "")
	if err != nil {
		return fmt.Errorf("%s, but the Postfix maps were not written again (run mailmanctl aliases once that is mended): %w", what, err)
	}
	if w.Warning != "" {
		fmt.Fprintf(e.stderr, "mailmanctl: %s\n", w.Warning)
	}
	return nil
}
