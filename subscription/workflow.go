package subscription

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// Errors the workflows' callers branch on; the REST API words them as
// Mailman's does.
var (
	ErrAlreadyMember = errors.New("member already subscribed")
	ErrPending       = errors.New("subscription request already pending")
	ErrUnsubPending  = errors.New("unsubscription request already pending")
	ErrBanned        = errors.New("membership is banned")
	ErrListAddress   = errors.New("list posting address cannot subscribe")
	ErrNoModerator   = errors.New("the list has no owner or moderator to approve it")
)

// Workflow runs subscriptions and unsubscriptions by a list's policies for
// an administrator's tool (the REST API), which may vouch that the address
// is verified, has confirmed or is approved.
type Workflow struct {
	Store         *store.Store
	Virgin        *switchboard.Switchboard
	PendingLife   time.Duration // a token the address confirms
	ModeratorLife time.Duration // a token a moderator approves
	Log           *slog.Logger
	Now           func() time.Time
}

// Flags are what the caller vouches for, as Mailman's pre_verified,
// pre_confirmed and pre_approved.
type Flags struct {
	PreVerified, PreConfirmed, PreApproved bool
	// Invitation invites the address, as the list's owner does: the
	// invitee alone accepts, by confirming, and no moderator is asked.
	Invitation bool
	// SendWelcome, when set, overrides the list's send_welcome_message.
	SendWelcome *bool
}

// The owners of a waiting request's token, as Mailman names them.
const (
	OwnerSubscriber = "subscriber"
	OwnerModerator  = "moderator"
)

// Outcome is where a workflow stands: Member is set when it is done;
// otherwise Token waits for TokenOwner.
type Outcome struct {
	Member     *store.Member
	Token      string
	TokenOwner string
}

func (w *Workflow) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Workflow) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Subscribe starts sub's subscription to l. An address not verified
// confirms first (unless pre-verified), as under the confirm policies
// (unless pre-confirmed); the moderate policies then wait for a moderator
// (unless pre-approved).
func (w *Workflow) Subscribe(ctx context.Context, l *store.List, sub store.Subscription, f Flags) (Outcome, error) {
	if mta.IsListAddress(l.PostingAddress, sub.Address) {
		return Outcome{}, ErrListAddress
	}
	if _, err := w.Store.Member(ctx, l.ListID, sub.Address, store.Regular); err == nil {
		return Outcome{}, ErrAlreadyMember
	} else if !errors.Is(err, store.ErrNoSuchMember) {
		return Outcome{}, err
	}
	if banned, err := w.Store.IsBanned(ctx, l.ListID, sub.Address); err != nil || banned {
		if err == nil {
			err = ErrBanned
		}
		return Outcome{}, err
	}
	if _, err := w.Store.PendingFor(ctx, l.ListID, PendingSubscription, sub.Address); err == nil {
		return Outcome{}, ErrPending
	} else if !errors.Is(err, store.ErrNoSuchToken) {
		return Outcome{}, err
	}
	if f.PreVerified {
		if err := w.Store.VerifyAddress(ctx, sub.Address, sub.DisplayName); err != nil {
			return Outcome{}, err
		}
	} else if err := w.Store.RecordAddress(ctx, sub.Address, sub.DisplayName); err != nil {
		return Outcome{}, err
	}
	status, err := w.Store.AddressStatus(ctx, sub.Address)
	if err != nil {
		return Outcome{}, err
	}
	policy := l.SubscriptionPolicy
	confirm := !status.Verified || (policy == "confirm" || policy == "confirm_then_moderate") && !f.PreConfirmed || f.Invitation
	moderate := (policy == "moderate" || policy == "confirm_then_moderate") && !f.PreApproved && !f.Invitation
	r := Request{Subscription: sub, Moderate: moderate, Invitation: f.Invitation, When: w.now()}
	switch {
	case confirm:
		return w.askConfirmation(ctx, l, PendingSubscription, r)
	case moderate:
		return w.askModerators(ctx, l, PendingSubscription, r, "")
	}
	m, err := w.finishSubscription(ctx, l, r, "", f.SendWelcome)
	return Outcome{Member: m}, err
}

