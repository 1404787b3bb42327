package switchboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// FormatVersion is the entry format this package writes and reads.
const FormatVersion = 1

// ErrCorrupt marks an entry file that cannot be decoded. Such a file is never
// deleted: callers preserve it in bad/.
var ErrCorrupt = errors.New("corrupt queue entry")

// Msgdata is an entry's metadata: string keys, JSON values. Values are kept as
// raw JSON so that keys this version does not know survive a round trip.
type Msgdata map[string]json.RawMessage

// Set stores v under key. Values are plain data (strings, numbers, booleans,
// lists, maps of those); one that cannot be encoded as JSON is a programming
// error, hence the panic.
func (m Msgdata) Set(key string, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("msgdata %s: %v", key, err))
	}
	m[key] = raw
}

// Get decodes the value under key into v. It reports whether the key exists.
func (m Msgdata) Get(key string, v any) (bool, error) {
	raw, ok := m[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("msgdata %s: %w", key, err)
	}
	return true, nil
}

// String returns the string under key, or "" when it is missing or not a string.
func (m Msgdata) String(key string) string {
	var s string
	if _, err := m.Get(key, &s); err != nil {
		return ""
	}
	return s
}

// Bool returns the boolean under key, or false when it is missing or not a boolean.
func (m Msgdata) Bool(key string) bool {
	var b bool
	if _, err := m.Get(key, &b); err != nil {
		return false
	}
	return b
}

// Int returns the integer under key, or 0 when it is missing or not an integer.
func (m Msgdata) Int(key string) int {
	var n int
	if _, err := m.Get(key, &n); err != nil {
		return 0
	}
	return n
}

// Clone returns a copy that can be changed without affecting m.
func (m Msgdata) Clone() Msgdata {
	c := make(Msgdata, len(m))
	for k, v := range m {
		c[k] = append(json.RawMessage(nil), v...)
	}
	return c
}

// Entry is one queued message with its metadata.
type Entry struct {
	// Name is the file base name, <T>+<H>, without the state extension.
	Name    string
	Msgdata Msgdata
	Message []byte
}

// MessageID returns the Message-ID header of the message, or "" when it has
// none. It is for log lines, so it reads only as much as it needs.
func (e *Entry) MessageID() string {
	return headerValue(e.Message, "message-id")
}

// headerValue returns the unfolded value of the first header field called
// name (lower case) in the header block of msg.
func headerValue(msg []byte, name string) string {
	var value []byte
	found := false
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if found {
				value = append(value, ' ')
				value = append(value, bytes.TrimSpace(line)...)
			}
			continue
		}
		if found {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon > 0 && strings.EqualFold(string(bytes.TrimSpace(line[:colon])), name) {
			found = true
			value = append(value, bytes.TrimSpace(line[colon+1:])...)
		}
	}
	return string(bytes.TrimSpace(value))
}

// Encode returns the file contents for an entry.
func Encode(msg []byte, md Msgdata) ([]byte, error) {
	if md == nil {
		md = Msgdata{}
	}
	js, err := json.MarshalIndent(md, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode msgdata: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(js) + len(msg) + 96)
	fmt.Fprintf(&b, "Mailman-Queue-Entry: %d\nMsgdata-Length: %d\nMessage-Length: %d\n\n",
		FormatVersion, len(js), len(msg))
	b.Write(js)
	b.WriteByte('\n')
	b.Write(msg)
	return b.Bytes(), nil
}

// Decode parses file contents written by Encode. Any error wraps ErrCorrupt
// and says what is wrong.
func Decode(data []byte) (msg []byte, md Msgdata, err error) {
	fail := func(format string, args ...any) ([]byte, Msgdata, error) {
		return nil, nil, fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if !bytes.HasPrefix(data, []byte("Mailman-Queue-Entry: ")) {
		return fail("not a queue entry (it does not start with Mailman-Queue-Entry)")
	}
	head, rest, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return fail("no end of entry header")
	}
	fields := map[string]string{}
	for i, line := range strings.Split(string(head), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return fail("entry header line %d is not 'Key: value'", i+1)
		}
		if _, dup := fields[k]; dup {
			return fail("entry header %s given twice", k)
		}
		fields[k] = v
	}
	if version := fields["Mailman-Queue-Entry"]; version != strconv.Itoa(FormatVersion) {
		return fail("unsupported entry format version %q", version)
	}
	length := func(key string) (int, error) {
		s, ok := fields[key]
		if !ok {
			return 0, fmt.Errorf("missing %s", key)
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || strconv.Itoa(n) != s {
			return 0, fmt.Errorf("bad %s %q", key, s)
		}
		return n, nil
	}
	mdLen, err := length("Msgdata-Length")
	if err != nil {
		return fail("%v", err)
	}
	msgLen, err := length("Message-Length")
	if err != nil {
		return fail("%v", err)
	}
	if len(fields) != 3 {
		return fail("unknown entry header fields")
	}
	if len(rest) < mdLen+1 || len(rest)-mdLen-1 != msgLen {
		return fail("size %d does not match the lengths in its header (msgdata %d, message %d)",
			len(data), mdLen, msgLen)
	}
	if rest[mdLen] != '\n' {
		return fail("msgdata not followed by a newline")
	}
	if err := json.Unmarshal(rest[:mdLen], &md); err != nil {
		return fail("msgdata: %v", err)
	}
	if md == nil {
		return fail("msgdata is null, not an object")
	}
	return rest[mdLen+1:], md, nil
}
