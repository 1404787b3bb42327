package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("bad JSON %q: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("bad JSON %q: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

var tokenRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

func TestPending(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")

		type sub struct {
			Address string `json:"address"`
			Name    string `json:"name"`
		}
		for _, c := range []struct {
			name    string
			listID  string
			typ     string
			payload any
			want    string
		}{
			{"struct", l.ListID, "subscription", sub{"anne@example.com", "Anne"}, `{"address":"anne@example.com","name":"Anne"}`},
			{"map", l.ListID, "unsubscription", map[string]any{"address": "bob@example.com", "n": 3}, `{"address":"bob@example.com","n":3}`},
			{"string", "", "register", "ünïcödé <x@example.com>", `"ünïcödé \u003cx@example.com\u003e"`},
			{"null", "", "nothing", nil, `null`},
			{"raw", l.ListID, "held message", json.RawMessage(`{"id":7,"reasons":["a","b"]}`), `{"id":7,"reasons":["a","b"]}`},
		} {
			t.Run(c.name, func(t *testing.T) {
				life := 3 * time.Hour
				before := time.Now()
				tok, err := s.AddPending(ctx, c.listID, c.typ, c.payload, life)
				after := time.Now()
				if err != nil {
					t.Fatalf("AddPending: %v", err)
				}
				if !tokenRE.MatchString(tok) {
					t.Errorf("token %q is not 40 lower-case hex digits", tok)
				}
				p, err := s.TakePending(ctx, tok)
				if err != nil {
					t.Fatalf("TakePending: %v", err)
				}
				if p.Token != tok || p.ListID != c.listID || p.Type != c.typ {
					t.Errorf("TakePending = %+v, want token %s, list %q, type %q", p, tok, c.listID, c.typ)
				}
				if !jsonEqual(t, p.Payload, []byte(c.want)) {
					t.Errorf("payload = %s, want %s", p.Payload, c.want)
				}
				if !within(p.CreatedAt, before, after) || p.ExpiresAt.Sub(p.CreatedAt) != life {
					t.Errorf("created %v, expires %v; want created between %v and %v, expiring %v later", p.CreatedAt, p.ExpiresAt, before, after, life)
				}
				// Once only.
				for range 2 {
					if p, err := s.TakePending(ctx, tok); !errors.Is(err, ErrNoSuchToken) || p != nil {
						t.Errorf("TakePending again = %v, %v; want ErrNoSuchToken", p, err)
					}
				}
			})
		}
		if n := countRows(t, s, "pending", ""); n != 0 {
			t.Errorf("%d pending rows after taking them all, want 0", n)
		}
	})
}

func TestPendingTokensUnique(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		seen := map[string]bool{}
		for i := range 200 {
			tok, err := s.AddPending(ctx, "", "t", i, time.Hour)
			if err != nil {
				t.Fatalf("AddPending: %v", err)
			}
			if !tokenRE.MatchString(tok) {
				t.Fatalf("token %q is not 40 lower-case hex digits", tok)
			}
			if seen[tok] {
				t.Fatalf("token %s given twice", tok)
			}
			seen[tok] = true
		}
		// Each token takes back its own payload.
		for tok := range seen {
			p, err := s.TakePending(ctx, tok)
			if err != nil {
				t.Fatalf("TakePending(%s): %v", tok, err)
			}
			if p.Token != tok {
				t.Errorf("TakePending(%s) returned %s", tok, p.Token)
			}
		}
	})
}

func TestPendingErrors(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		createList(t, s, "test@example.com")

		for _, tok := range []string{"", "0000000000000000000000000000000000000000", "not a token", "'; DELETE FROM pending; --"} {
			if p, err := s.TakePending(ctx, tok); !errors.Is(err, ErrNoSuchToken) || p != nil {
				t.Errorf("TakePending(%q) = %v, %v; want ErrNoSuchToken", tok, p, err)
			}
		}
		for _, id := range []string{"missing.example.com", "test@example.com", "TEST.example.com"} {
			if _, err := s.AddPending(ctx, id, "subscription", "x", time.Hour); !errors.Is(err, ErrNoSuchList) {
				t.Errorf("AddPending for list-id %q = %v, want ErrNoSuchList", id, err)
			}
		}
		if _, err := s.AddPending(ctx, "", "bad", make(chan int), time.Hour); err == nil {
			t.Errorf("AddPending of a payload that is not JSON: no error")
		}
		if n := countRows(t, s, "pending", ""); n != 0 {
			t.Errorf("%d pending rows after failed AddPending, want 0", n)
		}
	})
}

// A request confirmed by several runners at once is taken by one of them.
// Regression: under PostgreSQL's READ COMMITTED each read the request
// before any deleted it, and all were given it.
func TestTakePendingConcurrent(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.newDB(t)
		stores := []*Store{db.open(t), db.open(t)}
		for round := range 20 {
			tok, err := stores[0].AddPending(ctx, "", "subscription", round, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			var taken atomic.Int32
			atOnce(4, func(i int) {
				_, err := stores[i%2].TakePending(ctx, tok)
				switch {
				case err == nil:
					taken.Add(1)
				case !errors.Is(err, ErrNoSuchToken):
					t.Errorf("round %d: TakePending: %v", round, err)
				}
			})
			if n := taken.Load(); n != 1 {
				t.Fatalf("round %d: taken by %d of 4 runners at once, want 1", round, n)
			}
		}
	})
}

