package bounce

import (
	"net/mail"
	"regexp"
	"strings"

	"github.com/mailman-go/mailman/message"
)

// emailAddress is an address as bounces write it, bare or in angle
// brackets; the local part without quotes (a bounce that quotes one is
// read by the DSN detector).
var emailAddress = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+`)

// cleanAddress reads one address from a field of a report: angle
// brackets, quotes and a display name are dropped; "" when there is none.
func cleanAddress(v string) string {
	v = strings.TrimSpace(v)
	// A quoted local part is kept as the store keeps it, unquoted.
	if a, err := mail.ParseAddress(v); err == nil && strings.Contains(v, "\"") {
		if _, domain, ok := strings.Cut(a.Address, "@"); ok && domainName.MatchString(domain) {
			return a.Address
		}
		return ""
	} else if err == nil {
		v = a.Address
	}
	v = strings.Trim(v, "<>\"' \t")
	if !strings.Contains(v, "@") {
		return ""
	}
	a := emailAddress.FindString(v)
	if a != v || strings.HasPrefix(a, ".") || strings.HasSuffix(strings.SplitN(a, "@", 2)[0], ".") {
		return ""
	}
	return a
}

var domainName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$`)

// findExim reads Exim's X-Failed-Recipients, which names the addresses
// that failed (Exim sends its delay warnings without it).
func findExim(m *message.Message, leaves []message.Leaf) []Failure {
	var fs []Failure
	text := explanation(leaves)
	for _, v := range m.Values("X-Failed-Recipients") {
		for _, a := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if a = cleanAddress(a); a != "" {
				fs = append(fs, failureNear(text, a, subjectSaysDelay(m)))
			}
		}
	}
	return fs
}

// findQmail reads qmail's bounce format (QSBMF): after its greeting, one
// paragraph per address, beginning "<address>:".
func findQmail(m *message.Message, leaves []message.Leaf) []Failure {
	text := explanation(leaves)
	if !strings.Contains(text, "qmail") && !strings.Contains(text, "I'm afraid I wasn't able to deliver") {
		return nil
	}
	var fs []Failure
	for _, para := range strings.Split(text, "\n\n") {
		para = strings.TrimSpace(para)
		if !strings.HasPrefix(para, "<") {
			continue
		}
		head, _, ok := strings.Cut(para, ">:")
		if !ok {
			continue
		}
		if a := cleanAddress(head[1:]); a != "" {
			fs = append(fs, failureNear(para, a, subjectSaysDelay(m)))
		}
	}
	return fs
}

// original marks where a text bounce starts quoting the message that
// bounced: nothing after it is the report's own.
var original = regexp.MustCompile(`(?im)^[ \t>]*(?:-{2,}[ \t]*(?:this is a copy|original message|below this line|the original message|returned message|forwarded message|message header|headers of|original headers|undelivered message)|(?:the )?original message follows|return-path:|received: from |-{3,} ?begin (?:returned|original))`)

// explanation is the text a bounce writes for people: its text parts (not
// the message it returns), up to where a part starts quoting the
// original, with CRLF read as LF.
func explanation(leaves []message.Leaf) string {
	var b strings.Builder
	for _, l := range leaves {
		if !strings.HasPrefix(l.MediaType, "text/") || l.MediaType == "text/rfc822-headers" {
			continue
		}
		text := strings.ReplaceAll(string(l.Content), "\r\n", "\n")
		if l.MediaType == "text/html" {
			text = htmlText(text)
		}
		if loc := original.FindStringIndex(text); loc != nil {
			text = text[:loc[0]]
		}
		b.WriteString(text)
		b.WriteString("\n\n")
	}
	return b.String()
}

var (
	htmlTag   = regexp.MustCompile(`(?s)<[^>]*>`)
	htmlBreak = regexp.MustCompile(`(?i)<(?:br|/p|/div|/tr|/li)[^>]*>`)
)

// htmlText is the text of an HTML part, roughly: enough to find its
// addresses and codes.
func htmlText(s string) string {
	s = htmlBreak.ReplaceAllString(s, "\n")
	s = htmlTag.ReplaceAllString(s, " ")
	r := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&nbsp;", " ", "&#64;", "@")
	return r.Replace(s)
}

// failurePhrases are what a report says around an address that failed.
var failurePhrases = regexp.MustCompile(`(?i)user unknown|unknown user|no such (?:user|recipient|mailbox|address)|does ?n[o']t exist|not exist|unknown (?:recipient|address|mailbox)|recipient (?:unknown|rejected|address rejected)|invalid (?:recipient|address|mailbox)|mailbox (?:unavailable|not found|is full|full|disabled|inactive)|disabled|not a member|exceed|failure|no longer|unknown|invalid|bounced|unable|over ?quota|quota exceeded|undeliverable|could ?n[o']t be delivered|not be delivered|was not delivered|delivery (?:has )?failed|failed permanently|permanent(?:ly)? (?:error|failure|fatal)|unable to deliver|not deliverable|unrouteable|host unknown|host not found|domain not found|rejected|refused|blocked|delivery to the following|following (?:address|recipient)|failed:|error|delayed|not yet been delivered|has been delayed|retry|expired|timed? ?out|deferred|\b[45]\d\d[ -]|\b[45]\.\d{1,3}\.\d{1,3}\b`)

