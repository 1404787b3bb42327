package lmtp

import (
	"context"
	"errors"
	"testing"

	"github.com/mailman-go/mailman/store"
)

func TestResolve(t *testing.T) {
	lists := map[string]bool{
		"test@example.com": true, "test-join@example.com": true, "join@example.com": true,
		"-join@example.com": true, "my-list@example.com": true,
		"longer_than_15_bytes@example.com": true, "mylist@example.com": true,
	}
	exists := func(_ context.Context, a store.ListAddress) (bool, error) { return lists[a.String()], nil }
	cases := []struct {
		rcpt, list, sub string // list "" means no such list
	}{
		{"test@example.com", "test@example.com", ""},
		{"TEST@Example.COM", "test@example.com", ""},
		{"notalist@example.com", "", ""},
		{"test@x.example.com", "", ""},
		{"test-bogus@example.com", "", ""},
		{"test-request@example.com", "test@example.com", "request"},
		{"test-bounces@example.com", "test@example.com", "bounces"},
		{"test-bounces+anne=example.org@example.com", "test@example.com", "bounces"},
		{"test-confirm@example.com", "test@example.com", "confirm"},
		{"test-confirm+0123456789abcdef@example.com", "test@example.com", "confirm"},
		{"test-subscribe@example.com", "test@example.com", "join"},
		{"test-unsubscribe@example.com", "test@example.com", "leave"},
		{"test-leave@example.com", "test@example.com", "leave"},
		{"test-owner@example.com", "test@example.com", "owner"},
		// The dash rule: a list named like a sub-address is that list.
		{"test-join@example.com", "test-join@example.com", ""},
		{"test-join-join@example.com", "test-join@example.com", "join"},
		{"join@example.com", "join@example.com", ""},
		{"-join@example.com", "-join@example.com", ""},
		{"My-List@example.com", "my-list@example.com", ""},
		{"longer_than_15_bytes-confirm+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@example.com", "longer_than_15_bytes@example.com", "confirm"},
		// Hostile and malformed addresses are no list, never a crash.
		{"@example.com", "", ""},
		{"test", "", ""},
		{"../etc@example.com", "", ""},
		{"a/b@example.com", "", ""},
		{"te..st@example.com", "", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		got, err := resolve(context.Background(), c.rcpt, exists)
		if c.list == "" {
			if !errors.Is(err, errNoSuchList) {
				t.Errorf("resolve(%q) = %v, %v; want no such list", c.rcpt, got, err)
			}
			continue
		}
		if err != nil || got.list.String() != c.list || got.sub != c.sub {
			t.Errorf("resolve(%q) = %v %q, %v; want %s %q", c.rcpt, got.list, got.sub, err, c.list, c.sub)
		}
	}
}

func TestResolveDatabaseDown(t *testing.T) {
	down := errors.New("database unavailable")
	_, err := resolve(context.Background(), "test@example.com", func(context.Context, store.ListAddress) (bool, error) { return false, down })
	if !errors.Is(err, down) || errors.Is(err, errNoSuchList) {
		t.Errorf("resolve with the database down = %v", err)
	}
}
