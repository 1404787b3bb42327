package outgoing

import (
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
)

// decorate returns raw with list's footer added, or an error when raw is
// no message package message can read; it is then sent as it is.
func decorate(raw []byte, list *store.List) ([]byte, error) {
	msg, err := message.Parse(raw)
	if err != nil {
		return nil, err
	}
	msg.AddFooter(notice.ListFooter(list))
	return msg.Bytes(), nil
}