func TestPendingExpired(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")
		for _, life := range []time.Duration{-time.Hour, -time.Nanosecond, 0, time.Nanosecond, time.Millisecond} {
			tok, err := s.AddPending(ctx, l.ListID, "subscription", "x", life)
			if err != nil {
				t.Fatalf("AddPending: %v", err)
			}
			time.Sleep(2 * time.Millisecond)
			if p, err := s.TakePending(ctx, tok); !errors.Is(err, ErrTokenExpired) || p != nil {
				t.Errorf("TakePending of a request with life %v = %v, %v; want ErrTokenExpired", life, p, err)
			}
			if _, err := s.TakePending(ctx, tok); !errors.Is(err, ErrNoSuchToken) {
				t.Errorf("TakePending of an expired request, again: %v, want ErrNoSuchToken (removed)", err)
			}
		}
		if n := countRows(t, s, "pending", ""); n != 0 {
			t.Errorf("%d pending rows left, want 0", n)
		}
	})
}

func TestEvictExpired(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")
		add := func(life time.Duration) string {
			tok, err := s.AddPending(ctx, l.ListID, "subscription", "x", life)
			if err != nil {
				t.Fatalf("AddPending: %v", err)
			}
			return tok
		}
		if n, err := s.EvictExpired(ctx, time.Now()); err != nil || n != 0 {
			t.Errorf("EvictExpired on nothing = %d, %v; want 0", n, err)
		}
		for range 3 {
			add(-time.Minute)
		}
		hour := add(time.Hour)
		day := add(24 * time.Hour)
		if n, err := s.EvictExpired(ctx, time.Now()); err != nil || n != 3 {
			t.Errorf("EvictExpired(now) = %d, %v; want 3", n, err)
		}
		if n, err := s.EvictExpired(ctx, time.Now()); err != nil || n != 0 {
			t.Errorf("EvictExpired(now) again = %d, %v; want 0", n, err)
		}
		if n, err := s.EvictExpired(ctx, time.Now().Add(2*time.Hour)); err != nil || n != 1 {
			t.Errorf("EvictExpired(in two hours) = %d, %v; want 1", n, err)
		}
		if _, err := s.TakePending(ctx, hour); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("TakePending of an evicted request: %v, want ErrNoSuchToken", err)
		}
		if _, err := s.TakePending(ctx, day); err != nil {
			t.Errorf("TakePending of a live request after evictions: %v", err)
		}
	})
}

