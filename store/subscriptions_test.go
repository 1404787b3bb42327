package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestAddressStatus(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		s := newStore(t, b)
		ctx := context.Background()
		l := createList(t, s, "test@example.com", "owner@example.com")
		addMembers(t, s, l.Address, Regular, "anne@example.com")
		addMembers(t, s, l.Address, Nonmember, "eve@example.com")
		if err := s.RecordAddress(ctx, "bart@example.com", "Bart"); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordAddress(ctx, "cris@example.com", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyAddress(ctx, "Cris@example.com", ""); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			address string
			want    AddressStatus
		}{
			{"nobody@example.com", AddressStatus{}},
			{"eve@example.com", AddressStatus{}}, // a nonmember record proves nothing
			{"bart@example.com", AddressStatus{Known: true}},
			{"BART@example.com", AddressStatus{Known: true}},
			{"cris@example.com", AddressStatus{Known: true, Verified: true}},
			{"anne@example.com", AddressStatus{Known: true, Verified: true}},
			{"owner@example.com", AddressStatus{Known: true, Verified: true}},
		} {
			got, err := s.AddressStatus(ctx, tt.address)
			if err != nil || got != tt.want {
				t.Errorf("AddressStatus(%s) = %+v, %v; want %+v", tt.address, got, err, tt.want)
			}
		}
		// Recording an address again leaves it verified.
		if err := s.RecordAddress(ctx, "cris@example.com", ""); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.AddressStatus(ctx, "cris@example.com"); !got.Verified {
			t.Errorf("RecordAddress unverified cris")
		}
	})
}

func TestSubscribeUsesItsToken(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		s := newStore(t, b)
		ctx := context.Background()
		l := createList(t, s, "test@example.com", "owner@example.com")
		sub := Subscription{Address: "Anne@example.com", DisplayName: "Anne Person", DeliveryMode: "plaintext_digests"}
		tok, err := s.AddPendingFor(ctx, l.ListID, "subscription", sub.Address, sub, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.PendingFor(ctx, l.ListID, "subscription", "anne@EXAMPLE.com")
		if err != nil || p.Token != tok {
			t.Fatalf("PendingFor = %+v, %v; want token %s", p, err, tok)
		}
		if _, err := s.PendingFor(ctx, l.ListID, "unsubscription", "anne@example.com"); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("PendingFor of another type: %v, want ErrNoSuchToken", err)
		}
		m, err := s.Subscribe(ctx, l.ListID, sub, tok)
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		if m.Address != "Anne@example.com" || m.DisplayName != "Anne Person" || m.DeliveryMode != "plaintext_digests" || m.Role != Regular {
			t.Errorf("Subscribe made %+v", m)
		}
		if _, err := s.Pending(ctx, tok); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("the token after Subscribe: %v, want ErrNoSuchToken", err)
		}
		if st, _ := s.AddressStatus(ctx, "anne@example.com"); !st.Verified {
			t.Errorf("Subscribe did not verify the address")
		}
		if _, err := s.Subscribe(ctx, l.ListID, Subscription{Address: "anne@example.com"}, ""); !errors.Is(err, ErrAlreadyMember) {
			t.Errorf("Subscribe twice: %v, want ErrAlreadyMember", err)
		}
		if _, err := s.Subscribe(ctx, "nope.example.com", sub, ""); !errors.Is(err, ErrNoSuchList) {
			t.Errorf("Subscribe to no list: %v, want ErrNoSuchList", err)
		}

		// A failed subscription leaves its token for another try.
		tok2, _ := s.AddPendingFor(ctx, l.ListID, "subscription", "anne@example.com", sub, time.Hour)
		if _, err := s.Subscribe(ctx, l.ListID, sub, tok2); !errors.Is(err, ErrAlreadyMember) {
			t.Fatalf("Subscribe: %v", err)
		}
		if _, err := s.Pending(ctx, tok2); err != nil {
			t.Errorf("the token of a failed Subscribe: %v", err)
		}

		gone, err := s.Unsubscribe(ctx, l.ListID, "ANNE@example.com", tok2)
		if err != nil || gone.Address != "Anne@example.com" {
			t.Fatalf("Unsubscribe = %+v, %v", gone, err)
		}
		if _, err := s.Pending(ctx, tok2); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("the token after Unsubscribe: %v", err)
		}
		if st, _ := s.AddressStatus(ctx, "anne@example.com"); !st.Verified {
			t.Errorf("the address of a member who left is not verified any more")
		}
		if _, err := s.Unsubscribe(ctx, l.ListID, "anne@example.com", ""); !errors.Is(err, ErrNoSuchMember) {
			t.Errorf("Unsubscribe twice: %v, want ErrNoSuchMember", err)
		}
		// Owners are not removed by leaving.
		if _, err := s.Unsubscribe(ctx, l.ListID, "owner@example.com", ""); !errors.Is(err, ErrNoSuchMember) {
			t.Errorf("Unsubscribe of an owner: %v, want ErrNoSuchMember", err)
		}
	})
}

