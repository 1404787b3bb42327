package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

const day = 24 * time.Hour

// TestProcessBounce: a member's bounces, one event after another, and what
// each does to the score and the member's delivery (threshold 3, stale
// after 7 days).
func TestProcessBounce(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	type step struct {
		at     time.Duration // after t0
		kind   string
		probes bool
		action string
		score  int
		status string // the member's delivery_status after
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a point a day, disabled at the threshold, then residual", []step{
			{at: 0, action: BounceScored, score: 1, status: "enabled"},
			{at: 5 * time.Hour, action: BounceSameDay, score: 1, status: "enabled"},
			{at: day, action: BounceScored, score: 2, status: "enabled"},
			{at: 3 * day, action: BounceDisabled, score: 3, status: ByBounces},
			{at: 4 * day, action: BounceResidual, score: 3, status: ByBounces},
		}},
		{"a stale score restarts", []step{
			{at: 0, action: BounceScored, score: 1, status: "enabled"},
			{at: day, action: BounceScored, score: 2, status: "enabled"},
			{at: 9 * day, action: BounceScored, score: 1, status: "enabled"},
		}},
		{"a policy refusal is recorded, never scored", []step{
			{at: 0, action: BounceScored, score: 1, status: "enabled"},
			{at: day, kind: BouncePolicy, action: BounceRecorded, score: 1, status: "enabled"},
			{at: 2 * day, kind: BouncePolicy, action: BounceRecorded, score: 1, status: "enabled"},
			{at: 3 * day, action: BounceScored, score: 2, status: "enabled"},
		}},
		{"with probes, the threshold sends one; its return disables", []step{
			{at: 0, probes: true, action: BounceScored, score: 1, status: "enabled"},
			{at: day, probes: true, action: BounceScored, score: 2, status: "enabled"},
			{at: 2 * day, probes: true, action: BounceProbing, score: 0, status: "enabled"},
			{at: 2*day + time.Hour, kind: BounceProbe, probes: true, action: BounceDisabled, score: 0, status: ByBounces},
		}},
		{"a complaint stops delivery as the subscriber's wish", []step{
			{at: 0, kind: BounceComplaint, action: BounceStopped, status: ByUser},
			{at: day, action: BounceScored, score: 1, status: ByUser},
		}},
	}
	forBackends(t, func(t *testing.T, b backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				s := newStore(t, b)
				l := createList(t, s, "test@example.com")
				if err := s.SetListSetting(ctx, l.Address, "bounce_score_threshold", "3"); err != nil {
					t.Fatal(err)
				}
				if _, err := s.AddMembers(ctx, l.Address, Regular, []string{"bart@example.org"}, nil); err != nil {
					t.Fatal(err)
				}
				for i, st := range tt.steps {
					id, err := s.RecordBounce(ctx, BounceEvent{ListID: l.ListID, Address: "Bart@example.org", MessageID: "<m@x>", Reason: "550 5.1.1 no", Kind: st.kind, At: t0.Add(st.at)})
					if err != nil {
						t.Fatal(err)
					}
					out, err := s.ProcessBounce(ctx, id, t0.Add(st.at), st.probes)
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					m, err := s.Member(ctx, l.ListID, "bart@example.org", Regular)
					if err != nil {
						t.Fatal(err)
					}
					if out.Action != st.action || out.Score != st.score || m.DeliveryStatus != st.status || (m.DeliveryStatus == "enabled") != m.DeliveryEnabled {
						t.Errorf("step %d: %s, score %d, member %s (delivery %v); want %s, %d, %s", i, out.Action, out.Score, m.DeliveryStatus, m.DeliveryEnabled, st.action, st.score, st.status)
					}
					if _, err := s.ProcessBounce(ctx, id, t0.Add(st.at), st.probes); !errors.Is(err, ErrNoSuchBounce) {
						t.Errorf("step %d: processed twice: %v", i, err)
					}
				}
				if hist, err := s.MemberBounces(ctx, l.ListID, "bart@example.org"); err != nil || len(hist) != len(tt.steps) || !hist[0].Processed {
					t.Errorf("history %+v %v", hist, err)
				}
			})
		}
	})
}

