package command

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/store"
)

// TestReenableByConfirmation: a member whose delivery bounces turned off
// confirms the token of the warning, and gets mail again with a clean
// score; the token is spent.
func TestReenableByConfirmation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.addMember(t, "anne@example.org")
	f.set(t, "bounce_score_threshold", "1")
	id, err := f.st.RecordBounce(ctx, store.BounceEvent{ListID: "test.example.com", Address: "anne@example.org", Status: "5.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := f.st.ProcessBounce(ctx, id, time.Now(), false); err != nil || out.Action != store.BounceDisabled {
		t.Fatalf("%+v %v", out, err)
	}
	token, err := f.st.AddPending(ctx, "test.example.com", store.PendingReenable, store.BouncePayload{Address: "anne@example.org"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.dispose(t, letter("To: test-confirm+"+token+"@example.com\r\nSubject: Re: Your subscription for Test mailing list has been disabled\r\n", ""), "confirm")
	m := f.isMember(t, "anne@example.org")
	if m == nil || !m.DeliveryEnabled || m.DeliveryStatus != "enabled" || m.BounceScore != 0 {
		t.Fatalf("after confirming: %+v", m)
	}
	ss := f.sent(t)
	if len(ss) != 1 || !strings.Contains(ss[0].body(), "Delivery to anne@example.org is on again.") {
		t.Errorf("sent %q", subjects(ss))
	}
	f.dispose(t, letter("To: test-confirm+"+token+"@example.com\r\n", ""), "confirm")
	if ss := f.sent(t); len(ss) != 1 || !strings.Contains(ss[0].body(), "Confirmation token did not match") {
		t.Errorf("a spent token: %q", subjects(ss))
	}
}
