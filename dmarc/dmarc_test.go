package dmarc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/dnstest"
)

func testServer(t *testing.T) *dnstest.Server {
	t.Helper()
	srv, err := dnstest.New(map[string][]string{
		"_dmarc.reject.example":     {"v=DMARC1; p=reject; rua=mailto:d@reject.example"},
		"_dmarc.quarantine.example": {"v=DMARC1;p=quarantine"},
		"_dmarc.none.example":       {"v=DMARC1; p=none"},
		"_dmarc.org.example":        {"v=DMARC1; p=none; sp=reject"},
		"_dmarc.two.example":        {"v=DMARC1; p=reject", "v=DMARC1; p=none"},
		"_dmarc.spf.example":        {"v=spf1 -all", "v=DMARC1 ; p=quarantine"},
		"_dmarc.odd.example":        {"v=DMARC1; p=maybe"},
		"_dmarc.notdmarc.example":   {"v=DMARC10; p=reject"},
		"_dmarc.yahoo.co.uk":        {"v=DMARC1; p=reject"},
	}, map[string]string{"_dmarc.alias.example": "_dmarc.reject.example"},
		[]string{"_dmarc.silent.example"}, []string{"_dmarc.servfail.example"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func TestLookup(t *testing.T) {
	srv := testServer(t)
	r := &Resolver{Server: srv.Addr, Timeout: 200 * time.Millisecond, Lifetime: time.Second}
	for _, tc := range []struct {
		domain string
		want   Result
		err    bool
	}{
		{"reject.example", Result{"reject", "reject.example"}, false},
		{"Reject.Example.", Result{"reject", "reject.example"}, false},
		{"quarantine.example", Result{"quarantine", "quarantine.example"}, false},
		{"none.example", Result{"none", "none.example"}, false},
		// No record of its own: the organizational domain's sp=.
		{"mail.org.example", Result{"reject", "org.example"}, false},
		{"deep.mail.org.example", Result{"reject", "org.example"}, false},
		{"org.example", Result{"none", "org.example"}, false},
		// Two DMARC records: no policy, and the search stops there.
		{"two.example", Result{"", "two.example"}, false},
		{"spf.example", Result{"quarantine", "spf.example"}, false},
		{"odd.example", Result{"none", "odd.example"}, false},
		{"notdmarc.example", Result{}, false},
		{"alias.example", Result{"reject", "alias.example"}, false},
		{"nxdomain.example", Result{}, false},
		// The Public Suffix List: co.uk is a suffix, so yahoo.co.uk is
		// the organizational domain of mail.yahoo.co.uk.
		{"mail.yahoo.co.uk", Result{"reject", "yahoo.co.uk"}, false},
		{"silent.example", Result{}, true},
		{"servfail.example", Result{}, true},
		{"", Result{}, true},
	} {
		got, err := r.Lookup(context.Background(), tc.domain)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v, error %v", tc.domain, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrLookup) {
			t.Errorf("Lookup(%q): %v is not ErrLookup", tc.domain, err)
		}
	}
}

// TestCache: an answer is kept for its TTL, a failure not at all.
func TestCache(t *testing.T) {
	srv := testServer(t)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	r := &Resolver{Server: srv.Addr, Timeout: 200 * time.Millisecond, Now: func() time.Time { return now }}
	ctx := context.Background()
	for _, step := range []struct {
		after   time.Duration
		domain  string
		queries int64
	}{
		{0, "reject.example", 1},
		{time.Minute, "reject.example", 1},
		{time.Hour, "reject.example", 2}, // its TTL is an hour
		{0, "nxdomain.example", 3},       // its organizational domain is itself: one query
		{59 * time.Second, "nxdomain.example", 3},
		{61 * time.Second, "nxdomain.example", 4}, // the SOA's minimum, a minute
		{0, "servfail.example", 5},
		{0, "servfail.example", 6},
	} {
		now = now.Add(step.after)
		r.Lookup(ctx, step.domain)
		if got := srv.Queries.Load(); got != step.queries {
			t.Errorf("after %s at +%v: %d queries, want %d", step.domain, step.after, got, step.queries)
		}
	}
}

func TestOrganizationalDomain(t *testing.T) {
	// A list of the site's own, in place of the one built in.
	path := filepath.Join(t.TempDir(), "psl.dat")
	if err := os.WriteFile(path, []byte("// test list\nexample\n*.wild.example\n!city.wild.example\nco.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	own, err := LoadSuffixes(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r            *Resolver
		domain, want string
	}{
		{&Resolver{}, "mail.example.com", "example.com"},
		{&Resolver{}, "a.b.example.co.uk", "example.co.uk"},
		{&Resolver{}, "user.github.io", "user.github.io"}, // a private suffix
		{&Resolver{}, "co.uk", "co.uk"},
		{&Resolver{Suffixes: own}, "a.b.org.example", "org.example"},
		{&Resolver{Suffixes: own}, "a.b.x.wild.example", "b.x.wild.example"},
		{&Resolver{Suffixes: own}, "a.city.wild.example", "city.wild.example"},
		{&Resolver{Suffixes: own}, "a.b.co.test", "b.co.test"},
	} {
		if got := tc.r.OrganizationalDomain(tc.domain); got != tc.want {
			t.Errorf("OrganizationalDomain(%q) = %q, want %q", tc.domain, got, tc.want)
		}
	}
	if _, err := LoadSuffixes(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing list loaded")
	}
}

func FuzzParseTags(f *testing.F) {
	f.Add("v=DMARC1; p=reject; sp=none")
	f.Add("v=DMARC1")
	f.Fuzz(func(t *testing.T, s string) {
		tags := parseTags(s)
		if isDMARC(s) && !strings.HasPrefix(s, "v=DMARC1") {
			t.Errorf("%q taken for a DMARC record", s)
		}
		for k := range tags {
			if k != strings.ToLower(k) {
				t.Errorf("tag %q not lower-cased", k)
			}
		}
	})
}
