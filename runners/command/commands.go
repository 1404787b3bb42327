package command

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/subscription"
)

// command is one email command: what it takes and does, for help, and
// what runs it. run is given the name it was called by and the words
// after it; it reports whether the next line is read.
type command struct {
	args  string
	short string
	long  string
	run   func(s *session, name string, args []string) (bool, error)
}

// commands are the email commands by name. They are set in init because
// help reads the table it is in.
var commands map[string]*command

func init() {
	join := &command{
		args:  "[digest=<no|mime|plain>] [address=<address>]",
		short: "Join this mailing list.",
		long: `You are sent a message to confirm that you asked; some lists then
also wait for a moderator. digest= asks for digests instead of each post
(mime or plain) or not (no). address= joins another address of yours
instead of the one you write from; it is asked to confirm.`,
		run: runJoin,
	}
	leave := &command{
		short: "Leave this mailing list.",
		long: `Removes the address you write from. Some lists first ask you to
confirm, or wait for a moderator.`,
		run: runLeave,
	}
	end := &command{
		short: "Stop processing commands.",
		long:  `Nothing after this line is read, such as a signature.`,
		run:   func(*session, string, []string) (bool, error) { return false, nil },
	}
	commands = map[string]*command{
		"confirm": {
			args:  "<token>",
			short: "Confirm a request.",
			long: `Confirms a subscription or unsubscription with the token sent to
you. A moderator confirms a held post's token to deal with it: with the
list's moderator password in an Approved: header the post is accepted,
without it the post is discarded.`,
			run: runConfirm,
		},
		"echo": {
			args:  "[args]",
			short: "Echo back your arguments.",
			run: func(s *session, name string, args []string) (bool, error) {
				s.printf("%s", strings.Join(append([]string{name}, args...), " "))
				return true, nil
			},
		},
		"end":  end,
		"stop": end,
		"help": {
			args:  "[command]",
			short: "Get help about available email commands.",
			run:   runHelp,
		},
		"join":        join,
		"subscribe":   join,
		"leave":       leave,
		"unsubscribe": leave,
		"set": {
			args:  "digest=<no|mime|plain> | delivery=<enabled|disabled>",
			short: "Change how you get this list's posts.",
			long: `digest=mime or digest=plain sends you the list's digest instead of
each post, digest=no each post again; delivery=disabled stops the list's
mail to you for a while, delivery=enabled starts it again. It changes the
membership of the address you write from.`,
			run: runSet,
		},
		"who": {
			args:  "[delivery=<enabled|disabled>] [mode=<digest|regular>]",
			short: "Get a list of the list members.",
			long: `Lists the members, by address. Who may ask is the list's
member_roster_visibility: anyone, its members, or its moderators.`,
			run: runWho,
		},
	}
}

func names() []string {
	ns := make([]string, 0, len(commands))
	for n := range commands {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

func runHelp(s *session, _ string, args []string) (bool, error) {
	switch len(args) {
	case 0:
		width := 0
		for _, n := range names() {
			width = max(width, len(n))
		}
		for _, n := range names() {
			s.printf("%-*s - %s", width, n, commands[n].short)
		}
		return true, nil
	case 1:
		c, ok := commands[args[0]]
		if !ok {
			s.printf("help: no such command: %s", args[0])
			return false, nil
		}
		s.printf("%s", strings.TrimSpace(args[0]+" "+c.args))
		s.printf("%s", c.short)
		if c.long != "" && c.long != c.short {
			s.printf("\n%s", c.long)
		}
		return true, nil
	}
	s.printf("help: too many arguments: %s", strings.Join(args, " "))
	return false, nil
}

// runSet changes the sender's delivery mode or status.
func runSet(s *session, _ string, args []string) (bool, error) {
	if len(args) == 0 {
		s.printf("set: say what to change: digest=<no|mime|plain> or delivery=<enabled|disabled>")
		return false, nil
	}
	type change struct{ option, value string }
	var changes []change
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch {
		case k == "digest" && digestModes[v] != "":
			changes = append(changes, change{"delivery_mode", digestModes[v]})
		case k == "delivery" && (v == "enabled" || v == "disabled"):
			changes = append(changes, change{"delivery_enabled", strconv.FormatBool(v == "enabled")})
		default:
			s.printf("set: bad argument: %s", a)
			return false, nil
		}
	}
	if s.sender == "" {
		s.printf("set: your address is not known")
		return false, nil
	}
	for _, c := range changes {
		err := s.h.Store.SetMemberOption(s.ctx, s.list.Address, s.sender, store.Regular, c.option, c.value)
		if errors.Is(err, store.ErrNoSuchMember) {
			s.printf("set: %s is not a member of %s", s.sender, s.list.PostingAddress)
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	s.printf("set: %s changed for %s", strings.Join(args, " "), s.sender)
	return true, nil
}

// runWho lists the members to those the list's roster visibility allows.
func runWho(s *session, _ string, args []string) (bool, error) {
	var delivery, mode string
	var bad []string
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch {
		case k == "delivery" && (v == "enabled" || v == "disabled"):
			delivery = v
		case k == "mode" && (v == "digest" || v == "regular"):
			mode = v
		default:
			bad = append(bad, a)
		}
	}
	if len(bad) > 0 {
		s.printf("who: bad argument(s): %s", strings.Join(bad, " "))
		return false, nil
	}
	allowed, err := s.mayReadRoster()
	if err != nil {
		return false, err
	}
	if !allowed {
		s.printf("You are not authorized to see the membership list.")
		return false, nil
	}
	ms, err := s.h.Store.Members(s.ctx, s.list.Address, store.Regular)
	if err != nil {
		return false, err
	}
	slices.SortFunc(ms, func(a, b store.Member) int {
		return strings.Compare(strings.ToLower(a.Address), strings.ToLower(b.Address))
	})
	s.printf("Members of the %s mailing list:", s.list.PostingAddress)
	for _, m := range ms {
		if delivery != "" && m.DeliveryEnabled != (delivery == "enabled") {
			continue
		}
		if mode != "" && (m.DeliveryMode == store.RegularDelivery) != (mode == "regular") {
			continue
		}
		s.printf("    %s", subscription.Person(m.Address, m.DisplayName))
	}
	return true, nil
}

// mayReadRoster applies member_roster_visibility to the sender.
func (s *session) mayReadRoster() (bool, error) {
	if s.list.MemberRosterVisibility == "public" {
		return true, nil
	}
	if s.sender == "" {
		return false, nil
	}
	roles := []store.Role{store.Owner, store.Moderator}
	if s.list.MemberRosterVisibility == "members" {
		roles = append(roles, store.Regular)
	}
	for _, r := range roles {
		_, err := s.h.Store.Member(s.ctx, s.list.ListID, s.sender, r)
		if err == nil {
			return true, nil
		}
		if !isNoMember(err) {
			return false, err
		}
	}
	return false, nil
}
