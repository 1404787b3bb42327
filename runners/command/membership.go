package command

import (
	"errors"
	"strings"

	"github.com/mailman-go/mailman/store"
)

// digestModes are join's digest= values and the delivery modes they ask.
var digestModes = map[string]string{"no": store.RegularDelivery, "mime": store.MIMEDigests, "plain": store.PlainDigests}

// runJoin subscribes the address= argument, or else the From address
// (with its display name), or else the sender.
func runJoin(s *session, name string, args []string) (bool, error) {
	var sub store.Subscription
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch {
		case k == "digest" && digestModes[v] != "":
			sub.DeliveryMode = digestModes[v]
		case k == "address" && v != "":
			addr, _, err := store.ParseMemberAddress(v)
			if err != nil {
				s.printf("%s bad argument: %s", name, a)
				s.respond = true
				return false, nil
			}
			sub.Address = addr
		default:
			s.printf("%s bad argument: %s", name, a)
			s.respond = true
			return false, nil
		}
	}
	if sub.Address == "" {
		if addr, display, ok := s.msg.Mailbox("From"); ok {
			if a, _, err := store.ParseMemberAddress(addr); err == nil {
				sub.Address, sub.DisplayName = a, display
			}
		}
	}
	if sub.Address == "" && s.sender != "" {
		if a, _, err := store.ParseMemberAddress(s.sender); err == nil {
			sub.Address = a
		}
	}
	if sub.Address == "" {
		s.printf("%s: No valid address found to subscribe", name)
		s.respond = true
		return false, nil
	}
	if !s.once("join " + strings.ToLower(sub.Address)) {
		return true, nil
	}
	return true, s.subscribe(sub)
}

// runLeave removes the sender, who must be an address that has shown it
// receives mail: otherwise anyone could remove anyone by forging a From.
// A forged From still can, for a list whose unsubscription policy is open;
// confirm, the default, sends the token to the member instead.
func runLeave(s *session, name string, _ []string) (bool, error) {
	if s.sender == "" {
		s.printf("%s: No valid email address found to unsubscribe", name)
		s.respond = true
		return false, nil
	}
	if !s.once("leave " + s.sender) {
		return true, nil
	}
	status, err := s.h.Store.AddressStatus(s.ctx, s.sender)
	if err != nil {
		return false, err
	}
	switch {
	case !status.Known:
		s.printf("No registered user for email address: %s", s.sender)
		s.respond = true
		return false, nil
	case !status.Verified:
		s.printf("Invalid or unverified email address: %s", s.sender)
		s.respond = true
		return false, nil
	}
	m, err := s.h.Store.Member(s.ctx, s.list.ListID, s.sender, store.Regular)
	if errors.Is(err, store.ErrNoSuchMember) {
		s.printf("%s: %s is not a member of %s", name, s.sender, s.list.PostingAddress)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, s.unsubscribe(m)
}
