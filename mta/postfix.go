package mta

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/internal/atomicfile"
)

// The files Postfix reads, in Postfix.Dir, named as Mailman names them, so
// that a main.cf written for Mailman works unchanged.
const (
	TransportFile = "postfix_lmtp"    // transport_maps and relay_recipient_maps
	DomainsFile   = "postfix_domains" // relay_domains
)

// Postfix writes Postfix's maps of the lists.
type Postfix struct {
	Dir      string // where the files go: <var_dir>/data
	LMTPHost string // [mta] lmtp_host
	LMTPPort int    // [mta] lmtp_port
	FileType string // "hash" or "regex" ([mta] transport_file_type)
	Postmap  string // [mta] postmap_command: run on each hash table written
}

// PostfixFor is the Postfix maps of the site of cfg, written into dir, or
// into var_dir/data when dir is "".
func PostfixFor(cfg *config.Config, dir string) Postfix {
	if dir == "" {
		dir = cfg.Paths().Data
	}
	return Postfix{Dir: dir, LMTPHost: cfg.MTA.LMTPHost, LMTPPort: cfg.MTA.LMTPPort,
		FileType: cfg.MTA.TransportFileType, Postmap: cfg.MTA.PostmapCommand}
}

// ListsChanged keeps the mail server's maps in step after a list was
// created or removed, lists being every list's posting address now: it
// writes the maps [mta] incoming names ("postfix" or "exim"), and does
// nothing (a zero Written) for "none". The CLI and the REST API call it
// after every change to the set of lists.
func ListsChanged(cfg *config.Config, lists []string, now time.Time) (Written, error) {
	if cfg.MTA.Incoming == "none" {
		return Written{}, nil
	}
	return WriteMaps(cfg, "", lists, now)
}

// WriteMaps writes the maps of lists for the MTA [mta] incoming names:
// Exim's list file for "exim", Postfix's maps otherwise (a postmaster who
// asks for maps with incoming "none" gets Postfix's). They go into dir, or
// into var_dir/data when dir is "", where [mta] maps_group, if set, is
// then let in to read them (ShareMaps).
func WriteMaps(cfg *config.Config, dir string, lists []string, now time.Time) (Written, error) {
	var w Written
	var err error
	if cfg.MTA.Incoming == "exim" {
		w, err = Exim{Dir: cmp.Or(dir, cfg.Paths().Data)}.Write(lists, now)
	} else {
		w, err = PostfixFor(cfg, dir).Write(lists, now)
	}
	if err != nil || dir != "" || cfg.MTA.MapsGroup == "" {
		return w, err
	}
	return w, ShareMaps(cfg.VarDir(), cfg.Paths().Data, cfg.MTA.MapsGroup)
}

// Written is what Write did.
type Written struct {
	Files   []string // the text files written
	Postmap bool     // whether postmap built the hash tables
	Warning string   // what the postmaster must do by hand, if anything
}

// ErrPostmap is a postmap that ran and failed: the text files are written
// but Postfix still reads the old tables.
var ErrPostmap = errors.New("postmap failed")

// Write writes the transport and domain maps for lists (posting addresses)
// and, for hash tables, runs postmap on them. Each file is replaced whole
// (written aside, then renamed), so Postfix never reads half a table.
func (p Postfix) Write(lists []string, now time.Time) (Written, error) {
	var w Written
	if p.FileType != "hash" && p.FileType != "regex" {
		return w, fmt.Errorf("transport_file_type %q is not hash or regex", p.FileType)
	}
	if err := os.MkdirAll(p.Dir, 0o750); err != nil {
		return w, fmt.Errorf("write postfix maps: %w", err)
	}
	lists = normalized(lists)
	head := fmt.Sprintf("# Written by mailmanctl on %s; written again whenever a list is\n# created or removed, and by `mailmanctl aliases`. Do not edit it.\n",
		now.UTC().Format(time.RFC3339))
	transport, domains := p.transport(lists), p.domains(lists)
	for _, f := range []struct {
		name string
		body []byte
	}{{TransportFile, transport}, {DomainsFile, domains}} {
		path := filepath.Join(p.Dir, f.name)
		if err := atomicfile.WriteFile(path, append([]byte(head), f.body...), 0o644); err != nil {
			return w, fmt.Errorf("write postfix maps: %w", err)
		}
		w.Files = append(w.Files, path)
	}
	if p.FileType != "hash" {
		return w, nil
	}
	args := strings.Fields(p.Postmap)
	if len(args) == 0 {
		w.Warning = "no postmap_command: run postmap on " + strings.Join(w.Files, " and ")
		return w, nil
	}
	if _, err := exec.LookPath(args[0]); err != nil {
		w.Warning = fmt.Sprintf("%s not found (is Postfix installed?): run postmap on %s", args[0], strings.Join(w.Files, " and "))
		return w, nil
	}
	// One postmap builds every table named.
	for _, f := range w.Files {
		args = append(args, "hash:"+f)
	}
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return w, fmt.Errorf("%w: %s: %v: %s", ErrPostmap, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	w.Postmap = true
	return w, nil
}

func (p Postfix) next() string {
	return "lmtp:[" + p.LMTPHost + "]:" + strconv.Itoa(p.LMTPPort)
}

// transport routes each list address and its sub-addresses to the LMTP
// runner. A hash table lists every address; Postfix finds the +TOKEN forms
// (LIST-confirm+TOKEN@) through recipient_delimiter = +. A regexp table
// has one expression per list that takes them in.
func (p Postfix) transport(lists []string) []byte {
	var b bytes.Buffer
	next := p.next()
	for _, l := range lists {
		local, domain, _ := strings.Cut(l, "@")
		if p.FileType == "regex" {
			fmt.Fprintf(&b, "/^%s(-(%s))?(\\+.*)?@%s$/\t%s\n", regexp.QuoteMeta(local), strings.Join(subaddressNames(), "|"), regexp.QuoteMeta(domain), next)
			continue
		}
		fmt.Fprintf(&b, "%-40s %s\n", l, next)
		for _, sub := range subaddressNames() {
			fmt.Fprintf(&b, "%-40s %s\n", local+"-"+sub+"@"+domain, next)
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// domains lists each domain that has a list, once.
func (p Postfix) domains(lists []string) []byte {
	var ds []string
	for _, l := range lists {
		_, d, _ := strings.Cut(l, "@")
		ds = append(ds, d)
	}
	slices.Sort(ds)
	var b bytes.Buffer
	for _, d := range slices.Compact(ds) {
		if p.FileType == "regex" {
			fmt.Fprintf(&b, "/^%s$/\t%s\n", regexp.QuoteMeta(d), d)
		} else {
			fmt.Fprintf(&b, "%-40s %s\n", d, d)
		}
	}
	return b.Bytes()
}
