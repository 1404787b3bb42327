package incoming

import (
	"context"
	"regexp"
	"strings"
)

// suspiciousHeader matches a post with a header that one of the list's
// bounce_matching_headers lines ("Header: regex") matches.
func suspiciousHeader(_ context.Context, p *Post) (bool, error) {
	for _, line := range p.List.BounceMatchingHeaders {
		name, pattern, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		re, err := regexp.Compile("(?i)" + strings.TrimSpace(pattern))
		if err != nil {
			continue
		}
		name = strings.TrimSpace(name)
		for _, v := range p.Msg.Values(name) {
			if re.MatchString(v) {
				p.reason("Header %q matched a bounce_matching_header line", name)
				return true, nil
			}
		}
	}
	return false, nil
}
