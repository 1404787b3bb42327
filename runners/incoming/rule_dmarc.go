package incoming

import (
	"context"
	"strings"

	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/mta"
)

// dmarcMitigation looks up the DMARC policy of the domain of the post's
// From, unless the list does not mitigate. A domain that publishes
// reject or quarantine, or that could not be asked (Mailman fails safe),
// marks the post for the pipeline's dmarc step, which munges the From or
// wraps the post; a list that rejects or discards such posts has the rule
// match, sending it to the dmarc chain to do so.
func dmarcMitigation(ctx context.Context, p *Post) (bool, error) {
	set, err := p.store.DMARCSettings(ctx, p.List.ListID)
	if err != nil || set.Action == "no_mitigation" || p.dmarc == nil {
		return false, err
	}
	froms := p.Msg.Addresses("From")
	if len(froms) != 1 {
		return false, nil
	}
	at := strings.LastIndexByte(froms[0], '@')
	if at < 0 {
		return false, nil
	}
	domain := froms[0][at+1:]
	res, err := p.dmarc.Lookup(ctx, domain)
	switch {
	case err != nil:
		p.log.Warn("dmarc lookup failed, mitigating", "domain", domain, "error", err)
	case !res.Policy.Strict():
		return false, nil
	}
	policy := string(res.Policy)
	if err != nil {
		policy = "unknown"
	}
	p.log.Info("dmarc mitigated", "domain", domain, "policy", policy, "action", set.Action)
	p.Msgdata.Set(msgdata.DMARC, true)
	switch set.Action {
	case "discard":
		p.reason("DMARC moderation")
	case "reject":
		reason := set.Notice
		if reason == "" {
			reason = "Your message was not posted: the domain of its From address publishes a DMARC policy of reject or quarantine, " +
				"so the list's members' mail servers would refuse it from the list. If you think this is a mistake, write to the list's owners at " +
				mta.Sub(p.List.PostingAddress, mta.Owner) + "."
		}
		p.Reasons = append(p.Reasons, reason)
	default:
		return false, nil
	}
	p.ModerationAction, p.ModerationSender = set.Action, froms[0]
	return true, nil
}
