// Package message owns the raw RFC 5322 message as the list server handles
// it: header fields kept exactly as written (folding, order, line endings),
// the body untouched unless asked, parsed views of headers, addresses and
// the first text/plain part, the MIME surgery that adds a footer to a
// post's text, and the messages the system writes itself (notices). It
// knows nothing of lists, queues or stores: what a footer says is the
// caller's.
package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"
)

// ErrMalformed is wrapped by Parse's errors.
var ErrMalformed = errors.New("malformed message")

// Message keeps a message's bytes: its header fields as written and its body.
type Message struct {
	fields []field
	sep    []byte // the blank line between header and body, nil when there is none
	body   []byte
	nl     string // the line ending the header uses
}

// field is one header field: its name and its bytes, continuation lines and
// line ending included.
type field struct {
	name string
	raw  []byte
}

// Parse splits raw into header fields and body. A message with no blank
// line after its header is all header.
//
// The fields and the body are slices of raw, which the caller must leave
// alone; each field's capacity ends with it, so that a field that grows
// (separate) is copied rather than written over the next. Copying a field
// as each continuation line came made the door's parser quadratic in them
// (issue 19).
func Parse(raw []byte) (*Message, error) {
	m := &Message{nl: "\r\n"}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 && (i == 0 || raw[i-1] != '\r') {
		m.nl = "\n"
	}
	start := 0 // of the field the lines so far belong to
	for pos := 0; pos < len(raw); {
		end := bytes.IndexByte(raw[pos:], '\n') + 1
		if end == 0 {
			end = len(raw) - pos
		}
		line := raw[pos : pos+end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			m.sep = line
			m.body = raw[pos+end:]
			return m, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(m.fields) == 0 {
				return nil, fmt.Errorf("%w: the header starts with a continuation line", ErrMalformed)
			}
		} else {
			// White space between the name and the colon is RFC 5322's
			// obsolete syntax (§4.5, "field-name *WSP ':'"), which §4 has
			// a receiver accept: "Subject : x" is a Subject. (Python's
			// compat32 parser, and so Mailman 3.3.8, takes such a line for
			// the start of the body and the message for defective.)
			colon := bytes.IndexByte(line, ':')
			name := bytes.TrimRight(line[:max(colon, 0)], " \t")
			if colon < 0 || len(name) == 0 || bytes.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("%w: header line %q is not a field", ErrMalformed, bytes.TrimRight(line, "\r\n"))
			}
			start = pos
			m.fields = append(m.fields, field{name: string(name)})
		}
		pos += end
		m.fields[len(m.fields)-1].raw = raw[start:pos:pos]
	}
	m.body = []byte{}
	return m, nil
}

// Bytes returns the message; an unmodified parsed message round-trips byte
// for byte.
func (m *Message) Bytes() []byte {
	n := len(m.sep) + len(m.body)
	for _, f := range m.fields {
		n += len(f.raw)
	}
	b := make([]byte, 0, n)
	for _, f := range m.fields {
		b = append(b, f.raw...)
	}
	b = append(b, m.sep...)
	return append(b, m.body...)
}

// value is a field's value, unfolded and trimmed.
func (f field) value() string {
	v := f.raw[bytes.IndexByte(f.raw, ':')+1:]
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return strings.TrimSpace(string(v))
}

// Get returns the first field called name (in any case), unfolded and
// trimmed; "" when there is none.
func (m *Message) Get(name string) string {
	for _, f := range m.fields {
		if strings.EqualFold(f.name, name) {
			return f.value()
		}
	}
	return ""
}

// Values returns every field called name, in order.
func (m *Message) Values(name string) []string {
	var vs []string
	for _, f := range m.fields {
		if strings.EqualFold(f.name, name) {
			vs = append(vs, f.value())
		}
	}
	return vs
}

// Has reports whether there is a field called name.
func (m *Message) Has(name string) bool {
	for _, f := range m.fields {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "us-ascii":
		return r, nil
	case "iso-8859-1", "latin1":
		return eightBit(r, nil)
	case "windows-1252", "cp1252":
		return eightBit(r, &cp1252)
	}
	return nil, fmt.Errorf("unknown charset %q", charset)
}}

// cp1252 is what windows-1252 puts at 0x80 to 0x9F, where ISO 8859-1 has
// control characters; above, the two agree with Unicode.
var cp1252 = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8D, 'Ž', 0x8F,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9D, 'ž', 'Ÿ',
}

