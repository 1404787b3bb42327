package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileListNames checks that every command taking a list name refuses
// one that could be used as a path (CVE-2015-2775: Mailman 2 built file
// paths from list names), and that nothing is written outside var_dir.
func TestHostileListNames(t *testing.T) {
	names := []string{"../etc@example.com", "a/b@example.com", "a..b@example.com", "..@example.com", "/etc@example.com", "a\\b@example.com"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c := newCtl(t)
			c.check("", []string{"lists", "create", "good@example.com"}, exitOK, "Created mailing list")
			c.check("", []string{"lists", "create", name}, exitUsage, "is not a list address")
			c.check(message, []string{"inject", "--list", name, "-"}, exitUsage, "is not a list address")
			c.check("", []string{"members", "add", name, "anne@example.com"}, exitUsage, "is not a list address")
			// The refusals left nothing beside the configuration and var_dir.
			entries, err := os.ReadDir(c.dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Name() != "mailman.toml" && e.Name() != "var" {
					t.Errorf("%s appeared beside var_dir", e.Name())
				}
			}
			if leaked, _ := filepath.Glob(filepath.Join(c.dir, "var", "queue", "*", "*")); len(leaked) > 0 {
				t.Errorf("queued despite the refusal: %v", leaked)
			}
			code, out, _ := c.run("", "lists", "list")
			if code != exitOK || strings.Count(out, "@") != 1 {
				t.Errorf("lists after the refusals: %d %q", code, out)
			}
		})
	}
}
