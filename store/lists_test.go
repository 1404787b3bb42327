package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

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
			AutomaticPostAction:        "hold",
			ProcessBounces:             true, BounceScoreThreshold: 5, BounceInfoStaleAfter: 7,
			BounceYouAreDisabledWarnings: 3, BounceYouAreDisabledWarningsInterval: 7,
			BounceNotifyOwnerOnDisable: true, BounceNotifyOwnerOnRemoval: true,
			ForwardUnrecognizedBouncesTo: "administrators",
			Advertised:                   true,
			Volume:                       1,
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
		for _, name := range []string{"A.B@example.com", "a.b.Example.com"} {
			if l, err := s.FindList(ctx, name); err != nil || l.PostingAddress != "a.b@example.com" {
				t.Errorf("FindList(%s) = %+v, %v; want a.b@example.com", name, l, err)
			}
		}
		for _, name := range []string{"a@b.example.com", "a.b.example.org"} {
			if _, err := s.FindList(ctx, name); !errors.Is(err, ErrNoSuchList) {
				t.Errorf("FindList(%s) = %v, want ErrNoSuchList", name, err)
			}
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
	if len(keys) != len(settings)+len(extraSettings) {
		t.Errorf("Settings() has %d keys, the tables %d", len(keys), len(settings)+len(extraSettings))
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
			{"automatic_post_action", "discard", func(l *List) any { return l.AutomaticPostAction }, "discard"},
			{"automatic_post_action", "accept", func(l *List) any { return l.AutomaticPostAction }, "accept"},
			// bounce processing
			{"process_bounces", "no", func(l *List) any { return l.ProcessBounces }, false},
			{"bounce_score_threshold", "1", func(l *List) any { return l.BounceScoreThreshold }, 1},
			{"bounce_info_stale_after", "14", func(l *List) any { return l.BounceInfoStaleAfter }, 14},
			{"bounce_you_are_disabled_warnings", "0", func(l *List) any { return l.BounceYouAreDisabledWarnings }, 0},
			{"bounce_you_are_disabled_warnings_interval", "2", func(l *List) any { return l.BounceYouAreDisabledWarningsInterval }, 2},
			{"bounce_notify_owner_on_bounce_increment", "yes", func(l *List) any { return l.BounceNotifyOwnerOnBounceIncrement }, true},
			{"bounce_notify_owner_on_disable", "no", func(l *List) any { return l.BounceNotifyOwnerOnDisable }, false},
			{"bounce_notify_owner_on_removal", "no", func(l *List) any { return l.BounceNotifyOwnerOnRemoval }, false},
			{"forward_unrecognized_bounces_to", "site_owner", func(l *List) any { return l.ForwardUnrecognizedBouncesTo }, "site_owner"},
			{"forward_unrecognized_bounces_to", "discard", func(l *List) any { return l.ForwardUnrecognizedBouncesTo }, "discard"},
			{"advertised", "disabled", func(l *List) any { return l.Advertised }, false},
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
		for k := range settings {
			if !covered[k] {
				t.Errorf("setting %s is not tested", k)
			}
		}

		// A setting kept beside the list's row is checked as the API
		// checks it.
		if err := s.SetListSetting(ctx, a, "digest_size_threshold", "0.5"); err != nil {
			t.Fatalf("SetListSetting(digest_size_threshold): %v", err)
		}
		if set, err := s.DigestSettings(ctx, a.ListID()); err != nil || set.Threshold != 0.5 {
			t.Errorf("after SetListSetting(digest_size_threshold, 0.5): %+v, %v", set, err)
		}
		if err := s.SetListSetting(ctx, a, "digest_volume_frequency", "fortnightly"); !errors.Is(err, ErrBadValue) {
			t.Errorf("SetListSetting(digest_volume_frequency, fortnightly) = %v, want ErrBadValue", err)
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
			{"administrivia", "maybe"},
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
			{"automatic_post_action", "reject"},
			{"forward_unrecognized_bounces_to", "owners"},
			{"bounce_score_threshold", "-1"},
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

// TestCreateListRefusesAddressClashes: a list may not take another's
// sub-address as its posting address, nor have one of its sub-addresses
// be another's posting address, whichever is created first.
func TestCreateListRefusesAddressClashes(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		tests := []struct {
			existing, created string
			clash             bool
		}{
			{"s2@example.com", "s2-owner@example.com", true},
			{"s2@example.com", "s2-bounces@example.com", true},
			{"s2@example.com", "s2-unsubscribe@example.com", true},
			{"s2-owner@example.com", "s2@example.com", true},
			{"s2-confirm@example.com", "s2@example.com", true},
			{"s2@example.com", "s2-owner@example.org", false},
			{"s2@example.com", "s2-news@example.com", false},
			{"s2-news@example.com", "s2@example.com", false},
			{"s2@example.com", "s3-owner@example.com", false},
		}
		for _, tt := range tests {
			t.Run(tt.existing+" then "+tt.created, func(t *testing.T) {
				s := b.newDB(t).open(t)
				createList(t, s, tt.existing)
				_, err := s.CreateList(context.Background(), NewList{Address: listAddr(t, tt.created)})
				if tt.clash != errors.Is(err, ErrAddressClash) || (!tt.clash && err != nil) {
					t.Errorf("CreateList(%s): %v, want a clash: %v", tt.created, err, tt.clash)
				}
				if tt.clash {
					// A site moved from Mailman may have such lists.
					if _, err := s.CreateList(context.Background(), NewList{Address: listAddr(t, tt.created), AllowAddressClash: true}); err != nil {
						t.Errorf("CreateList(%s) allowing the clash: %v", tt.created, err)
					}
				}
			})
		}
	})
}

// TestCreateListSettings: a new list starts with the settings the site
// gives it, under those of its style.
func TestCreateListSettings(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := listAddr(t, "new@example.com")
		if _, err := s.CreateList(ctx, NewList{Address: a, Style: "private-default",
			Settings: map[string]any{"dmarc_mitigate_action": "munge_from", "archive_policy": "public"}}); err != nil {
			t.Fatal(err)
		}
		if d, err := s.DMARCSettings(ctx, a.ListID()); err != nil || d.Action != "munge_from" {
			t.Errorf("DMARCSettings = %+v, %v; want munge_from", d, err)
		}
		if policy, _, err := s.ListArchiving(ctx, a.ListID()); err != nil || policy != "private" {
			t.Errorf("archive_policy %q, %v; the style's private wins", policy, err)
		}
		if _, err := s.CreateList(ctx, NewList{Address: listAddr(t, "other@example.com"), Settings: map[string]any{"bogus": 1}}); !errors.Is(err, ErrUnknownSetting) {
			t.Errorf("an unknown setting: %v", err)
		}
	})
}
