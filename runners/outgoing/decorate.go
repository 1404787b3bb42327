package outgoing

import (
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/store"
)

// footer is Mailman's default list footer, one string a line.
func footer(list *store.List) []string {
	return []string{
		"_______________________________________________",
		list.DisplayName + " mailing list -- " + list.PostingAddress,
		"To unsubscribe send an email to " + mta.Sub(list.PostingAddress, mta.Leave),
	}
}

// decorate returns raw with list's footer added, or an error when raw is
// no message package message can read; it is then sent as it is.
func decorate(raw []byte, list *store.List) ([]byte, error) {
	msg, err := message.Parse(raw)
	if err != nil {
		return nil, err
	}
	msg.AddFooter(footer(list))
	return msg.Bytes(), nil
}
