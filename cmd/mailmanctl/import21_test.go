package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImport21Command: mailmanctl import21 reads a 2.1 config.pck into a
// list it makes, reports what it did and what it left (as a table, or
// JSON), and run again adds nothing; a dry run needs no site yet; a file that is no configuration is
// refused with its name.
func TestImport21Command(t *testing.T) {
	c := newCtl(t)
	pck := filepath.Join("..", "..", "migrate", "testdata", "config-features.pck")
	junk := filepath.Join(t.TempDir(), "junk.pck")
	if err := os.WriteFile(junk, []byte("not a pickle"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"import21", "test@example.com", pck, "--dry-run"}, exitOK, "Would import test@example.com"},
		{[]string{"import21", "test@example.com", pck}, exitOK, "members             6"},
		{[]string{"import21", "test@example.com", pck}, exitOK, "6 member(s) already there, left as they were"},
		{[]string{"import21", "test@example.com", pck}, exitOK, "mod_password"},
		{[]string{"members", "list", "test@example.com"}, exitOK, "Dora Digest"},
		{[]string{"lists", "show", "test@example.com"}, exitOK, "wrap_message"},
		{[]string{"import21", "test@example.com", junk}, exitError, "junk.pck: not a Mailman 2.1 list configuration"},
		{[]string{"import21", "test@example.com"}, exitUsage, "need a list address and a Mailman 2.1 config.pck"},
		{[]string{"import21", "not a list", pck}, exitUsage, "is not a list address"},
	}
	for _, st := range steps {
		c.check("", st.args, st.code, st.out)
	}
	code, out, errOut := c.run("", "import21", "other@example.com", pck, "--json")
	if code != exitOK {
		t.Fatal(errOut)
	}
	var r struct {
		Members  map[string]int `json:"members"`
		Dropped  []struct{ Key, Why string }
		Settings map[string]string `json:"settings"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.Members["member"] != 6 || r.Settings["display_name"] != "Test" || len(r.Dropped) == 0 {
		t.Errorf("JSON report %s", strings.TrimSpace(out))
	}
}

// TestImport21All: --all imports every list folder of a 2.1 site, each
// as its folder's name at its host_name, and says so in one line a list;
// a folder without config.pck is no list; an unreadable config.pck stops
// the command before anything is imported, naming the file.
func TestImport21All(t *testing.T) {
	c := newCtl(t)
	pck, err := os.ReadFile(filepath.Join("..", "..", "migrate", "testdata", "config-features.pck"))
	if err != nil {
		t.Fatal(err)
	}
	lists := t.TempDir()
	for _, name := range []string{"test", "Other", "no-config"} {
		if err := os.MkdirAll(filepath.Join(lists, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if name != "no-config" {
			if err := os.WriteFile(filepath.Join(lists, name, "config.pck"), pck, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.check("", []string{"import21", "--all", lists, "--dry-run"}, exitOK, "Would import 2 of 2 lists")
	// The pickle's host_name is heresy.example.org.
	c.check("", []string{"import21", "--all", lists}, exitOK, "other@heresy.example.org  6        2       1           3")
	c.check("", []string{"members", "list", "other@heresy.example.org"}, exitOK, "Dora Digest")
	c.check("", []string{"import21", "--all", lists, "test@example.com"}, exitUsage, "or --all and a lists folder")
	if err := os.MkdirAll(filepath.Join(lists, "bad"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lists, "bad", "config.pck"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.check("", []string{"import21", "--all", lists}, exitError, filepath.Join(lists, "bad", "config.pck")+": not a Mailman 2.1 list configuration")
}
