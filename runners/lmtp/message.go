package lmtp

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strings"
)

// errDefects is a header block that cannot be read as one: Mailman answers
// "501 Message has defects" (once; we answer it per recipient).
var errDefects = errors.New("message has defects")

// prepared is a message as it is queued: the received bytes with the
// headers Mailman adds appended to the header block.
type prepared struct {
	message   []byte
	messageID string
}

// prepare checks the header block of msg, gives it a Message-ID when it has
// none, and appends Message-ID-Hash, X-Message-ID-Hash (replacing any there)
// and X-MailFrom, as Mailman's LMTP runner does. The body is kept byte for
// byte; the added lines use the message's own line ending.
func prepare(msg []byte, mailFrom, hostname string) (prepared, error) {
	end, body := headerEnd(msg)
	if end < 0 {
		return prepared{}, errDefects
	}
	head := msg[:end]
	eol := "\n"
	if bytes.Contains(head, []byte("\r\n")) || (len(head) == 0 && bytes.HasPrefix(msg[end:], []byte("\r\n"))) {
		eol = "\r\n"
	}
	lines, err := headerLines(head)
	if err != nil {
		return prepared{}, err
	}
	var out bytes.Buffer
	out.Grow(len(msg) + 200)
	messageID := ""
	for _, l := range lines {
		switch strings.ToLower(l.name) {
		case "message-id-hash", "x-message-id-hash":
			continue
		case "message-id":
			if messageID == "" {
				messageID = unfold(l.value)
			}
		}
		out.Write(l.raw)
	}
	if messageID == "" {
		messageID = newMessageID(hostname)
		out.WriteString("Message-ID: " + messageID + eol)
	}
	hash := messageIDHash(messageID)
	out.WriteString("Message-ID-Hash: " + hash + eol)
	out.WriteString("X-Message-ID-Hash: " + hash + eol)
	out.WriteString("X-MailFrom: " + mailFrom + eol)
	out.Write(body)
	return prepared{message: out.Bytes(), messageID: messageID}, nil
}

// headerEnd finds the end of the header block: the index where the header
// lines stop and the rest (the blank line and the body) starting there. A
// message without a blank line is all header. It returns -1 when msg has no
// header at all.
func headerEnd(msg []byte) (int, []byte) {
	for i := 0; i < len(msg); {
		j := bytes.IndexByte(msg[i:], '\n')
		line := msg[i:]
		if j >= 0 {
			line = msg[i : i+j+1]
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return i, msg[i:]
		}
		if j < 0 {
			break
		}
		i += j + 1
	}
	if len(msg) == 0 {
		return -1, nil
	}
	// No blank line: the whole message is header; give it one so the
	// appended fields are still in the header.
	if msg[len(msg)-1] != '\n' {
		return len(msg), []byte("\r\n")
	}
	return len(msg), nil
}

type headerLine struct {
	name, value string
	raw         []byte // the field as received, folded lines and line endings included
}

// headerLines splits a header block into fields. A line that is neither a
// field nor a continuation, or a continuation with no field before it, is a
// defect, as it is for Python's email parser (MissingHeaderBodySeparator,
// FirstHeaderLineIsContinuation).
func headerLines(head []byte) ([]headerLine, error) {
	var lines []headerLine
	for len(head) > 0 {
		n := bytes.IndexByte(head, '\n') + 1
		if n == 0 {
			n = len(head)
		}
		line := head[:n]
		head = head[n:]
		if line[0] == ' ' || line[0] == '\t' {
			if len(lines) == 0 {
				return nil, errDefects
			}
			last := &lines[len(lines)-1]
			last.raw = append(last.raw, line...)
			last.value += string(line)
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return nil, errDefects
		}
		name := string(bytes.TrimRight(line[:colon], " \t"))
		if name == "" || strings.ContainsAny(name, " \t") {
			return nil, errDefects
		}
		lines = append(lines, headerLine{name: name, value: string(line[colon+1:]), raw: append([]byte(nil), line...)})
	}
	return lines, nil
}

func unfold(v string) string {
	return strings.Join(strings.Fields(v), " ")
}

// messageIDHash is Mailman's Message-ID-Hash: base32 of the SHA-1 of the
// Message-ID without its angle brackets.
func messageIDHash(id string) string {
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, "<") && strings.HasSuffix(id, ">") {
		id = id[1 : len(id)-1]
	}
	sum := sha1.Sum([]byte(id))
	return base32.StdEncoding.EncodeToString(sum[:])
}

func newMessageID(hostname string) string {
	var b [16]byte
	rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + "@" + hostname + ">"
}
