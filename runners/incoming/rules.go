package incoming

import "context"

// rule is one named check of a post. check reports whether it matches; a
// rule that matches to hold or reject the post says why with p.reason.
// record says whether its hit or miss is kept in X-Mailman-Rule-Hits and
// X-Mailman-Rule-Misses.
type rule struct {
	check  func(ctx context.Context, p *Post) (bool, error)
	record bool
}

// rules are the rules chains may name: each is defined in its own file.
var rules = map[string]rule{
	"administrivia":        {administrivia, true},
	"any":                  {func(_ context.Context, p *Post) (bool, error) { return len(p.Hits) > 0, nil }, false},
	"approved":             {approved, true},
	"automatic-post":       {automaticPost, true},
	"banned-address":       {bannedAddress, true},
	"dmarc-mitigation":     {dmarcMitigation, true},
	"emergency":            {emergency, true},
	"implicit-dest":        {implicitDest, true},
	"loop":                 {loop, true},
	"max-recipients":       {maxRecipients, true},
	"max-size":             {maxSize, true},
	"member-moderation":    {memberModeration, true},
	"no-senders":           {noSenders, true},
	"no-subject":           {noSubject, true},
	"nonmember-moderation": {nonmemberModeration, true},
	"suspicious-header":    {suspiciousHeader, true},
	"truth":                {func(context.Context, *Post) (bool, error) { return true, nil }, false},
}
