package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadingCreatesNothing: a command that only reads, run where no site
// is (no -C, the wrong folder), says where it looked and leaves no var/
// behind; lists create makes the site.
func TestReadingCreatesNothing(t *testing.T) {
	for _, args := range [][]string{
		{"lists", "list"}, {"lists", "show", "test@example.com"}, {"members", "list", "test@example.com"},
		{"held", "list"}, {"held", "list", "test.example.com"}, {"held", "show", "1"}, {"bans", "list"},
		{"queues"}, {"aliases"}, {"members", "add", "test@example.com", "anne@example.com"}, {"held", "discard", "1"},
		{"lists", "remove", "test@example.com"}, {"inject", "--list", "test@example.com"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			c := newCtl(t)
			code, _, errOut := c.run(message, args...)
			if code != exitError || !strings.Contains(errOut, filepath.Join(c.dir, "var")) {
				t.Errorf("exit %d, stderr %q; want exit %d naming var_dir", code, errOut, exitError)
			}
			if _, err := os.Stat(filepath.Join(c.dir, "var")); !os.IsNotExist(err) {
				t.Errorf("var/ after a command that changed nothing: %v", err)
			}
		})
	}
	c := newCtl(t)
	c.check("", []string{"lists", "create", "test@example.com"}, exitOK, "Created mailing list")
	c.check("", []string{"lists", "list"}, exitOK, "test@example.com")
}

func TestListsCommands(t *testing.T) {
	c := newCtl(t)
	steps := []struct {
		args []string
		code int
		out  string // in stdout (or stderr when the exit status is not 0)
	}{
		{[]string{"lists", "create", "Test@Example.com", "--owner", "Anne <anne@example.com>", "--owner", "bart@example.com"}, exitOK, "Created mailing list: test@example.com"},
		{[]string{"lists", "create", "test@example.com"}, exitError, "test@example.com: list already exists"},
		{[]string{"lists", "create", "other@example.org", "--display-name", "The Other List"}, exitOK, "Created mailing list: other@example.org"},
		{[]string{"lists", "create", "bad..name@example.com"}, exitUsage, "is not a list address"},
		{[]string{"lists", "create", "../etc@example.com"}, exitUsage, "is not a list address"},
		{[]string{"lists", "create", "x@example.com", "--owner", "not an address"}, exitError, "owner: invalid address"},
		{[]string{"lists", "show", "x@example.com"}, exitError, "x@example.com: no such list"},
		{[]string{"lists", "list"}, exitOK, "other@example.org  other.example.org  The Other List"},
		{[]string{"lists", "show", "test@example.com"}, exitOK, "default_nonmember_action                   hold"},
		{[]string{"lists", "show", "Test.Example.com"}, exitOK, "default_nonmember_action                   hold"},
		{[]string{"lists", "show", "test.example.org"}, exitError, "list-id test.example.org: no such list"},
		{[]string{"lists", "show", "test"}, exitUsage, "is neither a list address (name@domain) nor a list-id"},
		{[]string{"lists", "create", "new.example.com"}, exitUsage, `"new.example.com" is not a list address`},
		{[]string{"lists", "show", "test@example.com"}, exitOK, "automatic_post_action                      hold"},
		{[]string{"lists", "show", "test@example.com"}, exitOK, "bounce_you_are_disabled_warnings_interval  7 days"},
		// Every setting the REST API has, too.
		{[]string{"lists", "show", "test@example.com"}, exitOK, "archive_policy                             public"},
		{[]string{"lists", "set", "test@example.com", "emergency", "yes"}, exitOK, ""},
		{[]string{"lists", "set", "test@example.com", "max_message_size", "--", "-3"}, exitError, "bad value for max_message_size"},
		{[]string{"lists", "set", "test@example.com", "subscription_policy", "sometimes"}, exitError, `"sometimes" is not one of open, confirm, moderate, confirm_then_moderate`},
		{[]string{"lists", "set", "test@example.com", "colour", "blue"}, exitError, `unknown setting "colour"`},
		{[]string{"lists", "set", "test@example.com", "emergency"}, exitUsage, "need a list address, a setting and a value"},
		{[]string{"lists", "set", "nope@example.com", "emergency", "no"}, exitError, "no such list"},
		{[]string{"lists", "remove", "other.example.org"}, exitOK, "Removed list: other@example.org"},
		{[]string{"lists", "remove", "other@example.org"}, exitError, "no such list"},
	}
	for _, st := range steps {
		c.check("", st.args, st.code, st.out)
	}
	code, out, _ := c.run("", "lists", "show", "test@example.com", "--json")
	var shown []map[string]any
	if err := json.Unmarshal([]byte(out), &shown); code != exitOK || err != nil || len(shown) != 1 {
		t.Fatalf("lists show --json: %v %q", err, out)
	}
	if shown[0]["emergency"] != true || shown[0]["list_id"] != "test.example.com" || shown[0]["subject_prefix"] != "[Test] " {
		t.Errorf("lists show --json: %v", shown[0])
	}
	code, out, _ = c.run("", "lists", "list", "--json")
	var lists []map[string]any
	if err := json.Unmarshal([]byte(out), &lists); code != exitOK || err != nil || len(lists) != 1 || lists[0]["posting_address"] != "test@example.com" {
		t.Errorf("lists list --json: %v %q", err, out)
	}
	code, out, _ = c.run("", "members", "list", "test@example.com", "--role", "owner", "--json")
	var owners []map[string]any
	if err := json.Unmarshal([]byte(out), &owners); code != exitOK || err != nil || len(owners) != 2 || owners[0]["display_name"] != "Anne" {
		t.Errorf("owners: %v %q", err, out)
	}
}

