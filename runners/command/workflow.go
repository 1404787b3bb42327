package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
)

// The types of the pending requests the workflows make, as Mailman names
// them.
const (
	pendingSubscription   = "subscription"
	pendingUnsubscription = "unsubscription"
)

// The steps a request waits at: the address confirms, or a moderator
// approves.
const (
	stageConfirm  = "confirm"
	stageModerate = "moderate"
)

// request is the payload of a pending subscription or unsubscription.
type request struct {
	store.Subscription
	Stage string `json:"stage"`
	// Moderate says a moderator approves once the address has confirmed.
	Moderate bool `json:"moderate,omitempty"`
}

// ErrBadRequest is wrapped around a pending request whose payload cannot be
// read; it is dropped.
var ErrBadRequest = errors.New("unreadable pending request")

func decodeRequest(p *store.Pending) (request, error) {
	var r request
	if err := json.Unmarshal(p.Payload, &r); err != nil || r.Address == "" {
		return r, fmt.Errorf("%s %s: %w", p.Type, p.Token, ErrBadRequest)
	}
	return r, nil
}

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
	who := person(sub.Address, sub.DisplayName)
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
	if _, err := s.h.Store.PendingFor(s.ctx, s.list.ListID, pendingSubscription, sub.Address); err == nil {
		return refuse("%s has a pending subscription for %s", who, s.list.PostingAddress)
	} else if !errors.Is(err, store.ErrNoSuchToken) {
		return err
	}
	if err := s.h.Store.RecordAddress(s.ctx, sub.Address, sub.DisplayName); err != nil {
		return err
	}
	policy := s.list.SubscriptionPolicy
	r := request{Subscription: sub, Stage: stageConfirm, Moderate: policy == "moderate" || policy == "confirm_then_moderate"}
	asked, err := s.askConfirmation(pendingSubscription, r)
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
	who := person(m.Address, m.DisplayName)
	if _, err := s.h.Store.PendingFor(s.ctx, s.list.ListID, pendingUnsubscription, m.Address); err == nil {
		s.printf("%s has a pending unsubscription from %s", who, s.list.PostingAddress)
		s.respond = true
		return nil
	} else if !errors.Is(err, store.ErrNoSuchToken) {
		return err
	}
	policy := s.list.UnsubscriptionPolicy
	r := request{
		Subscription: store.Subscription{Address: m.Address, DisplayName: m.DisplayName},
		Moderate:     policy == "moderate" || policy == "confirm_then_moderate",
	}
	switch {
	case policy == "confirm" || policy == "confirm_then_moderate":
		r.Stage = stageConfirm
		asked, err := s.askConfirmation(pendingUnsubscription, r)
		if err != nil {
			return err
		}
		if !asked {
			s.printf("%s", overTheLimit(who))
			break
		}
		s.printf("Confirmation email sent to %s to leave %s", who, s.list.PostingAddress)
	case r.Moderate:
		r.Stage = stageModerate
		if err := s.askModerators(pendingUnsubscription, r, ""); err != nil {
			return err
		}
		s.printf("The unsubscription of %s from %s waits for a moderator's approval", who, s.list.PostingAddress)
	default:
		return s.finishUnsubscription(r, "")
	}
	return nil
}

