// Package subscription owns the subscription and unsubscription workflows:
// the pending request a join or a leave waits in (for its address to
// confirm, or for a moderator to approve), the mail that asks for either,
// and the welcome and goodbye. The command runner (requests by mail,
// their confirmations) and the REST API (Postorius's subscribe and
// moderation pages) both go through it, so that a request begun by one is
// finished by the other. It knows neither email commands nor HTTP.
package subscription

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
)

// The types of the pending requests the workflows make, as Mailman names
// them.
const (
	PendingSubscription   = "subscription"
	PendingUnsubscription = "unsubscription"
)

// The steps a request waits at: the address confirms, or a moderator
// approves.
const (
	StageConfirm  = "confirm"
	StageModerate = "moderate"
)

// Request is the payload of a pending subscription or unsubscription.
type Request struct {
	store.Subscription
	Stage string `json:"stage"`
	// Moderate says a moderator approves once the address has confirmed.
	Moderate bool `json:"moderate,omitempty"`
	// Invitation says the owner invited the address: its confirmation
	// accepts the invitation.
	Invitation bool `json:"invitation,omitempty"`
	// When is when it was asked for; zero in requests made before it was
	// kept.
	When time.Time `json:"when,omitzero"`
}

// ErrBadRequest is wrapped around a pending request whose payload cannot be
// read; it is dropped.
var ErrBadRequest = errors.New("unreadable pending request")

// DecodeRequest reads the request a pending subscription or
// unsubscription holds.
func DecodeRequest(p *store.Pending) (Request, error) {
	var r Request
	if err := json.Unmarshal(p.Payload, &r); err != nil || r.Address == "" {
		return r, fmt.Errorf("%s %s: %w", p.Type, p.Token, ErrBadRequest)
	}
	return r, nil
}

// Person is an address with its display name, as the texts show it.
func Person(address, displayName string) string {
	if displayName == "" {
		return address
	}
	return displayName + " <" + address + ">"
}

// ConfirmationMessage asks the address of r to confirm a request of type
// typ: sent From the -confirm+TOKEN address so that a plain reply
// confirms it.
func ConfirmationMessage(l *store.List, typ string, r Request, token string, now time.Time, life time.Duration) []byte {
	verb, what := "join", "join"
	if typ == PendingUnsubscription {
		verb, what = "leave", "be removed from"
	}
	confirmAddr := mta.SubPlus(l.PostingAddress, mta.Confirm, token)
	var b strings.Builder
	subject := fmt.Sprintf("Your confirmation is needed to %s the %s mailing list.", verb, l.PostingAddress)
	expires := now.Add(life).UTC().Format("2 January 2006 at 15:04 UTC")
	if r.Invitation {
		subject = fmt.Sprintf("You have been invited to join the %s mailing list.", l.PostingAddress)
		fmt.Fprintf(&b, "Your address\n\n    %s\n\nhas been invited to join the %s mailing list by its owner.\n", r.Address, l.PostingAddress)
		fmt.Fprintf(&b, "To accept the invitation, reply to this message; what the reply says\ndoes not matter. Or send a message to %s\nwith this line as its subject:\n\n    confirm %s\n\n", notice.Address(l, mta.Request), token)
		fmt.Fprintf(&b, "To decline it, ignore this message: the invitation expires on\n%s. Questions go to %s.\n", expires, notice.Address(l, mta.Owner))
	} else {
		fmt.Fprintf(&b, "Someone, perhaps you, asked that the address\n\n    %s\n\n", r.Address)
		fmt.Fprintf(&b, "%s the %s mailing list. To confirm, reply to this message;\n", what, l.PostingAddress)
		fmt.Fprintf(&b, "what the reply says does not matter. Or send a message to\n%s with this line as its subject:\n\n    confirm %s\n\n", notice.Address(l, mta.Request), token)
		fmt.Fprintf(&b, "If you did not ask for this, ignore this message: nothing happens, and\nthe request expires on %s.\n", expires)
	}
	fields := []message.Field{
		{Name: "From", Value: confirmAddr},
		{Name: "To", Value: (&mail.Address{Name: r.DisplayName, Address: r.Address}).String()},
		{Name: "Subject", Value: subject},
		{Name: "Date", Value: message.Date(now)},
		{Name: "Message-ID", Value: message.NewMessageID(l.Address.Domain)},
		// auto-generated, not auto-replied, and no Precedence: the person's
		// reply to it must reach the command runner, and must not look
		// automatic itself.
		{Name: "Auto-Submitted", Value: "auto-generated"},
	}
	return message.NewText(fields, b.String())
}

