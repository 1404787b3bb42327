// Package notice owns how the mail the system writes to people is
// addressed and queued: a list's sub-addresses, the header fields every
// notice carries, and the metadata with which the virgin runner delivers
// it. It does not decide who is told what; the runners that tell do.
package notice

import (
	"context"
	"time"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// Address is the list's sub-address sub ("bounces", "request", ...).
func Address(list *store.List, sub string) string {
	return list.Address.Name + "-" + sub + "@" + list.Address.Domain
}

// Fields are the header fields of a notice. Auto-Submitted and Precedence
// keep other systems from answering it (RFC 3834).
func Fields(list *store.List, from, to, subject string, now time.Time) []message.Field {
	return []message.Field{
		{Name: "From", Value: from},
		{Name: "To", Value: to},
		{Name: "Subject", Value: subject},
		{Name: "Date", Value: message.Date(now)},
		{Name: "Message-ID", Value: message.NewMessageID(list.Address.Domain)},
		{Name: "Auto-Submitted", Value: "auto-replied"},
		{Name: "Precedence", Value: "bulk"},
	}
}

// Msgdata is the metadata of a notice queued for the virgin runner, which
// delivers it to recipients with the list's bounces address as envelope
// sender, as Mailman's notices carry.
func Msgdata(list *store.List, recipients []string) switchboard.Msgdata {
	md := switchboard.Msgdata{}
	md.Set("listid", list.ListID)
	md.Set("recipients", recipients)
	md.Set("reduced_list_headers", true)
	md.Set("nodecorate", true)
	md.Set("envsender", Address(list, "bounces"))
	return md
}

// Moderators are the addresses of the list's owners and moderators.
func Moderators(ctx context.Context, st *store.Store, list *store.List) ([]string, error) {
	var to []string
	for _, role := range []store.Role{store.Owner, store.Moderator} {
		ms, err := st.Members(ctx, list.Address, role)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			to = append(to, m.Address)
		}
	}
	return to, nil
}