func TestPendingLifecycle(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		s := newStore(t, b)
		ctx := context.Background()
		l := createList(t, s, "test@example.com")
		tok, err := s.AddPendingFor(ctx, l.ListID, "subscription", "anne@example.com", map[string]string{"stage": "confirm"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Pending(ctx, tok)
		if err != nil || p.ListID != l.ListID || p.Type != "subscription" || string(p.Payload) != `{"stage":"confirm"}` {
			t.Fatalf("Pending = %+v, %v", p, err)
		}
		next, err := s.ReplacePending(ctx, tok, map[string]string{"stage": "moderate"}, time.Hour)
		if err != nil || next == tok || len(next) != 40 {
			t.Fatalf("ReplacePending = %q, %v", next, err)
		}
		if _, err := s.Pending(ctx, tok); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("the replaced token: %v, want ErrNoSuchToken", err)
		}
		p, err = s.PendingFor(ctx, l.ListID, "subscription", "anne@example.com")
		if err != nil || p.Token != next || string(p.Payload) != `{"stage":"moderate"}` {
			t.Errorf("PendingFor after ReplacePending = %+v, %v", p, err)
		}
		if _, err := s.ReplacePending(ctx, tok, nil, time.Hour); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("ReplacePending of a used token: %v", err)
		}

		// An expired request is removed on sight and not found for its address.
		old, _ := s.AddPendingFor(ctx, l.ListID, "unsubscription", "bart@example.com", nil, -time.Second)
		if _, err := s.PendingFor(ctx, l.ListID, "unsubscription", "bart@example.com"); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("PendingFor of an expired request: %v", err)
		}
		if _, err := s.Pending(ctx, old); !errors.Is(err, ErrTokenExpired) {
			t.Errorf("Pending of an expired request: %v, want ErrTokenExpired", err)
		}
		if _, err := s.Pending(ctx, old); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("Pending of an expired request, again: %v, want ErrNoSuchToken", err)
		}
		if err := s.DeletePending(ctx, next); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pending(ctx, next); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("Pending after DeletePending: %v", err)
		}
	})
}

func TestAutoresponseDue(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		s := newStore(t, b)
		ctx := context.Background()
		l := createList(t, s, "test@example.com")
		day := 24 * time.Hour
		t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		for _, step := range []struct {
			address, kind string
			grace         time.Duration
			at            time.Time
			want          bool
		}{
			{"anne@example.com", "request", 90 * day, t0, true},
			{"ANNE@example.com", "request", 90 * day, t0.Add(day), false},
			{"anne@example.com", "postings", 90 * day, t0.Add(day), true}, // another kind
			{"bart@example.com", "request", 90 * day, t0.Add(day), true},
			{"anne@example.com", "request", 90 * day, t0.Add(89 * day), false},
			{"anne@example.com", "request", 90 * day, t0.Add(90 * day), true},
			{"anne@example.com", "request", 0, t0.Add(90 * day), true}, // no grace period
			{"anne@example.com", "request", 0, t0.Add(90 * day), true},
		} {
			got, err := s.AutoresponseDue(ctx, l.ListID, step.address, step.kind, step.grace, step.at)
			if err != nil || got != step.want {
				t.Errorf("AutoresponseDue(%s, %s, %v, %v) = %v, %v; want %v", step.address, step.kind, step.grace, step.at, got, err, step.want)
			}
		}
	})
}

// Runners asking at once for the same address get one answer due between
// them. Regression: under PostgreSQL's READ COMMITTED each read no earlier
// answer before any recorded one, and all were told to answer.
func TestAutoresponseDueConcurrent(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.newDB(t)
		stores := []*Store{db.open(t), db.open(t)}
		l := createList(t, stores[0], "test@example.com")
		now := time.Now()
		for round := range 20 {
			address := fmt.Sprintf("anne%d@example.com", round)
			var due atomic.Int32
			atOnce(4, func(i int) {
				ok, err := stores[i%2].AutoresponseDue(ctx, l.ListID, address, "request", time.Hour, now)
				if err != nil {
					t.Errorf("round %d: AutoresponseDue: %v", round, err)
				}
				if ok {
					due.Add(1)
				}
			})
			if n := due.Load(); n != 1 {
				t.Fatalf("round %d: due for %d of 4 runners at once, want 1", round, n)
			}
		}
	})
}
