package outgoing

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/store"
)

// footer is Mailman's default list footer, one string a line.
func footer(list *store.List) []string {
	return []string{
		"_______________________________________________",
		list.DisplayName + " mailing list -- " + list.PostingAddress,
		"To unsubscribe send an email to " + mta.Sub(list.PostingAddress, mta.Leave),
	}
}

// decorate returns raw with list's footer added, or an error saying why
// the message has no place for one; the message is then sent as it is.
func decorate(raw []byte, list *store.List) ([]byte, error) {
	msg, err := message.Parse(raw)
	if err != nil {
		return nil, err
	}
	mt, params := "text/plain", map[string]string{}
	if ct := msg.Get("Content-Type"); ct != "" {
		if mt, params, err = mime.ParseMediaType(ct); err != nil {
			return nil, fmt.Errorf("unreadable Content-Type: %w", err)
		}
	}
	nl := lineEnding(raw)
	switch mt {
	case "text/plain":
		err = appendFooter(msg, footer(list), params["charset"], nl)
	case "multipart/mixed":
		err = addFooterPart(msg, footer(list), params["boundary"], nl)
	default:
		// Anything else has no right place for text: in a
		// multipart/alternative the footer would be one more rendering of
		// the post, a signed or encrypted message would fail its check, and
		// a single non-text body cannot take text at all.
		err = fmt.Errorf("a %s message has no place for a footer", mt)
	}
	if err != nil {
		return nil, err
	}
	return msg.Bytes(), nil
}

// appendFooter adds lines at the end of a text/plain body, in the body's own
// transfer encoding.
func appendFooter(msg *message.Message, lines []string, charset, nl string) error {
	if !isASCII(strings.Join(lines, "")) && !strings.EqualFold(charset, "utf-8") {
		// UTF-8 bytes in a body declared in another charset would be shown
		// as garbage.
		return fmt.Errorf("the footer is not ASCII and the body's charset is %q", charset)
	}
	text, ok := msg.FirstText()
	if !ok {
		return errors.New("the body cannot be decoded")
	}
	// The decoded text may use other line endings than the header (a
	// base64 body is written by someone else); the footer follows the text.
	if strings.Contains(text, "\r\n") {
		nl = "\r\n"
	} else if strings.Contains(text, "\n") {
		nl = "\n"
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += nl
	}
	return msg.SetFirstText(text + strings.Join(lines, nl) + nl)
}

// addFooterPart adds a text/plain part holding lines as the last part of a
// multipart/mixed body, just before its closing delimiter.
func addFooterPart(msg *message.Message, lines []string, boundary, nl string) error {
	if boundary == "" {
		return errors.New("the multipart/mixed message has no boundary")
	}
	body := msg.Body()
	end := closingDelimiter(body, boundary)
	if end < 0 {
		// A truncated message: a part added after its last one would end
		// up outside the multipart for some readers.
		return errors.New("the multipart/mixed message has no closing boundary")
	}
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
	out := make([]byte, 0, len(body)+len(part))
	out = append(out, body[:end]...)
	out = append(out, part...)
	out = append(out, body[end:]...)
	msg.SetBody(out)
	return nil
}

// closingDelimiter returns the offset in body of the line that closes the
// multipart with boundary, or -1 when there is none.
func closingDelimiter(body []byte, boundary string) int {
	closing := []byte("--" + boundary + "--")
	for pos := 0; pos < len(body); {
		end := bytes.IndexByte(body[pos:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += pos + 1
		}
		line := body[pos:end]
		if bytes.HasPrefix(line, closing) && len(bytes.TrimRight(line[len(closing):], " \t\r\n")) == 0 {
			return pos
		}
		pos = end
	}
	return -1
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
