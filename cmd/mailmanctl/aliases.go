package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/store"
)

// cmdAliases writes the maps even when [mta] incoming is "none": a
// postmaster who asks for them wants them (Postfix's, then).
func cmdAliases(e *env, args []string) error {
	fs, cfgPath := e.flags("aliases")
	dir := fs.String("directory", "", "write the files here instead of var_dir/data")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, st, err := e.openSite(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	addrs, err := postingAddresses(st)
	if err != nil {
		return err
	}
	w, err := mta.WriteMaps(cfg, *dir, addrs, time.Now())
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

// postingAddresses are those of every list in st.
func postingAddresses(st *store.Store) ([]string, error) {
	ls, err := st.Lists(context.Background())
	if err != nil {
		return nil, err
	}
	addrs := make([]string, len(ls))
	for i, l := range ls {
		addrs[i] = l.PostingAddress
	}
	return addrs, nil
}
