package message

import (
	"bytes"
	"mime"
	"strings"
)

// AddFooter adds lines, one string a line, at the end of the message's
// text, as Mailman 3.3.8's decorate handler does: appended to a text/plain
// body in the body's own transfer encoding when the body's charset can
// carry them; as an inline text/plain part closing a multipart/mixed body;
// and in any other case (HTML, multipart/alternative, signed, a digest, a
// report, a forwarded message, a body it cannot read) by wrapping the
// message: the body and its Content-* fields become the first part of a new
// multipart/mixed and the footer its second, so that the original bytes,
// and a signature over them, stay as they were.
func (m *Message) AddFooter(lines []string) {
	mt, params := "text/plain", map[string]string{}
	if ct := m.Get("Content-Type"); ct != "" {
		var err error
		if mt, params, err = mime.ParseMediaType(ct); err != nil {
			mt = ""
		}
	}
	switch {
	case mt == "text/plain" && m.appendText(lines, params["charset"]):
		return
	case mt == "multipart/mixed" && m.addTextPart(lines, params["boundary"]):
		return
	}
	m.wrap(lines)
}

// appendText adds lines at the end of a text/plain body declared in
// charset, and reports whether it could.
func (m *Message) appendText(lines []string, charset string) bool {
	if !isASCII(strings.Join(lines, "")) && !strings.EqualFold(charset, "utf-8") {
		// UTF-8 bytes in a body declared in another charset would be shown
		// as garbage.
		return false
	}
	text, ok := m.FirstText()
	if !ok {
		return false
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
	return m.SetFirstText(text+strings.Join(lines, nl)+nl) == nil
}

// addTextPart adds the footer part as the last part of a multipart/mixed
// body with boundary, just before its closing delimiter, and reports
// whether it could.
func (m *Message) addTextPart(lines []string, boundary string) bool {
	if boundary == "" {
		return false
	}
	end := closingDelimiter(m.body, boundary)
	if end < 0 {
		// A truncated message: a part added after its last one would end
		// up outside the multipart for some readers.
		return false
	}
	// The line break before a delimiter belongs to the delimiter (RFC 2046
	// §5.1.1): the one before the closing delimiter now serves the new
	// part's, and the new part brings one of its own for the closing one.
	part := "--" + boundary + m.nl + footerPart(lines, m.nl) + m.nl
	out := make([]byte, 0, len(m.body)+len(part))
	out = append(out, m.body[:end]...)
	out = append(out, part...)
	out = append(out, m.body[end:]...)
	m.SetBody(out)
	return true
}

// wrap makes the message a multipart/mixed whose first part is the message
// as it was (its Content-* fields and its body, byte for byte) and whose
// second is the footer.
func (m *Message) wrap(lines []string) {
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
	footer := footerPart(lines, m.nl)
	boundary := newBoundary([][]byte{inner, m.body, []byte(footer)})
	nl := m.nl
	var body bytes.Buffer
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
	body.WriteString("--" + boundary + nl + footer + nl + "--" + boundary + "--" + nl)
	m.fields = kept
	if !m.Has("MIME-Version") {
		m.Add("MIME-Version", "1.0")
	}
	m.Add("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	m.SetBody(body.Bytes())
}

// footerPart is the footer as a MIME part (fields and content), as Mailman
// writes it: inline, in us-ascii when it is ASCII and else in UTF-8,
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
