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

// Detail is the DETAIL of address when it is the list's sub-address sub
// with one (NAME-SUB+DETAIL@ANY, in any case; the domain is not compared,
// as Mailman does not, for a bounce may come back through another name of
// the host): a VERP recipient, a probe's or a confirmation's token.
func Detail(list, sub, address string) (string, bool) {
	want, _, _ := strings.Cut(strings.ToLower(Sub(list, sub)), "@")
	local, _, ok := strings.Cut(address, "@")
	if !ok {
		return "", false
	}
	mailbox, detail, ok := strings.Cut(local, "+")
	if !ok || detail == "" || strings.ToLower(mailbox) != want {
		return "", false
	}
	return detail, true
}

// FromVERP is the recipient a VERP envelope sender names (see VERP): the
// user=host of the list's -bounces+user=host@ address as user@host.
func FromVERP(list, address string) (string, bool) {
	detail, ok := Detail(list, Bounces, address)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(detail, '=')
	if i <= 0 || i == len(detail)-1 || strings.ContainsAny(detail[i+1:], "=@") {
		return "", false
	}
	return detail[:i] + "@" + detail[i+1:], true
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

// SMTPAddress is address as an SMTP command writes it (RFC 5321 §4.1.2):
// the local part as it is when it is a dot-string, quoted otherwise. The
// store and the runners keep addresses unquoted, as a parsed header gives
// them ("x>y"@example.com is x>y@example.com), so that one mailbox has one
// form; MAIL FROM and RCPT TO must quote it again, or the server reads
// another address (RCPT TO:<x>y@example.com> ends at the first ">").
func SMTPAddress(address string) string {
	at := strings.LastIndexByte(address, '@')
	local, rest := address, ""
	if at >= 0 {
		local, rest = address[:at], address[at:]
	}
	if isDotString(local) || (len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"') {
		return address
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String() + rest
}

// isDotString reports whether local is RFC 5321's Dot-string: atoms of
// atext (8-bit bytes included, for SMTPUTF8) joined by single dots.
func isDotString(local string) bool {
	if local == "" {
		return false
	}
	for _, atom := range strings.Split(local, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			c := atom[i]
			switch {
			case c >= 0x80, c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
			default:
				return false
			}
		}
	}
	return true
}
