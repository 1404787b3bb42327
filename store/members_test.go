package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

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
