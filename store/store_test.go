package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
)

// listAddr parses a list address the test knows to be valid.
func listAddr(tb testing.TB, s string) ListAddress {
	tb.Helper()
	a, err := ParseListAddress(s)
	if err != nil {
		tb.Fatalf("ParseListAddress(%q): %v", s, err)
	}
	return a
}

// createList creates the list with posting address addr and owners.
func createList(tb testing.TB, s *Store, addr string, owners ...string) *List {
	tb.Helper()
	l, err := s.CreateList(context.Background(), NewList{Address: listAddr(tb, addr), Owners: owners})
	if err != nil {
		tb.Fatalf("CreateList(%s): %v", addr, err)
	}
	return l
}

// addMembers subscribes addresses in role and fails tb unless all are added.
func addMembers(tb testing.TB, s *Store, a ListAddress, role Role, addresses ...string) {
	tb.Helper()
	res, err := s.AddMembers(context.Background(), a, role, addresses, nil)
	if err != nil {
		tb.Fatalf("AddMembers(%s, %s, %q): %v", a, role, addresses, err)
	}
	if res.Added != len(addresses) || len(res.Existing) != 0 {
		tb.Fatalf("AddMembers(%s, %s, %q) = %+v, want all %d added", a, role, addresses, res, len(addresses))
	}
}

// countRows counts the rows of a table, optionally restricted by a WHERE
// clause, straight from the database.
func countRows(tb testing.TB, s *Store, table, where string, args ...any) int {
	tb.Helper()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int
	if err := s.db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

// addresses returns the addresses of ms, in order.
func addresses(ms []Member) []string {
	as := make([]string, len(ms))
	for i, m := range ms {
		as[i] = m.Address
	}
	return as
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("bad JSON %q: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("bad JSON %q: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// atOnce calls f(0), …, f(n-1) in goroutines of their own, as nearly at
// once as it can, and waits for them.
func atOnce(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// within reports whether t lies in [from, to], to the nanosecond.
func within(t, from, to time.Time) bool { return !t.Before(from) && !t.After(to) }

func TestParseListAddress(t *testing.T) {
	valid := []struct {
		in                 string
		name, domain       string
		wantString, wantID string
	}{
		{in: "test@example.com", name: "test", domain: "example.com", wantString: "test@example.com", wantID: "test.example.com"},
		{in: "Test@Example.COM", name: "test", domain: "example.com", wantString: "test@example.com", wantID: "test.example.com"},
		{in: "  MY-List_2.x@Lists.Example.org\n", name: "my-list_2.x", domain: "lists.example.org", wantString: "my-list_2.x@lists.example.org", wantID: "my-list_2.x.lists.example.org"},
		{in: "a@b-c.example", name: "a", domain: "b-c.example", wantString: "a@b-c.example", wantID: "a.b-c.example"},
		{in: "0@1.2", name: "0", domain: "1.2", wantString: "0@1.2", wantID: "0.1.2"},
	}
	for _, c := range valid {
		t.Run("valid/"+c.in, func(t *testing.T) {
			a, err := ParseListAddress(c.in)
			if err != nil {
				t.Fatalf("ParseListAddress(%q): %v", c.in, err)
			}
			if a.Name != c.name || a.Domain != c.domain {
				t.Errorf("ParseListAddress(%q) = %+v, want {%s %s}", c.in, a, c.name, c.domain)
			}
			if a.String() != c.wantString || a.ListID() != c.wantID {
				t.Errorf("String() = %q, ListID() = %q; want %q, %q", a.String(), a.ListID(), c.wantString, c.wantID)
			}
		})
	}

	invalid := []string{
		"",
		"testexample.com",    // no @
		"@example.com",       // empty name
		"te st@example.com",  // space
		"te$t@example.com",   // bad character
		"tést@example.com",   // not ASCII
		"te+st@example.com",  // + is not a list name character
		"a..b@example.com",   // ..
		".test@example.com",  // leading dot
		"test.@example.com",  // trailing dot
		"..@example.com",     // only dots
		"a/b@x.com",          // slash
		"../x@example.com",   // traversal
		"..%2fx@example.com", // escaped traversal
		"a\\b@example.com",   // backslash
		"test@",              // empty domain
		"test@example",       // one label
		"test@-example.com",  // label starting with -
		"test@example-.com",  // label ending with -
		"test@example..com",  // empty label
		"test@.example.com",  // leading dot in domain
		"test@example.com.",  // trailing dot in domain
		"test@exa_mple.com",  // _ in domain
		"test@exa/mple.com",  // / in domain
		"test@b@example.com", // two @
		"test@[192.0.2.1]",   // address literal
		strings.Repeat("a", 250) + "@example.com", // too long
	}
	for _, in := range invalid {
		t.Run("invalid/"+in, func(t *testing.T) {
			a, err := ParseListAddress(in)
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("ParseListAddress(%q) = %+v, %v; want ErrInvalidAddress", in, a, err)
			}
			if a != (ListAddress{}) {
				t.Errorf("ParseListAddress(%q) returned %+v with its error", in, a)
			}
		})
	}
}

func TestParseMemberAddress(t *testing.T) {
	valid := []struct {
		in, addr, name string
	}{
		{"Name <Addr@EXAMPLE.com>", "Addr@example.com", "Name"},
		{"Anne Person <anne@example.com>", "anne@example.com", "Anne Person"},
		{`"Person, Anne" <Anne.Person@Example.ORG>`, "Anne.Person@example.org", "Person, Anne"},
		{"bob@example.com", "bob@example.com", ""},
		{"Bob@Example.Com", "Bob@example.com", ""},
		{"  bob+tag@sub.example.com\t", "bob+tag@sub.example.com", ""},
		{"<carol@example.com>", "carol@example.com", ""},
		{"=?utf-8?q?Ren=C3=A9e?= <renee@example.com>", "renee@example.com", "Renée"},
	}
	for _, c := range valid {
		t.Run("valid/"+c.in, func(t *testing.T) {
			addr, name, err := ParseMemberAddress(c.in)
			if err != nil {
				t.Fatalf("ParseMemberAddress(%q): %v", c.in, err)
			}
			if addr != c.addr || name != c.name {
				t.Errorf("ParseMemberAddress(%q) = %q, %q; want %q, %q", c.in, addr, name, c.addr, c.name)
			}
		})
	}

	invalid := []string{
		"",
		"   ",
		"anne",
		"anne@",
		"@example.com",
		"anne@localhost",                    // not a domain name
		"anne@exa_mple.com",                 // bad domain
		"anne@example..com",                 // empty label
		"anne@[192.0.2.1]",                  // address literal
		"a/b@example.com",                   // slash
		`"a b"@example.com`,                 // space in the local part
		"Anne <anne@example.com",            // unclosed
		"anne@example.com, bob@example.com", // two addresses
		"anne@example.com\nBcc: x@example.com",
	}
	for _, in := range invalid {
		t.Run("invalid/"+in, func(t *testing.T) {
			addr, name, err := ParseMemberAddress(in)
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("ParseMemberAddress(%q) = %q, %q, %v; want ErrInvalidAddress", in, addr, name, err)
			}
			if addr != "" || name != "" {
				t.Errorf("ParseMemberAddress(%q) returned %q, %q with its error", in, addr, name)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Role
		ok   bool
	}{
		{"owner", Owner, true},
		{"Moderator", Moderator, true},
		{"MEMBER", Regular, true},
		{"nonmember", Nonmember, true},
		{"", "", false},
		{"admin", "", false},
		{"members", "", false},
	} {
		r, err := ParseRole(c.in)
		if (err == nil) != c.ok || r != c.want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q (ok %v)", c.in, r, err, c.want, c.ok)
		}
	}
}

func TestCreateListDefaults(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		before := time.Now()
		l, err := s.CreateList(ctx, NewList{
			Address: listAddr(t, "test@example.com"),
			Owners:  []string{"Anne Owner <Anne@EXAMPLE.com>", "bob@example.com"},
		})
		after := time.Now()
		if err != nil {
			t.Fatalf("CreateList: %v", err)
		}
		want := List{
			Address:                    ListAddress{"test", "example.com"},
			PostingAddress:             "test@example.com",
			ListID:                     "test.example.com",
			DisplayName:                "Test",
			Description:                "",
			SubjectPrefix:              "[Test] ",
			DefaultMemberAction:        "defer",
			DefaultNonmemberAction:     "hold",
			SubscriptionPolicy:         "confirm",
			UnsubscriptionPolicy:       "confirm",
			MaxMessageSize:             40,
			MaxNumRecipients:           10,
			RequireExplicitDestination: true,
			Administrivia:              true,
			ReplyGoesToList:            "no_munging",
			Emergency:                  false,
			IncludeRFC2369Headers:      true,
			PostID:                     1,
			ModeratorPassword:          "",
			AdminImmedNotify:           true,
			RespondToPostRequests:      true,
			AcceptableAliases:          []string{},
			BounceMatchingHeaders:      []string{},
			SendWelcomeMessage:         true,
			SendGoodbyeMessage:         true,
			MemberRosterVisibility:     "moderators",
			AutorespondRequests:        "none",
			AutoresponseGracePeriod:    90,
		}
		got := *l
		if !within(got.CreatedAt, before, after) {
			t.Errorf("CreatedAt = %v, want between %v and %v", got.CreatedAt, before, after)
		}
		if !got.LastPostAt.IsZero() {
			t.Errorf("LastPostAt = %v, want zero", got.LastPostAt)
		}
		got.CreatedAt, got.LastPostAt, got.id = time.Time{}, time.Time{}, 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("CreateList returned\n%+v\nwant\n%+v", got, want)
		}

		// What CreateList returns is what is stored.
		stored, err := s.List(ctx, l.Address)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if !reflect.DeepEqual(stored, l) {
			t.Errorf("List returned\n%+v\nCreateList returned\n%+v", *stored, *l)
		}

		owners, err := s.Members(ctx, l.Address, Owner)
		if err != nil {
			t.Fatalf("Members: %v", err)
		}
		if len(owners) != 2 {
			t.Fatalf("owners = %+v, want 2", owners)
		}
		wantOwners := []struct{ addr, name string }{{"Anne@example.com", "Anne Owner"}, {"bob@example.com", ""}}
		for i, o := range owners {
			if o.Address != wantOwners[i].addr || o.DisplayName != wantOwners[i].name || o.Role != Owner {
				t.Errorf("owner %d = %+v, want %s %q as owner", i, o, wantOwners[i].addr, wantOwners[i].name)
			}
			if !o.DeliveryEnabled || !o.ReceiveOwnPostings || o.ModerationAction != "" || !within(o.SubscribedAt, before, after) {
				t.Errorf("owner %d = %+v, want Mailman's defaults, subscribed now", i, o)
			}
		}
		if n := countRows(t, s, "members", ""); n != 2 {
			t.Errorf("%d member rows, want the 2 owners only", n)
		}
	})
}

func TestCreateListDisplayName(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		for _, c := range []struct {
			addr, display, wantDisplay, wantPrefix string
		}{
			{"test@example.com", "", "Test", "[Test] "},
			{"my-list@example.com", "", "My-list", "[My-list] "},
			{"7up@example.com", "", "7up", "[7up] "},
			{"dev@example.com", "Developers", "Developers", "[Developers] "},
		} {
			l, err := s.CreateList(ctx, NewList{Address: listAddr(t, c.addr), DisplayName: c.display})
			if err != nil {
				t.Fatalf("CreateList(%s): %v", c.addr, err)
			}
			if l.DisplayName != c.wantDisplay || l.SubjectPrefix != c.wantPrefix {
				t.Errorf("CreateList(%s, %q): display %q, prefix %q; want %q, %q",
					c.addr, c.display, l.DisplayName, l.SubjectPrefix, c.wantDisplay, c.wantPrefix)
			}
		}
	})
}

