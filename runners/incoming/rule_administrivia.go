package incoming

import (
	"context"
	"strings"
)

// commandArgs are the email commands a post to the list may not look like,
// with how many arguments each takes (Mailman's counts).
var commandArgs = map[string][2]int{
	"confirm":     {1, 1},
	"help":        {0, 0},
	"info":        {0, 0},
	"lists":       {0, 0},
	"options":     {0, 0},
	"password":    {2, 2},
	"remove":      {0, 0},
	"set":         {3, 3},
	"subscribe":   {0, 3},
	"unsubscribe": {0, 1},
	"who":         {0, 2},
}

// administrivia matches, when the list asks for it, a post that looks like
// a command meant for the -request address: its Subject, or one of the
// first ten non-blank lines of its text, is a command word followed by as
// many arguments as that command takes.
func administrivia(_ context.Context, p *Post) (bool, error) {
	if !p.List.Administrivia {
		return false, nil
	}
	lines := []string{p.Msg.Decoded("Subject")}
	if text, ok := p.Msg.FirstText(); ok {
		n := 0
		for _, l := range strings.Split(text, "\n") {
			if strings.TrimSpace(l) == "" {
				continue
			}
			if n++; n > 10 {
				break
			}
			lines = append(lines, l)
		}
	}
	for _, l := range lines {
		words := strings.Fields(l)
		if len(words) == 0 {
			continue
		}
		if r, ok := commandArgs[strings.ToLower(words[0])]; ok && len(words)-1 >= r[0] && len(words)-1 <= r[1] {
			p.reason("Message contains administrivia")
			return true, nil
		}
	}
	return false, nil
}