// findText reads the report a server wrote for people, with no standard
// part and no header naming the failures: each address in a paragraph
// that says something failed, or just after one that introduces the
// failures, is one that failed. The addresses of the report's own header
// (its sender, the list) and the servers' own (postmaster) are not.
func findText(m *message.Message, leaves []message.Leaf) []Failure {
	text := explanation(leaves)
	if !failurePhrases.MatchString(text) && !failurePhrases.MatchString(m.Decoded("Subject")) {
		return nil
	}
	own := map[string]bool{}
	for _, a := range m.Addresses("From", "To", "Cc", "Reply-To", "Sender", "Return-Path") {
		own[strings.ToLower(a)] = true
	}
	delay := subjectSaysDelay(m)
	var fs []Failure
	paras := strings.Split(text, "\n\n")
	for i, para := range paras {
		if !failurePhrases.MatchString(para) && (i == 0 || !failurePhrases.MatchString(paras[i-1])) &&
			(i+1 == len(paras) || !failurePhrases.MatchString(paras[i+1])) {
			continue
		}
		for _, loc := range emailAddress.FindAllStringIndex(para, -1) {
			a := strings.Trim(para[loc[0]:loc[1]], ".")
			if own[strings.ToLower(a)] || serverAddress(a) || senderContext(para[:loc[0]]) {
				continue
			}
			rest := para[loc[0]:]
			if i+1 < len(paras) {
				rest += "\n\n" + paras[i+1]
			}
			fs = append(fs, failureNear(rest, a, delay))
		}
	}
	return fs
}

// serverAddress is an address of a mail system rather than a person.
func serverAddress(a string) bool {
	local := strings.ToLower(a[:strings.IndexByte(a, '@')])
	switch local {
	case "mailer-daemon", "mailerdaemon", "mail-daemon", "noreply", "no-reply":
		return true
	}
	return false
}

// senderContext reports whether the text just before an address names it
// as the envelope sender or a message's id, not a recipient.
var senderBefore = regexp.MustCompile(`(?i)(?:mail from:?|from:|sender:?|message-id:?|envelope-from|contact|send (?:mail|a message|an email) to|write to|reply to)\s*(?:the )?(?:postmaster|administrator)?\s*(?:at )?[<(]?$`)

func senderContext(before string) bool {
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return senderBefore.MatchString(before)
}

// temporaryPhrases are what a report says of a failure it will retry, or
// of a host it gave up on without a refusal.
var temporaryPhrases = regexp.MustCompile(`(?i)delayed|not yet been delivered|will (?:be )?retr|still (?:being )?(?:retried|trying)|temporar|try again later|retry time|retry timeout|too long in the queue|in the queue too long|timed? ?out|deferred|expired`)

// smtpCode is a reply code where a report quotes a server's reply.
var smtpCode = regexp.MustCompile(`(?:^|[\s(:;\[])([45]\d\d)(?:[ -]|$)`)

// failureNear reads a's failure from text, which starts with a or holds it
// early on: the enhanced status code or the reply code that follows it,
// else the report's words.
func failureNear(text, a string, delay bool) Failure {
	f := Failure{Address: a}
	window, after := text, text
	if i := strings.Index(strings.ToLower(text), strings.ToLower(a)); i >= 0 {
		window = text[i+len(a):]
		after = window
		// A reply quoted on the address's own line may put its code first.
		if j := strings.LastIndexByte(text[:i], '\n'); j >= 0 || i < 200 {
			window = text[j+1:i] + " " + window
		}
	}
	if len(window) > 1200 {
		window = window[:1200]
	}
	if loc := statusCode.FindStringIndex(window); loc != nil {
		f.Status = window[loc[0]:loc[1]]
	}
	code := ""
	if mm := smtpCode.FindStringSubmatch(window); mm != nil {
		code = mm[1]
	}
	switch {
	case f.Status != "":
		f.Permanent = f.Status[0] == '5'
	case code != "":
		f.Permanent = code[0] == '5'
	default:
		f.Permanent = !delay && !temporaryPhrases.MatchString(window)
	}
	if line, _, _ := strings.Cut(strings.TrimLeft(after, "<>:;,.) \t\n"), "\n\n"); line != "" {
		f.Diagnostic = diagnostic(line)
	}
	return f
}

// subjectSaysDelay reports a subject that announces a delay, not a
// failure.
func subjectSaysDelay(m *message.Message) bool {
	s := strings.ToLower(m.Decoded("Subject"))
	return strings.Contains(s, "delay") || strings.Contains(s, "warning:") || strings.Contains(s, "not yet been delivered")
}
