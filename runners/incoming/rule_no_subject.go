package incoming

import (
	"context"
	"strings"
)

// noSubject matches a post whose Subject is missing or blank.
func noSubject(_ context.Context, p *Post) (bool, error) {
	if strings.TrimSpace(p.Msg.Decoded("Subject")) != "" {
		return false, nil
	}
	p.reason("Message has no subject")
	return true, nil
}
