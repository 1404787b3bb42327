package mta

import (
	"bufio"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
)

// eximKeys reads an Exim list file as Exim's lsearch does: the key ends
// at the first colon or white space; comments and blank lines are not
// keys.
func eximKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.IndexAny(l, ": \t")
		if i < 0 {
			i = len(l)
		}
		keys[l[:i]] = strings.TrimSpace(strings.TrimPrefix(l[i:], ":"))
	}
	return keys
}

// The Exim list file has every list address and sub-address, lower-cased
// and once each, each naming its list, and no +TOKEN form (the router
// strips the suffix before the lookup).
func TestEximWrite(t *testing.T) {
	dir := t.TempDir()
	w, err := Exim{Dir: dir}.Write(lists, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, EximFile)
	if len(w.Files) != 1 || w.Files[0] != path || w.Postmap || w.Warning != "" {
		t.Errorf("Write = %+v", w)
	}
	keys := eximKeys(t, path)
	for addr, list := range map[string]string{
		"test@example.com": "test@example.com", "test-bounces@example.com": "test@example.com",
		"test-confirm@example.com": "test@example.com", "test-unsubscribe@example.com": "test@example.com",
		"other.list@example.org": "other.list@example.org", "other.list-request@example.org": "other.list@example.org",
	} {
		if keys[addr] != list {
			t.Errorf("%s: %q, want %q", addr, keys[addr], list)
		}
	}
	if n := 2 * (1 + len(Subaddresses)); len(keys) != n {
		t.Errorf("%d keys, want %d: %v", len(keys), n, keys)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v; Exim's user must read it", fi.Mode())
	}
}

// maps_group gives var_dir and var_dir/data to the group, searchable and
// listable but not writable by it, leaves the files' groups alone, and
// ListsChanged applies it; a group that does not exist is an error.
func TestShareMaps(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a folder to another group needs root")
	}
	g, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Skip("no group nogroup")
	}
	gid, _ := strconv.Atoi(g.Gid)
	cfg := config.Default()
	cfg.PathSettings.VarDir = filepath.Join(t.TempDir(), "var")
	cfg.MTA.Incoming, cfg.MTA.MapsGroup = "exim", "nogroup"
	if err := os.MkdirAll(cfg.Paths().Data, 0o770); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.VarDir(), 0o770); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(cfg.Paths().Data, "mailman.db")
	if err := os.WriteFile(db, nil, 0o660); err != nil {
		t.Fatal(err)
	}
	if _, err := ListsChanged(cfg, lists, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{cfg.VarDir(), cfg.Paths().Data} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := int(fi.Sys().(*syscall.Stat_t).Gid); got != gid {
			t.Errorf("%s: group %d, want nogroup's %d", d, got, gid)
		}
		if perm := fi.Mode().Perm(); perm&0o070 != 0o050 {
			t.Errorf("%s: mode %v, want the group to read and search, not write", d, perm)
		}
	}
	if fi, _ := os.Stat(db); int(fi.Sys().(*syscall.Stat_t).Gid) == gid {
		t.Error("the database was given to maps_group")
	}
	cfg.MTA.MapsGroup = "no-such-group-here"
	if _, err := ListsChanged(cfg, lists, time.Now()); err == nil || !strings.Contains(err.Error(), "maps_group") {
		t.Errorf("an unknown maps_group: %v", err)
	}
	if err := ShareMaps(cfg.Paths().Data, cfg.VarDir(), "nogroup"); err == nil {
		t.Error("ShareMaps went above its top folder")
	}
}