func TestCreateListTwice(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		first := createList(t, s, "test@example.com", "anne@example.com")

		for _, n := range []NewList{
			{Address: listAddr(t, "test@example.com")},
			{Address: listAddr(t, "TEST@Example.com"), DisplayName: "Other", Owners: []string{"bob@example.com", "anne@example.com"}},
		} {
			l, err := s.CreateList(ctx, n)
			if !errors.Is(err, ErrListExists) || l != nil {
				t.Fatalf("CreateList(%+v) again = %v, %v; want ErrListExists", n, l, err)
			}
		}

		got, err := s.List(ctx, first.Address)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if !reflect.DeepEqual(got, first) {
			t.Errorf("list changed by the failed creations:\n%+v\nwas\n%+v", *got, *first)
		}
		owners, err := s.Members(ctx, first.Address, "")
		if err != nil {
			t.Fatalf("Members: %v", err)
		}
		if as := addresses(owners); !slices.Equal(as, []string{"anne@example.com"}) {
			t.Errorf("members after the failed creations = %q, want only the first owner", as)
		}
		if n := countRows(t, s, "lists", ""); n != 1 {
			t.Errorf("%d lists, want 1", n)
		}
	})
}

// A list-id is name.domain, so two posting addresses can share one; the
// second is refused, as in Mailman, rather than making ListByID ambiguous.
func TestCreateListListIDCollision(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		createList(t, s, "a.b@example.com")
		_, err := s.CreateList(ctx, NewList{Address: listAddr(t, "a@b.example.com")})
		if !errors.Is(err, ErrListExists) {
			t.Fatalf("CreateList(a@b.example.com) after a.b@example.com = %v, want ErrListExists", err)
		}
		l, err := s.ListByID(ctx, "a.b.example.com")
		if err != nil || l.PostingAddress != "a.b@example.com" {
			t.Errorf("ListByID(a.b.example.com) = %+v, %v; want a.b@example.com", l, err)
		}
	})
}

func TestCreateListInvalidOwner(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := listAddr(t, "test@example.com")
		for _, owners := range [][]string{
			{"not an address"},
			{"anne@example.com", "bob@"},
			{"anne@example.com", "bob@example.com", ""},
		} {
			l, err := s.CreateList(ctx, NewList{Address: a, Owners: owners})
			if !errors.Is(err, ErrInvalidAddress) || l != nil {
				t.Fatalf("CreateList with owners %q = %v, %v; want ErrInvalidAddress", owners, l, err)
			}
			if _, err := s.List(ctx, a); !errors.Is(err, ErrNoSuchList) {
				t.Errorf("List after a failed CreateList: %v, want ErrNoSuchList", err)
			}
		}
		if n := countRows(t, s, "lists", ""); n != 0 {
			t.Errorf("%d lists after failed creations, want 0", n)
		}
		if n := countRows(t, s, "members", ""); n != 0 {
			t.Errorf("%d members after failed creations, want 0", n)
		}
		// The name is still free.
		createList(t, s, "test@example.com", "anne@example.com")
	})
}

// CreateList checks a ListAddress that may not have come through
// ParseListAddress (its fields are exported). Regression: the zero
// ListAddress panicked (index out of range in the default display name), and
// a name such as "../evil", which ParseListAddress refuses because list
// names end up in paths and URLs, was stored.
func TestCreateListUncheckedAddress(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		for _, c := range []struct {
			name string
			a    ListAddress
		}{
			{"zero", ListAddress{}},
			{"empty name", ListAddress{Domain: "example.com"}},
			{"traversal", ListAddress{Name: "../evil", Domain: "example.com"}},
			{"upper case", ListAddress{Name: "Test", Domain: "Example.com"}},
			{"no domain", ListAddress{Name: "test"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := newStore(t, b)
				var err error
				func() {
					defer func() {
						if r := recover(); r != nil {
							err = fmt.Errorf("panic: %v", r)
						}
					}()
					_, err = s.CreateList(ctx, NewList{Address: c.a})
				}()
				if !errors.Is(err, ErrInvalidAddress) {
					t.Errorf("CreateList(%+v) = %v, want ErrInvalidAddress", c.a, err)
				}
				if n := countRows(t, s, "lists", ""); n != 0 {
					t.Errorf("CreateList(%+v) stored a list", c.a)
				}
			})
		}
	})
}

func TestListLookups(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		if ls, err := s.Lists(ctx); err != nil || len(ls) != 0 {
			t.Fatalf("Lists on an empty store = %v, %v; want none", ls, err)
		}
		// Created out of order; Lists sorts by domain, then name.
		for _, a := range []string{"b@example.com", "z@example.net", "a@example.org", "a@example.com", "a-b@example.com"} {
			createList(t, s, a)
		}
		ls, err := s.Lists(ctx)
		if err != nil {
			t.Fatalf("Lists: %v", err)
		}
		var got []string
		for _, l := range ls {
			got = append(got, l.PostingAddress)
		}
		want := []string{"a@example.com", "a-b@example.com", "b@example.com", "z@example.net", "a@example.org"}
		if !slices.Equal(got, want) {
			t.Errorf("Lists = %q, want %q", got, want)
		}

		for _, l := range ls {
			byAddr, err := s.List(ctx, l.Address)
			if err != nil || !reflect.DeepEqual(byAddr, l) {
				t.Errorf("List(%s) = %+v, %v; want %+v", l.Address, byAddr, err, l)
			}
			byID, err := s.ListByID(ctx, l.ListID)
			if err != nil || !reflect.DeepEqual(byID, l) {
				t.Errorf("ListByID(%s) = %+v, %v; want %+v", l.ListID, byID, err, l)
			}
		}

		for _, a := range []ListAddress{{"c", "example.com"}, {"a", "example.net"}, {"a", "example"}} {
			if l, err := s.List(ctx, a); !errors.Is(err, ErrNoSuchList) || l != nil {
				t.Errorf("List(%s) = %v, %v; want ErrNoSuchList", a, l, err)
			}
		}
		for _, id := range []string{"c.example.com", "a@example.com", "A.example.com", "", "example.com"} {
			if l, err := s.ListByID(ctx, id); !errors.Is(err, ErrNoSuchList) || l != nil {
				t.Errorf("ListByID(%q) = %v, %v; want ErrNoSuchList", id, l, err)
			}
		}
	})
}