// eightBit decodes a one-byte charset whose bytes are their Unicode code
// points, but for high, when given, at 0x80 to 0x9F.
func eightBit(r io.Reader, high *[32]rune) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var s strings.Builder
	for _, c := range b {
		if high != nil && c >= 0x80 && c < 0xA0 {
			s.WriteRune(high[c-0x80])
		} else {
			s.WriteRune(rune(c))
		}
	}
	return strings.NewReader(s.String()), nil
}

// Decoded returns Get(name) with RFC 2047 encoded words decoded; words that
// cannot be decoded are left as written.
func (m *Message) Decoded(name string) string { return decodeWords(m.Get(name)) }

// decodeWords is v with its RFC 2047 encoded words decoded, or v as
// written when they cannot be.
func decodeWords(v string) string {
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// DecodedValues returns Values(name), each with its RFC 2047 encoded
// words decoded as Decoded does.
func (m *Message) DecodedValues(name string) []string {
	vs := m.Values(name)
	for i, v := range vs {
		vs[i] = decodeWords(v)
	}
	return vs
}

// Del removes every field called name and returns how many there were.
func (m *Message) Del(name string) int {
	kept := m.fields[:0]
	n := 0
	for _, f := range m.fields {
		if strings.EqualFold(f.name, name) {
			n++
			continue
		}
		kept = append(kept, f)
	}
	m.fields = kept
	return n
}

// Keep removes every field whose name keep refuses.
func (m *Message) Keep(keep func(name string) bool) {
	kept := m.fields[:0]
	for _, f := range m.fields {
		if keep(f.name) {
			kept = append(kept, f)
		}
	}
	m.fields = kept
}

// oneLine keeps a value given to a field on the field's line: a line break
// in it would end the field and start another.
var oneLine = strings.NewReplacer("\r", " ", "\n", " ")

func (m *Message) newField(name, value string) field {
	value = oneLine.Replace(value)
	if !isASCII(value) {
		value = mime.QEncoding.Encode("utf-8", value)
	}
	return m.rawField(name, value)
}

func (m *Message) rawField(name, value string) field {
	return field{name: name, raw: []byte(name + ": " + value + m.nl)}
}

// Add appends a field at the end of the header.
func (m *Message) Add(name, value string) {
	m.separate()
	m.fields = append(m.fields, m.newField(name, value))
}

// AddRaw appends a field whose value is written as given, 8-bit bytes
// included, but for line breaks (which become spaces): for a value that is
// no text for people but must reach the runners byte for byte, as an
// envelope address, which RFC 2047 would make no address.
func (m *Message) AddRaw(name, value string) {
	m.separate()
	m.fields = append(m.fields, m.rawField(name, oneLine.Replace(value)))
}

// Set replaces every field called name by one with value.
func (m *Message) Set(name, value string) {
	m.Del(name)
	m.Add(name, value)
}

// Prepend adds a field before all others.
func (m *Message) Prepend(name, value string) {
	m.separate()
	m.fields = append([]field{m.newField(name, value)}, m.fields...)
}

// Addresses returns every address in the fields called names, lower-cased,
// in order, each once; what does not parse is skipped.
func (m *Message) Addresses(names ...string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		a = strings.ToLower(a)
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	parser := mail.AddressParser{WordDecoder: wordDecoder}
	for _, name := range names {
		for _, v := range m.Values(name) {
			if list, err := parser.ParseList(v); err == nil {
				for _, a := range list {
					add(a.Address)
				}
				continue
			}
			for _, part := range strings.Split(v, ",") {
				if a, err := parser.Parse(part); err == nil {
					add(a.Address)
				}
			}
		}
	}
	return out
}

// Mailbox returns the first address of the field called name as written
// (not lower-cased), with its display name decoded, for a reply that
// names the person as they name themselves. ok is false when the field
// holds no address.
func (m *Message) Mailbox(name string) (address, displayName string, ok bool) {
	parser := mail.AddressParser{WordDecoder: wordDecoder}
	for _, v := range m.Values(name) {
		if list, err := parser.ParseList(v); err == nil && len(list) > 0 {
			return list[0].Address, list[0].Name, true
		}
		for _, part := range strings.Split(v, ",") {
			if a, err := parser.Parse(part); err == nil {
				return a.Address, a.Name, true
			}
		}
	}
	return "", "", false
}

// separate makes sure the header ends in a blank line before a field is
// added or a body set. A message may have been cut short of its last line
// ending (FuzzPipeline and FuzzDecorate found such): without one, a field
// added at the end would run into the last one, and a new body would be
// read as one more field.
func (m *Message) separate() {
	switch {
	case m.sep == nil:
		if n := len(m.fields); n > 0 && !bytes.HasSuffix(m.fields[n-1].raw, []byte("\n")) {
			m.fields[n-1].raw = append(m.fields[n-1].raw, m.nl...)
		}
		m.sep = []byte(m.nl)
	case !bytes.HasSuffix(m.sep, []byte("\n")):
		// A blank line of a lone "\r".
		m.sep = append(bytes.Clone(m.sep), '\n')
	}
}

// Body returns the body.
func (m *Message) Body() []byte { return m.body }

// SetBody replaces the body.
func (m *Message) SetBody(b []byte) {
	m.separate()
	m.body = b
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// maxLine and maxFold are RFC 5322's limits on a line (§2.1.1): 998
// octets at most, 78 where possible.
const (
	maxLine = 998
	maxFold = 78
)

// SetPrefixed replaces every field called name by one holding prefix then
// text, as Mailman writes a prefixed Subject: an ASCII prefix stands as
// written, outside any encoded word, so that filters on it find it; text is
// RFC 2047-encoded when it is not ASCII (or has a word no line could hold);
// and the field is folded at spaces, its lines at most 78 octets where a
// word allows.
func (m *Message) SetPrefixed(name, prefix, text string) {
	prefix, text = oneLine.Replace(prefix), oneLine.Replace(text)
	if !isASCII(prefix) {
		prefix, text = "", prefix+text
	}
	if !isASCII(text) || hasLongWord(text) {
		text = qWords(text)
	}
	var b strings.Builder
	b.WriteString(name + ":")
	line := b.Len()
	for i, word := range strings.Split(prefix+text, " ") {
		if i > 0 && word != "" && line+1+len(word) > maxFold && line > len(name)+1 {
			b.WriteString(m.nl)
			line = 0
		}
		if i > 0 || word != "" {
			b.WriteString(" " + word)
			line += 1 + len(word)
		}
	}
	m.Del(name)
	m.separate()
	m.fields = append(m.fields, field{name: name, raw: []byte(b.String() + m.nl)})
}

// hasLongWord reports whether s has a word too long for a line of its own.
func hasLongWord(s string) bool {
	for w := range strings.SplitSeq(s, " ") {
		if len(w) > maxLine-1 {
			return true
		}
	}
	return false
}

// qWords is s as RFC 2047 "Q" encoded words in UTF-8, each at most 75
// octets and holding whole characters (§5), separated by spaces. Unlike
// mime.QEncoding it encodes ASCII too: a word no line can hold must be cut,
// and only encoded words may be cut inside a word.
func qWords(s string) string {
	const head, tail, most = "=?utf-8?q?", "?=", 75
	var out, word strings.Builder
	flush := func() {
		if out.Len() > 0 {
			out.WriteByte(' ')
		}
		out.WriteString(head + word.String() + tail)
		word.Reset()
	}
	for _, r := range s {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r < 0x80 && r > ' ' && r != '=' && r != '?' && r != '_':
			enc = string(r)
		default:
			var b strings.Builder
			for _, c := range []byte(string(r)) {
				fmt.Fprintf(&b, "=%02X", c)
			}
			enc = b.String()
		}
		if len(head)+word.Len()+len(enc)+len(tail) > most {
			flush()
		}
		word.WriteString(enc)
	}
	if word.Len() > 0 || out.Len() == 0 {
		flush()
	}
	return out.String()
}

// Merge makes the fields called name one, where the first was, holding
// every value in order, each on lines of its own as written: RFC 5322
// allows one Cc (§3.6), and a reader shown the first alone misses the rest.
// Blank values are dropped.
func (m *Message) Merge(name string) {
	var values [][]byte
	first := -1
	for i, f := range m.fields {
		if !strings.EqualFold(f.name, name) {
			continue
		}
		if first < 0 {
			first = i
		}
		// An empty list element (a trailing comma) would be obsolete syntax.
		if v := bytes.Trim(f.raw[bytes.IndexByte(f.raw, ':')+1:], ", \t\r\n"); len(v) > 0 {
			values = append(values, v)
		}
	}
	if first < 0 || len(m.Values(name)) < 2 {
		return
	}
	merged := field{name: m.fields[first].name,
		raw: slices.Concat([]byte(m.fields[first].name+": "), bytes.Join(values, []byte(","+m.nl+" ")), []byte(m.nl))}
	kept := slices.Clone(m.fields[:first])
	if len(values) > 0 {
		kept = append(kept, merged)
	}
	for _, f := range m.fields[first+1:] {
		if !strings.EqualFold(f.name, name) {
			kept = append(kept, f)
		}
	}
	m.fields = kept
}

// Clone returns a copy of m that changes without changing m.
func (m *Message) Clone() *Message {
	c := *m
	c.fields = slices.Clone(m.fields)
	return &c
}
