package incoming

import (
	"context"
	"regexp"
	"strings"
)

// implicitDest matches, when the list requires an explicit destination, a
// post that names neither the list's posting address nor one of its
// acceptable aliases in To, Cc, Resent-To or Resent-Cc: it reached the
// list as a Bcc, or through an alias, which is how spam often arrives.
func implicitDest(_ context.Context, p *Post) (bool, error) {
	if !p.List.RequireExplicitDestination {
		return false, nil
	}
	posting := strings.ToLower(p.List.PostingAddress)
	for _, a := range p.Msg.Addresses("To", "Cc", "Resent-To", "Resent-Cc") {
		if a == posting || acceptableAlias(p.List.AcceptableAliases, a) {
			return false, nil
		}
	}
	p.reason("Message has implicit destination")
	return true, nil
}

// acceptableAlias reports whether addr is one of aliases: an address, or a
// ^regex searched case-insensitively.
func acceptableAlias(aliases []string, addr string) bool {
	for _, alias := range aliases {
		if strings.HasPrefix(alias, "^") {
			if re, err := regexp.Compile("(?i)" + alias); err == nil && re.MatchString(addr) {
				return true
			}
		} else if strings.EqualFold(alias, addr) {
			return true
		}
	}
	return false
}
