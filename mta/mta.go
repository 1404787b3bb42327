// Package mta owns what connects the mail server to the lists: the
// addresses a list answers at (its posting address and Mailman's
// sub-addresses), their forms (LIST-SUB@DOMAIN, LIST-SUB+DETAIL@DOMAIN,
// VERP), and the maps that tell Postfix to hand mail for them to the LMTP
// runner, written from the site's configuration. It knows list addresses
// as strings and nothing of the store, the queues or how mail is
// processed.
package mta

import (
	"sort"
	"strings"
)

// The sub-addresses a list answers at, as Mailman names them. Post is the
// posting address itself.
const (
	Post    = ""
	Bounces = "bounces"
	Confirm = "confirm"
	Join    = "join"
	Leave   = "leave"
	Owner   = "owner"
	Request = "request"
)

// Subaddresses maps each word a list answers at after its name and a dash
// (LIST-WORD@DOMAIN) to the sub-address it means; "subscribe" and
// "unsubscribe" are Mailman's other names for join and leave.
var Subaddresses = map[string]string{
	Bounces: Bounces, Confirm: Confirm, Join: Join, Leave: Leave,
	Owner: Owner, Request: Request, "subscribe": Join, "unsubscribe": Leave,
}

// subaddressNames is Subaddresses' keys, sorted, for maps that list them.
func subaddressNames() []string {
	names := make([]string, 0, len(Subaddresses))
	for n := range Subaddresses {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Sub returns the sub-address sub of the list whose posting address is
// list (NAME@DOMAIN): NAME-SUB@DOMAIN, or list itself for Post.
func Sub(list, sub string) string { return SubPlus(list, sub, "") }

// SubPlus is Sub with a detail after a "+" (NAME-SUB+DETAIL@DOMAIN), as
// confirmation tokens and VERP use; an empty detail is Sub.
func SubPlus(list, sub, detail string) string {
	local, domain, _ := strings.Cut(list, "@")
	if sub != Post {
		local += "-" + sub
	}
	if detail != "" {
		local += "+" + detail
	}
	return local + "@" + domain
}

// VERP is the envelope sender LOCAL@DOMAIN made LOCAL+user=host@DOMAIN for
// the recipient user@host, so that a bounce names the recipient it is
// about, as Mailman's verp_format does. An unqualified address is left
// alone, as Mailman leaves it.
func VERP(envsender, rcpt string) string {
	at := strings.LastIndexByte(envsender, '@')
	rat := strings.LastIndexByte(rcpt, '@')
	if at < 0 || rat < 0 {
		return envsender
	}
	return envsender[:at] + "+" + rcpt[:rat] + "=" + rcpt[rat+1:] + envsender[at:]
}

// IsListAddress reports whether address is the list's posting address or
// one of its sub-addresses, with or without a +DETAIL, in any case.
func IsListAddress(list, address string) bool {
	name, domain, _ := strings.Cut(strings.ToLower(list), "@")
	local, adomain, _ := strings.Cut(strings.ToLower(address), "@")
	if adomain != domain {
		return false
	}
	local, _, _ = strings.Cut(local, "+")
	if local == name {
		return true
	}
	word, ok := strings.CutPrefix(local, name+"-")
	if !ok {
		return false
	}
	_, ok = Subaddresses[word]
	return ok
}
