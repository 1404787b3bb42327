package store

import (
	"context"
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
