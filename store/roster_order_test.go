package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A roster's version changes with whatever its members' entries show, and
// pages cut from the order kept follow every change.
func TestRosterVersionAndPages(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		ant := createList(t, s, "ant@example.com")
		bee := createList(t, s, "bee@example.com")
		addMembers(t, s, ant.Address, Regular, "b@example.com", "c@example.com", "d@example.com")
		page := func() []string {
			t.Helper()
			ms, total, err := s.FindMembers(ctx, MemberQuery{ListID: ant.ListID, Role: Regular, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			return append(memberEmails(ms), fmt.Sprint(total))
		}
		version := func() int64 {
			t.Helper()
			v, err := s.RosterVersion(ctx, ant.ListID)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		m := func(a string) string { return a + "/member" }
		for _, tc := range []struct {
			name    string
			change  func() error
			changes bool // the version
			want    []string
		}{
			{"a member added", func() error {
				_, err := s.AddMembers(ctx, ant.Address, Regular, []string{"a@example.com"}, nil)
				return err
			}, true, []string{m("a@example.com"), m("b@example.com"), "4"}},
			{"a member removed", func() error { return s.RemoveMembers(ctx, ant.Address, Regular, []string{"a@example.com"}) },
				true, []string{m("b@example.com"), m("c@example.com"), "3"}},
			{"a member's option", func() error {
				return s.SetMemberOption(ctx, ant.Address, "b@example.com", Regular, "moderation_action", "hold")
			}, true, []string{m("b@example.com"), m("c@example.com"), "3"}},
			{"an address given to a user", func() error {
				u, err := s.CreateUser(ctx, NewUser{Email: "x@example.com"})
				if err != nil {
					return err
				}
				_, err = s.AddUserAddress(ctx, u.UserID, "c@example.com", "", true)
				return err
			}, true, []string{m("b@example.com"), m("c@example.com"), "3"}},
			{"another list's member", func() error {
				_, err := s.AddMembers(ctx, bee.Address, Regular, []string{"a@example.com"}, nil)
				return err
			}, false, []string{m("b@example.com"), m("c@example.com"), "3"}},
			{"an owner, in another roster of the list", func() error {
				_, err := s.AddMembers(ctx, ant.Address, Owner, []string{"a@example.com"}, nil)
				return err
			}, true, []string{m("b@example.com"), m("c@example.com"), "3"}},
		} {
			before := version()
			page() // the order is kept at before
			if err := tc.change(); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if changed := version() != before; changed != tc.changes {
				t.Errorf("%s: version changed %v, want %v", tc.name, changed, tc.changes)
			}
			if got := page(); !slices.Equal(got, tc.want) {
				t.Errorf("%s: first page %v, want %v", tc.name, got, tc.want)
			}
		}
		ms, _, err := s.FindMembers(ctx, MemberQuery{ListID: ant.ListID, Role: Regular, Limit: -1})
		if err != nil || len(ms) != 3 || ms[0].ModerationAction != "hold" || ms[1].UserID == "" {
			t.Errorf("the whole roster after the changes: %+v, %v", ms, err)
		}
		// A list made again in the place of one removed shows its own
		// members, whatever was kept of its predecessor's.
		if err := s.RemoveList(ctx, ant.Address); err != nil {
			t.Fatal(err)
		}
		ant = createList(t, s, "ant@example.com")
		addMembers(t, s, ant.Address, Regular, "y@example.com", "z@example.com", "zz@example.com")
		if got, want := page(), []string{m("y@example.com"), m("z@example.com"), "3"}; !slices.Equal(got, want) {
			t.Errorf("the list made again: first page %v, want %v", got, want)
		}
	})
}

// A big roster read whole, in parts at once, is the roster in order, as
// its pages give it.
func TestWholeRosterInParts(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		ant := createList(t, s, "ant@example.com")
		addrs := make([]string, 20011)
		for i := range addrs {
			addrs[i] = fmt.Sprintf("m%05d@example.com", (i*7919)%len(addrs))
		}
		addMembers(t, s, ant.Address, Regular, addrs...)
		whole, total, err := s.FindMembers(ctx, MemberQuery{ListID: ant.ListID, Role: Regular, Limit: -1})
		if err != nil || total != len(addrs) {
			t.Fatalf("whole roster: %d, %v", total, err)
		}
		var paged []Member
		for off := 0; off < total; off += 5000 {
			ms, _, err := s.FindMembers(ctx, MemberQuery{ListID: ant.ListID, Role: Regular, Offset: off, Limit: 5000})
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, ms...)
		}
		if !slices.Equal(memberEmails(whole), memberEmails(paged)) {
			t.Errorf("the whole roster is not its pages")
		}
		if !slices.IsSortedFunc(whole, func(a, b Member) int { return strings.Compare(a.Address, b.Address) }) || whole[0].ListID != ant.ListID {
			t.Errorf("the whole roster is out of order, or lacks its list: %+v", whole[0])
		}
	})
}
