package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The Postfix maps follow the lists: written on create and remove when
// [mta] incoming is postfix, and by `aliases` always; with incoming none,
// creating a list writes nothing; with exim, both write Exim's list file.
func TestAliases(t *testing.T) {
	c := newCtl(t)
	transport := filepath.Join(c.dir, "var", "data", "postfix_lmtp")
	domains := filepath.Join(c.dir, "var", "data", "postfix_domains")
	read := func(f string) string {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	c.check("", []string{"lists", "create", "test@example.com"}, exitOK, "Created mailing list")
	c.check("", []string{"lists", "create", "ann@lists.example.org"}, exitOK, "Created mailing list")
	if m := read(transport); !strings.Contains(m, `/^test(-(bounces|confirm|join|leave|owner|request|subscribe|unsubscribe))?(\+.*)?@example\.com$/`+"\tlmtp:[127.0.0.1]:8024") ||
		!strings.Contains(m, "@lists\\.example\\.org$/") {
		t.Errorf("transport map after two creates:\n%s", m)
	}
	c.check("", []string{"lists", "remove", "test@example.com"}, exitOK, "Removed list")
	if m := read(transport); strings.Contains(m, "^test") {
		t.Errorf("transport map still routes a removed list:\n%s", m)
	}
	if d := read(domains); !strings.Contains(d, "lists.example.org") || strings.Contains(d, "/^example") {
		t.Errorf("domains map after the remove:\n%s", d)
	}

	elsewhere := filepath.Join(c.dir, "maps")
	code, out, _ := c.run("", "aliases", "--directory", elsewhere)
	if code != exitOK || !strings.Contains(out, "Wrote "+filepath.Join(elsewhere, "postfix_lmtp")) {
		t.Errorf("aliases --directory: %d %q", code, out)
	}
	c.check("", []string{"aliases", "extra"}, exitUsage, "")

	none := newCtl(t)
	if err := os.WriteFile(none.config, []byte("[paths]\nvar_dir = \"var\"\n[mta]\nincoming = \"none\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	none.check("", []string{"lists", "create", "test@example.com"}, exitOK, "Created mailing list")
	if _, err := os.Stat(filepath.Join(none.dir, "var", "data", "postfix_lmtp")); !os.IsNotExist(err) {
		t.Errorf("incoming none, yet a transport map: %v", err)
	}

	// With incoming exim, Exim's list file instead, by both.
	exim := newCtl(t)
	if err := os.WriteFile(exim.config, []byte("[paths]\nvar_dir = \"var\"\n[mta]\nincoming = \"exim\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exim.check("", []string{"lists", "create", "test@example.com"}, exitOK, "Created mailing list")
	if m := read(filepath.Join(exim.dir, "var", "data", "exim_lists")); !strings.Contains(m, "\ntest-confirm@example.com: test@example.com\n") {
		t.Errorf("exim list file after a create:\n%s", m)
	}
	if _, err := os.Stat(filepath.Join(exim.dir, "var", "data", "postfix_lmtp")); !os.IsNotExist(err) {
		t.Errorf("incoming exim, yet a Postfix map: %v", err)
	}
	exim.check("", []string{"aliases"}, exitOK, "Wrote "+filepath.Join(exim.dir, "var", "data", "exim_lists"))
	// A maps_group the maps cannot be given to: the list is not made, and
	// the command says what is wrong.
	if err := os.WriteFile(exim.config, []byte("[paths]\nvar_dir = \"var\"\n[mta]\nincoming = \"exim\"\nmaps_group = \"no-such-group-here\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exim.check("", []string{"lists", "create", "other@example.com"}, exitError, "other@example.com was not created: the mail server's maps could not be brought up to date: maps_group")

	// A postmap that fails (Postfix installed, not configured): the list
	// and its maps go together, so the list is not made, and the text map
	// is as it was; a remove is done and says what the maps still do.
	bad := newCtl(t)
	cfg := "[paths]\nvar_dir = \"var\"\n[mta]\npostmap_command = \"%s\"\n"
	if err := os.WriteFile(bad.config, []byte(fmt.Sprintf(cfg, "true")), 0o644); err != nil {
		t.Fatal(err)
	}
	bad.check("", []string{"lists", "create", "old@example.com"}, exitOK, "Created mailing list")
	if err := os.WriteFile(bad.config, []byte(fmt.Sprintf(cfg, "false")), 0o644); err != nil {
		t.Fatal(err)
	}
	bad.check("", []string{"lists", "create", "test@example.com"}, exitError, "test@example.com was not created: the mail server's maps could not be brought up to date: postmap failed")
	if code, out, _ := bad.run("", "lists", "list"); code != exitOK || strings.Contains(out, "test@example.com") {
		t.Errorf("lists list after a failed create: %d\n%s", code, out)
	}
	if m := read(filepath.Join(bad.dir, "var", "data", "postfix_lmtp")); strings.Contains(m, "test@example.com") || !strings.Contains(m, "old@example.com") {
		t.Errorf("transport map after a failed create:\n%s", m)
	}
	code, out, errOut := bad.run("", "lists", "remove", "old@example.com")
	if code != exitError || !strings.Contains(out, "Removed list: old@example.com") ||
		!strings.Contains(errOut, "old@example.com is removed, with its members and held messages, but the mail server's maps could not be brought up to date: they still route its addresses") ||
		!strings.Contains(errOut, "550 5.1.1 until mailmanctl aliases is run") {
		t.Errorf("lists remove with postmap failing: exit %d\n%s%s", code, out, errOut)
	}
}
