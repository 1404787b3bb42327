package lmtp

import (
	"slices"
	"time"

	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/switchboard"
)

// route is where mail for one sub-address goes, and the keys its entry
// gets besides Received's.
type route struct {
	queue string
	flags []string // boolean keys set to true
}

// routes is Mailman's table (spec §4), by canonical sub-address.
var routes = map[string]route{
	mta.Post:    {"incoming", []string{msgdata.ToList}},
	mta.Owner:   {"incoming", []string{msgdata.ToOwner}},
	mta.Request: {"command", []string{msgdata.ToRequest}},
	mta.Join:    {"command", nil},
	mta.Leave:   {"command", nil},
	mta.Confirm: {"command", nil},
	mta.Bounces: {"bounces", nil},
}

// Queues lists the queues the LMTP runner fills: those of its routes.
var Queues = func() []string {
	var qs []string
	for _, r := range routes {
		if !slices.Contains(qs, r.queue) {
			qs = append(qs, r.queue)
		}
	}
	slices.Sort(qs)
	return qs
}()

// Received is the metadata every entry the door writes starts with: the
// list-id (none when listID is ""), the size as received and the time.
// `mailmanctl inject` starts its entries with it too.
func Received(listID string, size int, received time.Time) switchboard.Msgdata {
	md := switchboard.Msgdata{}
	if listID != "" {
		md.Set(msgdata.ListID, listID)
	}
	md.Set(msgdata.OriginalSize, size)
	md.Set(msgdata.ReceivedTime, received.UTC().Format(time.RFC3339Nano))
	return md
}

// Route adds to md the keys of mail for the sub-address sub (a canonical
// one, as mta.Subaddresses gives) and returns the queue it goes to.
func Route(sub string, md switchboard.Msgdata) (queue string) {
	r := routes[sub]
	if sub != mta.Post {
		md.Set(msgdata.Subaddress, sub)
	}
	for _, f := range r.flags {
		md.Set(f, true)
	}
	return r.queue
}

// SubaddressFor is the sub-address whose mail the door puts in queue, for
// a message put there by hand: a post for incoming, mail to -request for
// command, to -bounces for bounces. ok is false for a queue no mail comes
// in to.
func SubaddressFor(queue string) (sub string, ok bool) {
	for _, sub := range []string{mta.Post, mta.Request, mta.Bounces} {
		if routes[sub].queue == queue {
			return sub, true
		}
	}
	return "", false
}
