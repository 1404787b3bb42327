package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mailman-go/mailman/lifecycle"
	"github.com/mailman-go/mailman/oneclick"
	"github.com/mailman-go/mailman/store"
)

// siteFiles are the files of var_dir a dump carries beside the database:
// the one-click link keys, without which the links already sent stop
// working. By the name the dump gives each.
func siteFiles(varDir string) map[string]string {
	return map[string]string{"oneclick-keys": oneclick.KeysFile(varDir)}
}

// cmdExport writes the whole site (store.Dump, with siteFiles) as JSON to
// standard output or -o FILE: a backup, or the way from SQLite to
// PostgreSQL with import json.
func cmdExport(e *env, args []string) error {
	fs, cfgPath := e.flags("export")
	out := fs.String("o", "", "write to this file (made with mode 0600: the dump holds password hashes and the link keys) instead of standard output")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, st, err := e.openSite(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	files := map[string]string{}
	for name, path := range siteFiles(cfg.VarDir()) {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		files[name] = string(b)
	}
	if *out == "" {
		return st.Dump(context.Background(), e.stdout, files)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := st.Dump(context.Background(), f, files); err != nil {
		return err
	}
	// A backup is one only once it is on disk.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s\n", *out)
	return nil
}

// cmdImportJSON restores a dump of mailmanctl export into this site,
// which must be new (a store with no list, user or domain), then writes
// the dump's files and the mail server's maps.
func cmdImportJSON(e *env, args []string) error {
	fs, cfgPath := e.flags("import json")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("need the file mailmanctl export wrote (- for standard input)")
	}
	var r io.Reader = e.stdin
	if rest[0] != "-" {
		f, err := os.Open(rest[0])
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
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
	files, err := st.Restore(ctx, r)
	if err != nil {
		return fmt.Errorf("%s: %w", rest[0], err)
	}
	paths := siteFiles(cfg.VarDir())
	for name, content := range files {
		path, ok := paths[name]
		if !ok {
			e.warn(fmt.Sprintf("the dump's file %q is not one this version knows; left out", name))
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return err
		}
	}
	warning, err := lifecycle.SyncMaps(ctx, cfg, st)
	e.warn(warning)
	if err != nil {
		return err
	}
	ls, err := st.Lists(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Restored %d list(s) from %s\n", len(ls), rest[0])
	return nil
}
