package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// domains and users: the model the REST API serves, from the command
// line, through the same store calls.
func TestDomainsAndUsersCommands(t *testing.T) {
	c := newCtl(t)
	for _, s := range []struct {
		stdin string
		args  []string
		code  int
		out   string
	}{
		{"", []string{"domains", "list"}, exitError, "var"},
		// A domain may be the first thing a new site is given.
		{"", []string{"domains", "create", "first.example"}, exitOK, "Created domain: first.example"},
		{"", []string{"lists", "create", "ant@example.com", "--owner", "Olive <owner@example.com>"}, exitOK, "Created mailing list"},
		{"", []string{"domains", "list"}, exitOK, "example.com    1"},
		{"", []string{"domains", "create", "Example.ORG", "--description", "The org"}, exitOK, "Created domain: example.org"},
		{"", []string{"domains", "create", "example.org"}, exitError, "domain already exists"},
		{"", []string{"domains", "create", "not a domain"}, exitUsage, "is not a domain name"},
		{"", []string{"lists", "create", "bee@example.org", "--style", "private-default"}, exitOK, "Created mailing list"},
		{"", []string{"lists", "create", "cat@example.org", "--style", "bogus"}, exitError, "no such style"},
		{"", []string{"domains", "remove", "example.org"}, exitError, "example.org has 1 lists: remove them first"},
		{"", []string{"domains", "remove", "example.org", "--with-lists"}, exitOK, "Removed domain: example.org (and 1 lists)"},
		{"", []string{"lists", "show", "bee@example.org"}, exitError, "no such list"},
		{"", []string{"users", "list"}, exitOK, "owner@example.com"},
		{"s3cret\n", []string{"users", "create", "Sam <sam@example.net>", "--password-file", "-", "--server-owner"}, exitOK, "Created user"},
		{"", []string{"users", "create", "sam@example.net"}, exitError, "address already exists"},
		{"", []string{"users", "show", "SAM@example.net"}, exitOK, "password           set"},
		{"", []string{"users", "show", "sam@example.net"}, exitOK, "is_server_owner    yes"},
		{"", []string{"users", "remove", "nobody@example.net"}, exitError, "no such user"},
		{"", []string{"users", "remove", "sam@example.net"}, exitOK, "Removed user"},
	} {
		c.check(s.stdin, s.args, s.code, s.out)
	}
	_, out, _ := c.run("", "users", "list", "--json")
	var us []userEntry
	if err := json.Unmarshal([]byte(out), &us); err != nil || len(us) != 1 || us[0].DisplayName != "Olive" || len(us[0].UserID) != 32 {
		t.Errorf("users list --json = %s (%v)", out, err)
	}
	if strings.Contains(out, "pbkdf2") || strings.Contains(out, "s3cret") {
		t.Errorf("users list --json shows a password: %s", out)
	}
}
