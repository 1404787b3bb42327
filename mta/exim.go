package mta

import (
	"bytes"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailman-go/mailman/internal/atomicfile"
)

// EximFile is the list of every list address Exim's router looks a
// recipient up in (an lsearch file), in Exim.Dir.
const EximFile = "exim_lists"

// Exim writes the file of list addresses an Exim router reads. Exim needs
// no transport in it: the router sends whatever it finds to the LMTP
// runner, so the file is only a key per line (the address, its list after
// the colon for whoever reads it).
type Exim struct {
	Dir string // where the file goes: <var_dir>/data
}

// Write writes EximFile for lists (posting addresses): every posting
// address and its sub-addresses, lower-cased, without +TOKEN forms, which
// the router strips before the lookup. The file is replaced whole.
func (x Exim) Write(lists []string, now time.Time) (Written, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by mailmanctl on %s; written again whenever a list is\n# created or removed, and by `mailmanctl aliases`. Do not edit it.\n",
		now.UTC().Format(time.RFC3339))
	for _, l := range normalized(lists) {
		fmt.Fprintf(&b, "%s: %s\n", l, l)
		for _, sub := range subaddressNames() {
			fmt.Fprintf(&b, "%s: %s\n", Sub(l, sub), l)
		}
	}
	if err := os.MkdirAll(x.Dir, 0o750); err != nil {
		return Written{}, fmt.Errorf("write the exim list file: %w", err)
	}
	path := filepath.Join(x.Dir, EximFile)
	if err := atomicfile.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return Written{}, fmt.Errorf("write the exim list file: %w", err)
	}
	return Written{Files: []string{path}}, nil
}

// normalized is lists lower-cased, sorted, each once.
func normalized(lists []string) []string {
	lists = slices.Clone(lists)
	for i, l := range lists {
		lists[i] = strings.ToLower(l)
	}
	slices.Sort(lists)
	return slices.Compact(lists)
}

// ShareMaps lets group (a name or a number) reach the maps in dir: dir and
// every folder above it up to and including top are given to the group,
// which may list and enter them but never write in them. The maps are
// world-readable already; what else those folders hold (the database, the
// queues, the log) keeps its own group and mode, so the group reads the
// maps and nothing more. An MTA that looks lists up under its own user
// needs this: Debian's Exim verifies recipients as Debian-exim.
func ShareMaps(top, dir, group string) error {
	gid, err := lookupGroup(group)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(top, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("maps_group: %s is not inside %s", dir, top)
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("maps_group: %w", err)
		}
		if err := os.Chown(d, -1, gid); err != nil {
			return fmt.Errorf("maps_group: give %s to group %s (as root: chgrp %s %s): %w", d, group, group, d, err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()&^0o020|0o050); err != nil {
			return fmt.Errorf("maps_group: %w", err)
		}
		if d == filepath.Clean(top) {
			return nil
		}
	}
}

func lookupGroup(group string) (int, error) {
	if gid, err := strconv.Atoi(group); err == nil {
		return gid, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("maps_group: %w", err)
	}
	return strconv.Atoi(g.Gid)
}
