package command

import (
	"encoding/json"
	"errors"
	"github.com/mailman-go/mailman/subscription"
	"strings"

	"github.com/mailman-go/mailman/store"
)

// approvedHeaders carry the moderator password in a moderator's
// confirmation of a held post.
var approvedHeaders = []string{"Approved", "Approve", "X-Approved", "X-Approve"}

// runConfirm confirms the request with the token: it advances a
// subscription or unsubscription, or deals with a held post. Nothing after
// it is read: a reply quoting the confirmation mail holds nothing more to
// run.
func runConfirm(s *session, _ string, args []string) (bool, error) {
	if len(args) == 0 {
		s.printf("No confirmation token found")
		s.respond = true
		return false, nil
	}
	token := args[0]
	if !s.once("confirm " + token) {
		return false, nil
	}
	p, err := s.h.Store.Pending(s.ctx, token)
	switch {
	case errors.Is(err, store.ErrTokenExpired):
		s.printf("The confirmation token has expired, and the request with it; make the request again.")
		s.respond = true
		return false, nil
	case errors.Is(err, store.ErrNoSuchToken):
		s.printf("Confirmation token did not match")
		s.respond = true
		return false, nil
	case err != nil:
		return false, err
	}
	// A token confirms for the list it was made for, not by mail to another.
	if p.ListID != s.list.ListID {
		s.printf("Confirmation token did not match")
		s.respond = true
		return false, nil
	}
	s.log.Info("confirming", "type", p.Type)
	switch p.Type {
	case store.PendingHeld:
		return false, s.confirmHeld(token)
	case store.PendingReenable:
		return false, s.confirmReenable(p, token)
	case subscription.PendingSubscription, subscription.PendingUnsubscription:
		r, err := subscription.DecodeRequest(p)
		if err != nil {
			s.log.Error("pending request dropped", "error", err)
			if err := s.h.Store.DeletePending(s.ctx, token); err != nil {
				return false, err
			}
			s.printf("Confirmation token did not match")
			s.respond = true
			return false, nil
		}
		return false, s.confirmRequest(p.Type, r, token)
	}
	s.printf("Confirmation token did not match")
	s.respond = true
	return false, nil
}

// confirmRequest advances a subscription or unsubscription: the address
// has confirmed (it is verified, and a moderator may be next), or a
// moderator has approved.
func (s *session) confirmRequest(typ string, r subscription.Request, token string) error {
	if r.Stage == subscription.StageConfirm {
		if err := s.h.Store.VerifyAddress(s.ctx, r.Address, r.DisplayName); err != nil {
			return err
		}
		if r.Moderate {
			if err := s.askModerators(typ, r, token); err != nil {
				return err
			}
			s.printf("Confirmed")
			s.printf("The request waits for a moderator's approval.")
			return nil
		}
	}
	if typ == subscription.PendingSubscription {
		banned, err := s.h.Store.IsBanned(s.ctx, s.list.ListID, r.Address)
		if err != nil {
			return err
		}
		if banned {
			if err := s.h.Store.DeletePending(s.ctx, token); err != nil {
				return err
			}
			s.printf("%s is not allowed to subscribe to %s", r.Address, s.list.PostingAddress)
			s.respond = true
			return nil
		}
		s.printf("Confirmed")
		return s.finishSubscription(r, token)
	}
	s.printf("Confirmed")
	return s.finishUnsubscription(r, token)
}

// confirmHeld deals with a held post whose token a moderator confirmed:
// with the list's moderator password in an Approved header the post is
// accepted, without one it is discarded, and with a wrong one nothing is
// done.
func (s *session) confirmHeld(token string) error {
	held, err := s.h.Store.HeldByToken(s.ctx, token)
	if errors.Is(err, store.ErrNoSuchHeld) {
		s.printf("Confirmation token did not match")
		s.respond = true
		return s.h.Store.DeletePending(s.ctx, token)
	}
	if err != nil {
		return err
	}
	var password string
	for _, h := range approvedHeaders {
		if password == "" {
			password = strings.TrimSpace(s.msg.Get(h))
		}
	}
	switch {
	case password == "":
		if _, err := s.h.Moderator.With(s.log).Discard(s.ctx, held.ID); err != nil {
			return err
		}
		s.printf("Message discarded")
	case s.list.CheckModeratorPassword(password):
		if _, err := s.h.Moderator.With(s.log).Accept(s.ctx, held.ID); err != nil {
			return err
		}
		s.printf("Message accepted")
	default:
		s.log.Warn("held message confirmation with a wrong moderator password", "held_id", held.ID)
		s.printf("Invalid Approved: password")
		s.respond = true
	}
	return nil
}

// confirmReenable turns on again the delivery of the member a bounce
// warning was for, with a clean score: the member has shown the address
// gets mail.
func (s *session) confirmReenable(p *store.Pending, token string) error {
	var payload store.BouncePayload
	if err := json.Unmarshal(p.Payload, &payload); err != nil || payload.Address == "" {
		s.printf("Confirmation token did not match")
		s.respond = true
		return s.h.Store.DeletePending(s.ctx, token)
	}
	if err := s.h.Store.DeletePending(s.ctx, token); err != nil {
		return err
	}
	err := s.h.Store.SetMemberOption(s.ctx, s.list.Address, payload.Address, store.Regular, "delivery_enabled", "true")
	if errors.Is(err, store.ErrNoSuchMember) {
		s.printf("%s is not a member of %s", payload.Address, s.list.PostingAddress)
		s.respond = true
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Info("delivery re-enabled", "address", payload.Address)
	s.printf("Confirmed")
	s.printf("Delivery to %s is on again.", payload.Address)
	s.respond = true
	return nil
}
