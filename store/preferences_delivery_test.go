package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// Preferences set for a user or an address reach the columns delivery
// reads of every membership that does not set them itself, as Mailman
// resolves them: member, address, user, system.
func TestPreferenceLevelsReachDelivery(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		ant := createList(t, s, "ant@example.com")
		bee := createList(t, s, "bee@example.com")
		addMembers(t, s, ant.Address, Regular, "anne@example.com")
		u, err := s.FindUser(ctx, "anne@example.com")
		if err != nil {
			t.Fatal(err)
		}
		member := func(l *List) *Member {
			t.Helper()
			m, err := s.Member(ctx, l.ListID, "anne@example.com", Regular)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		antID := member(ant).MemberID
		set := func(owner string, kv ...string) func() error {
			return func() error {
				prefs := map[string]string{}
				for i := 0; i < len(kv); i += 2 {
					prefs[kv[i]] = kv[i+1]
				}
				return s.SetPreferences(ctx, owner, prefs, false)
			}
		}
		clear := func(owner string) func() error { return func() error { return s.DeletePreferences(ctx, owner) } }
		type want struct {
			ownPostings bool
			mode        string
			enabled     bool
			status      string
		}
		for _, tc := range []struct {
			name   string
			change func() error
			list   *List
			want   want
		}{
			{"the system's", func() error { return nil }, ant, want{true, "regular", true, "enabled"}},
			{"the user's", set(UserPrefs(u.UserID), "receive_own_postings", "false", "delivery_mode", "mime_digests"), ant, want{false, "mime_digests", true, "enabled"}},
			{"the address's over the user's", set(AddressPrefs("anne@example.com"), "receive_own_postings", "true"), ant, want{true, "mime_digests", true, "enabled"}},
			{"the member's over the address's", set(MemberPrefs(antID), "receive_own_postings", "false"), ant, want{false, "mime_digests", true, "enabled"}},
			{"the address's cleared: the member's holds", clear(AddressPrefs("anne@example.com")), ant, want{false, "mime_digests", true, "enabled"}},
			{"the member's cleared: the user's again", clear(MemberPrefs(antID)), ant, want{false, "mime_digests", true, "enabled"}},
			{"a new membership inherits", func() error {
				_, err := s.AddMembers(ctx, bee.Address, Regular, []string{"anne@example.com"}, nil)
				return err
			}, bee, want{false, "mime_digests", true, "enabled"}},
			{"a member's own option", func() error {
				return s.SetMemberOption(ctx, bee.Address, "anne@example.com", Regular, "delivery_mode", "regular")
			}, bee, want{false, "regular", true, "enabled"}},
			{"the user's change passes the member's own option", set(UserPrefs(u.UserID), "delivery_mode", "plaintext_digests"), bee, want{false, "regular", true, "enabled"}},
			{"and reaches the other membership", func() error { return nil }, ant, want{false, "plaintext_digests", true, "enabled"}},
			{"the user turns delivery off", set(UserPrefs(u.UserID), "delivery_status", ByUser), ant, want{false, "plaintext_digests", false, ByUser}},
			{"and on", set(UserPrefs(u.UserID), "delivery_status", "enabled"), ant, want{false, "plaintext_digests", true, "enabled"}},
			{"a moderator's off", func() error {
				return s.SetMemberOption(ctx, ant.Address, "anne@example.com", Regular, "delivery_enabled", "false")
			}, ant, want{false, "plaintext_digests", false, ByModerator}},
			{"is not undone by the user", set(UserPrefs(u.UserID), "delivery_status", "enabled", "receive_own_postings", "true"), ant, want{true, "plaintext_digests", false, ByModerator}},
			{"an address unlinked from its user", func() error { return s.UnlinkAddress(ctx, "anne@example.com") }, ant, want{true, "regular", false, ByModerator}},
		} {
			if err := tc.change(); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			m := member(tc.list)
			if got := (want{m.ReceiveOwnPostings, m.DeliveryMode, m.DeliveryEnabled, m.DeliveryStatus}); got != tc.want {
				t.Errorf("%s: %s's membership %+v, want %+v", tc.name, tc.list.ListID, got, tc.want)
			}
		}
	})
}

// SetMemberSettings sets many memberships' own preferences and moderation
// actions at once, with the same effect as one at a time; a bad value
// anywhere writes nothing.
func TestSetMemberSettings(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "ant@example.com")
		addMembers(t, s, l.Address, Regular, "anne@example.com", "bob@example.com", "cris@example.com")
		id := func(a string) string {
			m, err := s.Member(ctx, l.ListID, a, Regular)
			if err != nil {
				t.Fatal(err)
			}
			return m.MemberID
		}
		bad := []MemberSettings{{MemberID: id("anne@example.com"), Prefs: map[string]string{"receive_list_copy": "false"}},
			{MemberID: id("bob@example.com"), Prefs: map[string]string{"delivery_mode": "sometimes"}}}
		if err := s.SetMemberSettings(ctx, bad); !errors.Is(err, ErrBadValue) {
			t.Fatalf("a bad delivery_mode: %v", err)
		}
		if m, _ := s.Member(ctx, l.ListID, "anne@example.com", Regular); !m.ReceiveListCopy {
			t.Error("a refused call changed anne")
		}
		err := s.SetMemberSettings(ctx, []MemberSettings{
			{MemberID: id("anne@example.com"), Prefs: map[string]string{"receive_list_copy": "false", "hide_address": "false"}, ModerationAction: "hold"},
			{MemberID: id("bob@example.com"), Prefs: map[string]string{"delivery_mode": PlainDigests, "delivery_status": ByUser}},
			{MemberID: id("cris@example.com"), ModerationAction: "discard"},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			address, want string
		}{
			{"anne@example.com", "copy=false mode=regular enabled=true status=enabled action=hold hide=false"},
			{"bob@example.com", "copy=true mode=plaintext_digests enabled=false status=by_user action= hide=true"},
			{"cris@example.com", "copy=true mode=regular enabled=true status=enabled action=discard hide=true"},
		} {
			m, err := s.Member(ctx, l.ListID, tc.address, Regular)
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.EffectivePreferences(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("copy=%v mode=%s enabled=%v status=%s action=%s hide=%v", m.ReceiveListCopy, m.DeliveryMode, m.DeliveryEnabled, m.DeliveryStatus, m.ModerationAction, p["hide_address"])
			if got != tc.want {
				t.Errorf("%s: %s, want %s", tc.address, got, tc.want)
			}
		}
	})
}
