package incoming

import (
	"context"
	"errors"

	"github.com/mailman-go/mailman/store"
)

// memberModeration matches a post from a list member whose moderation
// action (their own, or the list's default_member_action) is anything but
// defer; the moderation chain then does what that action says.
func memberModeration(ctx context.Context, p *Post) (bool, error) {
	if banned, err := p.banned(ctx); err != nil || banned != "" {
		return false, err
	}
	for _, s := range p.Senders {
		m, err := p.store.Member(ctx, p.List.ListID, s, store.Regular)
		if errors.Is(err, store.ErrNoSuchMember) {
			continue
		}
		if err != nil {
			return false, err
		}
		action := m.ModerationAction
		if action == "" {
			action = p.List.DefaultMemberAction
		}
		if action == "defer" {
			return false, nil
		}
		p.ModerationSender, p.ModerationAction = s, action
		p.reason("The message comes from a moderated member")
		return true, nil
	}
	return false, nil
}
