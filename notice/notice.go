// Package notice owns how the mail the system writes to people is
// addressed and queued: the header fields every notice carries, the
// metadata with which the virgin runner delivers it, and whether a message
// may be answered by one at all. It does not decide who is told what; the
// runners and the moderation that tell do.
package notice

import (
	"context"
	"strings"
	"time"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// Address is the list's sub-address sub (mta.Bounces, mta.Request, ...).
func Address(list *store.List, sub string) string { return mta.Sub(list.PostingAddress, sub) }

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
	md.Set(msgdata.ListID, list.ListID)
	md.Set(msgdata.Recipients, recipients)
	md.Set(msgdata.ReducedListHeaders, true)
	md.Set(msgdata.NoDecorate, true)
	md.Set(msgdata.EnvSender, Address(list, mta.Bounces))
	return md
}

// ListFooter is Mailman's default footer of a list's member mail (its
// posts and its digests), one string a line.
func ListFooter(list *store.List) []string {
	return []string{
		"_______________________________________________",
		list.DisplayName + " mailing list -- " + list.PostingAddress,
		"To unsubscribe send an email to " + mta.Sub(list.PostingAddress, mta.Leave),
	}
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

// listHeaders are headers only list mail carries: a post that has one came
// from a list, which must not be answered.
var listHeaders = []string{"List-Id", "List-Post", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Archive", "List-Owner", "X-BeenThere"}

// FromList reports whether msg was sent by a mailing list.
func FromList(msg *message.Message) bool {
	for _, h := range listHeaders {
		if msg.Has(h) {
			return true
		}
	}
	return false
}

// AutoSubmitted says why msg was sent automatically by its own account
// (RFC 3834: an Auto-Submitted other than "no"), or "".
func AutoSubmitted(msg *message.Message) string {
	if as := strings.TrimSpace(msg.Get("Auto-Submitted")); as != "" && !strings.EqualFold(as, "no") {
		return "Auto-Submitted: " + as
	}
	return ""
}

// BulkPrecedence says why msg is bulk, junk or list mail by its
// Precedence, which vacation programs and lists write, or "": not when its
// sender asked for an answer with X-Ack: yes, as Mailman's loop guard has
// it.
func BulkPrecedence(msg *message.Message) string {
	precedence := strings.ToLower(strings.TrimSpace(msg.Get("Precedence")))
	if (precedence == "bulk" || precedence == "junk" || precedence == "list") && !strings.EqualFold(strings.TrimSpace(msg.Get("X-Ack")), "yes") {
		return "Precedence: " + precedence
	}
	return ""
}

// MayAnswer reports whether msg may be answered automatically (RFC 3834):
// not a bounce, an automatic reply, bulk or list mail, and not one whose
// sender asked for no acknowledgement.
func MayAnswer(msg *message.Message) bool {
	if msg.Has("X-No-Ack") || strings.EqualFold(msg.Get("X-Ack"), "no") || msg.Has("Precedence") || AutoSubmitted(msg) != "" {
		return false
	}
	if msg.Has("Return-Path") && strings.Trim(msg.Get("Return-Path"), "<> ") == "" {
		return false
	}
	if msg.Has("X-MailFrom") && strings.Trim(msg.Get("X-MailFrom"), "<> ") == "" {
		return false
	}
	return !FromList(msg)
}
