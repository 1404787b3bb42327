package incoming

import (
	"cmp"
	"context"
	"fmt"

	"github.com/mailman-go/mailman/config"
)

// headerMatchLinks are the links of the header-match chain, Mailman's,
// built for each post: the site's [antispam] header_checks, each recording
// its hit, then any hit sends the post to [antispam] jump_chain; then the
// list's own header matches in order, each sending the post to its
// action's chain (jump_chain when it names none). A match whose action is
// defer decides nothing, as a member's defer does, and is passed over.
func (h *Handler) headerMatchLinks(ctx context.Context, p *Post) ([]link, map[string]rule, error) {
	jumpChain := cmp.Or(h.Settings.JumpChain, "hold")
	var links []link
	own := map[string]rule{}
	for i, c := range h.Settings.HeaderChecks {
		name := fmt.Sprintf("header-match-config-%d", i)
		links, own[name] = append(links, link{name, deferr, ""}), headerRule(c)
	}
	links = append(links, link{"any", jump, jumpChain})
	matches, err := h.Store.HeaderMatches(ctx, p.List.ListID)
	if err != nil {
		return nil, nil, err
	}
	for i, m := range matches {
		if m.Action == "defer" {
			continue
		}
		c, err := config.ParseHeaderCheck(m.Header, m.Pattern)
		if err != nil {
			// Stored only once checked: a pattern this version cannot read.
			p.log.Error("header match skipped", "position", i, "error", err)
			continue
		}
		name := fmt.Sprintf("header-match-%s-%d", p.List.ListID, i)
		links, own[name] = append(links, link{name, jump, cmp.Or(m.Action, jumpChain)}), headerRule(c)
	}
	return links, own, nil
}

// headerRule matches a post with a header called c.Header, at its top or
// in any of its parts, whose decoded value c.Pattern finds.
func headerRule(c config.HeaderCheck) rule {
	return rule{record: true, check: func(_ context.Context, p *Post) (bool, error) {
		values := p.Msg.DecodedValues(c.Header)
		for _, leaf := range p.Msg.Leaves() {
			if leaf.Header != p.Msg {
				values = append(values, leaf.Header.DecodedValues(c.Header)...)
			}
		}
		for _, v := range values {
			if c.Pattern.MatchString(v) {
				p.reason("Header %q matched a header rule", c.Header)
				p.ModerationSender = p.Sender()
				return true, nil
			}
		}
		return false, nil
	}}
}
