package message

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// maxDepth bounds how deep multipart parts are searched, so that a hostile
// message cannot make the search costly.
const maxDepth = 20

// textPart is where a text part's content lies in the body.
type textPart struct {
	start, end int
	encoding   string
	mediaType  string
	charset    string
}

// FirstText returns the transfer-decoded content of the first text/plain
// part: the body itself for a message with no Content-Type or a text/plain
// one, else the first text/plain leaf found depth-first through multipart
// parts. ok is false when there is none or it cannot be decoded.
func (m *Message) FirstText() (string, bool) {
	p, ok := m.firstText()
	if !ok {
		return "", false
	}
	text, err := decode(m.body[p.start:p.end], p.encoding)
	if err != nil {
		return "", false
	}
	return string(text), true
}

// PlainText returns the content of the first text/plain part (as
// FirstText finds it) as UTF-8, decoded from its transfer encoding and its
// charset, with what cannot be decoded replaced by U+FFFD; only reports
// whether that part is the whole message. ok is false when there is no
// text/plain part or its transfer encoding is broken.
func (m *Message) PlainText() (text string, only, ok bool) {
	p, ok := m.firstText()
	if !ok {
		return "", false, false
	}
	raw, err := decode(m.body[p.start:p.end], p.encoding)
	if err != nil {
		return "", false, false
	}
	ct, _, _ := mime.ParseMediaType(m.Get("Content-Type"))
	only = !m.Has("Content-Type") || ct == "text/plain"
	return toUTF8(raw, p.charset), only, true
}

// toUTF8 decodes b from charset, which is lower-case.
func toUTF8(b []byte, charset string) string {
	switch charset {
	case "iso-8859-1", "latin1", "latin-1":
		r, _ := eightBit(bytes.NewReader(b), nil)
		out, _ := io.ReadAll(r)
		return string(out)
	case "windows-1252", "cp1252":
		r, _ := eightBit(bytes.NewReader(b), &cp1252)
		out, _ := io.ReadAll(r)
		return string(out)
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	// A charset this package does not know: its ASCII is kept, as
	// commands and addresses are.
	return strings.Map(func(r rune) rune {
		if r >= 0x80 {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(string(b), "\uFFFD"))
}

// SetFirstText replaces the first text/plain part's content with text,
// encoded with the part's own transfer encoding; every other byte of the
// message stays as it was.
func (m *Message) SetFirstText(text string) error {
	p, ok := m.firstText()
	if !ok {
		return errors.New("the message has no text/plain part")
	}
	m.replace(p, text)
	return nil
}

// EditTexts calls edit with the media type and decoded content of every
// text/* part, depth-first, and puts back, in the part's own transfer
// encoding, each text edit says it changed. A part that cannot be decoded
// is left alone.
func (m *Message) EditTexts(edit func(mediaType, text string) (string, bool)) {
	parts := m.textParts()
	// From the last part to the first, so that each replacement leaves the
	// offsets of those before it as they were.
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		text, err := decode(m.body[p.start:p.end], p.encoding)
		if err != nil {
			continue
		}
		if changed, ok := edit(p.mediaType, string(text)); ok {
			m.replace(p, changed)
		}
	}
}

func (m *Message) replace(p textPart, text string) {
	enc := encode([]byte(text), p.encoding, m.nl)
	body := make([]byte, 0, len(m.body)-(p.end-p.start)+len(enc))
	body = append(body, m.body[:p.start]...)
	body = append(body, enc...)
	body = append(body, m.body[p.end:]...)
	// SetBody, for the blank line a message that was all header lacks:
	// without it the new text would be read as header fields (FuzzDecorate
	// found the footer of a post with no body turned into one).
	m.SetBody(body)
}

func (m *Message) firstText() (textPart, bool) {
	for _, p := range m.textParts() {
		if p.mediaType == "text/plain" {
			return p, true
		}
	}
	return textPart{}, false
}

func (m *Message) textParts() []textPart {
	var parts []textPart
	walkText(m.Get("Content-Type"), m.Get("Content-Transfer-Encoding"), m.body, 0, 0, &parts)
	return parts
}

// walkText collects the text/* leaves of a part with the given
// Content-Type and encoding whose content is body, at offset off of the
// message's body.
func walkText(contentType, encoding string, body []byte, off, depth int, parts *[]textPart) {
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "text/plain", nil
	}
	if err != nil {
		return
	}
	switch {
	case strings.HasPrefix(mt, "text/"):
		*parts = append(*parts, textPart{off, off + len(body), strings.ToLower(strings.TrimSpace(encoding)), mt, strings.ToLower(params["charset"])})
	case strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && depth < maxDepth:
		for _, part := range splitParts(body, params["boundary"]) {
			h, err := Parse(part.data)
			if err != nil {
				continue
			}
			content := part.data[len(part.data)-len(h.body):]
			ct := h.Get("Content-Type")
			if ct == "" && mt == "multipart/digest" {
				ct = "message/rfc822"
			}
			walkText(ct, h.Get("Content-Transfer-Encoding"), content, off+part.start+len(part.data)-len(h.body), depth+1, parts)
		}
	}
}

type bodyPart struct {
	start int // offset in the multipart body
	data  []byte
}

// splitParts returns the parts of a multipart body: what lies between
// delimiter lines, without the line break that belongs to the next
// delimiter (RFC 2046 §5.1.1), and what follows the last delimiter when
// no closing one does.
func splitParts(body []byte, boundary string) []bodyPart {
	delim := []byte("--" + boundary)
	var parts []bodyPart
	start := -1
	for pos := 0; pos < len(body); {
		end := bytes.IndexByte(body[pos:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += pos + 1
		}
		line := body[pos:end]
		if bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r\n")
			if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
				if start >= 0 {
					stop := pos
					if stop > start && body[stop-1] == '\n' {
						stop--
						if stop > start && body[stop-1] == '\r' {
							stop--
						}
					}
					parts = append(parts, bodyPart{start, body[start:stop]})
				}
				if len(rest) == 2 {
					return parts
				}
				start = end
			}
		}
		pos = end
	}
	// A message cut short of its closing delimiter (a bounce returning
	// part of a post) keeps its last part.
	if start >= 0 && start < len(body) {
		parts = append(parts, bodyPart{start, body[start:]})
	}
	return parts
}

