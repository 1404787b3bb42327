package store

import (
	"context"
	"errors"
	"testing"
)

func TestSetMemberOption(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		st := newStore(t, b)
		ctx := context.Background()
		a, _ := ParseListAddress("opts@example.com")
		if _, err := st.CreateList(ctx, NewList{Address: a}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddMembers(ctx, a, Regular, []string{"anne@example.com"}, nil); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, address, option, value string
			wantErr                      error
			check                        func(m *Member) bool
		}{
			{"moderate a member", "anne@example.com", "moderation_action", "hold", nil, func(m *Member) bool { return m.ModerationAction == "hold" }},
			{"back to the default", "ANNE@example.com", "moderation_action", "", nil, func(m *Member) bool { return m.ModerationAction == "" }},
			{"no mail", "anne@example.com", "delivery_enabled", "false", nil, func(m *Member) bool { return !m.DeliveryEnabled }},
			{"not own posts", "anne@example.com", "receive_own_postings", "false", nil, func(m *Member) bool { return !m.ReceiveOwnPostings }},
			{"no list copy", "anne@example.com", "receive_list_copy", "false", nil, func(m *Member) bool { return !m.ReceiveListCopy }},
			{"digests", "anne@example.com", "delivery_mode", "mime_digests", nil, func(m *Member) bool { return m.DeliveryMode == "mime_digests" }},
			{"bad delivery mode", "anne@example.com", "delivery_mode", "digest", ErrBadValue, nil},
			{"bad action", "anne@example.com", "moderation_action", "shout", ErrBadValue, nil},
			{"bad bool", "anne@example.com", "delivery_enabled", "maybe", ErrBadValue, nil},
			{"unknown option", "anne@example.com", "colour", "red", ErrUnknownSetting, nil},
			{"not a member", "bart@example.com", "moderation_action", "hold", ErrNoSuchMember, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := st.SetMemberOption(ctx, a, tt.address, Regular, tt.option, tt.value)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("SetMemberOption: %v, want %v", err, tt.wantErr)
				}
				if tt.check == nil {
					return
				}
				m, err := st.Member(ctx, a.ListID(), tt.address, Regular)
				if err != nil {
					t.Fatal(err)
				}
				if !tt.check(m) {
					t.Errorf("member after the change: %+v", m)
				}
			})
		}
	})
}
