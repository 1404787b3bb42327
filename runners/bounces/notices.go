package bounces

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// queue writes a notice with text, and the bounce attached when there is
// one, to recipients, from from.
func (h *Handler) queue(list *store.List, from string, to []string, subject, text string, dsn []byte, md switchboard.Msgdata) error {
	msg := compose(notice.Fields(list, from, strings.Join(to, ", "), subject, h.now()), text, dsn)
	if md == nil {
		md = notice.Msgdata(list, to)
	}
	_, err := h.Virgin.Enqueue(msg, md)
	return err
}

// compose is a notice of fields and text, with the bounce attached when
// there is one.
func compose(fields []message.Field, text string, dsn []byte) []byte {
	if len(dsn) == 0 {
		return message.NewText(fields, text)
	}
	return message.NewMultipart(fields, []message.Part{
		{ContentType: "text/plain; charset=\"utf-8\"", Body: []byte(text)},
		{ContentType: "message/rfc822", Body: dsn},
	})
}

// admins are the list's owners and moderators, or the site owner when it
// has none.
func (h *Handler) admins(ctx context.Context, list *store.List) ([]string, error) {
	to, err := notice.Moderators(ctx, h.Store, list)
	if err == nil && len(to) == 0 && h.Settings.SiteOwner != "" {
		to = []string{h.Settings.SiteOwner}
	}
	return to, err
}

// toAdmins tells the list's administrators about a member's bounce; a
// refusal the outgoing runner recorded comes with its reply instead of a
// bounce.
func (h *Handler) toAdmins(ctx context.Context, list *store.List, subject, text string, dsn []byte, e store.BounceEvent) error {
	to, err := h.admins(ctx, list)
	if err != nil || len(to) == 0 {
		return err
	}
	if len(dsn) == 0 {
		text += fmt.Sprintf("\nThe mail server said, at %s:\n\n    %s\n", e.At.UTC().Format(time.RFC1123Z), e.Reason)
	}
	return h.queue(list, notice.Address(list, mta.Bounces), to, subject, text, dsn, nil)
}

// forward sends a bounce that names no member where
// forward_unrecognized_bounces_to says: nowhere, the administrators, or
// the site owner.
func (h *Handler) forward(list *store.List, dsn []byte, log *slog.Logger) error {
	var to []string
	switch list.ForwardUnrecognizedBouncesTo {
	case "discard":
		log.Info("unrecognized bounce discarded, as forward_unrecognized_bounces_to says")
		return nil
	case "site_owner":
		to = []string{h.Settings.SiteOwner}
	default:
		var err error
		if to, err = h.admins(context.Background(), list); err != nil {
			return err
		}
	}
	if len(to) == 0 {
		log.Info("unrecognized bounce discarded: nobody to forward it to")
		return nil
	}
	log.Info("unrecognized bounce forwarded", "rcpt", to)
	text := fmt.Sprintf("The attached message came to the bounce address of %s, but it is no bounce\n"+
		"this list can read, or it names no member's address. Nobody's bounce score\n"+
		"changed.\n", list.PostingAddress)
	return h.queue(list, notice.Address(list, mta.Bounces), to, "Uncaught bounce notification", text, dsn, nil)
}

// sendProbe sends the member a probe: a message whose envelope sender and
// From carry a token, so that its bounce, if it bounces, names the member
// for certain; no VERP, and no Precedence: bulk, which a server might
// treat otherwise.
func (h *Handler) sendProbe(ctx context.Context, list *store.List, e store.BounceEvent, dsn []byte) error {
	token, err := h.Store.AddPending(ctx, list.ListID, store.PendingProbe, store.BouncePayload{Address: e.Address}, probeLife)
	if err != nil {
		return err
	}
	from := mta.SubPlus(list.PostingAddress, mta.Bounces, token)
	text := fmt.Sprintf("This is a probe message. You can ignore it.\n\n"+
		"The %s mailing list has received a number of bounces from %s,\n"+
		"which suggests there may be a problem delivering to it. This message\n"+
		"checks whether mail reaches it; if it does not, delivery to it will be\n"+
		"turned off. The last bounce is attached.\n\n"+
		"Questions go to %s.\n", list.PostingAddress, e.Address, notice.Address(list, mta.Owner))
	md := notice.Msgdata(list, []string{e.Address})
	md.Set(msgdata.EnvSender, from)
	fields := notice.Fields(list, from, e.Address, list.DisplayName+" mailing list probe message", h.now())
	fields = slices.DeleteFunc(fields, func(f message.Field) bool { return f.Name == "Precedence" })
	_, err = h.Virgin.Enqueue(compose(fields, text, dsn), md)
	return err
}