// ModeratorsMessage asks the list's moderators to approve a request,
// with the token their reply confirms.
func ModeratorsMessage(l *store.List, typ string, r Request, token string, now time.Time, life time.Duration) []byte {
	what, subject := "join", fmt.Sprintf("New subscription request to %s from %s", l.DisplayName, r.Address)
	if typ == PendingUnsubscription {
		what, subject = "leave", fmt.Sprintf("New unsubscription request from %s by %s", l.DisplayName, r.Address)
	}
	confirmAddr := mta.SubPlus(l.PostingAddress, mta.Confirm, token)
	var b strings.Builder
	fmt.Fprintf(&b, "As a moderator of %s, your approval is needed for\n\n    %s\n\nto %s the list.\n\n", l.PostingAddress, Person(r.Address, r.DisplayName), what)
	fmt.Fprintf(&b, "To approve, reply to this message, or send a message to %s\nwith this line as its subject:\n\n    confirm %s\n\n", notice.Address(l, mta.Request), token)
	fmt.Fprintf(&b, "To refuse, do nothing: the request expires on %s.\n", now.Add(life).UTC().Format("2 January 2006 at 15:04 UTC"))
	// The moderators' reply goes to the -confirm address; Auto-Submitted
	// and Precedence stay, as in every notice, which their reply drops.
	fields := notice.Fields(l, confirmAddr, notice.Address(l, mta.Owner), subject, now)
	return message.NewText(fields, b.String())
}

// WelcomeMessage welcomes a new member.
func WelcomeMessage(l *store.List, m *store.Member, now time.Time) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Welcome to the \"%s\" mailing list!\n\n", l.DisplayName)
	fmt.Fprintf(&b, "To post to this list, send your message to:\n\n    %s\n\n", l.PostingAddress)
	fmt.Fprintf(&b, "To leave the list, send a message to:\n\n    %s\n", notice.Address(l, mta.Leave))
	if text := strings.TrimSpace(l.WelcomeMessage); text != "" {
		fmt.Fprintf(&b, "\n%s\n", text)
	}
	subject := fmt.Sprintf("Welcome to the \"%s\" mailing list", l.DisplayName)
	to := (&mail.Address{Name: m.DisplayName, Address: m.Address}).String()
	return message.NewText(notice.Fields(l, notice.Address(l, mta.Request), to, subject, now), b.String())
}

// GoodbyeMessage tells a member who left that they are no longer one.
func GoodbyeMessage(l *store.List, m *store.Member, now time.Time) []byte {
	text := strings.TrimSpace(l.GoodbyeMessage)
	if text == "" {
		text = fmt.Sprintf("You are no longer a member of the %s mailing list, and get no more of\nits posts. To join again, send a message to %s.", l.PostingAddress, notice.Address(l, mta.Join))
	}
	subject := fmt.Sprintf("You have been unsubscribed from the %s mailing list", l.DisplayName)
	fields := notice.Fields(l, notice.Address(l, mta.Bounces), m.Address, subject, now)
	return message.NewText(fields, text+"\n")
}

// MembershipNotice tells a list's owners that m joined or left it, with
// Mailman's Subjects.
func MembershipNotice(l *store.List, m *store.Member, joined bool, now time.Time) []byte {
	subject := l.DisplayName + " unsubscription notification"
	text := Person(m.Address, m.DisplayName) + " has left the " + l.PostingAddress + " mailing list.\n"
	if joined {
		subject = l.DisplayName + " subscription notification"
		text = Person(m.Address, m.DisplayName) + " has joined the " + l.PostingAddress + " mailing list.\n"
	}
	owner := notice.Address(l, mta.Owner)
	return message.NewText(notice.Fields(l, owner, owner, subject, now), text)
}