func TestRemoveList(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		gone := createList(t, s, "gone@example.com", "owner@example.com")
		kept := createList(t, s, "kept@example.com", "owner@example.com")
		var tokens []string
		var held []int64
		for _, l := range []*List{gone, kept} {
			addMembers(t, s, l.Address, Regular, "anne@example.com", "bob@example.com")
			addMembers(t, s, l.Address, Nonmember, "eve@example.com")
			tok, err := s.AddPending(ctx, l.ListID, "subscription", map[string]string{"address": "carl@example.com"}, time.Hour)
			if err != nil {
				t.Fatalf("AddPending: %v", err)
			}
			tokens = append(tokens, tok)
			id, _, err := s.Hold(ctx, &HeldMessage{ListID: l.ListID, Sender: "eve@example.com", Message: []byte("Subject: x\n\nx\n")}, time.Hour)
			if err != nil {
				t.Fatalf("Hold: %v", err)
			}
			held = append(held, id)
			if err := s.Ban(ctx, l.ListID, "mallory@example.com"); err != nil {
				t.Fatalf("Ban: %v", err)
			}
			if _, err := s.CountAutoresponse(ctx, l.ListID, "eve@example.com", time.Now()); err != nil {
				t.Fatalf("CountAutoresponse: %v", err)
			}
		}
		if err := s.Ban(ctx, "", "mallory@example.com"); err != nil {
			t.Fatalf("Ban: %v", err)
		}
		noList, err := s.AddPending(ctx, "", "register", "x", time.Hour)
		if err != nil {
			t.Fatalf("AddPending: %v", err)
		}

		if err := s.RemoveList(ctx, gone.Address); err != nil {
			t.Fatalf("RemoveList: %v", err)
		}

		if _, err := s.List(ctx, gone.Address); !errors.Is(err, ErrNoSuchList) {
			t.Errorf("List after RemoveList: %v, want ErrNoSuchList", err)
		}
		if _, err := s.ListByID(ctx, gone.ListID); !errors.Is(err, ErrNoSuchList) {
			t.Errorf("ListByID after RemoveList: %v, want ErrNoSuchList", err)
		}
		if _, err := s.Members(ctx, gone.Address, ""); !errors.Is(err, ErrNoSuchList) {
			t.Errorf("Members after RemoveList: %v, want ErrNoSuchList", err)
		}
		if _, err := s.Member(ctx, gone.ListID, "anne@example.com", Regular); !errors.Is(err, ErrNoSuchMember) {
			t.Errorf("Member after RemoveList: %v, want ErrNoSuchMember", err)
		}
		if _, err := s.TakePending(ctx, tokens[0]); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("TakePending of the removed list's request: %v, want ErrNoSuchToken", err)
		}
		if _, err := s.HeldMessage(ctx, held[0]); !errors.Is(err, ErrNoSuchHeld) {
			t.Errorf("HeldMessage of the removed list's post: %v, want ErrNoSuchHeld", err)
		}
		// The rows themselves are gone (ON DELETE CASCADE), not just hidden.
		for _, table := range []string{"members", "pending", "held_messages", "bans", "autoresponses"} {
			if n := countRows(t, s, table, "list_id = $1", gone.id); n != 0 {
				t.Errorf("%d rows of %s left for the removed list", n, table)
			}
		}

		// The other list, and the request for no list, are untouched.
		if ms, err := s.Members(ctx, kept.Address, ""); err != nil || len(ms) != 4 {
			t.Errorf("kept list's members = %v, %v; want 4", ms, err)
		}
		if hs, err := s.HeldMessages(ctx, ""); err != nil || len(hs) != 1 || hs[0].ID != held[1] {
			t.Errorf("held messages = %v, %v; want only the kept list's", hs, err)
		}
		for _, list := range []string{kept.ListID, ""} {
			if bs, err := s.Bans(ctx, list); err != nil || !slices.Equal(bs, []string{"mallory@example.com"}) {
				t.Errorf("Bans(%q) after another list was removed = %q, %v", list, bs, err)
			}
		}
		if n := countRows(t, s, "autoresponses", "list_id = $1", kept.id); n != 1 {
			t.Errorf("%d autoresponse rows of the kept list, want 1", n)
		}
		for _, tok := range []string{tokens[1], noList} {
			if _, err := s.TakePending(ctx, tok); err != nil {
				t.Errorf("TakePending(%s) of a request not of the removed list: %v", tok, err)
			}
		}

		for _, a := range []ListAddress{gone.Address, {"never", "example.com"}} {
			if err := s.RemoveList(ctx, a); !errors.Is(err, ErrNoSuchList) {
				t.Errorf("RemoveList(%s) = %v, want ErrNoSuchList", a, err)
			}
		}
	})
}

func TestSettings(t *testing.T) {
	keys := Settings()
	if !slices.IsSorted(keys) {
		t.Errorf("Settings() = %q, not sorted", keys)
	}
	if len(keys) != len(settings) {
		t.Errorf("Settings() has %d keys, the table %d", len(keys), len(settings))
	}
	keys[0] = "changed"
	if Settings()[0] == "changed" {
		t.Errorf("Settings() returns a shared slice")
	}
}

func TestSetListSetting(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := createList(t, s, "test@example.com").Address

		type check func(*List) any
		cases := []struct {
			key, value string
			get        check
			want       any
		}{
			// text
			{"display_name", "Test List", func(l *List) any { return l.DisplayName }, "Test List"},
			{"description", "A list for tests, ünïcödé", func(l *List) any { return l.Description }, "A list for tests, ünïcödé"},
			{"description", "", func(l *List) any { return l.Description }, ""},
			{"subject_prefix", "[tests] ", func(l *List) any { return l.SubjectPrefix }, "[tests] "},
			{"subject_prefix", "'; DROP TABLE lists; --", func(l *List) any { return l.SubjectPrefix }, "'; DROP TABLE lists; --"},
			// int
			{"max_message_size", "0", func(l *List) any { return l.MaxMessageSize }, 0},
			{"max_message_size", "1024", func(l *List) any { return l.MaxMessageSize }, 1024},
			{"max_num_recipients", "25", func(l *List) any { return l.MaxNumRecipients }, 25},
			{"max_num_recipients", "007", func(l *List) any { return l.MaxNumRecipients }, 7},
			// bool, in every form
			{"emergency", "yes", func(l *List) any { return l.Emergency }, true},
			{"emergency", "no", func(l *List) any { return l.Emergency }, false},
			{"emergency", "true", func(l *List) any { return l.Emergency }, true},
			{"emergency", "false", func(l *List) any { return l.Emergency }, false},
			{"emergency", "on", func(l *List) any { return l.Emergency }, true},
			{"emergency", "off", func(l *List) any { return l.Emergency }, false},
			{"emergency", "1", func(l *List) any { return l.Emergency }, true},
			{"emergency", "0", func(l *List) any { return l.Emergency }, false},
			{"emergency", "YES", func(l *List) any { return l.Emergency }, true},
			{"emergency", "False", func(l *List) any { return l.Emergency }, false},
			{"require_explicit_destination", "off", func(l *List) any { return l.RequireExplicitDestination }, false},
			{"administrivia", "no", func(l *List) any { return l.Administrivia }, false},
			{"include_rfc2369_headers", "false", func(l *List) any { return l.IncludeRFC2369Headers }, false},
			{"include_rfc2369_headers", "on", func(l *List) any { return l.IncludeRFC2369Headers }, true},
			// enum
			{"default_member_action", "hold", func(l *List) any { return l.DefaultMemberAction }, "hold"},
			{"default_nonmember_action", "reject", func(l *List) any { return l.DefaultNonmemberAction }, "reject"},
			{"default_nonmember_action", "discard", func(l *List) any { return l.DefaultNonmemberAction }, "discard"},
			{"subscription_policy", "open", func(l *List) any { return l.SubscriptionPolicy }, "open"},
			{"subscription_policy", "confirm_then_moderate", func(l *List) any { return l.SubscriptionPolicy }, "confirm_then_moderate"},
			{"unsubscription_policy", "moderate", func(l *List) any { return l.UnsubscriptionPolicy }, "moderate"},
			{"reply_goes_to_list", "point_to_list", func(l *List) any { return l.ReplyGoesToList }, "point_to_list"},
			{"reply_goes_to_list", "explicit_header", func(l *List) any { return l.ReplyGoesToList }, "explicit_header"},
			// moderation: bools
			{"admin_immed_notify", "no", func(l *List) any { return l.AdminImmedNotify }, false},
			{"admin_immed_notify", "yes", func(l *List) any { return l.AdminImmedNotify }, true},
			{"respond_to_post_requests", "off", func(l *List) any { return l.RespondToPostRequests }, false},
			{"respond_to_post_requests", "true", func(l *List) any { return l.RespondToPostRequests }, true},
			// password: stored hashed (TestModeratorPassword has the details)
			{"moderator_password", "s3cret pass", func(l *List) any { return l.CheckModeratorPassword("s3cret pass") }, true},
			{"moderator_password", "s3cret pass", func(l *List) any { return strings.Contains(l.ModeratorPassword, "s3cret") }, false},
			{"moderator_password", "", func(l *List) any { return l.ModeratorPassword }, ""},
			// lines: split, trimmed, empty ones dropped; commas separate aliases only
			{"acceptable_aliases", "alias@example.com", func(l *List) any { return l.AcceptableAliases }, []string{"alias@example.com"}},
			{"acceptable_aliases", " Alias@Example.com, ^.*@lists\\.example\\.com\r\n\n,other@example.org ,\n",
				func(l *List) any { return l.AcceptableAliases }, []string{"Alias@Example.com", `^.*@lists\.example\.com`, "other@example.org"}},
			{"acceptable_aliases", "", func(l *List) any { return l.AcceptableAliases }, []string{}},
			{"acceptable_aliases", " \n , ", func(l *List) any { return l.AcceptableAliases }, []string{}},
			{"bounce_matching_headers", "From: .*@spam\\.example\n\n  X-Spam-Flag:yes  \nSubject: a{1,3}, b\n",
				func(l *List) any { return l.BounceMatchingHeaders }, []string{`From: .*@spam\.example`, "X-Spam-Flag:yes", "Subject: a{1,3}, b"}},
			{"bounce_matching_headers", "", func(l *List) any { return l.BounceMatchingHeaders }, []string{}},
			// subscriptions and commands
			{"send_welcome_message", "no", func(l *List) any { return l.SendWelcomeMessage }, false},
			{"send_goodbye_message", "off", func(l *List) any { return l.SendGoodbyeMessage }, false},
			{"welcome_message", "Read the FAQ first.\n", func(l *List) any { return l.WelcomeMessage }, "Read the FAQ first.\n"},
			{"goodbye_message", "So long.", func(l *List) any { return l.GoodbyeMessage }, "So long."},
			{"member_roster_visibility", "public", func(l *List) any { return l.MemberRosterVisibility }, "public"},
			{"member_roster_visibility", "members", func(l *List) any { return l.MemberRosterVisibility }, "members"},
			{"autorespond_requests", "respond_and_discard", func(l *List) any { return l.AutorespondRequests }, "respond_and_discard"},
			{"autoresponse_request_text", "We read -request mail weekly.", func(l *List) any { return l.AutoresponseRequestText }, "We read -request mail weekly."},
			{"autoresponse_grace_period", "0", func(l *List) any { return l.AutoresponseGracePeriod }, 0},
			{"autoresponse_grace_period", "7", func(l *List) any { return l.AutoresponseGracePeriod }, 7},
		}
		covered := map[string]bool{}
		for _, c := range cases {
			covered[c.key] = true
			if err := s.SetListSetting(ctx, a, c.key, c.value); err != nil {
				t.Errorf("SetListSetting(%s, %q): %v", c.key, c.value, err)
				continue
			}
			l, err := s.List(ctx, a)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got := c.get(l); !reflect.DeepEqual(got, c.want) {
				t.Errorf("after SetListSetting(%s, %q): %#v, want %#v", c.key, c.value, got, c.want)
			}
		}
		for _, k := range Settings() {
			if !covered[k] {
				t.Errorf("setting %s is not tested", k)
			}
		}
	})
}