// warn tells a member whose delivery bounces turned off, and how to turn
// it on again: a reply to the warning, or mail to the address it is from,
// confirms a token that re-enables it.
func (h *Handler) warn(ctx context.Context, list *store.List, d store.BounceDue, log *slog.Logger) error {
	set := list.Bounces()
	left := set.Warnings - d.WarningsSent
	life := time.Duration(left) * set.WarningsInterval
	if life < 24*time.Hour {
		life = 24 * time.Hour
	}
	token, err := h.Store.AddPending(ctx, list.ListID, store.PendingReenable, store.BouncePayload{Address: d.Address}, life)
	if err != nil {
		return err
	}
	confirm := mta.SubPlus(list.PostingAddress, mta.Confirm, token)
	text := fmt.Sprintf("Your subscription to the %s mailing list has been disabled: mail\n"+
		"to %s kept bouncing. You will receive no more messages from\n"+
		"the list until you turn delivery on again.\n\n"+
		"To turn it on, reply to this message, or send a message to\n\n    %s\n\n"+
		"If you do not, you will be removed from the list after %d more warning(s).\n\n"+
		"Questions go to %s.\n", list.PostingAddress, d.Address, confirm, left-1, notice.Address(list, mta.Owner))
	if err := h.queue(list, confirm, []string{d.Address}, "Your subscription for "+list.DisplayName+" mailing list has been disabled", text, nil, nil); err != nil {
		return err
	}
	log.Info("bounce warning sent", "list", list.ListID, "address", d.Address, "warnings", d.WarningsSent+1)
	return h.Store.RecordBounceWarning(ctx, list.ListID, d.Address, h.now())
}

// remove removes a member whose warnings ran out, says goodbye and tells
// the administrators if the list says so.
func (h *Handler) remove(ctx context.Context, list *store.List, d store.BounceDue, log *slog.Logger) error {
	if err := h.Store.RemoveMembers(ctx, list.Address, store.Regular, []string{d.Address}); err != nil {
		return err
	}
	log.Warn("member removed: bounces", "list", list.ListID, "address", d.Address, "warnings", d.WarningsSent)
	goodbye := fmt.Sprintf("You have been removed from the %s mailing list: mail to\n"+
		"%s kept bouncing, and the warnings sent to it went unanswered.\n\n"+
		"To join again, send a message to %s.\n", list.PostingAddress, d.Address, notice.Address(list, mta.Join))
	if err := h.queue(list, notice.Address(list, mta.Request), []string{d.Address}, "You have been unsubscribed from the "+list.DisplayName+" mailing list", goodbye, nil, nil); err != nil {
		return err
	}
	if !list.BounceNotifyOwnerOnRemoval {
		return nil
	}
	to, err := h.admins(ctx, list)
	if err != nil || len(to) == 0 {
		return err
	}
	text := fmt.Sprintf("%s has been removed from %s: its delivery was turned off by\n"+
		"bounces and %d warning(s) went unanswered.\n", d.Address, list.PostingAddress, d.WarningsSent)
	return h.queue(list, notice.Address(list, mta.Bounces), to, d.Address+" unsubscribed from "+list.DisplayName+" mailing list due to bounces", text, nil, nil)
}

func scoreText(list *store.List, out store.BounceOutcome) string {
	return fmt.Sprintf("The bounce score of %s on %s is now %d (the list turns delivery\n"+
		"off at %d). The bounce is attached.\n", out.Event.Address, list.PostingAddress, out.Score, out.Settings.Threshold)
}

func disabledText(list *store.List, out store.BounceOutcome) string {
	return fmt.Sprintf("Delivery to %s on %s has been turned off: its bounce score\n"+
		"reached %d. It will be warned %d time(s), %d day(s) apart, and then\n"+
		"removed unless it turns delivery on again. The last bounce is attached.\n",
		out.Event.Address, list.PostingAddress, out.Score, out.Settings.Warnings, int(out.Settings.WarningsInterval/(24*time.Hour)))
}

func complaintText(list *store.List, out store.BounceOutcome) string {
	return fmt.Sprintf("%s reported a message from %s as spam to its mail provider\n"+
		"(%s). Delivery to it has been turned off, as it asked; it gets no\n"+
		"warnings and is not removed. The report is attached.\n", out.Event.Address, list.PostingAddress, out.Event.Reason)
}
