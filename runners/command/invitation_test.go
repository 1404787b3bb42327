package command

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/subscription"
)

// An invitation (REST's invitation=true) is accepted by the invitee's
// confirmation alone, on a list whose policy asks a moderator otherwise.
func TestInvitationAccepted(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.set(t, "subscription_policy", "moderate")
	f.set(t, "send_welcome_message", "false")
	l, err := f.st.ListByID(ctx, "test.example.com")
	if err != nil {
		t.Fatal(err)
	}
	w := &subscription.Workflow{Store: f.st, Virgin: f.virgin, PendingLife: 72 * time.Hour, ModeratorLife: 72 * time.Hour}
	out, err := w.Subscribe(ctx, l, store.Subscription{Address: "zoe@example.org"}, subscription.Flags{Invitation: true})
	if err != nil || out.Token == "" || out.TokenOwner != subscription.OwnerSubscriber {
		t.Fatalf("invite: %+v, %v", out, err)
	}
	invite := bySubject(t, f.sent(t), "You have been invited to join")
	if !strings.Contains(invite.body(), "confirm "+out.Token) {
		t.Errorf("the invitation: %s", invite.body())
	}
	f.dispose(t, letter("From: zoe@example.org\r\nTo: test-confirm+"+out.Token+"@example.com\r\n", ""), "confirm")
	if f.isMember(t, "zoe@example.org") == nil {
		t.Error("not a member after accepting the invitation")
	}
}
