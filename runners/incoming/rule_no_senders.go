package incoming

import "context"

// noSenders matches a post with no valid sender address at all: nobody
// could be told anything about it.
func noSenders(_ context.Context, p *Post) (bool, error) {
	if len(p.Senders) > 0 {
		return false, nil
	}
	p.reason("The message has no valid senders")
	return true, nil
}
