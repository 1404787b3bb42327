package incoming

import "context"

// bannedAddress matches a post any of whose senders is banned from the
// list or from the site.
func bannedAddress(ctx context.Context, p *Post) (bool, error) {
	banned, err := p.banned(ctx)
	if err != nil || banned == "" {
		return false, err
	}
	p.reason("Message sender %s is banned from this list", banned)
	return true, nil
}

// banned returns the first banned sender of p, or "".
func (p *Post) banned(ctx context.Context) (string, error) {
	for _, s := range p.Senders {
		ok, err := p.store.IsBanned(ctx, p.List.ListID, s)
		if err != nil {
			return "", err
		}
		if ok {
			return s, nil
		}
	}
	return "", nil
}