// Unsubscribe starts removing address from l by its unsubscription
// policy, unless the caller vouches for the confirmation and approval.
func (w *Workflow) Unsubscribe(ctx context.Context, l *store.List, address string, f Flags) (Outcome, error) {
	m, err := w.Store.Member(ctx, l.ListID, address, store.Regular)
	if err != nil {
		return Outcome{}, err
	}
	if _, err := w.Store.PendingFor(ctx, l.ListID, PendingUnsubscription, address); err == nil {
		return Outcome{}, ErrUnsubPending
	} else if !errors.Is(err, store.ErrNoSuchToken) {
		return Outcome{}, err
	}
	policy := l.UnsubscriptionPolicy
	r := Request{
		Subscription: store.Subscription{Address: m.Address, DisplayName: m.DisplayName},
		Moderate:     (policy == "moderate" || policy == "confirm_then_moderate") && !f.PreApproved,
		When:         w.now(),
	}
	switch {
	case (policy == "confirm" || policy == "confirm_then_moderate") && !f.PreConfirmed:
		return w.askConfirmation(ctx, l, PendingUnsubscription, r)
	case r.Moderate:
		return w.askModerators(ctx, l, PendingUnsubscription, r, "")
	}
	gone, err := w.finishUnsubscription(ctx, l, r, "")
	return Outcome{Member: gone}, err
}

func (w *Workflow) askConfirmation(ctx context.Context, l *store.List, typ string, r Request) (Outcome, error) {
	r.Stage = StageConfirm
	token, err := w.Store.AddPendingFor(ctx, l.ListID, typ, r.Address, r, w.PendingLife)
	if err != nil {
		return Outcome{}, err
	}
	if err := w.send(l, ConfirmationMessage(l, typ, r, token, w.now(), w.PendingLife), r.Address); err != nil {
		return Outcome{}, err
	}
	w.log().Info("confirmation sent", "list", l.ListID, "type", typ, "rcpt", r.Address)
	return Outcome{Token: token, TokenOwner: OwnerSubscriber}, nil
}

// askModerators hands the request to the moderators, replacing token
// when it is not "" (the subscriber's, which they must not be able to
// use to approve themselves).
func (w *Workflow) askModerators(ctx context.Context, l *store.List, typ string, r Request, token string) (Outcome, error) {
	to, err := notice.Moderators(ctx, w.Store, l)
	if err != nil {
		return Outcome{}, err
	}
	if len(to) == 0 {
		return Outcome{}, fmt.Errorf("%s of %s: %w", typ, r.Address, ErrNoModerator)
	}
	r.Stage = StageModerate
	var next string
	if token == "" {
		next, err = w.Store.AddPendingFor(ctx, l.ListID, typ, r.Address, r, w.ModeratorLife)
	} else {
		next, err = w.Store.ReplacePending(ctx, token, r, w.ModeratorLife)
	}
	if err != nil {
		return Outcome{}, err
	}
	if err := w.send(l, ModeratorsMessage(l, typ, r, next, w.now(), w.ModeratorLife), to...); err != nil {
		return Outcome{}, err
	}
	w.log().Info("moderators asked", "list", l.ListID, "type", typ, "address", r.Address)
	return Outcome{Token: next, TokenOwner: OwnerModerator}, nil
}

func (w *Workflow) finishSubscription(ctx context.Context, l *store.List, r Request, token string, welcome *bool) (*store.Member, error) {
	m, err := w.Store.Subscribe(ctx, l.ListID, r.Subscription, token)
	if errors.Is(err, store.ErrAlreadyMember) {
		return nil, ErrAlreadyMember
	}
	if err != nil {
		return nil, err
	}
	w.log().Info("subscribed", "list", l.ListID, "address", m.Address, "delivery_mode", m.DeliveryMode)
	if err := w.tellOwners(ctx, l, m, true); err != nil {
		return m, err
	}
	if send := l.SendWelcomeMessage; welcome != nil && !*welcome || welcome == nil && !send {
		return m, nil
	}
	return m, w.send(l, WelcomeMessage(l, m, w.now()), m.Address)
}

func (w *Workflow) finishUnsubscription(ctx context.Context, l *store.List, r Request, token string) (*store.Member, error) {
	m, err := w.Store.Unsubscribe(ctx, l.ListID, r.Address, token)
	if err != nil {
		return nil, err
	}
	w.log().Info("unsubscribed", "list", l.ListID, "address", m.Address)
	if err := w.tellOwners(ctx, l, m, false); err != nil {
		return m, err
	}
	if !l.SendGoodbyeMessage {
		return m, nil
	}
	return m, w.send(l, GoodbyeMessage(l, m, w.now()), m.Address)
}

