package incoming

import (
	"context"

	"github.com/mailman-go/mailman/msgdata"
)

// emergency matches every post while the list is under emergency
// moderation, except one a moderator has approved.
func emergency(_ context.Context, p *Post) (bool, error) {
	if !p.List.Emergency || p.Msgdata.Bool(msgdata.ModeratorApproved) {
		return false, nil
	}
	p.reason("Emergency moderation is in effect for this list")
	return true, nil
}
