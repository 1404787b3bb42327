package message

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// AddFooter adds lines, one string a line, at the end of the message's
// text: appended to a text/plain body in the body's own transfer encoding,
// or as a text/plain part of its own closing a multipart/mixed body. Any
// other message has no place for them, and the error says why; on an error
// the message is as it was.
func (m *Message) AddFooter(lines []string) error {
	mt, params := "text/plain", map[string]string{}
	if ct := m.Get("Content-Type"); ct != "" {
		var err error
		if mt, params, err = mime.ParseMediaType(ct); err != nil {
			return fmt.Errorf("unreadable Content-Type: %w", err)
		}
	}
	switch mt {
	case "text/plain":
		return m.appendText(lines, params["charset"])
	case "multipart/mixed":
		return m.addTextPart(lines, params["boundary"])
	}
	// Anything else has no right place for text: in a multipart/alternative
	// the footer would be one more rendering of the post, a signed or
	// encrypted message would fail its check, and a single non-text body
	// cannot take text at all.
	return fmt.Errorf("a %s message has no place for a footer", mt)
}

// appendText adds lines at the end of a text/plain body declared in
// charset.
func (m *Message) appendText(lines []string, charset string) error {
	if !isASCII(strings.Join(lines, "")) && !strings.EqualFold(charset, "utf-8") {
		// UTF-8 bytes in a body declared in another charset would be shown
		// as garbage.
		return fmt.Errorf("the footer is not ASCII and the body's charset is %q", charset)
	}
	text, ok := m.FirstText()
	if !ok {
		return errors.New("the body cannot be decoded")
	}
	// The decoded text may use other line endings than the header (a
	// base64 body is written by someone else); the footer follows the text.
	nl := m.nl
	if strings.Contains(text, "\r\n") {
		nl = "\r\n"
	} else if strings.Contains(text, "\n") {
		nl = "\n"
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += nl
	}
	return m.SetFirstText(text + strings.Join(lines, nl) + nl)
}

// addTextPart adds a text/plain part holding lines as the last part of a
// multipart/mixed body with boundary, just before its closing delimiter.
func (m *Message) addTextPart(lines []string, boundary string) error {
	if boundary == "" {
		return errors.New("the multipart/mixed message has no boundary")
	}
	end := closingDelimiter(m.body, boundary)
	if end < 0 {
		// A truncated message: a part added after its last one would end
		// up outside the multipart for some readers.
		return errors.New("the multipart/mixed message has no closing boundary")
	}
	nl := m.nl
	text := strings.Join(lines, nl) + nl
	encoding := "7bit"
	if !isASCII(text) {
		encoding = "8bit"
	}
	// The line break before a delimiter belongs to the delimiter (RFC 2046
	// §5.1.1): the one before the closing delimiter now serves the new
	// part's, and the new part brings one of its own for the closing one.
	part := "--" + boundary + nl +
		`Content-Type: text/plain; charset="utf-8"` + nl +
		"Content-Transfer-Encoding: " + encoding + nl +
		nl + text + nl
	out := make([]byte, 0, len(m.body)+len(part))
	out = append(out, m.body[:end]...)
	out = append(out, part...)
	out = append(out, m.body[end:]...)
	m.SetBody(out)
	return nil
}

// closingDelimiter returns the offset in body of the line that closes the
// multipart with boundary, or -1 when there is none.
func closingDelimiter(body []byte, boundary string) int {
	closing := []byte("--" + boundary + "--")
	pos := 0
	for line := range bytes.Lines(body) {
		if bytes.HasPrefix(line, closing) && len(bytes.TrimRight(line[len(closing):], " \t\r\n")) == 0 {
			return pos
		}
		pos += len(line)
	}
	return -1
}