func TestSetListSettingErrors(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := createList(t, s, "test@example.com").Address
		before, err := s.List(ctx, a)
		if err != nil {
			t.Fatal(err)
		}

		for _, key := range []string{"nonexistent", "", "list_id", "post_id", "created_at", "Display_Name", "id", "display_name = 'x', emergency"} {
			err := s.SetListSetting(ctx, a, key, "1")
			if !errors.Is(err, ErrUnknownSetting) {
				t.Errorf("SetListSetting(%q) = %v, want ErrUnknownSetting", key, err)
				continue
			}
			for _, k := range Settings() {
				if !strings.Contains(err.Error(), k) {
					t.Errorf("SetListSetting(%q) error %q does not name the setting %s", key, err, k)
				}
			}
		}

		for _, c := range []struct{ key, value string }{
			{"max_message_size", "abc"},
			{"max_message_size", "-1"},
			{"max_message_size", "1.5"},
			{"max_message_size", ""},
			{"max_message_size", " 5"},
			{"max_message_size", "99999999999999999999999"},
			{"max_num_recipients", "ten"},
			{"emergency", "maybe"},
			{"emergency", ""},
			{"emergency", "2"},
			{"emergency", "y"},
			{"administrivia", "enabled"},
			{"default_member_action", "HOLD"},
			{"default_member_action", "keep"},
			{"default_nonmember_action", ""},
			{"subscription_policy", "closed"},
			{"unsubscription_policy", "confirm "},
			{"reply_goes_to_list", "point-to-list"},
			{"admin_immed_notify", "sometimes"},
			{"respond_to_post_requests", ""},
			{"member_roster_visibility", "everyone"},
			{"autorespond_requests", "respond"},
			{"autoresponse_grace_period", "-1"},
			{"send_welcome_message", "sometimes"},
			{"acceptable_aliases", "^(unclosed@example.com"},
			{"acceptable_aliases", "ok@example.com, ^a[b@example.com"},
			{"acceptable_aliases", `^(?<=x)y@example\.com`}, // Python's syntax, not RE2's
			{"bounce_matching_headers", "no colon here"},
			{"bounce_matching_headers", "From:"},
			{"bounce_matching_headers", ": .*"},
			{"bounce_matching_headers", "Bad Name: .*"},
			{"bounce_matching_headers", "From: *spam"},
			{"bounce_matching_headers", "From: ok\nSubject: (unclosed"},
		} {
			if err := s.SetListSetting(ctx, a, c.key, c.value); !errors.Is(err, ErrBadValue) {
				t.Errorf("SetListSetting(%s, %q) = %v, want ErrBadValue", c.key, c.value, err)
			}
		}

		// A bad key or value is refused before the list is looked for; a good
		// one on a missing list is ErrNoSuchList.
		missing := ListAddress{"missing", "example.com"}
		for _, c := range []struct {
			key, value string
			want       error
		}{
			{"description", "x", ErrNoSuchList},
			{"emergency", "yes", ErrNoSuchList},
			{"max_message_size", "5", ErrNoSuchList},
			{"default_member_action", "hold", ErrNoSuchList},
			{"nonexistent", "x", ErrUnknownSetting},
			{"emergency", "maybe", ErrBadValue},
		} {
			if err := s.SetListSetting(ctx, missing, c.key, c.value); !errors.Is(err, c.want) {
				t.Errorf("SetListSetting(%s, %s, %q) = %v, want %v", missing, c.key, c.value, err, c.want)
			}
		}

		after, err := s.List(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(after, before) {
			t.Errorf("refused settings changed the list:\n%+v\nwas\n%+v", *after, *before)
		}
		if n := countRows(t, s, "lists", ""); n != 1 {
			t.Errorf("%d lists, want 1", n)
		}
	})
}

// Setting a value that is already the value is not "no such list".
func TestSetListSettingSameValue(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := createList(t, s, "test@example.com").Address
		for range 2 {
			if err := s.SetListSetting(ctx, a, "default_member_action", "defer"); err != nil {
				t.Fatalf("SetListSetting to the current value: %v", err)
			}
		}
	})
}

func TestAddMembers(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")
		a := l.Address

		before := time.Now()
		for _, c := range []struct {
			role         Role
			in           []string
			wantAdded    int
			wantExisting []string
		}{
			{Regular, []string{"Anne Person <Anne@Example.com>", "bob@example.com"}, 2, nil},
			// Already there (in another case), new, twice in one batch.
			{Regular, []string{"anne@example.com", "carl@example.com", "BOB@EXAMPLE.COM", "dave@example.com", "Dave@Example.com"}, 2,
				[]string{"anne@example.com", "BOB@example.com", "Dave@example.com"}},
			// The same addresses in other roles are other memberships.
			{Owner, []string{"anne@example.com"}, 1, nil},
			{Moderator, []string{"Anne@example.com", "bob@example.com"}, 2, nil},
			{Nonmember, []string{"eve@example.com", "anne@EXAMPLE.com"}, 2, nil},
			{Nonmember, nil, 0, nil},
			{Nonmember, []string{}, 0, nil},
		} {
			res, err := s.AddMembers(ctx, a, c.role, c.in, nil)
			if err != nil {
				t.Fatalf("AddMembers(%s, %q): %v", c.role, c.in, err)
			}
			if res.Added != c.wantAdded || !slices.Equal(res.Existing, c.wantExisting) {
				t.Errorf("AddMembers(%s, %q) = %+v, want Added %d, Existing %q", c.role, c.in, res, c.wantAdded, c.wantExisting)
			}
		}
		after := time.Now()

		want := map[Role][]string{
			Regular:   {"Anne@example.com", "bob@example.com", "carl@example.com", "dave@example.com"},
			Owner:     {"anne@example.com"},
			Moderator: {"Anne@example.com", "bob@example.com"},
			Nonmember: {"anne@example.com", "eve@example.com"},
		}
		for role, w := range want {
			ms, err := s.Members(ctx, a, role)
			if err != nil {
				t.Fatalf("Members(%s): %v", role, err)
			}
			if got := addresses(ms); !slices.Equal(got, w) {
				t.Errorf("Members(%s) = %q, want %q", role, got, w)
			}
			for _, m := range ms {
				if m.Role != role {
					t.Errorf("Members(%s) returned %+v", role, m)
				}
			}
		}

		m, err := s.Member(ctx, l.ListID, "anne@example.com", Regular)
		if err != nil {
			t.Fatalf("Member: %v", err)
		}
		if m.Address != "Anne@example.com" || m.DisplayName != "Anne Person" || m.Role != Regular ||
			!m.DeliveryEnabled || !m.ReceiveOwnPostings || m.ModerationAction != "" || !within(m.SubscribedAt, before, after) {
			t.Errorf("Member = %+v", *m)
		}
		if got := m.String(); got != "Anne Person <Anne@example.com>" {
			t.Errorf("Member.String() = %q", got)
		}
		if n := countRows(t, s, "members", "list_id = $1", l.id); n != 9 {
			t.Errorf("%d member rows, want 9", n)
		}
	})
}

func TestAddMembersErrors(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := createList(t, s, "test@example.com").Address
		addMembers(t, s, a, Regular, "first@example.com")

		for _, c := range []struct {
			name string
			list ListAddress
			role Role
			in   []string
			want error // nil: any error
		}{
			{"invalid first", a, Regular, []string{"bad", "anne@example.com"}, ErrInvalidAddress},
			{"invalid last", a, Regular, []string{"anne@example.com", "bob@example.com", "carl@"}, ErrInvalidAddress},
			{"invalid after existing", a, Regular, []string{"first@example.com", "x/y@example.com"}, ErrInvalidAddress},
			{"unknown list", ListAddress{"missing", "example.com"}, Regular, []string{"anne@example.com"}, ErrNoSuchList},
			{"unknown role", a, Role("admin"), []string{"anne@example.com"}, nil},
			{"empty role", a, Role(""), []string{"anne@example.com"}, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				var calls []int
				res, err := s.AddMembers(ctx, c.list, c.role, c.in, func(n int) { calls = append(calls, n) })
				if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
					t.Fatalf("AddMembers = %+v, %v; want error %v", res, err, c.want)
				}
				if res.Added != 0 || res.Existing != nil {
					t.Errorf("AddMembers returned %+v with its error", res)
				}
				ms, err := s.Members(ctx, a, "")
				if err != nil {
					t.Fatal(err)
				}
				if got := addresses(ms); !slices.Equal(got, []string{"first@example.com"}) {
					t.Errorf("members after a failed AddMembers = %q, want only first@example.com", got)
				}
			})
		}
		if n := countRows(t, s, "members", ""); n != 1 {
			t.Errorf("%d member rows, want 1", n)
		}
	})
}

