package message

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"mime"
	"strings"
	"time"
)

// Field is one header field of a message being built.
type Field struct{ Name, Value string }

// Part is one part of a multipart message being built: its Content-Type,
// its Content-Description when it has one, and its bytes (for
// message/rfc822, a whole message; for a multipart, the body Multipart
// made).
type Part struct {
	ContentType string
	Description string
	Body        []byte
}

// NewText builds a text/plain UTF-8 message with fields (in order; Date,
// Message-ID and the like are the caller's), with CRLF line endings.
func NewText(fields []Field, body string) []byte {
	var b bytes.Buffer
	writeFields(&b, fields)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n")
	b.WriteString("Content-Transfer-Encoding: " + transferEncoding([]byte(body)) + "\r\n\r\n")
	b.Write(crlf([]byte(body)))
	return b.Bytes()
}

// NewMultipart builds a multipart/mixed message with fields and parts, with
// CRLF line endings.
func NewMultipart(fields []Field, parts []Part) []byte {
	ct, body := Multipart("mixed", parts)
	var b bytes.Buffer
	writeFields(&b, fields)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: " + ct + "\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}

// Multipart builds the body of a multipart/subtype of parts, with CRLF
// line endings, and the Content-Type that names its boundary.
func Multipart(subtype string, parts []Part) (contentType string, body []byte) {
	var all [][]byte
	for _, p := range parts {
		all = append(all, p.Body)
	}
	boundary := newBoundary(all)
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString("--" + boundary + "\r\nContent-Type: " + p.ContentType + "\r\n")
		if strings.HasPrefix(p.ContentType, "text/") {
			b.WriteString("Content-Transfer-Encoding: " + transferEncoding(p.Body) + "\r\n")
		}
		if p.Description != "" {
			writeFields(&b, []Field{{Name: "Content-Description", Value: p.Description}})
		}
		b.WriteString("\r\n")
		// The line break before a delimiter belongs to the delimiter
		// (RFC 2046 §5.1.1), so it is written after the part's own.
		b.Write(crlf(p.Body))
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return "multipart/" + subtype + "; boundary=\"" + boundary + "\"", b.Bytes()
}

func writeFields(b *bytes.Buffer, fields []Field) {
	for _, f := range fields {
		v := strings.NewReplacer("\r", " ", "\n", " ").Replace(f.Value)
		if !isASCII(v) {
			v = mime.QEncoding.Encode("utf-8", v)
		}
		b.WriteString(f.Name + ": " + v + "\r\n")
	}
}

func transferEncoding(b []byte) string {
	if isASCII(string(b)) {
		return "7bit"
	}
	return "8bit"
}

// crlf makes every line end in CRLF.
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// newBoundary returns a random boundary found in none of the parts.
func newBoundary(parts [][]byte) string {
	for {
		var r [12]byte
		rand.Read(r[:])
		boundary := "===============" + hex.EncodeToString(r[:]) + "=="
		clash := false
		for _, p := range parts {
			clash = clash || bytes.Contains(p, []byte(boundary))
		}
		if !clash {
			return boundary
		}
	}
}

// NewMessageID returns a new unique Message-ID at domain.
func NewMessageID(domain string) string {
	var r [16]byte
	rand.Read(r[:])
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">"
}

// Date formats t for a Date header.
func Date(t time.Time) string { return t.Format(time.RFC1123Z) }
