package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// memberEmails is the addresses of ms, in order.
func memberEmails(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Address+"/"+string(m.Role))
	}
	return out
}

// FindMembers selects by list, address, pattern, user id and role, pages
// in Mailman's order and counts all it selects.
func TestFindMembers(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		ant := createList(t, s, "ant@example.com", "owner@example.com")
		bee := createList(t, s, "bee@example.org")
		addMembers(t, s, ant.Address, Regular, "Anne Person <anne@example.com>", "bob@example.com", "carl@example.net")
		addMembers(t, s, bee.Address, Regular, "anne@example.com")
		addMembers(t, s, ant.Address, Nonmember, "eve@example.com")
		anne, err := s.FindUser(ctx, "ANNE@example.com")
		if err != nil {
			t.Fatalf("FindUser(anne): %v", err)
		}
		for _, tc := range []struct {
			name  string
			q     MemberQuery
			want  []string
			total int
		}{
			{"a list's members", MemberQuery{ListID: ant.ListID, Role: Regular, Limit: -1},
				[]string{"anne@example.com/member", "bob@example.com/member", "carl@example.net/member"}, 3},
			{"every role", MemberQuery{ListID: ant.ListID, Limit: -1},
				[]string{"anne@example.com/member", "bob@example.com/member", "carl@example.net/member", "eve@example.com/nonmember", "owner@example.com/owner"}, 5},
			{"one address on every list", MemberQuery{Subscriber: "Anne@Example.com", Limit: -1},
				[]string{"anne@example.com/member", "anne@example.com/member"}, 2},
			{"a user id", MemberQuery{Subscriber: anne.UserID, Limit: -1},
				[]string{"anne@example.com/member", "anne@example.com/member"}, 2},
			{"a pattern on the address", MemberQuery{ListID: ant.ListID, Subscriber: "*example.net*", Limit: -1},
				[]string{"carl@example.net/member"}, 1},
			{"a pattern on the name", MemberQuery{Subscriber: "*person*", Limit: -1},
				[]string{"anne@example.com/member"}, 1},
			{"a pattern's % is literal", MemberQuery{Subscriber: "%", Limit: -1}, nil, 0},
			{"the second page", MemberQuery{ListID: ant.ListID, Offset: 2, Limit: 2},
				[]string{"carl@example.net/member", "eve@example.com/nonmember"}, 5},
			{"past the end", MemberQuery{ListID: ant.ListID, Offset: 10, Limit: 2}, nil, 5},
			{"no list", MemberQuery{ListID: "none.example.com", Limit: -1}, nil, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ms, total, err := s.FindMembers(ctx, tc.q)
				if err != nil || total != tc.total || !slices.Equal(memberEmails(ms), tc.want) {
					t.Errorf("FindMembers(%+v) = %v, %d, %v; want %v, %d", tc.q, memberEmails(ms), total, err, tc.want, tc.total)
				}
				for _, m := range ms {
					byID, err := s.MemberByID(ctx, m.MemberID)
					if err != nil || byID.Address != m.Address || byID.ListID != m.ListID || byID.Role != m.Role {
						t.Errorf("MemberByID(%s) = %+v, %v; want %+v", m.MemberID, byID, err, m)
					}
				}
			})
		}
		// A bulk addition makes its users set-based, one by one below
		// bulkLink: both give every address its user.
		var many []string
		for i := range bulkLink + 1 {
			many = append(many, fmt.Sprintf("bulk%d@example.net", i))
		}
		addMembers(t, s, bee.Address, Regular, many...)
		for _, a := range []string{"bulk0@example.net", "carl@example.net"} {
			if u, err := s.FindUser(ctx, a); err != nil || len(u.UserID) != 32 {
				t.Errorf("FindUser(%s) = %+v, %v", a, u, err)
			}
		}
		// member_count follows additions, bulk or not, and removals; other
		// roles do not count.
		count := func(l *List) int {
			ls, _, err := s.FindLists(ctx, ListQuery{ListID: l.ListID, Limit: -1})
			if err != nil || len(ls) != 1 {
				t.Fatalf("FindLists(%s) = %v, %v", l.ListID, ls, err)
			}
			return ls[0].MemberCount
		}
		if n := count(ant); n != 3 {
			t.Errorf("ant's member_count %d, want 3", n)
		}
		if n := count(bee); n != bulkLink+2 {
			t.Errorf("bee's member_count %d, want %d", n, bulkLink+2)
		}
		if err := s.RemoveMembers(ctx, ant.Address, Regular, []string{"bob@example.com"}); err != nil {
			t.Fatal(err)
		}
		if n := count(ant); n != 2 {
			t.Errorf("ant's member_count after a removal %d, want 2", n)
		}
		if _, err := s.MemberByID(ctx, "zz"); !errors.Is(err, ErrNoSuchMember) {
			t.Errorf("MemberByID(zz): %v, want ErrNoSuchMember", err)
		}
	})
}

