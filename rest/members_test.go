package rest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/store"
)

// appendMember writes what encoding/json writes of the same member, keys
// sorted as Mailman sorts them, whatever its strings hold.
func TestAppendMember(t *testing.T) {
	s := newSite(t)
	at := time.Date(2026, 12, 4, 1, 2, 3, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		version string
		m       store.Member
		want    map[string]any
	}{
		{"plain, 3.1", "3.1",
			store.Member{MemberID: store.MemberID(7), ListID: "ant.example.com", Address: "Anne@Example.com", Role: store.Regular,
				SubscriptionMode: "as_address", DeliveryMode: "regular"},
			map[string]any{"address": "http://127.0.0.1:8001/3.1/addresses/anne@example.com", "bounce_score": 0, "delivery_mode": "regular",
				"email": "anne@example.com", "last_warning_sent": "0001-01-01T00:00:00", "list_id": "ant.example.com",
				"member_id": "00000000000000000000000000000007", "role": "member", "self_link": "http://127.0.0.1:8001/3.1/members/00000000000000000000000000000007",
				"subscription_mode": "as_address", "total_warnings_sent": 0}},
		{"everything, 3.0 ids", "3.0",
			store.Member{MemberID: store.MemberID(255), ListID: "ant.example.com", Address: "o'hara&co@example.com", DisplayName: "Zoë \"Z\" <O'Hara>\u2028",
				Role: store.Owner, SubscriptionMode: "as_user", DeliveryMode: "mime_digests", ModerationAction: "hold", UserID: "0000000000000000000000000000000a",
				BounceScore: 3, TotalWarningsSent: 2, LastBounceReceived: at, LastWarningSent: at},
			map[string]any{"address": "http://127.0.0.1:8001/3.0/addresses/o%27hara&co@example.com", "bounce_score": 3, "delivery_mode": "mime_digests",
				"display_name": "Zoë \"Z\" <O'Hara>\u2028", "email": "o'hara&co@example.com", "last_bounce_received": "2026-12-04T01:02:03.000000",
				"last_warning_sent": "2026-12-04T01:02:03.000000", "list_id": "ant.example.com", "member_id": json.Number("255"), "moderation_action": "hold",
				"role": "owner", "self_link": "http://127.0.0.1:8001/3.0/members/255", "subscription_mode": "as_user", "total_warnings_sent": 2,
				"user": "http://127.0.0.1:8001/3.0/users/10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &call{s: s.srv.Config.Handler.(*Server), version: tc.version}
			c.linkBase = c.s.linkBase(tc.version)
			want, err := json.Marshal(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.appendMember(nil, &tc.m); string(got) != string(want) {
				t.Errorf("appendMember:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// A whole roster is answered from its encoding kept only while the list's
// roster is unchanged: a change to a member, a member gone or come, an
// address unlinked, a user removed with their addresses are all seen at
// once.
func TestWholeRosterFollowsChanges(t *testing.T) {
	onBackends(t, func(t *testing.T, s *site) {
		s.setup()
		for _, a := range []string{"anne@example.com", "bob@example.com"} {
			s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", a, "pre_verified", "true", "pre_confirmed", "true", "pre_approved", "true")), 201, "subscribe "+a)
		}
		roster := func() []map[string]any {
			return entries(s.must(s.do("GET", "/3.1/lists/ant.example.com/roster/member", nil), 200, "roster"))
		}
		first := roster()
		if len(first) != 2 {
			t.Fatalf("roster: %v", first)
		}
		for _, tc := range []struct {
			name   string
			change func()
			check  func(es []map[string]any) bool
		}{
			{"a member's moderation action", func() {
				s.must(s.do("PATCH", s.path(first[0]["self_link"].(string)), form("moderation_action", "hold")), 204, "PATCH")
			}, func(es []map[string]any) bool { return len(es) == 2 && es[0]["moderation_action"] == "hold" }},
			{"a member come", func() {
				s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "carl@example.com", "pre_verified", "true", "pre_confirmed", "true", "pre_approved", "true")), 201, "subscribe carl")
			}, func(es []map[string]any) bool { return len(es) == 3 && es[2]["email"] == "carl@example.com" }},
			{"a member gone", func() {
				s.must(s.do("DELETE", s.path(first[1]["self_link"].(string)), nil), 204, "DELETE")
			}, func(es []map[string]any) bool { return len(es) == 2 && es[1]["email"] == "carl@example.com" }},
			{"an address unlinked from its user", func() {
				s.must(s.do("DELETE", "/3.1/addresses/carl@example.com/user", nil), 204, "unlink carl")
			}, func(es []map[string]any) bool { return len(es) == 2 && es[1]["user"] == nil && es[0]["user"] != nil }},
			{"a user removed, and their memberships", func() {
				s.must(s.do("DELETE", s.path(first[0]["user"].(string)), nil), 204, "DELETE user")
			}, func(es []map[string]any) bool { return len(es) == 1 && es[0]["email"] == "carl@example.com" }},
		} {
			tc.change()
			if es := roster(); !tc.check(es) {
				t.Errorf("after %s: %v", tc.name, es)
			}
		}
	})
}

// A user subscribed by user id is a membership as_user, which follows the
// user's preferred address; the preferences set for the user reach it.
func TestSubscribedAsUser(t *testing.T) {
	onBackends(t, func(t *testing.T, s *site) {
		s.setup()
		r := s.must(s.do("POST", "/3.1/users", form("email", "anne@example.com", "display_name", "Anne Person")), 201, "POST users")
		userPath := s.path(r.location)
		s.must(s.do("POST", userPath+"/addresses", form("email", "anne@work.example.com")), 201, "second address")
		for _, a := range []string{"anne@example.com", "anne@work.example.com"} {
			s.must(s.do("POST", "/3.1/addresses/"+a+"/verify", nil), 204, "verify "+a)
		}
		s.must(s.do("POST", userPath+"/preferred_address", form("email", "anne@example.com")), 201, "preferred address")
		userID := strings.TrimPrefix(userPath, "/3.1/users/")
		s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", userID, "pre_verified", "true", "pre_confirmed", "true", "pre_approved", "true")), 201, "subscribe the user")
		member := func() map[string]any {
			es := entries(s.must(s.do("GET", "/3.1/lists/ant.example.com/roster/member", nil), 200, "roster"))
			if len(es) != 1 {
				t.Fatalf("roster: %v", es)
			}
			return es[0]
		}
		if m := member(); m["subscription_mode"] != "as_user" || m["email"] != "anne@example.com" {
			t.Errorf("subscribed by user id: %v", m)
		}
		s.must(s.do("POST", userPath+"/preferred_address", form("email", "anne@work.example.com")), 201, "another preferred address")
		if m := member(); m["email"] != "anne@work.example.com" {
			t.Errorf("after the preferred address changed: %v", m)
		}
		s.must(s.do("PATCH", userPath+"/preferences", form("delivery_mode", "mime_digests")), 204, "the user's preferences")
		if m := member(); m["delivery_mode"] != "mime_digests" {
			t.Errorf("after the user's preference: %v", m)
		}
	})
}

// An invitation waits for the invitee alone, whatever the list's policy:
// they are sent an invitation, and no moderator is asked.
func TestInvitation(t *testing.T) {
	s := newSite(t)
	s.setup()
	s.must(s.do("PATCH", "/3.1/lists/ant.example.com/config", form("subscription_policy", "moderate")), 204, "moderate")
	r := s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "zoe@example.org", "invitation", "true")), 202, "invite")
	if r.body["token_owner"] != "subscriber" {
		t.Errorf("invitation: %s", r.raw)
	}
	msgs := queued(t, s.virgin)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Subject: You have been invited to join the ant@example.com mailing list.") ||
		!strings.Contains(msgs[0], "confirm "+r.body["token"].(string)) {
		t.Errorf("the invitation sent: %q", msgs)
	}
	if es := entries(s.must(s.do("GET", "/3.1/lists/ant.example.com/requests", form("token_owner", "moderator")), 200, "requests")); len(es) != 0 {
		t.Errorf("moderators asked: %v", es)
	}
}