// TestProcessBounceIgnored: a bounce for no regular member, or on a list
// that processes none, changes nothing.
func TestProcessBounceIgnored(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com", "owen@example.com")
		if _, err := s.AddMembers(ctx, l.Address, Regular, []string{"bart@example.org"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.SetListSetting(ctx, l.Address, "bounce_score_threshold", "1"); err != nil {
			t.Fatal(err)
		}
		for _, addr := range []string{"owen@example.com", "nobody@example.org"} {
			id, _ := s.RecordBounce(ctx, BounceEvent{ListID: l.ListID, Address: addr})
			if out, err := s.ProcessBounce(ctx, id, time.Now(), false); err != nil || out.Action != BounceIgnored {
				t.Errorf("%s: %+v %v", addr, out, err)
			}
		}
		if err := s.SetListSetting(ctx, l.Address, "process_bounces", "false"); err != nil {
			t.Fatal(err)
		}
		id, _ := s.RecordBounce(ctx, BounceEvent{ListID: l.ListID, Address: "bart@example.org"})
		if out, err := s.ProcessBounce(ctx, id, time.Now(), false); err != nil || out.Action != BounceIgnored {
			t.Errorf("process_bounces off: %+v %v", out, err)
		}
		if _, err := s.RecordBounce(ctx, BounceEvent{ListID: "gone.example.com", Address: "a@x"}); !errors.Is(err, ErrNoSuchList) {
			t.Errorf("RecordBounce for a missing list: %v", err)
		}
	})
}

// TestBouncesDue: once disabled, three warnings a week apart, then
// removal a week after the last; re-enabling starts the member afresh.
func TestBouncesDue(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")
		if err := s.SetListSetting(ctx, l.Address, "bounce_score_threshold", "1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddMembers(ctx, l.Address, Regular, []string{"bart@example.org", "cris@example.org"}, nil); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
		id, _ := s.RecordBounce(ctx, BounceEvent{ListID: l.ListID, Address: "bart@example.org", At: t0})
		if out, err := s.ProcessBounce(ctx, id, t0, false); err != nil || out.Action != BounceDisabled {
			t.Fatalf("%+v %v", out, err)
		}
		due := func(at time.Duration) string {
			t.Helper()
			ds, err := s.BouncesDue(ctx, t0.Add(at))
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) == 0 {
				return "nothing"
			}
			if len(ds) != 1 || ds[0].Address != "bart@example.org" {
				t.Fatalf("due %+v", ds)
			}
			if ds[0].Remove {
				return "remove"
			}
			return "warn"
		}
		warn := func(at time.Duration) {
			t.Helper()
			if err := s.RecordBounceWarning(ctx, l.ListID, "bart@example.org", t0.Add(at)); err != nil {
				t.Fatal(err)
			}
		}
		for _, st := range []struct {
			at   time.Duration
			want string
			sent bool
		}{
			{0, "warn", true}, {day, "nothing", false}, {7 * day, "warn", true}, {13 * day, "nothing", false},
			{14 * day, "warn", true}, {20 * day, "nothing", false}, {21 * day, "remove", false},
		} {
			if got := due(st.at); got != st.want {
				t.Fatalf("at +%s: %s, want %s", st.at, got, st.want)
			}
			if st.sent {
				warn(st.at)
			}
		}
		if err := s.SetMemberOption(ctx, l.Address, "bart@example.org", Regular, "delivery_enabled", "true"); err != nil {
			t.Fatal(err)
		}
		m, _ := s.Member(ctx, l.ListID, "bart@example.org", Regular)
		if m.DeliveryStatus != "enabled" || m.BounceScore != 0 || m.TotalWarningsSent != 0 || !m.LastBounceReceived.IsZero() {
			t.Errorf("re-enabled: %+v", m)
		}
		if got := due(30 * day); got != "nothing" {
			t.Errorf("re-enabled, then %s", got)
		}
		if err := s.SetListSetting(ctx, l.Address, "bounce_you_are_disabled_warnings", "0"); err != nil {
			t.Fatal(err)
		}
		id, _ = s.RecordBounce(ctx, BounceEvent{ListID: l.ListID, Address: "bart@example.org", At: t0.Add(31 * day)})
		if _, err := s.ProcessBounce(ctx, id, t0.Add(31*day), false); err != nil {
			t.Fatal(err)
		}
		if got := due(31 * day); got != "remove" {
			t.Errorf("no warnings: %s, want remove at once", got)
		}
	})
}