// Users hold addresses; an address moves between users only when
// absorbed; only a verified address of the user's own can be preferred.
func TestUsersAndAddresses(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		u, err := s.CreateUser(ctx, NewUser{Email: "Anne Person <Anne@Example.com>", Password: "secret"})
		if err != nil {
			t.Fatal(err)
		}
		if u.DisplayName != "Anne Person" || len(u.UserID) != 32 || u.Password == "secret" {
			t.Errorf("CreateUser = %+v", u)
		}
		if ok, err := s.CheckUserPassword(ctx, u.UserID, "secret"); !ok || err != nil {
			t.Errorf("CheckUserPassword(right) = %v, %v", ok, err)
		}
		if ok, _ := s.CheckUserPassword(ctx, u.UserID, "wrong"); ok {
			t.Errorf("CheckUserPassword(wrong) = true")
		}
		if _, err := s.CreateUser(ctx, NewUser{Email: "anne@example.com"}); !errors.Is(err, ErrAddressExists) {
			t.Errorf("a second user with anne's address: %v, want ErrAddressExists", err)
		}
		if err := s.SetPreferredAddress(ctx, u.UserID, "anne@example.com"); !errors.Is(err, ErrUnverified) {
			t.Errorf("preferring an unverified address: %v, want ErrUnverified", err)
		}
		if err := s.SetAddressVerified(ctx, "anne@example.com", true); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPreferredAddress(ctx, u.UserID, "anne@example.com"); err != nil {
			t.Fatal(err)
		}
		other, err := s.CreateUser(ctx, NewUser{Email: "a2@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddUserAddress(ctx, other.UserID, "anne@example.com", "", false); !errors.Is(err, ErrAddressExists) {
			t.Errorf("taking anne's address without absorb: %v", err)
		}
		if a, err := s.AddUserAddress(ctx, other.UserID, "anne@example.com", "", true); err != nil || a.UserID != other.UserID {
			t.Errorf("absorbing anne's address = %+v, %v", a, err)
		}
		if u, _ := s.User(ctx, u.UserID); u.PreferredAddress != "" {
			t.Errorf("the address went, the preference stayed: %+v", u)
		}
		as, total, err := s.Addresses(ctx, other.UserID, 0, -1)
		if err != nil || total != 2 || len(as) != 2 || as[0].OriginalEmail != "Anne@example.com" {
			t.Errorf("Addresses(other) = %+v, %d, %v", as, total, err)
		}
		if err := s.DeleteUser(ctx, other.UserID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Address(ctx, "anne@example.com"); !errors.Is(err, ErrNoSuchAddress) {
			t.Errorf("an address of a deleted user: %v", err)
		}
		us, total, err := s.Users(ctx, 0, -1)
		if err != nil || total != 1 || len(us) != 1 || us[0].UserID != u.UserID {
			t.Errorf("Users = %+v, %d, %v", us, total, err)
		}
	})
}

// Lists made from the command line bring their domain; the API's need it.
func TestDomains(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		createList(t, s, "ant@example.com")
		if d, err := s.Domain(ctx, "example.com"); err != nil || d.MailHost != "example.com" {
			t.Errorf("the domain of a new list = %+v, %v", d, err)
		}
		if _, err := s.CreateList(ctx, NewList{Address: listAddr(t, "x@example.org"), RequireDomain: true}); !errors.Is(err, ErrNoSuchDomain) {
			t.Errorf("a list in an unknown domain: %v, want ErrNoSuchDomain", err)
		}
		if _, err := s.CreateDomain(ctx, Domain{MailHost: "Example.org", Description: "Org"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateDomain(ctx, Domain{MailHost: "example.org"}); !errors.Is(err, ErrDomainExists) {
			t.Errorf("a second example.org: %v", err)
		}
		if err := s.AddDomainOwner(ctx, "example.org", "boss@example.org"); err != nil {
			t.Fatal(err)
		}
		if os, err := s.DomainOwners(ctx, "example.org"); err != nil || len(os) != 1 {
			t.Errorf("DomainOwners = %+v, %v", os, err)
		}
		ds, err := s.Domains(ctx)
		if err != nil || len(ds) != 2 || ds[1].Description != "Org" {
			t.Errorf("Domains = %+v, %v", ds, err)
		}
		if err := s.DeleteDomain(ctx, "example.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FindList(ctx, "ant@example.com"); !errors.Is(err, ErrNoSuchList) {
			t.Errorf("a list of a deleted domain: %v", err)
		}
	})
}
