// Package mta owns what connects the mail server to the lists: the
// addresses a list answers at (its posting address and Mailman's
// sub-addresses) and the maps that tell Postfix to hand mail for them to
// the LMTP runner. It knows list addresses as strings and nothing of the
// store, the queues or how mail is processed.
package mta

import "sort"

// Subaddresses maps each sub-address a list answers at (LIST-NAME@DOMAIN)
// to the one it means, as Mailman names them; "subscribe" and
// "unsubscribe" are "join" and "leave".
var Subaddresses = map[string]string{
	"bounces": "bounces", "confirm": "confirm", "join": "join", "leave": "leave",
	"owner": "owner", "request": "request", "subscribe": "join", "unsubscribe": "leave",
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
