package outgoing

import (
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/oneclick"
	"github.com/mailman-go/mailman/store"
)

// OneClick makes the one-click unsubscribe links (RFC 8058) of the
// copies sent one member at a time.
type OneClick struct {
	Keys    *oneclick.Keys
	BaseURL string // [unsubscribe] base_url
}

// perMember returns what the copy of post data to each member is: with
// o, its List-Unsubscribe names the member's link before the list's
// mailto, and List-Unsubscribe-Post says a POST of it unsubscribes; with
// full (personalize full), it is addressed To the member; with deco, data
// is not decorated yet and gets the header and the footer filled in for
// the member. nil when data is not a message to change.
func perMember(o *OneClick, data []byte, list *store.List, full bool, deco *decoration) func(rcpt string) []byte {
	msg, err := message.Parse(data)
	if err != nil {
		return nil
	}
	mailto := "<mailto:" + mta.Sub(list.PostingAddress, mta.Leave) + ">"
	return func(rcpt string) []byte {
		// Copies are made on several connections at once, from one
		// message.
		c := msg.Clone()
		link := ""
		if o != nil {
			link = o.Keys.Link(o.BaseURL, list.ListID, rcpt)
			c.Set("List-Unsubscribe", "<"+link+">, "+mailto)
			c.Set("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
		}
		if full {
			c.Set("To", rcpt)
		}
		if deco != nil {
			c.Decorate(deco.lines(deco.memberValues(rcpt, link)))
		}
		return c.Bytes()
	}
}
