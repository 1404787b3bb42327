package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners/lmtp"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// ctl runs mailmanctl in-process with a configuration in a temporary folder.
type ctl struct {
	t      *testing.T
	dir    string
	config string
}

func newCtl(t *testing.T) *ctl {
	dir := t.TempDir()
	c := &ctl{t: t, dir: dir, config: filepath.Join(dir, "mailman.toml")}
	if err := os.WriteFile(c.config, []byte("[paths]\nvar_dir = \"var\"\n\n[mta]\ntransport_file_type = \"regex\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// store opens the site's store, for a test to set up what no command
// makes; the caller closes it.
func (c *ctl) store(t *testing.T) *store.Store {
	t.Helper()
	cfg, err := config.Load(c.config)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), cfg.Database.URL, cfg.VarDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// run returns the exit status, standard output and standard error.
func (c *ctl) run(stdin string, args ...string) (int, string, string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	top := []string{"-C", c.config}
	if os.Geteuid() == 0 {
		// In-process: becoming a user would drop the test's own rights.
		top = append(top, "--run-as-root")
	}
	code := run(append(top, args...), &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

// check runs one command and fails the test unless it exits with code and
// prints want (on stdout, or on stderr when code is not 0).
func (c *ctl) check(stdin string, args []string, code int, want string) {
	c.t.Helper()
	got, out, errOut := c.run(stdin, args...)
	text := out
	if got != exitOK {
		text = errOut
	}
	if got != code || !strings.Contains(text, want) {
		c.t.Errorf("mailmanctl %s: exit %d\n%s%s\nwant exit %d and %q", strings.Join(args, " "), got, out, errOut, code, want)
	}
}

func (c *ctl) queue(name string) string { return filepath.Join(c.dir, "var", "queue", name) }

const message = "From: anne@example.com\nMessage-ID: <ant>\nSubject: hi\n\nHello\n"

func TestInjectQueuesQfile(t *testing.T) {
	c := newCtl(t)
	if code, _, errOut := c.run("", "queues"); code != exitError || !strings.Contains(errOut, "nothing has run with this configuration yet") {
		t.Errorf("queues before anything ran: %d %q", code, errOut)
	}
	if code, _, errOut := c.run("", "lists", "create", "test@example.com"); code != exitOK {
		t.Fatal(errOut)
	}
	if code, _, errOut := c.run(message, "inject", "--list", "nope@example.com", "-"); code != exitError || !strings.Contains(errOut, "nope@example.com: no such list") {
		t.Errorf("inject to a list that does not exist: %d %q", code, errOut)
	}
	code, out, errOut := c.run(message, "inject", "--list", "Test@Example.com", "-")
	if code != exitOK {
		t.Fatalf("inject: %d %s", code, errOut)
	}
	name := strings.TrimSpace(out)
	e, err := switchboard.ReadFile(filepath.Join(c.queue("incoming"), name+".msg"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Msgdata.String(msgdata.ListID) != "test.example.com" || !e.Msgdata.Bool(msgdata.ToList) || e.Msgdata.Int(msgdata.OriginalSize) != len(message) {
		t.Errorf("msgdata = %v", e.Msgdata)
	}
	if string(e.Message) != message {
		t.Errorf("message changed: %q", e.Message)
	}

	file := filepath.Join(c.dir, "m.eml")
	os.WriteFile(file, []byte(message), 0o644)
	if code, _, errOut := c.run("", "inject", file, "--queue", "retry"); code != exitOK {
		t.Fatalf("inject FILE --queue retry: %s", errOut)
	}

	code, out, _ = c.run("", "queues", "--json")
	var counts map[string]int
	if err := json.Unmarshal([]byte(out), &counts); code != exitOK || err != nil {
		t.Fatalf("queues --json: %d %v %q", code, err, out)
	}
	want := map[string]int{"incoming": 1, "retry": 1, "command": 0, "pipeline": 0, "outgoing": 0, "virgin": 0, "bounces": 0, "archive": 0, "shunt": 0, "bad": 0}
	for q, n := range want {
		if counts[q] != n {
			t.Errorf("queues --json %s = %d, want %d (%v)", q, counts[q], n, counts)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("queues --json has %d queues: %v", len(counts), counts)
	}
	code, out, _ = c.run("", "queues")
	if code != exitOK || !strings.Contains(out, "QUEUE") || !regexpLine(out, `incoming\s+0\s+1\s+0\s+0\s+0\s+1`) {
		t.Errorf("queues table:\n%s", out)
	}

	code, out, _ = c.run("", "qfile", filepath.Join(c.queue("incoming"), name+".msg"))
	if code != exitOK || !strings.Contains(out, `listid: "test.example.com"`) || !strings.Contains(out, "Message-ID: <ant>") {
		t.Errorf("qfile:\n%s", out)
	}
	code, out, _ = c.run("", "qfile", "--json", filepath.Join(c.queue("incoming"), name+".msg"))
	var q struct {
		Entry   string
		Msgdata map[string]any
		Message string
	}
	if err := json.Unmarshal([]byte(out), &q); code != exitOK || err != nil || q.Entry != name || q.Message != message {
		t.Errorf("qfile --json: %v %q", err, out)
	}
}

func TestCommandErrors(t *testing.T) {
	c := newCtl(t)
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"unknown command", "", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"noun without verb", "", []string{"held"}, exitUsage, "mailmanctl held: need a command: one of these\n  held accept"},
		{"empty message", "", []string{"inject"}, exitError, "the message is empty"},
		{"bad list", message, []string{"inject", "--list", "no-at-sign"}, exitUsage, "is neither a list address"},
		{"list with slash", message, []string{"inject", "--list", "a/b@example.com"}, exitUsage, "is not a list address"},
		{"list-id with slash", message, []string{"inject", "--list", "a/b.example.com"}, exitUsage, "is neither a list address"},
		{"list with dot dot", message, []string{"inject", "--list", "a..b@example.com"}, exitUsage, "is not a list address"},
		{"unknown queue", message, []string{"inject", "--queue", "lmtp"}, exitError, `"lmtp" is not a queue a runner serves`},
		{"inject into shunt", message, []string{"inject", "--queue", "shunt"}, exitError, "not a queue a runner serves"},
		{"path as queue", message, []string{"inject", "--queue", "../../etc"}, exitError, "not a queue a runner serves"},
		{"unknown flag", "", []string{"queues", "--bogus"}, exitUsage, "flag provided but not defined: -bogus"},
		{"qfile without file", "", []string{"qfile"}, exitUsage, "need exactly one queue file"},
		{"qfile of a non-entry", "", []string{"qfile", "/etc/hostname"}, exitError, "not a queue entry"},
		{"unknown runner", "", []string{"runner", "bogus"}, exitUsage, `unknown runner "bogus"`},
		{"bad slice", "", []string{"runner", "retry:2:3"}, exitUsage, "not a power of 2"},
		{"slice out of range", "", []string{"runner", "retry:4:4"}, exitUsage, "slice 4 is not between 0 and 3"},
		{"missing config", "", []string{"-C", "/nonexistent/mailman.toml", "queues"}, exitError, "/nonexistent/mailman.toml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := c.run(tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, tc.code, tc.want)
			}
		})
	}
}

// TestNounHelp: "lists --help" lists the verbs of lists, and only them.
func TestNounHelp(t *testing.T) {
	c := newCtl(t)
	for _, help := range []string{"--help", "-h", "help"} {
		code, out, errOut := c.run("", "lists", help)
		if code != exitOK || errOut != "" {
			t.Fatalf("lists %s: exit %d, stderr %q", help, code, errOut)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "lists ") {
				t.Errorf("lists %s: %q is no lists command", help, line)
			}
		}
		if !strings.Contains(out, "lists create") || !strings.Contains(out, "lists remove") {
			t.Errorf("lists %s: verbs missing:\n%s", help, out)
		}
	}
}

// TestInjectMetadata: inject starts an entry as the LMTP door would have,
// for the sub-address whose mail goes to the queue.
func TestInjectMetadata(t *testing.T) {
	c := newCtl(t)
	if code, _, errOut := c.run("", "lists", "create", "test@example.com"); code != exitOK {
		t.Fatal(errOut)
	}
	tests := []struct {
		queue string
		want  map[string]string // keys and their JSON values; "" for a key that must be missing
	}{
		{"incoming", map[string]string{msgdata.ListID: `"test.example.com"`, msgdata.ToList: "true", msgdata.Subaddress: ""}},
		{"command", map[string]string{msgdata.ListID: `"test.example.com"`, msgdata.ToRequest: "true", msgdata.Subaddress: `"request"`}},
		{"bounces", map[string]string{msgdata.Subaddress: `"bounces"`, msgdata.ToList: ""}},
		{"pipeline", map[string]string{msgdata.ListID: `"test.example.com"`, msgdata.ToList: "", msgdata.Subaddress: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.queue, func(t *testing.T) {
			code, out, errOut := c.run(message, "inject", "--queue", tt.queue, "--list", "test@example.com")
			if code != exitOK {
				t.Fatal(errOut)
			}
			e, err := switchboard.ReadFile(filepath.Join(c.queue(tt.queue), strings.TrimSpace(out)+".msg"))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if got := string(e.Msgdata[k]); got != v {
					t.Errorf("%s = %s, want %q", k, got, v)
				}
			}
			if e.Msgdata.Int(msgdata.OriginalSize) != len(message) || e.Msgdata.String(msgdata.ReceivedTime) == "" {
				t.Errorf("msgdata = %v: no size or time", e.Msgdata)
			}
		})
	}
}

// TestQueuesCountsTheJournal: what the LMTP runner acknowledged and a
// crash left only in its journal is counted by queues (the master puts it
// in its queue at the next start).
func TestQueuesCountsTheJournal(t *testing.T) {
	const n = 5
	if varDir := os.Getenv("QUEUES_JOURNAL_VAR_DIR"); varDir != "" {
		journalAndDie(varDir, n)
	}
	c := newCtl(t)
	cfg, err := config.Load(c.config)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestQueuesCountsTheJournal$")
	cmd.Env = append(os.Environ(), "QUEUES_JOURNAL_VAR_DIR="+cfg.VarDir())
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the journal's writer: %v, want killed by SIGKILL\n%s", err, out)
	}
	code, js, _ := c.run("", "queues", "--json")
	var counts map[string]int
	if err := json.Unmarshal([]byte(js), &counts); code != exitOK || err != nil {
		t.Fatalf("queues --json: %d %v %q", code, err, js)
	}
	if counts["incoming"] != n {
		t.Errorf("queues --json counts %d in incoming, want the %d acknowledged", counts["incoming"], n)
	}
	if code, table, _ := c.run("", "queues"); code != exitOK || !regexpLine(table, fmt.Sprintf(`incoming\s+%d\s+0\s+0\s+0\s+0\s+%d`, n, n)) {
		t.Errorf("queues table:\n%s", table)
	}
}

// journalAndDie is the LMTP runner acknowledging n posts, then killed
// before its journal writes them to their queue.
func journalAndDie(varDir string, n int) {
	paths := config.PathsIn(varDir)
	queues := map[string]*switchboard.Switchboard{}
	for _, name := range lmtp.Queues {
		q, err := switchboard.Open(paths.Queues, name)
		if err != nil {
			os.Exit(2)
		}
		queues[name] = q
	}
	j, err := switchboard.OpenJournal(paths.LMTPJournal, switchboard.DefaultJournalSize, queues, func(error) {})
	if err != nil {
		os.Exit(2)
	}
	for range n {
		// It returns once the record is durable, as a 250 does.
		if _, err := j.Enqueue("incoming", []byte(message), switchboard.Msgdata{}); err != nil {
			os.Exit(2)
		}
	}
	// The journal gathers its writes to the queues for a few milliseconds
	// first: the entries are in the journal alone now.
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
}

func TestVersion(t *testing.T) {
	c := newCtl(t)
	c.check("", []string{"version"}, exitOK, "mailmanctl ")
	c.check("", []string{"version", "extra"}, exitUsage, `unexpected argument "extra"`)
	if _, out, _ := c.run("", "help"); !strings.Contains(out, "version") {
		t.Errorf("help does not list version:\n%s", out)
	}
}

func TestUnshuntCommand(t *testing.T) {
	c := newCtl(t)
	root := filepath.Join(c.dir, "var", "queue")
	shunt, err := switchboard.Open(root, "shunt")
	if err != nil {
		t.Fatal(err)
	}
	defer shunt.Close()
	for _, whichq := range []string{"pipeline", "nonsense"} {
		md := switchboard.Msgdata{}
		md.Set(msgdata.WhichQ, whichq)
		md.Set(msgdata.Error, "borked")
		if _, err := shunt.Enqueue([]byte(message), md); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := c.run("", "unshunt")
	if code != exitError || !strings.Contains(out, "-> pipeline") || !strings.Contains(errOut, `whichq "nonsense"`) || !strings.Contains(errOut, "1 of 2 entries stayed in shunt") {
		t.Errorf("unshunt: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := c.run("", "unshunt", "--discard"); code != exitOK || !strings.Contains(out, "discarded") {
		t.Errorf("unshunt --discard: %d %s", code, out)
	}
	code, out, _ = c.run("", "queues", "--json")
	if code != exitOK || !strings.Contains(out, `"pipeline": 1`) || !strings.Contains(out, `"shunt": 0`) {
		t.Errorf("after unshunt: %s", out)
	}
}

func regexpLine(text, pattern string) bool {
	for _, line := range strings.Split(text, "\n") {
		if regexp.MustCompile("^" + pattern + "$").MatchString(strings.TrimSpace(line)) {
			return true
		}
	}
	return false
}

// queues says how many posts each archiver has yet to take again.
func TestQueuesShowsTheArchiveBacklog(t *testing.T) {
	c := newCtl(t)
	cfg, err := config.Load(c.config)
	if err != nil {
		t.Fatal(err)
	}
	q, err := switchboard.Open(cfg.Paths().Queues, "archive")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i, names := range [][]string{{"hyperkitty"}, {"hyperkitty", "prototype"}, nil} {
		md := switchboard.Msgdata{}
		md.Set(msgdata.ListID, "ant.example.com")
		if names != nil {
			md.Set(msgdata.Archivers, names)
			md.Set(msgdata.ArchiveAttempts, i+1)
		}
		if _, err := q.EnqueueAt(time.Now().Add(time.Hour), []byte("Subject: x\r\n\r\nx\r\n"), md); err != nil {
			t.Fatal(err)
		}
	}
	code, js, _ := c.run("", "queues", "--json")
	var counts map[string]int
	if err := json.Unmarshal([]byte(js), &counts); code != exitOK || err != nil || counts["archive"] != 3 || counts["archive/hyperkitty"] != 2 || counts["archive/prototype"] != 1 {
		t.Errorf("queues --json: %d %v %s", code, err, js)
	}
	if code, table, _ := c.run("", "queues"); code != exitOK || !strings.Contains(table, "archiver hyperkitty: 2 posts waiting") {
		t.Errorf("queues table:\n%s", table)
	}
}