// tellOwners sends the list's owners the notice of a member who joined
// or left, when the list's admin_notify_mchanges asks for it (Mailman's
// list:admin:notice:subscribe and :unsubscribe).
func (w *Workflow) tellOwners(ctx context.Context, l *store.List, m *store.Member, joined bool) error {
	on, err := w.Store.AdminNotifyMchanges(ctx, l.ListID)
	if err != nil || !on {
		return err
	}
	owners, err := w.Store.Members(ctx, l.Address, store.Owner)
	if err != nil || len(owners) == 0 {
		return err
	}
	var to []string
	for _, o := range owners {
		to = append(to, o.Address)
	}
	return w.send(l, MembershipNotice(l, m, joined, w.now()), to...)
}

func (w *Workflow) send(l *store.List, msg []byte, rcpts ...string) error {
	_, err := w.Virgin.Enqueue(msg, notice.Msgdata(l, rcpts))
	return err
}

// The moderator's decisions on a request, as Mailman names them.
const (
	Accept  = "accept"
	Reject  = "reject"
	Discard = "discard"
	Defer   = "defer"
)

// ErrNotRequest is a token that is not a subscription or unsubscription
// request of the list.
var ErrNotRequest = errors.New("no such subscription request")

// Request returns the subscription or unsubscription request with token
// pending for l.
func (w *Workflow) Request(ctx context.Context, l *store.List, token string) (*store.Pending, Request, error) {
	p, err := w.Store.Pending(ctx, token)
	if errors.Is(err, store.ErrNoSuchToken) || errors.Is(err, store.ErrTokenExpired) ||
		err == nil && (p.ListID != l.ListID || p.Type != PendingSubscription && p.Type != PendingUnsubscription) {
		return nil, Request{}, fmt.Errorf("%s: %w", token, ErrNotRequest)
	}
	if err != nil {
		return nil, Request{}, err
	}
	r, err := DecodeRequest(p)
	return p, r, err
}

// Decide carries out a moderator's decision on a pending request: accept
// finishes it (ErrAlreadyMember if the address joined meanwhile), reject
// drops it and tells the address why, discard drops it, defer leaves it.
func (w *Workflow) Decide(ctx context.Context, l *store.List, token, action, reason string) error {
	p, r, err := w.Request(ctx, l, token)
	if err != nil {
		return err
	}
	switch action {
	case Defer:
		return nil
	case Discard:
		w.log().Info("request discarded", "list", l.ListID, "type", p.Type, "address", r.Address)
		return w.Store.DeletePending(ctx, token)
	case Reject:
		if err := w.Store.DeletePending(ctx, token); err != nil {
			return err
		}
		w.log().Info("request rejected", "list", l.ListID, "type", p.Type, "address", r.Address)
		return w.send(l, rejectMessage(l, p.Type, r, reason, w.now()), r.Address)
	case Accept:
		if p.Type == PendingUnsubscription {
			_, err := w.finishUnsubscription(ctx, l, r, token)
			return err
		}
		if banned, err := w.Store.IsBanned(ctx, l.ListID, r.Address); err != nil || banned {
			if err == nil {
				err = ErrBanned
			}
			return err
		}
		_, err := w.finishSubscription(ctx, l, r, token, nil)
		if errors.Is(err, ErrAlreadyMember) {
			if err := w.Store.DeletePending(ctx, token); err != nil {
				return err
			}
			return ErrAlreadyMember
		}
		return err
	}
	return fmt.Errorf("unknown action %q", action)
}

// rejectMessage tells the address of r that a moderator refused it.
func rejectMessage(l *store.List, typ string, r Request, reason string, now time.Time) []byte {
	what := "subscription to"
	if typ == PendingUnsubscription {
		what = "unsubscription from"
	}
	if strings.TrimSpace(reason) == "" {
		reason = "[No reason given]"
	}
	subject := fmt.Sprintf("Request to mailing list \"%s\" rejected", l.DisplayName)
	text := fmt.Sprintf("Your request for the %s the %s mailing list has been rejected\nby the list moderator. The moderator gave this reason:\n\n    %s\n\nQuestions may go to the list's owners at %s.\n",
		what, l.PostingAddress, reason, notice.Address(l, mta.Owner))
	return message.NewText(notice.Fields(l, notice.Address(l, mta.Owner), r.Address, subject, now), text)
}
