package command

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mailman-go/mailman/message"
)

// maxBodyLines is how many lines of the body are read for commands, blank
// ones included, as Mailman's email_commands_max_lines; the rest is
// reported as ignored.
const maxBodyLines = 10

// maxEchoed is the most bytes of one line of the message (a command line,
// a header in the details) that the results repeat: the list answers what
// it was asked, and must not hand back whatever it was sent, to whomever
// the From names.
const maxEchoed = 200

// clip cuts s to maxEchoed bytes, at a character, and says it did.
func clip(s string) string {
	if len(s) <= maxEchoed {
		return s
	}
	cut := maxEchoed
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " [...]"
}

// confirmTo finds the token in a -confirm+TOKEN address of a To header,
// folded or not, with or without a display name before it.
var confirmTo = regexp.MustCompile(`(?s)^(?:.*<)?[^+]+?\+([^@]+)@.*$`)

// confirmToken returns the token of the -confirm+TOKEN address in a To
// header's value.
func confirmToken(to string) (string, bool) {
	m := confirmTo.FindStringSubmatch(strings.TrimSpace(to))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// script is what a message asks: the lines that may hold commands, in
// order, each clipped, and how many body lines past the limit are not
// read; they are counted, never repeated.
type script struct {
	lines   []string
	ignored int
	// partial says the message has parts other than the text/plain one
	// read, which were not.
	partial bool
	// noText says there is no text/plain part to read at all.
	noText bool
}

// findScript reads the command lines of msg: its Subject, decoded, with
// what is not ASCII dropped (so that "Re: confirm X" in any language
// reaches the word confirm), then the first lines of its first text/plain
// part.
func findScript(msg *message.Message) script {
	var s script
	if subject := asciiOnly(msg.Decoded("Subject")); strings.TrimSpace(subject) != "" {
		s.lines = append(s.lines, clip(subject))
	}
	text, only, ok := msg.PlainText()
	if !ok {
		s.noText = true
		return s
	}
	s.partial = !only
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	// A final line break does not start another line.
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	if len(lines) > maxBodyLines {
		s.ignored = len(lines) - maxBodyLines
		lines = lines[:maxBodyLines]
	}
	for _, l := range lines {
		s.lines = append(s.lines, clip(l))
	}
	return s
}

// words splits a command line into lower-cased words; a line with none
// is not a command.
func words(line string) []string {
	ws := strings.Fields(line)
	for i, w := range ws {
		ws[i] = strings.ToLower(w)
	}
	return ws
}

// asciiOnly drops every character that is not printable ASCII or
// whitespace.
func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0x7f || (r < ' ' && r != '\t') {
			return -1
		}
		return r
	}, s)
}