// finishSubscription makes the member, using up token, and welcomes them.
func (s *session) finishSubscription(r request, token string) error {
	m, err := s.h.Store.Subscribe(s.ctx, s.list.ListID, r.Subscription, token)
	if errors.Is(err, store.ErrAlreadyMember) {
		if token != "" {
			if err := s.h.Store.DeletePending(s.ctx, token); err != nil {
				return err
			}
		}
		s.printf("%s is already a member of %s", person(r.Address, r.DisplayName), s.list.PostingAddress)
		s.respond = true
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Info("subscribed", "address", m.Address, "delivery_mode", m.DeliveryMode)
	s.printf("%s joined %s", person(m.Address, m.DisplayName), s.list.PostingAddress)
	if !s.list.SendWelcomeMessage {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Welcome to the \"%s\" mailing list!\n\n", s.list.DisplayName)
	fmt.Fprintf(&b, "To post to this list, send your message to:\n\n    %s\n\n", s.list.PostingAddress)
	fmt.Fprintf(&b, "To leave the list, send a message to:\n\n    %s\n", notice.Address(s.list, mta.Leave))
	if text := strings.TrimSpace(s.list.WelcomeMessage); text != "" {
		fmt.Fprintf(&b, "\n%s\n", text)
	}
	subject := fmt.Sprintf("Welcome to the \"%s\" mailing list", s.list.DisplayName)
	to := (&mail.Address{Name: m.DisplayName, Address: m.Address}).String()
	return s.tell(m.Address, "welcome", message.NewText(notice.Fields(s.list, notice.Address(s.list, mta.Request), to, subject, s.now), b.String()))
}

// finishUnsubscription removes the member, using up token, and says
// goodbye.
func (s *session) finishUnsubscription(r request, token string) error {
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
	s.printf("%s left %s", person(m.Address, m.DisplayName), s.list.PostingAddress)
	if !s.list.SendGoodbyeMessage {
		return nil
	}
	text := strings.TrimSpace(s.list.GoodbyeMessage)
	if text == "" {
		text = fmt.Sprintf("You are no longer a member of the %s mailing list, and get no more of\nits posts. To join again, send a message to %s.", s.list.PostingAddress, notice.Address(s.list, mta.Join))
	}
	subject := fmt.Sprintf("You have been unsubscribed from the %s mailing list", s.list.DisplayName)
	fields := notice.Fields(s.list, notice.Address(s.list, mta.Bounces), m.Address, subject, s.now)
	return s.tell(m.Address, "goodbye", message.NewText(fields, text+"\n"))
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
func (s *session) askConfirmation(typ string, r request) (bool, error) {
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
	verb, what := "join", "join"
	if typ == pendingUnsubscription {
		verb, what = "leave", "be removed from"
	}
	confirmAddr := mta.SubPlus(s.list.PostingAddress, mta.Confirm, token)
	var b strings.Builder
	fmt.Fprintf(&b, "Someone, perhaps you, asked that the address\n\n    %s\n\n", r.Address)
	fmt.Fprintf(&b, "%s the %s mailing list. To confirm, reply to this message;\n", what, s.list.PostingAddress)
	fmt.Fprintf(&b, "what the reply says does not matter. Or send a message to\n%s with this line as its subject:\n\n    confirm %s\n\n", notice.Address(s.list, mta.Request), token)
	fmt.Fprintf(&b, "If you did not ask for this, ignore this message: nothing happens, and\nthe request expires on %s.\n", s.now.Add(life).UTC().Format("2 January 2006 at 15:04 UTC"))
	subject := fmt.Sprintf("Your confirmation is needed to %s the %s mailing list.", verb, s.list.PostingAddress)
	fields := []message.Field{
		{Name: "From", Value: confirmAddr},
		{Name: "To", Value: (&mail.Address{Name: r.DisplayName, Address: r.Address}).String()},
		{Name: "Subject", Value: subject},
		{Name: "Date", Value: message.Date(s.now)},
		{Name: "Message-ID", Value: message.NewMessageID(s.list.Address.Domain)},
		// auto-generated, not auto-replied, and no Precedence: the person's
		// reply to it must reach the command runner, and must not look
		// automatic itself.
		{Name: "Auto-Submitted", Value: "auto-generated"},
	}
	s.log.Info("confirmation sent", "type", typ, "rcpt", r.Address)
	return true, s.send(message.NewText(fields, b.String()), r.Address)
}

// askModerators hands the request to the list's owners and moderators,
// with a token of its own that their reply confirms. token, when not "",
// is the request's token so far, replaced in the same step, so that the
// subscriber who has seen it cannot approve their own request.
func (s *session) askModerators(typ string, r request, token string) error {
	to, err := notice.Moderators(s.ctx, s.h.Store, s.list)
	if err != nil {
		return err
	}
	if len(to) == 0 {
		return fmt.Errorf("%s of %s needs a moderator, and the list has no owner or moderator", typ, r.Address)
	}
	r.Stage = stageModerate
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
	what, subject := "join", fmt.Sprintf("New subscription request to %s from %s", s.list.DisplayName, r.Address)
	if typ == pendingUnsubscription {
		what, subject = "leave", fmt.Sprintf("New unsubscription request from %s by %s", s.list.DisplayName, r.Address)
	}
	confirmAddr := mta.SubPlus(s.list.PostingAddress, mta.Confirm, next)
	var b strings.Builder
	fmt.Fprintf(&b, "As a moderator of %s, your approval is needed for\n\n    %s\n\nto %s the list.\n\n", s.list.PostingAddress, person(r.Address, r.DisplayName), what)
	fmt.Fprintf(&b, "To approve, reply to this message, or send a message to %s\nwith this line as its subject:\n\n    confirm %s\n\n", notice.Address(s.list, mta.Request), next)
	fmt.Fprintf(&b, "To refuse, do nothing: the request expires on %s.\n", s.now.Add(life).UTC().Format("2 January 2006 at 15:04 UTC"))
	fields := notice.Fields(s.list, confirmAddr, notice.Address(s.list, mta.Owner), subject, s.now)
	// The moderators' reply goes to the -confirm address; Auto-Submitted
	// and Precedence stay, as in every notice, which their reply drops.
	s.log.Info("moderators asked", "type", typ, "address", r.Address)
	return s.send(message.NewText(fields, b.String()), to...)
}

func isNoMember(err error) bool { return errors.Is(err, store.ErrNoSuchMember) }
