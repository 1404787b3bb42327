package incoming

import (
	"context"
	"strings"
)

// loop matches a post that has already been through this list: its
// List-Post header names the list's posting address (bare or as a
// <mailto:> URL), or an X-BeenThere header does.
func loop(_ context.Context, p *Post) (bool, error) {
	posting := strings.ToLower(p.List.PostingAddress)
	for _, v := range p.Msg.Values("List-Post") {
		v = strings.ToLower(strings.TrimSpace(v))
		v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
		if strings.TrimPrefix(v, "mailto:") == posting {
			return true, nil
		}
	}
	for _, v := range p.Msg.Values("X-BeenThere") {
		if strings.ToLower(strings.TrimSpace(v)) == posting {
			return true, nil
		}
	}
	return false, nil
}