func decode(b []byte, encoding string) ([]byte, error) {
	switch encoding {
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, b)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		return out[:n], err
	}
	return b, nil
}

func encode(text []byte, encoding, nl string) []byte {
	switch encoding {
	case "quoted-printable":
		var b bytes.Buffer
		w := quotedprintable.NewWriter(&b)
		w.Write(text)
		w.Close()
		if nl == "\n" {
			return bytes.ReplaceAll(b.Bytes(), []byte("\r\n"), []byte("\n"))
		}
		return b.Bytes()
	case "base64":
		enc := base64.StdEncoding.EncodeToString(text)
		var b bytes.Buffer
		for len(enc) > 76 {
			b.WriteString(enc[:76] + nl)
			enc = enc[76:]
		}
		b.WriteString(enc + nl)
		return b.Bytes()
	}
	return text
}

// ErrDefects is wrapped by Defects' errors.
var ErrDefects = errors.New("message has defects")

// Defects reports whether the message's own MIME structure is broken where
// Python's parser, and so Mailman 3.3.8's LMTP runner, finds it broken: a
// multipart with no boundary, one whose first delimiter or closing
// delimiter never comes, or one in a transfer encoding that a multipart
// may not have (RFC 2046 §5.1, RFC 2045 §6.4). Such a message has no part
// a reader can find; the parts inside are a reader's to cope with, as they
// are Mailman's.
func (m *Message) Defects() error {
	mt, params, err := mime.ParseMediaType(m.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return nil
	}
	switch strings.ToLower(m.Get("Content-Transfer-Encoding")) {
	case "", "7bit", "8bit", "binary":
	default:
		return fmt.Errorf("%w: a %s in Content-Transfer-Encoding %s", ErrDefects, mt, m.Get("Content-Transfer-Encoding"))
	}
	boundary := params["boundary"]
	if boundary == "" {
		return fmt.Errorf("%w: a %s with no boundary", ErrDefects, mt)
	}
	delim := []byte("--" + boundary)
	started := false
	for line := range bytes.Lines(m.body) {
		if !bytes.HasPrefix(line, delim) {
			continue
		}
		switch rest := bytes.TrimRight(line[len(delim):], " \t\r\n"); {
		case len(rest) == 0:
			started = true
		case started && bytes.Equal(rest, []byte("--")):
			return nil
		}
	}
	if !started {
		return fmt.Errorf("%w: the %s's boundary %q never starts a part", ErrDefects, mt, boundary)
	}
	return fmt.Errorf("%w: the %s's boundary %q never closes it", ErrDefects, mt, boundary)
}
