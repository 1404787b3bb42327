package lmtp

import (
	"crypto/sha1"
	"encoding/base32"
	"strings"

	"github.com/mailman-go/mailman/message"
)

// prepared is a message as it is queued: the received bytes with the
// headers Mailman adds appended to the header block.
type prepared struct {
	message   []byte
	messageID string
}

// prepare reads msg with the parser every later runner reads it with
// (message.Parse), so that what the door accepts they can read and what
// they could not read the door refuses (501 "Message has defects"), as it
// refuses a multipart whose structure is broken (message.Defects), as
// Mailman 3.3.8 does. It
// gives the message a Message-ID when it has none, and appends
// Message-ID-Hash, X-Message-ID-Hash (replacing any there) and X-MailFrom,
// as Mailman's LMTP runner does. The body is kept byte for byte; the added
// fields use the message's own line ending (that of its first line).
//
// Where the door's own parser and message.Parse used to disagree, the door
// now does what the runners do:
//   - "Subject : x", white space before a colon, is RFC 5322's obsolete
//     syntax, which a receiver must accept (§4): a field, as message.Parse
//     reads it. Mailman 3.3.8 refuses such a message with 501; we do not.
//   - The Message-ID is the first Message-ID field, unfolded (line breaks
//     removed) and trimmed, as every runner reads it; a blank first one
//     counts as none and is replaced along with any later one, so that the
//     runners do not find a blank Message-ID before the one hashed.
//   - An empty message, or one that is all body, is a message without
//     header fields, as for Python's parser and Mailman: it is given its
//     Message-ID and queued.
//   - A header whose last line has no line ending gets one before the added
//     fields, which would otherwise run into it.
func prepare(msg []byte, mailFrom, hostname string) (prepared, error) {
	m, err := message.Parse(msg)
	if err != nil {
		return prepared{}, err
	}
	if err := m.Defects(); err != nil {
		return prepared{}, err
	}
	messageID := m.Get("Message-ID")
	if messageID == "" {
		messageID = message.NewMessageID(hostname)
		m.Set("Message-ID", messageID)
	}
	hash := messageIDHash(messageID)
	m.Set("Message-ID-Hash", hash)
	m.Set("X-Message-ID-Hash", hash)
	// The envelope sender as received: RFC 2047 would make it no address.
	m.AddRaw("X-MailFrom", mailFrom)
	return prepared{message: m.Bytes(), messageID: messageID}, nil
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