// Over a thousand addresses (more than one batch of PostgreSQL's COPY),
// an address already a member, or given again further on, even in
// another batch, is reported where it comes, and the first of each is
// added.
func TestAddMembersLarge(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")
		addMembers(t, s, l.Address, Regular, "m01500@example.com")
		in := make([]string, 2500)
		for i := range in {
			in[i] = fmt.Sprintf("Name %d <m%05d@example.com>", i, i)
		}
		in[999] = "M00005@Example.com"  // the same batch
		in[1000] = "m00998@example.com" // the next batch
		in[2400] = "M01999@example.com" // a later batch
		res, err := s.AddMembers(ctx, l.Address, Regular, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantExisting := []string{"M00005@example.com", "m00998@example.com", "m01500@example.com", "M01999@example.com"}
		if res.Added != 2500-4 || !slices.Equal(res.Existing, wantExisting) {
			t.Errorf("AddMembers = Added %d, Existing %q; want %d, %q", res.Added, res.Existing, 2500-4, wantExisting)
		}
		for _, c := range []struct{ addr, name string }{{"m00005@example.com", "Name 5"}, {"m00998@example.com", "Name 998"}, {"m01999@example.com", "Name 1999"}, {"m01500@example.com", ""}} {
			if m, err := s.Member(ctx, l.ListID, c.addr, Regular); err != nil || m.DisplayName != c.name {
				t.Errorf("Member(%s) = %+v, %v; want the first given, named %q", c.addr, m, err, c.name)
			}
		}
		if n := countRows(t, s, "members", ""); n != 2500-3 {
			t.Errorf("%d member rows, want %d", n, 2500-3)
		}
	})
}

func TestAddMembersProgress(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := createList(t, s, "test@example.com").Address
		for _, c := range []struct {
			n    int
			want []int
		}{
			{2500, []int{1000, 2000}},
			{999, nil},
			{1000, []int{1000}},
			{2000, []int{1000, 2000}},
		} {
			t.Run(fmt.Sprint(c.n), func(t *testing.T) {
				in := make([]string, c.n)
				for i := range in {
					in[i] = fmt.Sprintf("m%d-%05d@example.com", c.n, i)
				}
				var calls []int
				res, err := s.AddMembers(ctx, a, Regular, in, func(done int) { calls = append(calls, done) })
				if err != nil {
					t.Fatalf("AddMembers: %v", err)
				}
				if res.Added != c.n || len(res.Existing) != 0 {
					t.Errorf("AddMembers = Added %d, %d existing; want %d added", res.Added, len(res.Existing), c.n)
				}
				if !slices.Equal(calls, c.want) {
					t.Errorf("progress called with %v, want %v", calls, c.want)
				}
			})
		}
		if n := countRows(t, s, "members", ""); n != 2500+999+1000+2000 {
			t.Errorf("%d member rows, want %d", n, 2500+999+1000+2000)
		}
	})
}

func TestRemoveMembers(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com", "owner@example.com")
		a := l.Address
		other := createList(t, s, "other@example.com").Address
		all := []string{"Anne@Example.com", "bob@example.com", "carl@example.com", "dave@example.com"}
		addMembers(t, s, a, Regular, all...)
		addMembers(t, s, a, Moderator, "bob@example.com")
		addMembers(t, s, other, Regular, "anne@example.com")

		// Failures first: each leaves every membership in place.
		for _, c := range []struct {
			name string
			list ListAddress
			role Role
			in   []string
			want error
		}{
			{"non-member last", a, Regular, []string{"anne@example.com", "bob@example.com", "zed@example.com"}, ErrNoSuchMember},
			{"non-member first", a, Regular, []string{"zed@example.com", "anne@example.com"}, ErrNoSuchMember},
			{"wrong role", a, Owner, []string{"anne@example.com"}, ErrNoSuchMember},
			{"twice in the batch", a, Regular, []string{"carl@example.com", "Carl@example.com"}, ErrNoSuchMember},
			{"invalid address", a, Regular, []string{"anne@example.com", "not an address"}, ErrInvalidAddress},
			{"unknown list", ListAddress{"missing", "example.com"}, Regular, []string{"anne@example.com"}, ErrNoSuchList},
		} {
			if err := s.RemoveMembers(ctx, c.list, c.role, c.in); !errors.Is(err, c.want) {
				t.Errorf("%s: RemoveMembers = %v, want %v", c.name, err, c.want)
			}
			ms, err := s.Members(ctx, a, Regular)
			if err != nil {
				t.Fatal(err)
			}
			if got := addresses(ms); !slices.Equal(got, []string{"Anne@example.com", "bob@example.com", "carl@example.com", "dave@example.com"}) {
				t.Fatalf("%s: members after a failed RemoveMembers = %q, want all four", c.name, got)
			}
		}

		// Any case of the address, a display name, and the empty batch.
		if err := s.RemoveMembers(ctx, a, Regular, nil); err != nil {
			t.Errorf("RemoveMembers(nil): %v", err)
		}
		if err := s.RemoveMembers(ctx, a, Regular, []string{"ANNE@example.com", "Carl <carl@EXAMPLE.com>"}); err != nil {
			t.Fatalf("RemoveMembers: %v", err)
		}
		ms, err := s.Members(ctx, a, "")
		if err != nil {
			t.Fatal(err)
		}
		// bob stays a moderator, the owner an owner, anne a member of the other list.
		want := []string{"member bob@example.com", "member dave@example.com", "moderator bob@example.com", "owner owner@example.com"}
		var got []string
		for _, m := range ms {
			got = append(got, string(m.Role)+" "+m.Address)
		}
		if !slices.Equal(got, want) {
			t.Errorf("members after RemoveMembers = %q, want %q", got, want)
		}
		if _, err := s.Member(ctx, "other.example.com", "anne@example.com", Regular); err != nil {
			t.Errorf("anne removed from the other list too: %v", err)
		}
		if err := s.RemoveMembers(ctx, a, Regular, []string{"anne@example.com"}); !errors.Is(err, ErrNoSuchMember) {
			t.Errorf("RemoveMembers of a removed member = %v, want ErrNoSuchMember", err)
		}
	})
}

func TestMembersOrder(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := createList(t, s, "test@example.com", "zoe@example.com", "Adam@example.com").Address
		if err := s.RemoveMembers(ctx, a, Owner, []string{"zoe@example.com", "adam@example.com"}); err != nil {
			t.Fatal(err)
		}
		if ms, err := s.Members(ctx, a, ""); err != nil || len(ms) != 0 {
			t.Fatalf("Members of an empty list = %v, %v; want none", ms, err)
		}
		addMembers(t, s, a, Owner, "zoe@example.com", "Adam@example.com")
		addMembers(t, s, a, Nonmember, "spam@example.net")
		addMembers(t, s, a, Regular, "charlie@example.com", "Bob@example.com", "alice@example.com", "ALBERT@example.com")
		addMembers(t, s, a, Moderator, "mod@example.com")

		// Sorted by role name, then address without regard to case.
		all := []string{
			"member ALBERT@example.com", "member alice@example.com", "member Bob@example.com", "member charlie@example.com",
			"moderator mod@example.com",
			"nonmember spam@example.net",
			"owner Adam@example.com", "owner zoe@example.com",
		}
		for _, c := range []struct {
			role Role
			want []string
		}{
			{"", all},
			{Regular, all[:4]},
			{Moderator, all[4:5]},
			{Nonmember, all[5:6]},
			{Owner, all[6:]},
			{Role("admin"), nil},
		} {
			ms, err := s.Members(ctx, a, c.role)
			if err != nil {
				t.Fatalf("Members(%q): %v", c.role, err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, string(m.Role)+" "+m.Address)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("Members(%q) = %q, want %q", c.role, got, c.want)
			}
		}
		if _, err := s.Members(ctx, ListAddress{"missing", "example.com"}, ""); !errors.Is(err, ErrNoSuchList) {
			t.Errorf("Members of an unknown list: %v, want ErrNoSuchList", err)
		}
	})
}

func TestMember(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")
		createList(t, s, "other@example.com")
		addMembers(t, s, l.Address, Regular, "Anne Person <Anne.Person@Example.com>")
		addMembers(t, s, l.Address, Nonmember, "eve@example.com")

		for _, addr := range []string{"Anne.Person@example.com", "anne.person@example.com", "ANNE.PERSON@EXAMPLE.COM", "aNNe.pErSoN@eXaMpLe.CoM"} {
			m, err := s.Member(ctx, "test.example.com", addr, Regular)
			if err != nil {
				t.Errorf("Member(%s): %v", addr, err)
				continue
			}
			if m.Address != "Anne.Person@example.com" || m.DisplayName != "Anne Person" || m.Role != Regular {
				t.Errorf("Member(%s) = %+v", addr, *m)
			}
		}
		if m, err := s.Member(ctx, "test.example.com", "EVE@example.com", Nonmember); err != nil || m.Address != "eve@example.com" {
			t.Errorf("Member(eve, nonmember) = %v, %v", m, err)
		}

		for _, c := range []struct {
			listID, addr string
			role         Role
		}{
			{"test.example.com", "nobody@example.com", Regular},
			{"test.example.com", "anne.person@example.com", Owner},
			{"test.example.com", "anne.person@example.com", Nonmember},
			{"test.example.com", "eve@example.com", Regular},
			{"other.example.com", "anne.person@example.com", Regular},
			{"missing.example.com", "anne.person@example.com", Regular},
			{"test@example.com", "anne.person@example.com", Regular}, // a posting address is not a list-id
			{"test.example.com", "", Regular},
			{"test.example.com", "anne.person@example.com", ""},
		} {
			m, err := s.Member(ctx, c.listID, c.addr, c.role)
			if !errors.Is(err, ErrNoSuchMember) || m != nil {
				t.Errorf("Member(%s, %s, %s) = %v, %v; want ErrNoSuchMember", c.listID, c.addr, c.role, m, err)
			}
		}
	})
}

var tokenRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

