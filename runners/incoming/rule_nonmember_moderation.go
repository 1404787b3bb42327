package incoming

import (
	"context"
	"errors"

	"github.com/mailman-go/mailman/store"
)

// nonmemberModeration matches a post none of whose senders is a member,
// owner or moderator of the list, when the action for its sender (the
// sender's own as a nonmember, or the list's default_nonmember_action,
// hold unless changed) is anything but defer.
func nonmemberModeration(ctx context.Context, p *Post) (bool, error) {
	if banned, err := p.banned(ctx); err != nil || banned != "" {
		return false, err
	}
	if len(p.Senders) == 0 {
		p.ModerationAction = p.List.DefaultNonmemberAction
		p.reason("The message is not from a list member")
		return p.ModerationAction != "defer", nil
	}
	for _, s := range p.Senders {
		for _, role := range []store.Role{store.Regular, store.Owner, store.Moderator} {
			_, err := p.store.Member(ctx, p.List.ListID, s, role)
			if err == nil {
				return false, nil
			}
			if !errors.Is(err, store.ErrNoSuchMember) {
				return false, err
			}
		}
	}
	for _, s := range p.Senders {
		action := p.List.DefaultNonmemberAction
		m, err := p.store.Member(ctx, p.List.ListID, s, store.Nonmember)
		switch {
		case err == nil && m.ModerationAction != "":
			action = m.ModerationAction
		case err != nil && !errors.Is(err, store.ErrNoSuchMember):
			return false, err
		}
		if action == "defer" {
			continue
		}
		p.ModerationSender, p.ModerationAction = s, action
		p.reason("The message is not from a list member")
		return true, nil
	}
	return false, nil
}
