package incoming

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mailman-go/mailman/moderation"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
)

// accept sends the post on to the pipeline, which delivers it.
func (h *Handler) accept(_ context.Context, p *Post) error {
	p.addRuleHeaders()
	name, err := h.Pipeline.Enqueue(p.Msg.Bytes(), p.Msgdata)
	if err != nil {
		return err
	}
	p.log.Info("ACCEPT", "new_entry", name)
	return nil
}

// owner sends mail for the list's owners on to the pipeline, which sends it
// to them; no rule judges it.
func (h *Handler) owner(_ context.Context, p *Post) error {
	name, err := h.Pipeline.Enqueue(p.Msg.Bytes(), p.Msgdata)
	if err != nil {
		return err
	}
	p.log.Info("OWNER", "new_entry", name)
	return nil
}

// discard drops the post; only the log keeps a trace.
func (h *Handler) discard(_ context.Context, p *Post) error {
	p.log.Info("DISCARD",
		"sender", p.Sender(), "hits", strings.Join(p.Hits, "; "), "reasons", strings.Join(p.Reasons, "; "))
	return nil
}

// moderation does what a moderation rule decided for the post's sender.
func (h *Handler) moderation(ctx context.Context, p *Post) error {
	switch p.ModerationAction {
	case "accept":
		return h.accept(ctx, p)
	case "hold":
		return h.hold(ctx, p)
	case "reject":
		return h.reject(ctx, p)
	case "discard":
		return h.discard(ctx, p)
	}
	return fmt.Errorf("moderation: unknown action %q", p.ModerationAction)
}

// hold keeps the post for a moderator and tells the sender (when the post
// may be answered) and the list's moderators (when the list asks for it).
// A notice that cannot be queued is logged, not retried: retrying would
// hold the post twice.
func (h *Handler) hold(ctx context.Context, p *Post) error {
	p.addRuleHeaders()
	md, err := json.Marshal(p.Msgdata)
	if err != nil {
		return err
	}
	held := &store.HeldMessage{
		ListID:    p.List.ListID,
		Sender:    p.Sender(),
		Subject:   p.Msg.Decoded("Subject"),
		MessageID: p.Msg.Get("Message-ID"),
		Reasons:   p.Reasons,
		Message:   p.Msg.Bytes(),
		Msgdata:   md,
	}
	id, token, err := h.Store.Hold(ctx, held, h.Settings.ModeratorRequestLife)
	if err != nil {
		return err
	}
	held.ID = id
	p.log.Info("HOLD", "sender", held.Sender,
		"held_id", id, "reasons", strings.Join(p.Reasons, "; "))
	if err := h.tellSender(ctx, p, held); err != nil {
		p.log.Error("cannot send the held-post notice to the sender", "held_id", id, "error", err)
	}
	if p.List.AdminImmedNotify {
		if err := h.tellModerators(ctx, p.List, held, token); err != nil {
			p.log.Error("cannot send the held-post notice to the moderators", "held_id", id, "error", err)
		}
	}
	return nil
}

// reject bounces the post to its sender with the reasons, unless it must
// not be answered (an automatic reply, a bounce).
func (h *Handler) reject(_ context.Context, p *Post) error {
	p.addRuleHeaders()
	p.log.Info("REJECT",
		"sender", p.Sender(), "reasons", strings.Join(p.Reasons, "; "))
	if !notice.MayAnswer(p.Msg) || p.Sender() == "" {
		return nil
	}
	return h.queueNotice(moderation.RejectNotice(p.List, p.Msg, p.Sender(), p.Reasons, p.now), p.List, []string{p.Sender()})
}

// addRuleHeaders says which rules matched and which did not. Headers of
// these names that came with the post are replaced, not trusted.
func (p *Post) addRuleHeaders() {
	p.Msg.Del("X-Mailman-Rule-Hits")
	p.Msg.Del("X-Mailman-Rule-Misses")
	if len(p.Hits) > 0 {
		p.Msg.Add("X-Mailman-Rule-Hits", strings.Join(p.Hits, "; "))
	}
	if len(p.Misses) > 0 {
		p.Msg.Add("X-Mailman-Rule-Misses", strings.Join(p.Misses, "; "))
	}
}
