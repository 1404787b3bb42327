package command

import (
	"errors"
	"fmt"
	"github.com/mailman-go/mailman/subscription"
	"strings"

	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
)

// subscribe starts the subscription of sub by the list's policy and says
// in the results what happened. By mail the address always confirms first,
// whatever the policy: the sender of an email command may be anyone (a
// From is easily forged), and only the address's owner may agree to join.
// moderate and confirm_then_moderate then hand the request to the
// moderators; open and confirm subscribe it.
//
// When sub is not the sender's own address (join address=...), the
// results say the same thing whatever became of it, so that no one learns
// by mail whether an address is a member, banned or waiting.
func (s *session) subscribe(sub store.Subscription) error {
	who := subscription.Person(sub.Address, sub.DisplayName)
	if mta.IsListAddress(s.list.PostingAddress, sub.Address) {
		s.printf("%s is not a valid address to subscribe: it is one of the list's own", sub.Address)
		s.respond = true
		return nil
	}
	other := !strings.EqualFold(sub.Address, s.sender)
	refuse := func(format string, args ...any) error {
		if other {
			s.printf("%s", neutralJoinResult(who))
		} else {
			s.printf(format, args...)
		}
		s.respond = true
		return nil
	}
	if _, err := s.h.Store.Member(s.ctx, s.list.ListID, sub.Address, store.Regular); err == nil {
		return refuse("%s is already a member of %s", who, s.list.PostingAddress)
	} else if !isNoMember(err) {
		return err
	}
	banned, err := s.h.Store.IsBanned(s.ctx, s.list.ListID, sub.Address)
	if err != nil {
		return err
	}
	if banned {
		return refuse("%s is not allowed to subscribe to %s", sub.Address, s.list.PostingAddress)
	}
	if _, err := s.h.Store.PendingFor(s.ctx, s.list.ListID, subscription.PendingSubscription, sub.Address); err == nil {
		return refuse("%s has a pending subscription for %s", who, s.list.PostingAddress)
	} else if !errors.Is(err, store.ErrNoSuchToken) {
		return err
	}
	if err := s.h.Store.RecordAddress(s.ctx, sub.Address, sub.DisplayName); err != nil {
		return err
	}
	policy := s.list.SubscriptionPolicy
	r := subscription.Request{Subscription: sub, Stage: subscription.StageConfirm, Moderate: policy == "moderate" || policy == "confirm_then_moderate", When: s.now}
	asked, err := s.askConfirmation(subscription.PendingSubscription, r)
	if err != nil {
		return err
	}
	switch {
	case other:
		s.printf("%s", neutralJoinResult(who))
	case asked:
		s.printf("Confirmation email sent to %s", who)
	default:
		s.printf("%s", overTheLimit(who))
	}
	return nil
}

// overTheLimit is what the results say of a confirmation the daily limit
// kept from being sent.
func overTheLimit(who string) string {
	return fmt.Sprintf("No confirmation was sent to %s: it has had all the mail this list sends an address in a day; try again tomorrow", who)
}

// neutralJoinResult is what a join of someone else's address answers,
// whether a confirmation went to it or not.
func neutralJoinResult(who string) string {
	return fmt.Sprintf("If %s may join, a confirmation was sent to it; it joins only if its owner confirms", who)
}

// unsubscribe starts removing a member by the list's unsubscription policy.
func (s *session) unsubscribe(m *store.Member) error {
	who := subscription.Person(m.Address, m.DisplayName)
	if _, err := s.h.Store.PendingFor(s.ctx, s.list.ListID, subscription.PendingUnsubscription, m.Address); err == nil {
		s.printf("%s has a pending unsubscription from %s", who, s.list.PostingAddress)
		s.respond = true
		return nil
	} else if !errors.Is(err, store.ErrNoSuchToken) {
		return err
	}
	policy := s.list.UnsubscriptionPolicy
	r := subscription.Request{
		Subscription: store.Subscription{Address: m.Address, DisplayName: m.DisplayName},
		Moderate:     policy == "moderate" || policy == "confirm_then_moderate",
	}
	switch {
	case policy == "confirm" || policy == "confirm_then_moderate":
		r.Stage = subscription.StageConfirm
		asked, err := s.askConfirmation(subscription.PendingUnsubscription, r)
		if err != nil {
			return err
		}
		if !asked {
			s.printf("%s", overTheLimit(who))
			break
		}
		s.printf("Confirmation email sent to %s to leave %s", who, s.list.PostingAddress)
	case r.Moderate:
		r.Stage = subscription.StageModerate
		if err := s.askModerators(subscription.PendingUnsubscription, r, ""); err != nil {
			return err
		}
		s.printf("The unsubscription of %s from %s waits for a moderator's approval", who, s.list.PostingAddress)
	default:
		return s.finishUnsubscription(r, "")
	}
	return nil
}