func TestHeld(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := createList(t, s, "test@example.com")
		b2 := createList(t, s, "other@example.com")

		// Every byte value, CRLF and NUL included, as an 8-bit message might carry.
		raw := []byte("From: eve@example.com\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 \x00\xff\x80\r\n")
		for i := range 256 {
			raw = append(raw, byte(i))
		}
		msgs := []*HeldMessage{
			{ListID: a.ListID, Sender: "eve@example.com", Subject: "café", MessageID: "<1@example.com>",
				Reasons: []string{"The message is not from a list member", "Too many recipients"}, Message: raw,
				Msgdata: json.RawMessage(`{"listid":"test.example.com","recipients":["x@example.com"]}`)},
			{ListID: b2.ListID, Sender: "mallory@example.com", Subject: "", MessageID: "", Reasons: nil, Message: []byte("x")},
			{ListID: a.ListID, Sender: "", Subject: "Re: café", MessageID: "<3@example.com>", Reasons: []string{}, Message: []byte("Subject: y\n\ny\n")},
		}
		before := time.Now()
		var ids []int64
		for _, h := range msgs {
			id, _, err := s.Hold(ctx, h, time.Hour)
			if err != nil {
				t.Fatalf("Hold: %v", err)
			}
			if len(ids) > 0 && id <= ids[len(ids)-1] {
				t.Errorf("held ids not increasing: %d after %v", id, ids)
			}
			ids = append(ids, id)
		}
		after := time.Now()

		check := func(t *testing.T, got *HeldMessage, i int) {
			t.Helper()
			w := msgs[i]
			if got.ID != ids[i] || got.ListID != w.ListID || got.Sender != w.Sender || got.Subject != w.Subject || got.MessageID != w.MessageID {
				t.Errorf("held %d = %+v, want %+v", ids[i], got, w)
			}
			if len(got.Reasons) != len(w.Reasons) || !slices.Equal(got.Reasons, w.Reasons) {
				t.Errorf("held %d reasons = %q, want %q", ids[i], got.Reasons, w.Reasons)
			}
			if !bytes.Equal(got.Message, w.Message) {
				t.Errorf("held %d message = %q, want %q", ids[i], got.Message, w.Message)
			}
			wantData := w.Msgdata
			if wantData == nil {
				wantData = json.RawMessage(`{}`)
			}
			if !jsonEqual(t, got.Msgdata, wantData) {
				t.Errorf("held %d msgdata = %s, want %s", ids[i], got.Msgdata, wantData)
			}
			if !within(got.HeldAt, before, after) {
				t.Errorf("held %d at %v, want between %v and %v", ids[i], got.HeldAt, before, after)
			}
		}

		for i, id := range ids {
			h, err := s.HeldMessage(ctx, id)
			if err != nil {
				t.Fatalf("HeldMessage(%d): %v", id, err)
			}
			check(t, h, i)
		}
		for _, c := range []struct {
			listID string
			want   []int // indexes into msgs, oldest first
		}{
			{"", []int{0, 1, 2}},
			{a.ListID, []int{0, 2}},
			{b2.ListID, []int{1}},
			{"missing.example.com", nil},
		} {
			hs, err := s.HeldMessages(ctx, c.listID)
			if err != nil {
				t.Fatalf("HeldMessages(%q): %v", c.listID, err)
			}
			if len(hs) != len(c.want) {
				t.Errorf("HeldMessages(%q) returned %d, want %d", c.listID, len(hs), len(c.want))
				continue
			}
			for j, h := range hs {
				check(t, h, c.want[j])
			}
		}

		// The caller's message is not aliased by what it reads back.
		h, err := s.HeldMessage(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		h.Message[0] = 'X'
		if h2, err := s.HeldMessage(ctx, ids[0]); err != nil || !bytes.Equal(h2.Message, raw) {
			t.Errorf("a read-back message changed by writing to another: %v", err)
		}

		if err := s.DeleteHeld(ctx, ids[0]); err != nil {
			t.Fatalf("DeleteHeld: %v", err)
		}
		if h, err := s.HeldMessage(ctx, ids[0]); !errors.Is(err, ErrNoSuchHeld) || h != nil {
			t.Errorf("HeldMessage after DeleteHeld = %v, %v; want ErrNoSuchHeld", h, err)
		}
		if err := s.DeleteHeld(ctx, ids[0]); !errors.Is(err, ErrNoSuchHeld) {
			t.Errorf("DeleteHeld twice = %v, want ErrNoSuchHeld", err)
		}
		hs, err := s.HeldMessages(ctx, "")
		if err != nil || len(hs) != 2 || hs[0].ID != ids[1] || hs[1].ID != ids[2] {
			t.Errorf("HeldMessages after DeleteHeld = %v, %v; want the other two", hs, err)
		}
	})
}

func TestHeldErrors(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		createList(t, s, "test@example.com")
		for _, id := range []int64{0, -1, 1, 12345} {
			if h, err := s.HeldMessage(ctx, id); !errors.Is(err, ErrNoSuchHeld) || h != nil {
				t.Errorf("HeldMessage(%d) = %v, %v; want ErrNoSuchHeld", id, h, err)
			}
			if err := s.DeleteHeld(ctx, id); !errors.Is(err, ErrNoSuchHeld) {
				t.Errorf("DeleteHeld(%d) = %v, want ErrNoSuchHeld", id, err)
			}
		}
		for _, id := range []string{"missing.example.com", "", "test@example.com"} {
			h := &HeldMessage{ListID: id, Sender: "eve@example.com", Message: []byte("x")}
			if got, tok, err := s.Hold(ctx, h, time.Hour); !errors.Is(err, ErrNoSuchList) || got != 0 || tok != "" {
				t.Errorf("Hold for list-id %q = %d, %q, %v; want ErrNoSuchList", id, got, tok, err)
			}
		}
		for _, table := range []string{"held_messages", "pending"} {
			if n := countRows(t, s, table, ""); n != 0 {
				t.Errorf("%d %s rows after failed Holds, want 0", n, table)
			}
		}
	})
}

// TestHeldIDsNeverReused: a post held after the last held one was
// discarded gets a new id, so that an accept meant for the first cannot
// act on the second.
func TestHeldIDsNeverReused(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.newDB(t).open(t)
		a := createList(t, s, "test@example.com")
		hold := func(subject string) int64 {
			t.Helper()
			id, _, err := s.Hold(ctx, &HeldMessage{ListID: a.ListID, Sender: "x@example.org", Subject: subject, MessageID: "<" + subject + "@example.org>",
				Reasons: []string{"test"}, Message: []byte("Subject: " + subject + "\r\n\r\nx\r\n")}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		first := hold("first")
		if err := s.DeleteHeld(ctx, first); err != nil {
			t.Fatal(err)
		}
		second := hold("second")
		if second == first {
			t.Fatalf("the second held post got the discarded one's id %d", first)
		}
		if _, err := s.HeldMessage(ctx, first); !errors.Is(err, ErrNoSuchHeld) {
			t.Errorf("the discarded id %d: %v, want ErrNoSuchHeld", first, err)
		}
	})
}
