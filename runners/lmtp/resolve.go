package lmtp

import (
	"context"
	"errors"
	"strings"

	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/store"
)

// target is what a recipient address means: a list and the sub-address
// ("" for a post to the list).
type target struct {
	list store.ListAddress
	sub  string
}

// listExists answers whether a list exists; an error means the answer is
// unknown (the database is down), which must not become a 5xx.
type listExists func(ctx context.Context, a store.ListAddress) (bool, error)

// errNoSuchList is a recipient that is no list or sub-address of one.
var errNoSuchList = errors.New("no such list")

// resolve finds the list and sub-address of a recipient as Mailman does:
// lower-case it, cut the local part at the first "+", split it at the last
// "-" into list and sub-address; a sub-address Mailman does not know, or no
// "-", makes the whole local part the list name; and a list whose own name
// is "<x>-<sub>" is that list, not x's sub-address.
func resolve(ctx context.Context, rcpt string, exists listExists) (target, error) {
	rcpt = strings.ToLower(strings.TrimSpace(rcpt))
	at := strings.LastIndexByte(rcpt, '@')
	if at < 0 {
		return target{}, errNoSuchList
	}
	local, domain := rcpt[:at], rcpt[at+1:]
	if plus := strings.IndexByte(local, '+'); plus >= 0 {
		local = local[:plus]
	}
	whole, err := store.ParseListAddress(local + "@" + domain)
	if err != nil {
		return target{}, errNoSuchList
	}
	if dash := strings.LastIndexByte(local, '-'); dash > 0 {
		if sub, ok := mta.Subaddresses[local[dash+1:]]; ok {
			ok, err := exists(ctx, whole)
			if err != nil {
				return target{}, err
			}
			if ok {
				return target{list: whole}, nil
			}
			base, err := store.ParseListAddress(local[:dash] + "@" + domain)
			if err != nil {
				return target{}, errNoSuchList
			}
			return checked(ctx, target{list: base, sub: sub}, exists)
		}
	}
	return checked(ctx, target{list: whole}, exists)
}

func checked(ctx context.Context, t target, exists listExists) (target, error) {
	ok, err := exists(ctx, t.list)
	if err != nil {
		return target{}, err
	}
	if !ok {
		return target{}, errNoSuchList
	}
	return t, nil
}
