package incoming

import (
	"context"

	"github.com/mailman-go/mailman/notice"
)

// automaticPost matches a post sent automatically: an Auto-Submitted
// other than "no", or a Precedence of bulk, junk or list on mail that no
// list sent (an out-of-office reply to a post, say). Distributing one makes
// every member's autoresponder answer it, and each answer is another such
// post. Mail a list sent keeps its Precedence: list (an umbrella list's
// post), which is the loop rule's to judge. The list's
// automatic_post_action says what becomes of it; accept turns the rule off.
func automaticPost(_ context.Context, p *Post) (bool, error) {
	action := p.List.AutomaticPostAction
	if action == "accept" {
		return false, nil
	}
	why := notice.AutoSubmitted(p.Msg)
	if why == "" && !notice.FromList(p.Msg) {
		why = notice.BulkPrecedence(p.Msg)
	}
	if why == "" {
		return false, nil
	}
	p.ModerationAction = action
	p.reason("The message was sent automatically (%s)", why)
	return true, nil
}
