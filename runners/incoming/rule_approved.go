package incoming

import (
	"context"
	"regexp"
	"strings"
)

// approvedHeaders are where a moderator may put the list's moderator
// password to approve their own post.
var approvedHeaders = []string{"Approved", "Approve", "X-Approved", "X-Approve"}

// approvedLine is the same given as the first non-blank line of the text,
// for mail programs that cannot add a header.
var approvedLine = regexp.MustCompile(`(?i)^\s*(?:x-)?approved?:\s*(.*?)\s*$`)

// approved matches a post that carries the list's moderator password. The
// password is removed from the post whether it is right or not, so that it
// never reaches the members.
func approved(_ context.Context, p *Post) (bool, error) {
	var password string
	for _, h := range approvedHeaders {
		if password == "" {
			password = p.Msg.Get(h)
		}
		p.Msg.Del(h)
	}
	if password == "" {
		password = takeApprovedLine(p)
	}
	if password == "" {
		return false, nil
	}
	scrubPassword(p, password)
	return p.List.CheckModeratorPassword(password), nil
}

// scrubPassword removes "Approved: password" wherever it still stands in
// the post's text parts: a mail program that sends text and HTML puts the
// line in both, and only the first text part's line was taken.
func scrubPassword(p *Post, password string) {
	re := regexp.MustCompile(`(?i)(?:x-)?approved?:[ \t]*` + regexp.QuoteMeta(password))
	p.Msg.EditTexts(func(_, text string) (string, bool) {
		if !re.MatchString(text) {
			return "", false
		}
		return re.ReplaceAllString(text, ""), true
	})
}

// takeApprovedLine removes an "Approved: password" first line from the
// post's text and returns the password.
func takeApprovedLine(p *Post) string {
	text, ok := p.Msg.FirstText()
	if !ok {
		return ""
	}
	lines := strings.SplitAfter(text, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		m := approvedLine.FindStringSubmatch(strings.TrimRight(l, "\r\n"))
		if m == nil {
			return ""
		}
		rest := strings.Join(lines[i+1:], "")
		if err := p.Msg.SetFirstText(strings.Join(lines[:i], "") + rest); err != nil {
			return ""
		}
		return m[1]
	}
	return ""
}
