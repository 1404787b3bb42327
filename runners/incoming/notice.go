package incoming

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
)

// tellSender sends the sender of a held post its notice, within the
// site's daily limit of notices per sender: the last one says it is the
// last, and later ones are not sent.
func (h *Handler) tellSender(ctx context.Context, p *Post, held *store.HeldMessage) error {
	if !p.List.RespondToPostRequests || held.Sender == "" || !notice.MayAnswer(p.Msg) {
		return nil
	}
	subject := fmt.Sprintf("Your message to %s awaits moderator approval", p.List.PostingAddress)
	last := false
	if max := h.Settings.MaxAutoresponsesPerDay; max > 0 {
		n, err := h.Store.CountAutoresponse(ctx, p.List.ListID, held.Sender, p.now)
		if err != nil {
			return err
		}
		if n > max {
			p.log.Info("held-post notice not sent: the sender had their notices for today", "sender", held.Sender)
			return nil
		}
		last = n == max
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Your message to %s with the subject\n\n    %s\n\n", p.List.PostingAddress, orNone(held.Subject))
	b.WriteString("is held until a moderator of the list has looked at it, because:\n\n")
	for _, r := range held.Reasons {
		fmt.Fprintf(&b, "    %s\n", r)
	}
	b.WriteString("\nEither it will be posted to the list, or you will be told what the\nmoderator decided.\n")
	if last {
		subject = "Last autoresponse notification for today"
		fmt.Fprintf(&b, "\nThis is the last notice of this kind you will get from %s today;\nlater messages held today will not be acknowledged.\n", p.List.PostingAddress)
	}
	msg := message.NewText(notice.Fields(p.List, notice.Address(p.List, mta.Bounces), held.Sender, subject, p.now), b.String())
	return h.queueNotice(msg, p.List, []string{held.Sender})
}

// tellModerators sends the list's owners and moderators the held post,
// with a stub they can reply to, keeping its subject, to deal with it.
func (h *Handler) tellModerators(ctx context.Context, list *store.List, held *store.HeldMessage, token string) error {
	to, err := notice.Moderators(ctx, h.Store, list)
	if err != nil {
		return err
	}
	if len(to) == 0 {
		return fmt.Errorf("the list has no owner or moderator to tell")
	}
	owner := notice.Address(list, mta.Owner)
	var b strings.Builder
	fmt.Fprintf(&b, "As a moderator of %s, your approval is needed for this post:\n\n", list.PostingAddress)
	fmt.Fprintf(&b, "    List:       %s\n    From:       %s\n    Subject:    %s\n    Message-ID: %s\n    Held as:    %d\n",
		list.PostingAddress, senderOrUnknown(held.Sender), orNone(held.Subject), held.MessageID, held.ID)
	b.WriteString("\nIt is held because:\n\n")
	for _, r := range held.Reasons {
		fmt.Fprintf(&b, "    %s\n", r)
	}
	fmt.Fprintf(&b, "\nTo approve or discard it: mailmanctl held accept|discard %d on the\nserver (check first with mailmanctl held show %d that its Message-ID\nis the one above), or reply to the last part of this message, keeping\nits Subject: a reply discards the post, and a reply with the header\n\"Approved: <the list's moderator password>\" approves it.\n", held.ID, held.ID)
	stub := message.NewText([]message.Field{
		{Name: "From", Value: notice.Address(list, mta.Request)},
		{Name: "Subject", Value: "confirm " + token},
		{Name: "Message-ID", Value: message.NewMessageID(list.Address.Domain)},
	}, "Reply to this message, keeping its Subject, to discard the held post;\nadd an \"Approved: <password>\" header to approve it instead.\n")
	subject := fmt.Sprintf("%s post from %s requires approval", list.PostingAddress, senderOrUnknown(held.Sender))
	msg := message.NewMultipart(notice.Fields(list, owner, owner, subject, time.Now()), []message.Part{
		{ContentType: "text/plain; charset=\"utf-8\"", Body: []byte(b.String())},
		{ContentType: "message/rfc822", Body: held.Message},
		{ContentType: "message/rfc822", Body: stub},
	})
	return h.queueNotice(msg, list, to)
}

// queueNotice queues a message the system wrote for the virgin runner,
// which delivers it to recipients.
func (h *Handler) queueNotice(msg []byte, list *store.List, recipients []string) error {
	_, err := h.Virgin.Enqueue(msg, notice.Msgdata(list, recipients))
	return err
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(no subject)"
	}
	return s
}

func senderOrUnknown(s string) string {
	if s == "" {
		return "an unknown sender"
	}
	return s
}