// finishSubscription makes the member, using up token, and welcomes them.
func (s *session) finishSubscription(r subscription.Request, token string) error {
	m, err := s.h.Store.Subscribe(s.ctx, s.list.ListID, r.Subscription, token)
	if errors.Is(err, store.ErrAlreadyMember) {
		if token != "" {
			if err := s.h.Store.DeletePending(s.ctx, token); err != nil {
				return err
			}
		}
		s.printf("%s is already a member of %s", subscription.Person(r.Address, r.DisplayName), s.list.PostingAddress)
		s.respond = true
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Info("subscribed", "address", m.Address, "delivery_mode", m.DeliveryMode)
	s.printf("%s joined %s", subscription.Person(m.Address, m.DisplayName), s.list.PostingAddress)
	if !s.list.SendWelcomeMessage {
		return nil
	}
	return s.tell(m.Address, "welcome", subscription.WelcomeMessage(s.list, m, s.now))
}

// finishUnsubscription removes the member, using up token, and says
// goodbye.
func (s *session) finishUnsubscription(r subscription.Request, token string) error {
	m, err := s.h.Store.Unsubscribe(s.ctx, s.list.ListID, r.Address, token)
	if errors.Is(err, store.ErrNoSuchMember) {
		if token != "" {
			if err := s.h.Store.DeletePending(s.ctx, token); err != nil {
				return err
			}
		}
		s.printf("%s is not a member of %s", r.Address, s.list.PostingAddress)
		s.respond = true
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Info("unsubscribed", "address", m.Address)
	s.printf("%s left %s", subscription.Person(m.Address, m.DisplayName), s.list.PostingAddress)
	if !s.list.SendGoodbyeMessage {
		return nil
	}
	return s.tell(m.Address, "goodbye", subscription.GoodbyeMessage(s.list, m, s.now))
}

// askConfirmation records the request and sends its token to the address,
// From the -confirm+TOKEN address so that a plain reply confirms it. It
// reports whether it did: an address past the daily limit gets neither the
// mail nor a request that would stand in the way of its own join.
//
// A confirmation sent to another address than the sender's (join
// address=...) counts towards the sender's limit too: the sender had the
// list write it, and one message naming many addresses must not make the
// list write to each of them.
func (s *session) askConfirmation(typ string, r subscription.Request) (bool, error) {
	if s.sender != "" && !strings.EqualFold(r.Address, s.sender) {
		if ok, err := s.mayMail(s.sender, "confirmation asked for another address"); err != nil || !ok {
			return false, err
		}
	}
	if ok, err := s.mayMail(r.Address, "confirmation"); err != nil || !ok {
		return false, err
	}
	life := s.h.Settings.PendingRequestLife
	token, err := s.h.Store.AddPendingFor(s.ctx, s.list.ListID, typ, r.Address, r, life)
	if err != nil {
		return false, err
	}
	s.log.Info("confirmation sent", "type", typ, "rcpt", r.Address)
	return true, s.send(subscription.ConfirmationMessage(s.list, typ, r, token, s.now, life), r.Address)
}

// askModerators hands the request to the list's owners and moderators,
// with a token of its own that their reply confirms. token, when not "",
// is the request's token so far, replaced in the same step, so that the
// subscriber who has seen it cannot approve their own request.
func (s *session) askModerators(typ string, r subscription.Request, token string) error {
	to, err := notice.Moderators(s.ctx, s.h.Store, s.list)
	if err != nil {
		return err
	}
	if len(to) == 0 {
		return fmt.Errorf("%s of %s needs a moderator, and the list has no owner or moderator", typ, r.Address)
	}
	r.Stage = subscription.StageModerate
	life := s.h.Settings.ModeratorRequestLife
	var next string
	if token == "" {
		next, err = s.h.Store.AddPendingFor(s.ctx, s.list.ListID, typ, r.Address, r, life)
	} else {
		next, err = s.h.Store.ReplacePending(s.ctx, token, r, life)
	}
	if err != nil {
		return err
	}
	s.log.Info("moderators asked", "type", typ, "address", r.Address)
	return s.send(subscription.ModeratorsMessage(s.list, typ, r, next, s.now, life), to...)
}

func isNoMember(err error) bool { return errors.Is(err, store.ErrNoSuchMember) }
