package incoming

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// action is what a link does when its rule matches, as in Mailman.
type action int

const (
	jump   action = iota // go on in the target chain, for good
	detour               // run the target chain, then come back
	deferr               // only record the hit and go on
	stop                 // stop processing
)

// link is one step of a chain: when rule matches, do action (with target).
type link struct {
	rule   string
	action action
	target string
}

// chain is a list of links, fixed or built for each post (with rules of
// its own, made for the post, that its links name beside those of rules),
// or, for a terminal chain, what to do.
type chain struct {
	links    []link
	build    func(h *Handler, ctx context.Context, p *Post) ([]link, map[string]rule, error)
	terminal func(h *Handler, ctx context.Context, p *Post) error
}

// chains are Mailman's built-in chains, by name.
var chains = map[string]chain{
	"default-posting-chain": {links: []link{
		{"dmarc-mitigation", jump, "dmarc"},
		{"no-senders", jump, "discard"},
		{"approved", jump, "accept"},
		{"emergency", jump, "hold"},
		{"loop", jump, "discard"},
		{"automatic-post", jump, "moderation"},
		{"banned-address", jump, "discard"},
		{"member-moderation", jump, "moderation"},
		{"truth", detour, "header-match"},
		{"nonmember-moderation", jump, "moderation"},
		// Checks whose hits are recorded; any of them holds the post.
		{"administrivia", deferr, ""},
		{"implicit-dest", deferr, ""},
		{"max-recipients", deferr, ""},
		{"max-size", deferr, ""},
		{"no-subject", deferr, ""},
		{"suspicious-header", deferr, ""},
		{"any", jump, "hold"},
		{"truth", jump, "accept"},
	}},
	"header-match":        {build: (*Handler).headerMatchLinks},
	"default-owner-chain": {terminal: (*Handler).owner},
	"accept":              {terminal: (*Handler).accept},
	"hold":                {terminal: (*Handler).hold},
	"reject":              {terminal: (*Handler).reject},
	"discard":             {terminal: (*Handler).discard},
	"moderation":          {terminal: (*Handler).moderation},
	// Mailman's name for what rejects or discards a post for its From
	// domain's DMARC policy, as the rule decided.
	"dmarc": {terminal: (*Handler).moderation},
}

// ChainNames are the names of the chains, in order, as the REST API's
// /system/chains lists them.
func ChainNames() []string {
	return slices.Sorted(maps.Keys(chains))
}

// maxSteps bounds a run, so that a chain table with a cycle fails one
// message instead of spinning the runner.
const maxSteps = 1000

// process runs p through the chain called start and the chains it leads to.
func (h *Handler) process(ctx context.Context, p *Post, start string) error {
	type position struct {
		chain string
		links []link
		rules map[string]rule // the chain's own, if built
		next  int
	}
	// enter is the start of the chain called name, or nil for a terminal
	// chain, which it runs.
	enter := func(name string) (*position, error) {
		c, ok := chains[name]
		if !ok {
			return nil, fmt.Errorf("no chain called %q", name)
		}
		if c.terminal != nil {
			return nil, c.terminal(h, ctx, p)
		}
		pos := &position{chain: name, links: c.links}
		if c.build != nil {
			var err error
			if pos.links, pos.rules, err = c.build(h, ctx, p); err != nil {
				return nil, fmt.Errorf("chain %s: %w", name, err)
			}
		}
		return pos, nil
	}
	cur, err := enter(start)
	if cur == nil {
		return err
	}
	var detours []*position
	for range maxSteps {
		if cur.next >= len(cur.links) {
			if len(detours) == 0 {
				return nil
			}
			cur, detours = detours[len(detours)-1], detours[:len(detours)-1]
			continue
		}
		l := cur.links[cur.next]
		cur.next++
		r, ok := cur.rules[l.rule]
		if !ok {
			r, ok = rules[l.rule]
		}
		if !ok {
			return fmt.Errorf("chain %s: no rule called %q", cur.chain, l.rule)
		}
		hit, err := r.check(ctx, p)
		if err != nil {
			return fmt.Errorf("rule %s: %w", l.rule, err)
		}
		if r.record {
			if hit {
				p.Hits = append(p.Hits, l.rule)
			} else {
				p.Misses = append(p.Misses, l.rule)
			}
		}
		if !hit {
			continue
		}
		switch l.action {
		case jump, detour:
			if l.action == detour {
				detours = append(detours, cur)
			}
			next, err := enter(l.target)
			if next == nil {
				return err
			}
			cur = next
		case stop:
			return nil
		}
	}
	return fmt.Errorf("chain %s: more than %d steps; the chains loop", start, maxSteps)
}
