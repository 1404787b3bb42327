package bounce

import (
	"bytes"
	"regexp"
	"strings"

	"github.com/mailman-go/mailman/message"
)

// statusCode is RFC 3463's class.subject.detail.
var statusCode = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)

// fields is one group of "Name: value" lines of a report, names
// lower-case, continuation lines unfolded, the first of each name kept.
type fields map[string]string

// reportGroups splits the content of a delivery-status or feedback-report
// part into its groups of fields. Groups are separated by blank lines, and
// a recipient's field seen again starts a new group too, for the servers
// that leave out the blank line.
func reportGroups(content []byte) []fields {
	var groups []fields
	cur := fields{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			groups = append(groups, cur)
		}
		cur, last = fields{}, ""
	}
	for _, line := range strings.Split(strings.ReplaceAll(string(content), "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			cur[last] += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(name, " \t") {
			last = ""
			continue
		}
		name = strings.ToLower(name)
		if _, seen := cur[name]; seen && (name == "final-recipient" || name == "original-recipient") {
			flush()
		}
		if _, seen := cur[name]; !seen {
			cur[name] = strings.TrimSpace(value)
		}
		last = name
	}
	flush()
	return groups
}

// findDSN reads every per-recipient group of every delivery-status part
// (RFC 3464, and RFC 6533's global form), and of text parts that hold one
// without saying so.
func findDSN(_ *message.Message, leaves []message.Leaf) []Failure {
	var fs []Failure
	for _, l := range leaves {
		switch {
		case l.MediaType == "message/delivery-status", l.MediaType == "message/global-delivery-status":
		case l.MediaType == "text/plain" && looksLikeDSN(l.Content):
		default:
			continue
		}
		for _, g := range reportGroups(l.Content) {
			if f, ok := dsnFailure(g); ok {
				fs = append(fs, f)
			}
		}
	}
	return fs
}

func looksLikeDSN(content []byte) bool {
	lower := bytes.ToLower(content)
	return bytes.Contains(lower, []byte("\nfinal-recipient:")) && bytes.Contains(lower, []byte("\naction:"))
}

// dsnFailure reads one per-recipient group: the address from
// Original-Recipient, else Final-Recipient (as Mailman reads them); failed
// or delayed from Action, or from Status when Action is missing.
func dsnFailure(g fields) (Failure, bool) {
	addr := reportAddress(g["original-recipient"])
	if addr == "" {
		addr = reportAddress(g["final-recipient"])
	}
	if addr == "" {
		return Failure{}, false
	}
	status := statusCode.FindString(g["status"])
	diag := diagnostic(g["diagnostic-code"])
	if status == "" {
		status = statusCode.FindString(diag)
	}
	action := strings.ToLower(strings.TrimSpace(g["action"]))
	f := Failure{Address: addr, Status: status, Diagnostic: diag}
	switch {
	case strings.HasPrefix(action, "fail"), strings.HasPrefix(action, "error"):
		f.Permanent = !strings.HasPrefix(status, "4")
	case strings.HasPrefix(action, "delay"):
	case action == "" && status != "" && status[0] != '2':
		f.Permanent = status[0] == '5'
	default: // delivered, relayed, expanded, or nothing said
		return Failure{}, false
	}
	return f, true
}

// reportAddress reads "rfc822; addr", tolerating a missing type and angle
// brackets; any other address type is no email address.
func reportAddress(v string) string {
	if typ, rest, ok := strings.Cut(v, ";"); ok {
		if t := strings.ToLower(strings.TrimSpace(typ)); t != "rfc822" && t != "" {
			return ""
		}
		v = rest
	}
	return cleanAddress(v)
}

// diagnostic is a Diagnostic-Code's text without its type.
func diagnostic(v string) string {
	if typ, rest, ok := strings.Cut(v, ";"); ok && !strings.ContainsAny(typ, " <@") {
		v = rest
	}
	v = strings.Join(strings.Fields(v), " ")
	if len(v) > 300 {
		v = v[:300]
	}
	return v
}

// findComplaints reads the feedback reports of RFC 5965: the subscriber
// is Original-Rcpt-To, else Removal-Recipient, else the recipient of the
// message reported.
func findComplaints(leaves []message.Leaf) []Complaint {
	var cs []Complaint
	for i, l := range leaves {
		if l.MediaType != "message/feedback-report" {
			continue
		}
		var g fields
		if gs := reportGroups(l.Content); len(gs) > 0 {
			g = gs[0]
		}
		typ := strings.ToLower(strings.TrimSpace(g["feedback-type"]))
		if typ == "" {
			typ = "abuse"
		}
		addr := cleanAddress(g["original-rcpt-to"])
		if addr == "" {
			addr = cleanAddress(g["removal-recipient"])
		}
		if addr == "" {
			addr = reportedRecipient(leaves[i+1:])
		}
		if addr != "" {
			cs = append(cs, Complaint{Address: addr, Type: typ})
		}
	}
	return cs
}

// reportedRecipient is the To of the message a feedback report encloses.
func reportedRecipient(leaves []message.Leaf) string {
	for _, l := range leaves {
		if l.MediaType != "message/rfc822" && l.MediaType != "text/rfc822-headers" {
			continue
		}
		m, err := message.Parse(l.Content)
		if err != nil {
			return ""
		}
		if as := m.Addresses("To"); len(as) == 1 {
			return cleanAddress(as[0])
		}
		return ""
	}
	return ""
}
