// Package moderation owns what a moderator does with a held post: accept
// it (on to the pipeline, as approved), reject it (a bounce to its sender
// with the reasons), or discard it; and the bounce of a rejected post,
// which the incoming runner's reject chain sends too. `mailmanctl held`,
// the command runner's confirmations and the REST API all decide through
// it. It imports no runner: it writes the queues they read.
package moderation

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// Moderator carries out a moderator's decision on a held post, for
// `mailmanctl held` and for confirmations by email, and logs each one.
type Moderator struct {
	Store    *store.Store
	Pipeline *switchboard.Switchboard
	Virgin   *switchboard.Switchboard
	// Log gets a line for each decision, which should say who made it
	// (the runner's entry, or mailmanctl and its user); nil logs nothing.
	Log *slog.Logger
}

// With is m logging to log.
func (m *Moderator) With(log *slog.Logger) *Moderator {
	c := *m
	c.Log = log
	return &c
}

// decided logs what was done to h.
func (m *Moderator) decided(what string, h *store.HeldMessage) {
	if m.Log != nil {
		m.Log.Info("held message "+what, "held_id", h.ID, "list", h.ListID, "held_message_id", h.MessageID, "sender", h.Sender)
	}
}

// Accept sends the held post on to the pipeline as approved by a
// moderator, then forgets it. A crash between the two leaves it held: a
// second accept would post it twice, never zero times.
func (m *Moderator) Accept(ctx context.Context, id int64) (*store.HeldMessage, error) {
	h, err := m.Store.HeldMessage(ctx, id)
	if err != nil {
		return nil, err
	}
	md := switchboard.Msgdata{}
	if err := json.Unmarshal(h.Msgdata, &md); err != nil {
		return nil, fmt.Errorf("held message %d: metadata: %w", id, err)
	}
	md.Set(msgdata.ModeratorApproved, true)
	if _, err := m.Pipeline.Enqueue(h.Message, md); err != nil {
		return nil, fmt.Errorf("held message %d: %w", id, err)
	}
	m.decided("accepted", h)
	return h, m.Store.DeleteHeld(ctx, id)
}

// Reject bounces the held post to its sender with reason, then forgets it.
func (m *Moderator) Reject(ctx context.Context, id int64, reason string) (*store.HeldMessage, error) {
	h, err := m.Store.HeldMessage(ctx, id)
	if err != nil {
		return nil, err
	}
	list, err := m.Store.ListByID(ctx, h.ListID)
	if err != nil {
		return nil, err
	}
	msg, err := message.Parse(h.Message)
	if err != nil {
		return nil, fmt.Errorf("held message %d: %w", id, err)
	}
	if h.Sender != "" && notice.MayAnswer(msg) {
		if reason == "" {
			reason = "The moderator gave no reason."
		}
		bounce := RejectNotice(list, msg, h.Sender, []string{reason}, time.Now())
		if _, err := m.Virgin.Enqueue(bounce, notice.Msgdata(list, []string{h.Sender})); err != nil {
			return nil, fmt.Errorf("held message %d: %w", id, err)
		}
	}
	m.decided("rejected", h)
	return h, m.Store.DeleteHeld(ctx, id)
}

// Discard forgets the held post.
func (m *Moderator) Discard(ctx context.Context, id int64) (*store.HeldMessage, error) {
	h, err := m.Store.HeldMessage(ctx, id)
	if err != nil {
		return nil, err
	}
	m.decided("discarded", h)
	return h, m.Store.DeleteHeld(ctx, id)
}

// RejectNotice is the bounce of a rejected post: the reasons and the post,
// from the list's -owner address.
func RejectNotice(list *store.List, post *message.Message, sender string, reasons []string, now time.Time) []byte {
	text := "[No bounce details are available]\n"
	if len(reasons) > 0 {
		text = fmt.Sprintf("Your message to %s was rejected:\n\n    %s\n", list.PostingAddress, strings.Join(reasons, "\n    "))
	}
	subject := post.Decoded("Subject")
	if subject == "" {
		subject = "Your message to " + list.PostingAddress + " was rejected"
	}
	return message.NewMultipart(notice.Fields(list, notice.Address(list, mta.Owner), sender, subject, now), []message.Part{
		{ContentType: "text/plain; charset=\"utf-8\"", Body: []byte(text)},
		{ContentType: "message/rfc822", Body: post.Bytes()},
	})
}
