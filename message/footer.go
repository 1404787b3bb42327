package message

import (
	"bytes"
	"mime"
	"strings"
)

// Decorate adds the header lines before and the footer lines after the
// message's text (either may be empty, for none), as Mailman 3.3.8's
// decorate handler does: around a text/plain body in the body's own
// transfer encoding when the body's charset can carry them; as inline
// text/plain parts opening and closing a multipart/mixed body; and in any
// other case (HTML, multipart/alternative, signed, a digest, a report, a
// forwarded message, a body it cannot read) by wrapping the message: the
// body and its Content-* fields become a part of a new multipart/mixed,
// between the header's part and the footer's, so that the original bytes,
// and a signature over them, stay as they were.
func (m *Message) Decorate(header, footer []string) {
	if len(header) == 0 && len(footer) == 0 {
		return
	}
	mt, params := "text/plain", map[string]string{}
	if ct := m.Get("Content-Type"); ct != "" {
		var err error
		if mt, params, err = mime.ParseMediaType(ct); err != nil {
			mt = ""
		}
	}
	switch {
	case mt == "text/plain" && m.surroundText(header, footer, params["charset"]):
		return
	case mt == "multipart/mixed" && m.addTextParts(header, footer, params["boundary"]):
		return
	}
	m.wrap(header, footer)
}

// surroundText puts header and footer around a text/plain body declared
// in charset, and reports whether it could.
func (m *Message) surroundText(header, footer []string, charset string) bool {
	if !isASCII(strings.Join(header, "")+strings.Join(footer, "")) && !strings.EqualFold(charset, "utf-8") {
		// UTF-8 bytes in a body declared in another charset would be shown
		// as garbage.
		return false
	}
	text, ok := m.FirstText()
	if !ok {
		return false
	}
	// The decoded text may use other line endings than the header (a
	// base64 body is written by someone else); the decoration follows the
	// text.
	nl := m.nl
	if strings.Contains(text, "\r\n") {
		nl = "\r\n"
	} else if strings.Contains(text, "\n") {
		nl = "\n"
	}
	if len(footer) > 0 {
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += nl
		}
		text += strings.Join(footer, nl) + nl
	}
	if len(header) > 0 {
		text = strings.Join(header, nl) + nl + text
	}
	return m.SetFirstText(text) == nil
}

// addTextParts adds the header's part as the first part and the footer's
// as the last of a multipart/mixed body with boundary, and reports whether
// it could.
func (m *Message) addTextParts(header, footer []string, boundary string) bool {
	if boundary == "" {
		return false
	}
	first, end := delimiters(m.body, boundary)
	if first < 0 || end < 0 || first > end {
		// A truncated message: a part added after its last one would end
		// up outside the multipart for some readers.
		return false
	}
	// The line break before a delimiter belongs to the delimiter (RFC 2046
	// §5.1.1): a new part brings one for the delimiter after it, and the
	// footer's part uses the one before the closing delimiter for its own.
	var head, foot string
	if len(header) > 0 {
		head = footerPart(header, m.nl) + m.nl + "--" + boundary + m.nl
	}
	if len(footer) > 0 {
		foot = "--" + boundary + m.nl + footerPart(footer, m.nl) + m.nl
	}
	out := make([]byte, 0, len(m.body)+len(head)+len(foot))
	out = append(out, m.body[:first]...)
	out = append(out, head...)
	out = append(out, m.body[first:end]...)
	out = append(out, foot...)
	out = append(out, m.body[end:]...)
	m.SetBody(out)
	return true
}

// wrap makes the message a multipart/mixed of the header's part, the
// message as it was (its Content-* fields and its body, byte for byte) and
// the footer's part.
func (m *Message) wrap(header, footer []string) {
	var inner []byte
	kept := m.fields[:0:0]
	for _, f := range m.fields {
		if strings.HasPrefix(strings.ToLower(f.name), "content-") {
			inner = append(inner, f.raw...)
			continue
		}
		kept = append(kept, f)
	}
	if len(inner) > 0 && !bytes.HasSuffix(inner, []byte("\n")) {
		// The last field of a header cut short of its line ending.
		inner = append(inner, m.nl...)
	}
	var head, foot string
	if len(header) > 0 {
		head = footerPart(header, m.nl)
	}
	if len(footer) > 0 {
		foot = footerPart(footer, m.nl)
	}
	boundary := newBoundary([][]byte{inner, m.body, []byte(head), []byte(foot)})
	nl := m.nl
	var body bytes.Buffer
	if head != "" {
		body.WriteString("--" + boundary + nl + head + nl)
	}
	body.WriteString("--" + boundary + nl)
	body.Write(inner)
	body.WriteString(nl)
	body.Write(m.body)
	// The line break before the delimiter is the delimiter's: after a body
	// ending in a bare CR, an LF alone would make a CRLF of it and take
	// the CR from the body.
	if bytes.HasSuffix(m.body, []byte("\r")) {
		body.WriteString("\r\n")
	} else {
		body.WriteString(nl)
	}
	if foot != "" {
		body.WriteString("--" + boundary + nl + foot + nl)
	}
	body.WriteString("--" + boundary + "--" + nl)
	m.fields = kept
	if !m.Has("MIME-Version") {
		m.Add("MIME-Version", "1.0")
	}
	m.Add("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	m.SetBody(body.Bytes())
}

// footerPart is a header's or a footer's MIME part (fields and content),
// as Mailman writes it: inline, in us-ascii when it is ASCII and else in UTF-8,
// quoted-printable so that it needs no 8-bit transport.
func footerPart(lines []string, nl string) string {
	text := strings.Join(lines, nl) + nl
	charset, encoding := "us-ascii", "7bit"
	if !isASCII(text) {
		charset, encoding = "utf-8", "quoted-printable"
		text = string(encode([]byte(text), encoding, nl))
	}
	return `Content-Type: text/plain; charset="` + charset + `"` + nl +
		"Content-Transfer-Encoding: " + encoding + nl +
		"Content-Disposition: inline" + nl +
		nl + text
}

// delimiters returns the offsets in body of the line just after the first
// delimiter of the multipart with boundary and of the line that closes it,
// each -1 when there is none.
func delimiters(body []byte, boundary string) (first, closing int) {
	delimiter := []byte("--" + boundary)
	first, closing = -1, -1
	pos := 0
	for line := range bytes.Lines(body) {
		pos += len(line)
		if !bytes.HasPrefix(line, delimiter) {
			continue
		}
		rest := line[len(delimiter):]
		switch {
		case first < 0 && len(bytes.TrimRight(rest, " \t\r\n")) == 0:
			first = pos
		case bytes.HasPrefix(rest, []byte("--")) && len(bytes.TrimRight(rest[2:], " \t\r\n")) == 0:
			return first, pos - len(line)
		}
	}
	return first, closing
}
