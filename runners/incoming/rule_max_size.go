package incoming

import (
	"context"

	"github.com/mailman-go/mailman/msgdata"
)

// maxSize matches a post larger than the list's max_message_size, in KB as
// Mailman counts it (0 means no limit). The size is the one the LMTP runner
// received.
func maxSize(_ context.Context, p *Post) (bool, error) {
	limit := p.List.MaxMessageSize
	if limit <= 0 || p.Msgdata.Int(msgdata.OriginalSize)/1024 <= limit {
		return false, nil
	}
	p.reason("The message's content length exceeds %d KB", limit)
	return true, nil
}