func TestPending(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")

		type sub struct {
			Address string `json:"address"`
			Name    string `json:"name"`
		}
		for _, c := range []struct {
			name    string
			listID  string
			typ     string
			payload any
			want    string
		}{
			{"struct", l.ListID, "subscription", sub{"anne@example.com", "Anne"}, `{"address":"anne@example.com","name":"Anne"}`},
			{"map", l.ListID, "unsubscription", map[string]any{"address": "bob@example.com", "n": 3}, `{"address":"bob@example.com","n":3}`},
			{"string", "", "register", "ünïcödé <x@example.com>", `"ünïcödé \u003cx@example.com\u003e"`},
			{"null", "", "nothing", nil, `null`},
			{"raw", l.ListID, "held message", json.RawMessage(`{"id":7,"reasons":["a","b"]}`), `{"id":7,"reasons":["a","b"]}`},
		} {
			t.Run(c.name, func(t *testing.T) {
				life := 3 * time.Hour
				before := time.Now()
				tok, err := s.AddPending(ctx, c.listID, c.typ, c.payload, life)
				after := time.Now()
				if err != nil {
					t.Fatalf("AddPending: %v", err)
				}
				if !tokenRE.MatchString(tok) {
					t.Errorf("token %q is not 40 lower-case hex digits", tok)
				}
				p, err := s.TakePending(ctx, tok)
				if err != nil {
					t.Fatalf("TakePending: %v", err)
				}
				if p.Token != tok || p.ListID != c.listID || p.Type != c.typ {
					t.Errorf("TakePending = %+v, want token %s, list %q, type %q", p, tok, c.listID, c.typ)
				}
				if !jsonEqual(t, p.Payload, []byte(c.want)) {
					t.Errorf("payload = %s, want %s", p.Payload, c.want)
				}
				if !within(p.CreatedAt, before, after) || p.ExpiresAt.Sub(p.CreatedAt) != life {
					t.Errorf("created %v, expires %v; want created between %v and %v, expiring %v later", p.CreatedAt, p.ExpiresAt, before, after, life)
				}
				// Once only.
				for range 2 {
					if p, err := s.TakePending(ctx, tok); !errors.Is(err, ErrNoSuchToken) || p != nil {
						t.Errorf("TakePending again = %v, %v; want ErrNoSuchToken", p, err)
					}
				}
			})
		}
		if n := countRows(t, s, "pending", ""); n != 0 {
			t.Errorf("%d pending rows after taking them all, want 0", n)
		}
	})
}

func TestPendingTokensUnique(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		seen := map[string]bool{}
		for i := range 200 {
			tok, err := s.AddPending(ctx, "", "t", i, time.Hour)
			if err != nil {
				t.Fatalf("AddPending: %v", err)
			}
			if !tokenRE.MatchString(tok) {
				t.Fatalf("token %q is not 40 lower-case hex digits", tok)
			}
			if seen[tok] {
				t.Fatalf("token %s given twice", tok)
			}
			seen[tok] = true
		}
		// Each token takes back its own payload.
		for tok := range seen {
			p, err := s.TakePending(ctx, tok)
			if err != nil {
				t.Fatalf("TakePending(%s): %v", tok, err)
			}
			if p.Token != tok {
				t.Errorf("TakePending(%s) returned %s", tok, p.Token)
			}
		}
	})
}

func TestPendingErrors(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		createList(t, s, "test@example.com")

		for _, tok := range []string{"", "0000000000000000000000000000000000000000", "not a token", "'; DELETE FROM pending; --"} {
			if p, err := s.TakePending(ctx, tok); !errors.Is(err, ErrNoSuchToken) || p != nil {
				t.Errorf("TakePending(%q) = %v, %v; want ErrNoSuchToken", tok, p, err)
			}
		}
		for _, id := range []string{"missing.example.com", "test@example.com", "TEST.example.com"} {
			if _, err := s.AddPending(ctx, id, "subscription", "x", time.Hour); !errors.Is(err, ErrNoSuchList) {
				t.Errorf("AddPending for list-id %q = %v, want ErrNoSuchList", id, err)
			}
		}
		if _, err := s.AddPending(ctx, "", "bad", make(chan int), time.Hour); err == nil {
			t.Errorf("AddPending of a payload that is not JSON: no error")
		}
		if n := countRows(t, s, "pending", ""); n != 0 {
			t.Errorf("%d pending rows after failed AddPending, want 0", n)
		}
	})
}

// A request confirmed by several runners at once is taken by one of them.
// Regression: under PostgreSQL's READ COMMITTED each read the request
// before any deleted it, and all were given it.
func TestTakePendingConcurrent(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.newDB(t)
		stores := []*Store{db.open(t), db.open(t)}
		for round := range 20 {
			tok, err := stores[0].AddPending(ctx, "", "subscription", round, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			var taken atomic.Int32
			atOnce(4, func(i int) {
				_, err := stores[i%2].TakePending(ctx, tok)
				switch {
				case err == nil:
					taken.Add(1)
				case !errors.Is(err, ErrNoSuchToken):
					t.Errorf("round %d: TakePending: %v", round, err)
				}
			})
			if n := taken.Load(); n != 1 {
				t.Fatalf("round %d: taken by %d of 4 runners at once, want 1", round, n)
			}
		}
	})
}

func TestPendingExpired(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")
		for _, life := range []time.Duration{-time.Hour, -time.Nanosecond, 0, time.Nanosecond, time.Millisecond} {
			tok, err := s.AddPending(ctx, l.ListID, "subscription", "x", life)
			if err != nil {
				t.Fatalf("AddPending: %v", err)
			}
			time.Sleep(2 * time.Millisecond)
			if p, err := s.TakePending(ctx, tok); !errors.Is(err, ErrTokenExpired) || p != nil {
				t.Errorf("TakePending of a request with life %v = %v, %v; want ErrTokenExpired", life, p, err)
			}
			if _, err := s.TakePending(ctx, tok); !errors.Is(err, ErrNoSuchToken) {
				t.Errorf("TakePending of an expired request, again: %v, want ErrNoSuchToken (removed)", err)
			}
		}
		if n := countRows(t, s, "pending", ""); n != 0 {
			t.Errorf("%d pending rows left, want 0", n)
		}
	})
}

func TestEvictExpired(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")
		add := func(life time.Duration) string {
			tok, err := s.AddPending(ctx, l.ListID, "subscription", "x", life)
			if err != nil {
				t.Fatalf("AddPending: %v", err)
			}
			return tok
		}
		if n, err := s.EvictExpired(ctx, time.Now()); err != nil || n != 0 {
			t.Errorf("EvictExpired on nothing = %d, %v; want 0", n, err)
		}
		for range 3 {
			add(-time.Minute)
		}
		hour := add(time.Hour)
		day := add(24 * time.Hour)
		if n, err := s.EvictExpired(ctx, time.Now()); err != nil || n != 3 {
			t.Errorf("EvictExpired(now) = %d, %v; want 3", n, err)
		}
		if n, err := s.EvictExpired(ctx, time.Now()); err != nil || n != 0 {
			t.Errorf("EvictExpired(now) again = %d, %v; want 0", n, err)
		}
		if n, err := s.EvictExpired(ctx, time.Now().Add(2*time.Hour)); err != nil || n != 1 {
			t.Errorf("EvictExpired(in two hours) = %d, %v; want 1", n, err)
		}
		if _, err := s.TakePending(ctx, hour); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("TakePending of an evicted request: %v, want ErrNoSuchToken", err)
		}
		if _, err := s.TakePending(ctx, day); err != nil {
			t.Errorf("TakePending of a live request after evictions: %v", err)
		}
	})
}

func TestHeld(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := createList(t, s, "test@example.com")
		b2 := createList(t, s, "other@example.com")

		// Every byte value, CRLF and NUL included, as an 8-bit message might carry.
		raw := []byte("From: eve@example.com\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 \x00\xff\x80\r\n")
		for i := range 256 {
			raw = append(raw, byte(i))
		}
		msgs := []*HeldMessage{
			{ListID: a.ListID, Sender: "eve@example.com", Subject: "café", MessageID: "<1@example.com>",
				Reasons: []string{"The message is not from a list member", "Too many recipients"}, Message: raw,
				Msgdata: json.RawMessage(`{"listid":"test.example.com","recipients":["x@example.com"]}`)},
			{ListID: b2.ListID, Sender: "mallory@example.com", Subject: "", MessageID: "", Reasons: nil, Message: []byte("x")},
			{ListID: a.ListID, Sender: "", Subject: "Re: café", MessageID: "<3@example.com>", Reasons: []string{}, Message: []byte("Subject: y\n\ny\n")},
		}
		before := time.Now()
		var ids []int64
		for _, h := range msgs {
			id, _, err := s.Hold(ctx, h, time.Hour)
			if err != nil {
				t.Fatalf("Hold: %v", err)
			}
			if len(ids) > 0 && id <= ids[len(ids)-1] {
				t.Errorf("held ids not increasing: %d after %v", id, ids)
			}
			ids = append(ids, id)
		}
		after := time.Now()

		check := func(t *testing.T, got *HeldMessage, i int) {
			t.Helper()
			w := msgs[i]
			if got.ID != ids[i] || got.ListID != w.ListID || got.Sender != w.Sender || got.Subject != w.Subject || got.MessageID != w.MessageID {
				t.Errorf("held %d = %+v, want %+v", ids[i], got, w)
			}
			if len(got.Reasons) != len(w.Reasons) || !slices.Equal(got.Reasons, w.Reasons) {
				t.Errorf("held %d reasons = %q, want %q", ids[i], got.Reasons, w.Reasons)
			}
			if !bytes.Equal(got.Message, w.Message) {
				t.Errorf("held %d message = %q, want %q", ids[i], got.Message, w.Message)
			}
			wantData := w.Msgdata
			if wantData == nil {
				wantData = json.RawMessage(`{}`)
			}
			if !jsonEqual(t, got.Msgdata, wantData) {
				t.Errorf("held %d msgdata = %s, want %s", ids[i], got.Msgdata, wantData)
			}
			if !within(got.HeldAt, before, after) {
				t.Errorf("held %d at %v, want between %v and %v", ids[i], got.HeldAt, before, after)
			}
		}

		for i, id := range ids {
			h, err := s.HeldMessage(ctx, id)
			if err != nil {
				t.Fatalf("HeldMessage(%d): %v", id, err)
			}
			check(t, h, i)
		}
		for _, c := range []struct {
			listID string
			want   []int // indexes into msgs, oldest first
		}{
			{"", []int{0, 1, 2}},
			{a.ListID, []int{0, 2}},
			{b2.ListID, []int{1}},
			{"missing.example.com", nil},
		} {
			hs, err := s.HeldMessages(ctx, c.listID)
			if err != nil {
				t.Fatalf("HeldMessages(%q): %v", c.listID, err)
			}
			if len(hs) != len(c.want) {
				t.Errorf("HeldMessages(%q) returned %d, want %d", c.listID, len(hs), len(c.want))
				continue
			}
			for j, h := range hs {
				check(t, h, c.want[j])
			}
		}

		// The caller's message is not aliased by what it reads back.
		h, err := s.HeldMessage(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		h.Message[0] = 'X'
		if h2, err := s.HeldMessage(ctx, ids[0]); err != nil || !bytes.Equal(h2.Message, raw) {
			t.Errorf("a read-back message changed by writing to another: %v", err)
		}

		if err := s.DeleteHeld(ctx, ids[0]); err != nil {
			t.Fatalf("DeleteHeld: %v", err)
		}
		if h, err := s.HeldMessage(ctx, ids[0]); !errors.Is(err, ErrNoSuchHeld) || h != nil {
			t.Errorf("HeldMessage after DeleteHeld = %v, %v; want ErrNoSuchHeld", h, err)
		}
		if err := s.DeleteHeld(ctx, ids[0]); !errors.Is(err, ErrNoSuchHeld) {
			t.Errorf("DeleteHeld twice = %v, want ErrNoSuchHeld", err)
		}
		hs, err := s.HeldMessages(ctx, "")
		if err != nil || len(hs) != 2 || hs[0].ID != ids[1] || hs[1].ID != ids[2] {
			t.Errorf("HeldMessages after DeleteHeld = %v, %v; want the other two", hs, err)
		}
	})
}