func TestMembersCommands(t *testing.T) {
	c := newCtl(t)
	c.run("", "lists", "create", "test@example.com")
	file := filepath.Join(c.dir, "members.txt")
	var lines []string
	for i := range 1500 {
		lines = append(lines, fmt.Sprintf("Member %d <m%d@example.com>", i, i))
	}
	os.WriteFile(file, []byte("# subscribers\n\n"+strings.Join(lines, "\n")+"\n"), 0o644)
	steps := []struct {
		stdin string
		args  []string
		code  int
		out   string
	}{
		{"", []string{"members", "add", "test@example.com", "anne@example.com", "Bart <BART@Example.COM>"}, exitOK, "Added 2 member(s) to test@example.com"},
		{"", []string{"members", "add", "test@example.com", "anne@example.com", "cris@example.com"}, exitOK, "Added 1 member(s) to test@example.com; 1 already there"},
		{"", []string{"members", "add", "test@example.com", "anne@example.com", "--role", "moderator"}, exitOK, "Added 1 moderator(s)"},
		{"", []string{"members", "add", "test@example.com", "dave@example.com", "bogus"}, exitError, `invalid address: "bogus"`},
		{"", []string{"members", "add", "test@example.com", "x@example.com", "--role", "king"}, exitUsage, `unknown role "king"`},
		{"", []string{"members", "add", "nope@example.com", "x@example.com"}, exitError, "nope@example.com: no such list"},
		{"", []string{"members", "add", "test@example.com"}, exitUsage, "need a list address and addresses"},
		{"", []string{"members", "add", "test@example.com", "--file", file}, exitOK, "Added 1500 member(s)"},
		{"erin@example.com\n# comment\nfrank@example.com\n", []string{"members", "add", "test@example.com", "--file", "-"}, exitOK, "Added 2 member(s)"},
		{"", []string{"members", "remove", "test@example.com", "cris@example.com"}, exitOK, "Removed 1 member(s)"},
		{"", []string{"members", "remove", "test@example.com", "anne@example.com", "cris@example.com"}, exitError, "cris@example.com is not a member of test@example.com"},
		{"", []string{"members", "list", "test@example.com", "--role", "moderator"}, exitOK, "anne@example.com"},
	}
	for _, st := range steps {
		c.check(st.stdin, st.args, st.code, st.out)
	}
	// Nothing was half-written: the failed batch with "bogus" added no dave,
	// and the failed removal kept anne.
	code, out, _ := c.run("", "members", "list", "test@example.com", "--role", "member", "--json")
	var ms []map[string]any
	if err := json.Unmarshal([]byte(out), &ms); code != exitOK || err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range ms {
		got[m["address"].(string)] = true
	}
	if len(ms) != 2+1500+2 || !got["anne@example.com"] || !got["BART@example.com"] || got["dave@example.com"] || got["cris@example.com"] {
		t.Errorf("%d members; anne %v BART %v dave %v cris %v", len(ms), got["anne@example.com"], got["BART@example.com"], got["dave@example.com"], got["cris@example.com"])
	}
	code, out, _ = c.run("", "members", "list", "test@example.com", "--role", "moderator")
	if code != exitOK || !strings.Contains(out, "ADDRESS") || !strings.Contains(out, "moderator") {
		t.Errorf("members list table:\n%s", out)
	}
}
