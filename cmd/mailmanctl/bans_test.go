package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestBansCommands(t *testing.T) {
	c := newCtl(t)
	if code, _, errOut := c.run("", "lists", "create", "test@example.com"); code != exitOK {
		t.Fatal(errOut)
	}
	if code, _, errOut := c.run("", "lists", "create", "other@example.org"); code != exitOK {
		t.Fatal(errOut)
	}
	steps := []struct {
		args []string
		code int
		out  string // in stdout (or stderr when the exit status is not 0)
	}{
		{[]string{"bans", "list"}, exitOK, "No site-wide bans"},
		{[]string{"bans", "list", "test@example.com"}, exitOK, "No bans for test@example.com"},
		{[]string{"bans", "add", "test@example.com", "Anne@Example.com"}, exitOK, "Banned Anne@Example.com from test@example.com"},
		{[]string{"bans", "add", "test@example.com", "anne@example.com"}, exitOK, "Banned anne@example.com from test@example.com"}, // again: no error
		{[]string{"bans", "add", "Test@Example.com", `^.*@spam\.example$`}, exitOK, `Banned ^.*@spam\.example$ from test@example.com`},
		{[]string{"bans", "add", "--site", "mallory@example.net"}, exitOK, "Banned mallory@example.net from every list"},
		{[]string{"bans", "add", "^bot-[0-9]+@", "--site"}, exitOK, "Banned ^bot-[0-9]+@ from every list"},
		{[]string{"bans", "add", "other@example.org", "carl@example.com"}, exitOK, "Banned carl@example.com from other@example.org"},
		{[]string{"bans", "add", "test@example.com", "^(unclosed"}, exitError, `bad value: ban pattern "^(unclosed" is not a valid regular expression`},
		{[]string{"bans", "add", "--site", ""}, exitError, "bad value: an empty ban pattern"},
		{[]string{"bans", "add", "nope@example.com", "x@example.com"}, exitError, "nope@example.com: no such list"},
		{[]string{"bans", "add", "bad..name@example.com", "x@example.com"}, exitUsage, "is not a list address"},
		{[]string{"bans", "add", "test@example.com"}, exitUsage, "need a list address or --site, and a pattern"},
		{[]string{"bans", "add", "--site"}, exitUsage, "need a list address or --site, and a pattern"},
		{[]string{"bans", "add", "--site", "test@example.com", "x@example.com"}, exitUsage, "need a list address or --site, and a pattern"},
		{[]string{"bans", "add", "test@example.com", "x@example.com", "y@example.com"}, exitUsage, "need a list address or --site, and a pattern"},
		{[]string{"bans", "list", "test@example.com"}, exitOK, "^.*@spam\\.example$  regex"},
		{[]string{"bans", "list", "test@example.com"}, exitOK, "anne@example.com    address"},
		{[]string{"bans", "list"}, exitOK, "mallory@example.net  address"},
		{[]string{"bans", "list", "nope@example.com"}, exitError, "nope@example.com: no such list"},
		{[]string{"bans", "list", "not an address"}, exitUsage, "is neither a list address"},
		{[]string{"bans", "list", "test@example.com", "other@example.org"}, exitUsage, "wrong number of arguments"},
		{[]string{"bans", "remove", "test@example.com", "ANNE@example.com"}, exitOK, "Removed the ban on ANNE@example.com from test@example.com"},
		{[]string{"bans", "remove", "test@example.com", "anne@example.com"}, exitError, "anne@example.com is not banned from list-id test.example.com: no such ban"},
		{[]string{"bans", "remove", "test@example.com", "mallory@example.net"}, exitError, "no such ban"}, // a site ban
		{[]string{"bans", "remove", "--site", "carl@example.com"}, exitError, "no such ban"},              // a list's
		{[]string{"bans", "remove", "--site", "mallory@example.net"}, exitOK, "Removed the ban on mallory@example.net from every list"},
		{[]string{"bans", "remove", "nope@example.com", "x@example.com"}, exitError, "nope@example.com: no such list"},
		{[]string{"bans", "remove", "test@example.com"}, exitUsage, "need a list address or --site, and a pattern"},
	}
	for _, st := range steps {
		c.check("", st.args, st.code, st.out)
	}

	for _, j := range []struct {
		args []string
		want []string
	}{
		{[]string{"bans", "list", "test@example.com", "--json"}, []string{`^.*@spam\.example$`}},
		{[]string{"bans", "list", "--json", "other@example.org"}, []string{"carl@example.com"}},
		{[]string{"bans", "list", "--json"}, []string{"^bot-[0-9]+@"}},
	} {
		code, out, errOut := c.run("", j.args...)
		var got []string
		if err := json.Unmarshal([]byte(out), &got); code != exitOK || err != nil || !slices.Equal(got, j.want) {
			t.Errorf("mailmanctl %s: exit %d, %v\n%s%s\nwant %q", strings.Join(j.args, " "), code, err, out, errOut, j.want)
		}
	}

	// No bans is an empty array, not null.
	c.run("", "bans", "remove", "--site", "^bot-[0-9]+@")
	if code, out, _ := c.run("", "bans", "list", "--json"); code != exitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("bans list --json without bans: exit %d, %q; want []", code, out)
	}
}