func TestHeldErrors(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		createList(t, s, "test@example.com")
		for _, id := range []int64{0, -1, 1, 12345} {
			if h, err := s.HeldMessage(ctx, id); !errors.Is(err, ErrNoSuchHeld) || h != nil {
				t.Errorf("HeldMessage(%d) = %v, %v; want ErrNoSuchHeld", id, h, err)
			}
			if err := s.DeleteHeld(ctx, id); !errors.Is(err, ErrNoSuchHeld) {
				t.Errorf("DeleteHeld(%d) = %v, want ErrNoSuchHeld", id, err)
			}
		}
		for _, id := range []string{"missing.example.com", "", "test@example.com"} {
			h := &HeldMessage{ListID: id, Sender: "eve@example.com", Message: []byte("x")}
			if got, tok, err := s.Hold(ctx, h, time.Hour); !errors.Is(err, ErrNoSuchList) || got != 0 || tok != "" {
				t.Errorf("Hold for list-id %q = %d, %q, %v; want ErrNoSuchList", id, got, tok, err)
			}
		}
		for _, table := range []string{"held_messages", "pending"} {
			if n := countRows(t, s, table, ""); n != 0 {
				t.Errorf("%d %s rows after failed Holds, want 0", n, table)
			}
		}
	})
}

// SQLite only: it is about the file each sqlite: URL names.
func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	abs := filepath.Join(t.TempDir(), "elsewhere", "abs.db")
	for _, c := range []struct {
		name, url string
		file      func(varDir string) string
	}{
		{"empty", "", func(v string) string { return filepath.Join(v, "data", "mailman.db") }},
		{"relative", "sqlite:rel.db", func(v string) string { return filepath.Join(v, "rel.db") }},
		{"relative in a new directory", "sqlite:sub/dir/rel.db", func(v string) string { return filepath.Join(v, "sub", "dir", "rel.db") }},
		{"relative with //", "sqlite://rel2.db", func(v string) string { return filepath.Join(v, "rel2.db") }},
		{"absolute", "sqlite://" + abs, func(string) string { return abs }},
		{"absolute without //", "sqlite:" + abs + "2", func(string) string { return abs + "2" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			varDir := t.TempDir()
			want := c.file(varDir)
			if _, err := os.Stat(want); err == nil {
				t.Fatalf("%s exists before Open", want)
			}
			s, err := Open(ctx, c.url, varDir)
			if err != nil {
				t.Fatalf("Open(%q): %v", c.url, err)
			}
			defer s.Close()
			createList(t, s, "test@example.com")
			if fi, err := os.Stat(want); err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
				t.Fatalf("Open(%q) made no database at %s: %v", c.url, want, err)
			}
			// It is that file: a second store on it by absolute path sees the list.
			s2, err := Open(ctx, "sqlite://"+want, t.TempDir())
			if err != nil {
				t.Fatalf("Open(%s): %v", want, err)
			}
			defer s2.Close()
			if _, err := s2.List(ctx, listAddr(t, "test@example.com")); err != nil {
				t.Errorf("the list is not in %s: %v", want, err)
			}
			var mode string
			if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v; want wal", mode, err)
			}
		})
	}
}

// closedPort is a loopback address where nothing listens, so that a test
// of a failed connection contacts no other host and waits for nothing.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestOpenURLErrors(t *testing.T) {
	ctx := context.Background()
	nowhere := closedPort(t)
	for _, c := range []struct {
		url    string
		secret string // must not appear in the error
	}{
		{"postgres://u:secret@" + nowhere + "/db?connect_timeout=2", "secret"},
		{"postgresql://mailman:hunter2@" + nowhere + "/mailman?connect_timeout=2", "hunter2"},
		{"mysql://x", ""},
		{"mysql://u:secret@h/db", "secret"},
		{"sqlite:", ""},
		{"sqlite://", ""},
		{"SQLITE:x.db", ""},
		{"file:x.db", ""},
		{"x.db", ""},
	} {
		t.Run(c.url, func(t *testing.T) {
			varDir := t.TempDir()
			s, err := Open(ctx, c.url, varDir)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q): no error", c.url)
			}
			if c.secret != "" && strings.Contains(err.Error(), c.secret) {
				t.Errorf("Open(%q) error shows the password: %v", c.url, err)
			}
			if entries, _ := os.ReadDir(varDir); len(entries) != 0 {
				t.Errorf("Open(%q) failed but wrote %v", c.url, entries)
			}
		})
	}
}

// A PostgreSQL connection string may carry its password elsewhere than in
// the user information, as libpq allows: in the query
// (postgres://h/db?password=...) or as a keyword/value string
// (host=h password=...). Regression: Open echoed those into its error.
func TestOpenURLErrorsHideEveryPassword(t *testing.T) {
	ctx := context.Background()
	nowhere := closedPort(t)
	host, port, _ := net.SplitHostPort(nowhere)
	for _, url := range []string{
		"postgres://" + nowhere + "/db?password=secret&connect_timeout=2",
		"postgresql://u@" + nowhere + "/db?sslmode=require&password=secret&connect_timeout=2",
		"host=" + host + " port=" + port + " user=u password=secret dbname=mailman connect_timeout=2",
	} {
		s, err := Open(ctx, url, t.TempDir())
		if err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", url)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the password: %v", url, err)
		}
	}
}

// SQLite only: it is about files.
func TestOpenNotADirectory(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "file")
	// Long enough for SQLite to read a header (a shorter file reads as empty).
	if err := os.WriteFile(file, bytes.Repeat([]byte("not a database\n"), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, "", file); err == nil {
		s.Close()
		t.Errorf("Open under a regular file: no error")
	}
	if s, err := Open(ctx, "sqlite:"+file, t.TempDir()); err == nil {
		s.Close()
		t.Errorf("Open of a file that is not a database: no error")
	}
	if b, err := os.ReadFile(file); err != nil || !bytes.Equal(b, bytes.Repeat([]byte("not a database\n"), 100)) {
		t.Errorf("Open changed the file that is not a database (%v)", err)
	}
}

// The path goes into a "file:" URI. Regression: it was not escaped, so a
// var_dir or sqlite: path holding '?', '#' or '%' opened another file (and
// lost the pragmas after the '?'): SQLite reads "%41" as "A" and stops the
// path at '?' or '#'. SQLite only: it is about its file's path.
func TestOpenPathWithURICharacters(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ name, dir string }{
		{"percent", "100%41"},
		{"question mark", "what?"},
		{"hash", "issue#3"},
		{"space", "a b"},
	} {
		// The subtest's name has none of the characters, so that what
		// SQLite opens instead is still inside its temporary directory.
		t.Run(c.name, func(t *testing.T) {
			varDir := filepath.Join(t.TempDir(), c.dir)
			s, err := Open(ctx, "", varDir)
			if err != nil {
				t.Fatalf("Open(%q): %v", varDir, err)
			}
			defer s.Close()
			createList(t, s, "test@example.com")
			if _, err := os.Stat(config.PathsIn(varDir).Database); err != nil {
				t.Errorf("no database at %s: %v", config.PathsIn(varDir).Database, err)
			}
			var timeout int
			if err := s.db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout != 10000 {
				t.Errorf("busy_timeout = %d, %v; want 10000", timeout, err)
			}
		})
	}
}

