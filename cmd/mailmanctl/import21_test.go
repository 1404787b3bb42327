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
