package mta

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
)

var lists = []string{"test@example.com", "Other.List@example.org", "test@example.com"}

// The regexp table routes each list address, its sub-addresses and their
// +TOKEN forms, in any case, and nothing else; Postfix's regexp tables are
// case-insensitive, as (?i) makes Go's.
func TestPostfixRegex(t *testing.T) {
	dir := t.TempDir()
	p := Postfix{Dir: dir, LMTPHost: "127.0.0.1", LMTPPort: 8024, FileType: "regex"}
	w, err := p.Write(lists, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if w.Postmap || w.Warning != "" || len(w.Files) != 2 {
		t.Errorf("Write = %+v; a regexp table needs no postmap", w)
	}
	table := parseRegexTable(t, filepath.Join(dir, TransportFile))
	for _, c := range []struct {
		addr, want string
	}{
		{"test@example.com", "lmtp:[127.0.0.1]:8024"},
		{"TEST@Example.COM", "lmtp:[127.0.0.1]:8024"},
		{"test-bounces@example.com", "lmtp:[127.0.0.1]:8024"},
		{"test-bounces+anne=example.org@example.com", "lmtp:[127.0.0.1]:8024"},
		{"test-confirm+0123abcd@example.com", "lmtp:[127.0.0.1]:8024"},
		{"test-unsubscribe@example.com", "lmtp:[127.0.0.1]:8024"},
		{"other.list-request@example.org", "lmtp:[127.0.0.1]:8024"},
		{"test-bogus@example.com", ""},
		{"test@example.org", ""},
		{"otherxlist@example.org", ""}, // the dot is quoted
		{"atest@example.com", ""},
		{"test@example.com.evil", ""},
	} {
		if got := table.lookup(c.addr); got != c.want {
			t.Errorf("transport for %s = %q, want %q", c.addr, got, c.want)
		}
	}
	domains := parseRegexTable(t, filepath.Join(dir, DomainsFile))
	if len(domains) != 2 || domains.lookup("example.org") != "example.org" || domains.lookup("example.net") != "" {
		t.Errorf("domains table: %v", domains)
	}
}

type regexTable []struct {
	re    *regexp.Regexp
	value string
}

func (rt regexTable) lookup(key string) string {
	for _, r := range rt {
		if r.re.MatchString(key) {
			return r.value
		}
	}
	return ""
}

func parseRegexTable(t *testing.T, file string) regexTable {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rt regexTable
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pattern, value, ok := strings.Cut(line, "\t")
		if !ok || !strings.HasPrefix(pattern, "/") || !strings.HasSuffix(pattern, "/") {
			t.Fatalf("%s: not a regexp table line: %q", file, line)
		}
		re, err := regexp.Compile("(?i)" + pattern[1:len(pattern)-1])
		if err != nil {
			t.Fatalf("%s: %q: %v", file, line, err)
		}
		rt = append(rt, struct {
			re    *regexp.Regexp
			value string
		}{re, value})
	}
	return rt
}

// A hash table is built with the real postmap, and Postfix's own lookup
// (postmap -q) finds what the runner must get. (The +TOKEN forms are found
// by Postfix itself through recipient_delimiter; test/postfix_test.go
// shows them delivered.)
func TestPostfixHashWithPostmap(t *testing.T) {
	postmap, err := exec.LookPath("postmap")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("postmap is not installed; .ci/run installs postfix")
		}
		t.Skip("postmap is not installed (apt-get install postfix)")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "postfix")
	os.MkdirAll(conf, 0o755)
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), []byte("compatibility_level = 3.6\nrecipient_delimiter = +\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := Postfix{Dir: filepath.Join(dir, "data"), LMTPHost: "127.0.0.1", LMTPPort: 8024, FileType: "hash", Postmap: postmap + " -c " + conf}
	w, err := p.Write(lists, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !w.Postmap || w.Warning != "" {
		t.Errorf("Write = %+v, want postmap run", w)
	}
	for _, c := range []struct{ key, want string }{
		{"test@example.com", "lmtp:[127.0.0.1]:8024"},
		{"test-join@example.com", "lmtp:[127.0.0.1]:8024"},
		{"other.list-owner@example.org", "lmtp:[127.0.0.1]:8024"},
		{"test-bogus@example.com", ""},
	} {
		out, _ := exec.Command(postmap, "-c", conf, "-q", c.key, "hash:"+filepath.Join(p.Dir, TransportFile)).Output()
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("postmap -q %s = %q, want %q", c.key, got, c.want)
		}
	}
	out, _ := exec.Command(postmap, "-c", conf, "-q", "example.org", "hash:"+filepath.Join(p.Dir, DomainsFile)).Output()
	if strings.TrimSpace(string(out)) != "example.org" {
		t.Errorf("domains: postmap -q example.org = %q", out)
	}
}

// Without postmap the text is written and the postmaster told what to run;
// a postmap that fails is an error that names it.
func TestPostfixPostmapMissingOrFailing(t *testing.T) {
	dir := t.TempDir()
	p := Postfix{Dir: dir, LMTPHost: "127.0.0.1", LMTPPort: 8024, FileType: "hash", Postmap: filepath.Join(dir, "no-postmap")}
	w, err := p.Write(lists, time.Now())
	if err != nil || w.Postmap || !strings.Contains(w.Warning, "run postmap on "+filepath.Join(dir, TransportFile)) {
		t.Errorf("Write without postmap = %+v, %v", w, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, TransportFile)); err != nil || !strings.Contains(string(b), "test-confirm@example.com") {
		t.Errorf("the text table: %v %q", err, b)
	}
	p.Postmap = "false"
	if _, err := p.Write(lists, time.Now()); !errors.Is(err, ErrPostmap) || !strings.Contains(err.Error(), "false hash:"+filepath.Join(dir, TransportFile)) {
		t.Errorf("Write with a failing postmap: %v, want ErrPostmap naming it", err)
	}
	p.FileType = "btree"
	if _, err := p.Write(lists, time.Now()); err == nil {
		t.Error("Write took transport_file_type btree")
	}
}

// ListsChanged writes the maps only when [mta] incoming asks for them.
func TestListsChanged(t *testing.T) {
	for _, tt := range []struct {
		incoming string
		files    int
	}{{"postfix", 2}, {"exim", 1}, {"none", 0}} {
		t.Run(tt.incoming, func(t *testing.T) {
			cfg := config.Default()
			cfg.PathSettings.VarDir = t.TempDir()
			cfg.MTA.Incoming, cfg.MTA.TransportFileType = tt.incoming, "regex"
			w, err := ListsChanged(cfg, lists, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(cfg.Paths().Data)
			if len(w.Files) != tt.files || len(entries) != tt.files {
				t.Errorf("wrote %v, data holds %d files; want %d", w.Files, len(entries), tt.files)
			}
		})
	}
}