// A write for a list that another store removes meanwhile fails with
// ErrNoSuchList. Regression: on PostgreSQL the write read the list before
// the removal was committed, and then failed on the foreign key.
func TestWriteToListBeingRemoved(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.newDB(t)
		s, remover := db.open(t), db.open(t)
		for i, write := range []func(listID string) error{
			func(listID string) error {
				_, err := s.AddPending(ctx, listID, "subscription", "x", time.Hour)
				return err
			},
			func(listID string) error {
				_, err := s.AddMembers(ctx, listAddr(t, strings.Replace(listID, ".", "@", 1)), Regular, []string{"anne@example.com"}, nil)
				return err
			},
			func(listID string) error {
				_, _, err := s.Hold(ctx, &HeldMessage{ListID: listID, Message: []byte("x")}, time.Hour)
				return err
			},
			func(listID string) error {
				_, err := s.Subscribe(ctx, listID, Subscription{Address: "anne@example.com"}, "")
				return err
			},
			func(listID string) error {
				_, err := s.CountAutoresponse(ctx, listID, "anne@example.com", time.Now())
				return err
			},
		} {
			l := createList(t, s, fmt.Sprintf("list%d@example.com", i))
			tx, err := remover.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM lists WHERE id = $1`, l.id); err != nil {
				t.Fatal(err)
			}
			done := make(chan error)
			go func() { done <- write(l.ListID) }()
			// Long enough, mostly, for the write to read the list and
			// wait for the removal's lock; if not, it reads no list.
			time.Sleep(100 * time.Millisecond)
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, ErrNoSuchList) {
				t.Errorf("write %d to %s while it was removed: %v, want ErrNoSuchList", i, l.ListID, err)
			}
		}
	})
}

// Nothing is cached: what one store writes, another store on the same
// database reads at its next look-up.
func TestTwoStoresSeeEachOther(t *testing.T) {
	forBackends(t, testTwoStoresSeeEachOther)
}

func testTwoStoresSeeEachOther(t *testing.T, b backend) {
	ctx := context.Background()
	db := b.newDB(t)
	s1, s2 := db.open(t), db.open(t)
	a := listAddr(t, "test@example.com")

	// Warm s2 up on the list's absence first, so a cache would show.
	if _, err := s2.ListByID(ctx, "test.example.com"); !errors.Is(err, ErrNoSuchList) {
		t.Fatalf("ListByID before creation: %v", err)
	}
	if _, err := s2.Member(ctx, "test.example.com", "anne@example.com", Regular); !errors.Is(err, ErrNoSuchMember) {
		t.Fatalf("Member before creation: %v", err)
	}

	createList(t, s1, "test@example.com")
	if _, err := s2.ListByID(ctx, "test.example.com"); err != nil {
		t.Errorf("list created in s1 not seen by s2: %v", err)
	}

	addMembers(t, s1, a, Regular, "anne@example.com")
	if _, err := s2.Member(ctx, "test.example.com", "anne@example.com", Regular); err != nil {
		t.Errorf("member added in s1 not seen by s2: %v", err)
	}

	if err := s2.SetListSetting(ctx, a, "emergency", "yes"); err != nil {
		t.Fatal(err)
	}
	if l, err := s1.ListByID(ctx, "test.example.com"); err != nil || !l.Emergency {
		t.Errorf("setting changed in s2 not seen by s1: %+v, %v", l, err)
	}

	if err := s2.RemoveMembers(ctx, a, Regular, []string{"anne@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Member(ctx, "test.example.com", "anne@example.com", Regular); !errors.Is(err, ErrNoSuchMember) {
		t.Errorf("member removed in s2 still seen by s1: %v", err)
	}

	tok, err := s1.AddPending(ctx, "test.example.com", "subscription", "x", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.TakePending(ctx, tok); err != nil {
		t.Errorf("request added in s1 not taken by s2: %v", err)
	}
	if _, err := s1.TakePending(ctx, tok); !errors.Is(err, ErrNoSuchToken) {
		t.Errorf("request taken in s2 taken again in s1: %v", err)
	}

	id, _, err := s2.Hold(ctx, &HeldMessage{ListID: "test.example.com", Message: []byte("x")}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.HeldMessage(ctx, id); err != nil {
		t.Errorf("message held in s2 not seen by s1: %v", err)
	}

	if err := s1.RemoveList(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.List(ctx, a); !errors.Is(err, ErrNoSuchList) {
		t.Errorf("list removed in s1 still seen by s2: %v", err)
	}
	if _, err := s2.HeldMessage(ctx, id); !errors.Is(err, ErrNoSuchHeld) {
		t.Errorf("held message of a list removed in s1 still seen by s2: %v", err)
	}
}

// A write that cannot get the write lock in time fails with ErrUnavailable
// (to be retried), not as the message's fault. SQLite only: it is about
// its one write lock and busy_timeout; TestUnavailablePostgres is
// PostgreSQL's.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	db := sqliteBackend.newDB(t)
	s := db.open(t)
	a := createList(t, s, "test@example.com").Address

	// Hold the write lock from another store.
	holder := db.open(t)
	tx, err := holder.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE lists SET description = 'locked'`); err != nil {
		t.Fatal(err)
	}

	// One connection, told not to wait for the lock.
	s.db.SetMaxOpenConns(1)
	if _, err := s.db.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"SetListSetting": func() error { return s.SetListSetting(ctx, a, "emergency", "yes") },
		"AddMembers": func() error {
			_, err := s.AddMembers(ctx, a, Regular, []string{"anne@example.com"}, nil)
			return err
		},
		"AddPending": func() error {
			_, err := s.AddPending(ctx, "", "x", "x", time.Hour)
			return err
		},
		"RemoveList": func() error { return s.RemoveList(ctx, a) },
	} {
		if err := f(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s while another store holds the write lock = %v, want ErrUnavailable", name, err)
		}
	}
	// Reads go on (WAL): they see the last commit.
	if l, err := s.List(ctx, a); err != nil || l.Description != "" {
		t.Errorf("List while another store holds the write lock = %+v, %v", l, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetListSetting(ctx, a, "emergency", "yes"); err != nil {
		t.Errorf("SetListSetting once the lock is released: %v", err)
	}

	// Errors of the package itself are not ErrUnavailable.
	for _, err := range []error{
		func() error { _, err := s.ListByID(ctx, "missing.example.com"); return err }(),
		s.SetListSetting(ctx, a, "nonexistent", "x"),
		func() error { _, err := s.CreateList(ctx, NewList{Address: a}); return err }(),
	} {
		if err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("error %v marked unavailable", err)
		}
	}
}

// Member.String() reads back, through ParseMemberAddress (or a mail reader),
// as the same member, and holds no line break. Regression: it pasted the
// display name in front of the address as it was, so a name with a comma
// or quotes became another address or another name, and a name that came
// in as an encoded word holding CR LF (which ParseMemberAddress accepts)
// put a line break, hence a header, into anything built from it.
func TestMemberStringRoundTrip(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := createList(t, s, "test@example.com").Address
		for _, in := range []string{
			"Anne <anne@example.com>",
			"plain@example.com",
			"=?utf-8?q?Ren=C3=A9e?= <renee@example.com>",
			`"Person, Anne" <anne.person@example.com>`,
			`"Bob \"the Admin\" Smith" <bob@example.com>`,
			`"Carl (not a comment)" <carl@example.com>`,
			"=?utf-8?b?RXZlDQpCY2M6IHZpY3RpbUBleGFtcGxlLmNvbQ==?= <eve@example.com>", // "Eve\r\nBcc: victim@example.com"
		} {
			addMembers(t, s, a, Regular, in)
			addr, _, err := ParseMemberAddress(in)
			if err != nil {
				t.Fatal(err)
			}
			m, err := s.Member(ctx, "test.example.com", addr, Regular)
			if err != nil {
				t.Fatalf("Member(%s): %v", addr, err)
			}
			str := m.String()
			if strings.ContainsAny(str, "\r\n") {
				t.Errorf("Member{%q, %q}.String() = %q holds a line break", m.DisplayName, m.Address, str)
				continue
			}
			back, name, err := ParseMemberAddress(str)
			if err != nil || back != m.Address || name != m.DisplayName {
				t.Errorf("Member{%q, %q}.String() = %q, which reads back as %q, %q, %v", m.DisplayName, m.Address, str, back, name, err)
			}
		}
	})
}

// checkOpenExistingWaits opens the unavailable store at dbURL with
// OpenExisting and a retry func, gives it back with restore 400 ms later,
// and checks that OpenExisting waited, doubling its waits, and opened the
// store with its list test@example.com.
func checkOpenExistingWaits(t *testing.T, dbURL, varDir string, restore func()) {
	t.Helper()
	ctx := context.Background()
	var retries []time.Duration
	back := make(chan struct{})
	go func() {
		time.Sleep(400 * time.Millisecond)
		restore()
		close(back)
	}()
	st, err := OpenExisting(ctx, dbURL, varDir, func(err error, wait time.Duration) {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("retry told %v, want ErrUnavailable", err)
		}
		retries = append(retries, wait)
	})
	<-back
	if err != nil {
		t.Fatalf("OpenExisting once the database is back: %v", err)
	}
	defer st.Close()
	if l, err := st.ListByID(ctx, "test.example.com"); err != nil || l == nil {
		t.Errorf("the list after the database came back: %v, %v", l, err)
	}
	if len(retries) < 2 || retries[1] != 2*retries[0] {
		t.Errorf("waits %v: want at least two, doubling", retries)
	}
}

// A runner's store is never made anew: with the database missing,
// OpenExisting fails as unavailable (and makes no file), waits for it when
// asked to, and opens it once it is back. SQLite only: it is about a file
// gone; TestOpenExistingPostgres is a server down.
func TestOpenExisting(t *testing.T) {
	ctx := context.Background()
	varDir := t.TempDir()
	file := config.PathsIn(varDir).Database
	if _, err := OpenExisting(ctx, "", varDir, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("OpenExisting of no database: %v, want ErrUnavailable", err)
	}
	if _, err := os.Stat(filepath.Dir(file)); !os.IsNotExist(err) {
		t.Fatalf("OpenExisting made %s: %v", filepath.Dir(file), err)
	}
	made, err := Open(ctx, "", varDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := made.CreateList(ctx, NewList{Address: ListAddress{Name: "test", Domain: "example.com"}}); err != nil {
		t.Fatal(err)
	}
	made.Close()

	// The folder moved away, as by a postmaster, then back.
	moved := filepath.Join(varDir, "elsewhere")
	if err := os.Rename(filepath.Dir(file), moved); err != nil {
		t.Fatal(err)
	}
	checkOpenExistingWaits(t, "", varDir, func() { os.Rename(moved, filepath.Dir(file)) })

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := OpenExisting(cancelled, "", t.TempDir(), func(error, time.Duration) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("OpenExisting with ctx done: %v, want context.Canceled", err)
	}
}
