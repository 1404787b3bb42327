package incoming

import "context"

// maxRecipients matches a post with at least the list's max_num_recipients
// addresses in To and Cc (0 means no limit): a post sent to many people at
// once is likely spam.
func maxRecipients(_ context.Context, p *Post) (bool, error) {
	limit := p.List.MaxNumRecipients
	if limit <= 0 || len(p.Msg.Addresses("To", "Cc")) < limit {
		return false, nil
	}
	p.reason("Message has more than %d recipients", limit)
	return true, nil
}
