package moderation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/subscription"
)

// TestDiscardExpired: with max_days_to_hold, a post held longer is
// discarded at the next upkeep, a younger one kept; with 0, none is.
func TestDiscardExpired(t *testing.T) {
	for _, tc := range []struct {
		maxDays   string
		after     time.Duration // since the post was held
		discarded int
	}{
		{"0", 365 * 24 * time.Hour, 0},
		{"7", 6 * 24 * time.Hour, 0},
		{"7", 7*24*time.Hour + time.Minute, 1},
		{"1", 25 * time.Hour, 1},
	} {
		t.Run(tc.maxDays+" days, "+tc.after.String(), func(t *testing.T) {
			ctx := context.Background()
			site := runnertest.New(t, nil)
			if err := site.Store.PatchListConfig(ctx, "test.example.com", map[string]store.ConfigChange{"max_days_to_hold": {Values: []string{tc.maxDays}}}, false); err != nil {
				t.Fatal(err)
			}
			m := &Moderator{Store: site.Store, Pipeline: site.Queue("pipeline"), Virgin: site.Queue("virgin")}
			h := hold(t, site, "zoe@example.org", "")
			n, err := m.DiscardExpired(ctx, time.Now().Add(tc.after))
			if err != nil || n != tc.discarded {
				t.Fatalf("DiscardExpired = %d, %v; want %d", n, err, tc.discarded)
			}
			_, err = site.Store.HeldMessage(ctx, h.ID)
			if gone := errors.Is(err, store.ErrNoSuchHeld); gone != (tc.discarded == 1) {
				t.Errorf("held post gone: %v (%v)", gone, err)
			}
			if es := runnertest.Queued(t, site.Queue("pipeline")); len(es) != 0 {
				t.Errorf("a discarded post went on to the pipeline")
			}
		})
	}
}

// TestRemindModerators: a list with a held post and a subscription to
// approve gets one reminder, to its owners and moderators, with both; a
// list with nothing waiting gets none.
func TestRemindModerators(t *testing.T) {
	ctx := context.Background()
	site := runnertest.New(t, map[store.Role][]string{store.Owner: {"owner@example.com"}, store.Moderator: {"mod@example.com"}})
	m := &Moderator{Store: site.Store, Pipeline: site.Queue("pipeline"), Virgin: site.Queue("virgin")}
	now := time.Now()
	if n, err := m.RemindModerators(ctx, now); err != nil || n != 0 {
		t.Fatalf("with nothing waiting: %d, %v", n, err)
	}
	hold(t, site, "zoe@example.org", "")
	req := subscription.Request{Subscription: store.Subscription{Address: "ann@example.org", DisplayName: "Ann"}, Stage: subscription.StageModerate}
	if _, err := site.Store.AddPending(ctx, "test.example.com", subscription.PendingSubscription, req, time.Hour); err != nil {
		t.Fatal(err)
	}
	confirming := subscription.Request{Subscription: store.Subscription{Address: "bob@example.org"}, Stage: subscription.StageConfirm}
	if _, err := site.Store.AddPending(ctx, "test.example.com", subscription.PendingSubscription, confirming, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, err := m.RemindModerators(ctx, now); err != nil || n != 1 {
		t.Fatalf("RemindModerators = %d, %v; want 1", n, err)
	}
	es := runnertest.Queued(t, site.Queue("virgin"))
	if len(es) != 1 {
		t.Fatalf("%d reminders queued", len(es))
	}
	var rcpts []string
	es[0].Msgdata.Get(msgdata.Recipients, &rcpts)
	slices.Sort(rcpts)
	if !slices.Equal(rcpts, []string{"mod@example.com", "owner@example.com"}) {
		t.Errorf("reminder to %v", rcpts)
	}
	msg, err := message.Parse(es[0].Message)
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Get("Subject"); got != "2 test@example.com moderator request(s) waiting" {
		t.Errorf("Subject %q", got)
	}
	text, _, _ := msg.PlainText()
	text = strings.ReplaceAll(text, "\r\n", "\n")
	for _, want := range []string{"From: zoe@example.org", "Subject: Hi", "Why: Post by non-member", "Subscriptions to approve:\n    Ann <ann@example.org>"} {
		if !strings.Contains(text, want) {
			t.Errorf("reminder lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "bob@example.org") {
		t.Errorf("a subscription waiting for its address's confirmation is in the moderators' reminder:\n%s", text)
	}
}
