package digest

import (
	"fmt"
	"mime"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailman-go/mailman/message"
)

// Issue is one issue of a list's digest, as its two forms are built from
// it.
type Issue struct {
	DisplayName    string
	PostingAddress string
	RequestAddress string
	OwnerAddress   string
	SubjectPrefix  string
	Volume, Number int
	Date           time.Time
	MessageID      string
	Masthead       string   // what the digest starts with; "" for this package's own
	Header, Footer string   // the list's digest header and footer, "" for none
	Posts          [][]byte // the posts, in the order they came
}

// plainKeptFields are the header fields of each post an RFC 1153 digest
// shows, in this order, as Mailman's plain_digest_keep_headers.
var plainKeptFields = []string{"Date", "From", "Subject", "To", "Cc", "Message-ID", "Keywords", "Content-Type"}

const (
	topicsTitle   = "Today's Topics:"
	separator70   = "----------------------------------------------------------------------"
	separator30   = "------------------------------"
	nextPart      = "-------------- next part --------------"
	footerSubject = "Digest Footer"
)

// Subject is the issue's Subject, as Mailman writes it.
func (is Issue) Subject() string {
	return fmt.Sprintf("%s Digest, Vol %d, Issue %d", is.DisplayName, is.Volume, is.Number)
}

// MIME is the issue as a MIME digest (RFC 2046 §5.1.5): the masthead, the
// header, the topics, the posts whole in a multipart/digest, the footer.
func (is Issue) MIME() ([]byte, error) {
	posts := is.parsed()
	parts := []message.Part{{ContentType: `text/plain; charset="utf-8"`, Description: is.Subject(), Body: []byte(is.masthead())}}
	if is.Header != "" {
		parts = append(parts, message.Part{ContentType: `text/plain; charset="utf-8"`, Description: "Digest Header", Body: []byte(endLine(is.Header))})
	}
	parts = append(parts, message.Part{
		ContentType: `text/plain; charset="utf-8"`,
		Description: fmt.Sprintf("Today's Topics (%d messages)", len(posts)),
		Body:        []byte(is.topics(posts)),
	})
	enclosed := make([]message.Part, len(posts))
	for i, p := range posts {
		// Message: N where a reader of the raw digest can find it, as
		// Mailman adds it; the post is otherwise as the members got it.
		p.Add("Message", strconv.Itoa(i+1))
		enclosed[i] = message.Part{ContentType: "message/rfc822", Body: p.Bytes()}
	}
	ct, body := message.Multipart("digest", enclosed)
	parts = append(parts, message.Part{ContentType: ct, Body: body})
	if is.Footer != "" {
		parts = append(parts, message.Part{ContentType: `text/plain; charset="utf-8"`, Description: footerSubject, Body: []byte(endLine(is.Footer))})
	}
	msg := message.NewMultipart(is.fields(), parts)
	// After the closing delimiter, where only a reader of the raw message
	// sees it, as Mailman's MIME digests end.
	return append(msg, []byte("End of "+is.Subject()+"\r\n")...), nil
}

// Plain is the issue as an RFC 1153 digest: one text, each post with a
// few of its header fields and its text, what is not text replaced by a
// note of what it was.
func (is Issue) Plain() ([]byte, error) {
	posts := is.parsed()
	var b strings.Builder
	b.WriteString(is.masthead() + "\n")
	if is.Header != "" {
		b.WriteString(endLine(is.Header) + "\n\n")
	}
	b.WriteString(is.topics(posts) + "\n\n" + separator70 + "\n\n")
	for i, p := range posts {
		if i > 0 {
			b.WriteString(separator30 + "\n\n")
		}
		fmt.Fprintf(&b, "Message: %d\n", i+1)
		for _, name := range plainKeptFields {
			if !p.Has(name) {
				continue
			}
			v := oneLine(p.Decoded(name))
			if name == "Content-Type" {
				v = oneLine(p.Get(name))
			}
			b.WriteString(strings.Join(wrap(name+": "+v, 70), "\n\t") + "\n")
		}
		text := plainText(p)
		b.WriteString("\n" + text + "\n")
		if !strings.HasSuffix(text, "\n") {
			b.WriteString("\n")
		}
	}
	if is.Footer != "" {
		b.WriteString(separator30 + "\n\nSubject: " + footerSubject + "\n\n" + endLine(is.Footer) + "\n\n" + separator30 + "\n\n")
	}
	end := "End of " + is.Subject()
	b.WriteString(end + "\n" + strings.Repeat("*", utf8.RuneCountInString(end)) + "\n")
	return message.NewText(is.fields(), b.String()), nil
}

// fields are the issue's header fields: from the list's request address,
// replies to the list.
func (is Issue) fields() []message.Field {
	return []message.Field{
		{Name: "From", Value: is.RequestAddress},
		{Name: "Subject", Value: is.Subject()},
		{Name: "To", Value: is.PostingAddress},
		{Name: "Reply-To", Value: is.PostingAddress},
		{Name: "Date", Value: message.Date(is.Date)},
		{Name: "Message-ID", Value: is.MessageID},
	}
}

// masthead tells a reader where posts, requests and the owners go.
func (is Issue) masthead() string {
	if is.Masthead != "" {
		return endLine(is.Masthead)
	}
	return "Posts to the " + is.DisplayName + " mailing list go to\n\t" + is.PostingAddress + "\n\n" +
		"To subscribe or unsubscribe by email, send a message with subject or\nbody 'help' to\n\t" + is.RequestAddress + "\n\n" +
		"The people who run the list are at\n\t" + is.OwnerAddress + "\n\n" +
		"When you reply, please change the Subject to say what you answer,\nnot \"Re: Contents of " + is.DisplayName + " digest...\"\n"
}

// topics lists each post's subject, without the list's prefix, and its
// author, wrapped at 70 columns.
func (is Issue) topics(posts []*message.Message) string {
	var b strings.Builder
	b.WriteString(topicsTitle + "\n\n")
	for i, p := range posts {
		subject := oneLine(p.Decoded("Subject"))
		if subject == "" {
			subject = "(no subject)"
		}
		subject = withoutPrefix(subject, is.SubjectPrefix)
		author := ""
		if addr, name, ok := p.Mailbox("From"); ok {
			author = name
			if author == "" {
				author = addr
			}
		}
		// "%2d. " numbers up to 99 in one column; wrap keeps no leading
		// space, so the column is put back below.
		number := fmt.Sprintf("%2d.", i+1)
		lines := wrap(number+" "+subject, 65)
		lines[0] = strings.Repeat(" ", len(number)-len(strings.TrimLeft(number, " "))) + lines[0]
		if author != "" {
			author = "(" + author + ")"
			if last := len(lines) - 1; utf8.RuneCountInString(lines[last])+1+utf8.RuneCountInString(author) > 70 {
				lines = append(lines, author)
			} else {
				lines[last] += " " + author
			}
		}
		b.WriteString("  " + lines[0] + "\n")
		for _, l := range lines[1:] {
			b.WriteString("      " + l + "\n")
		}
	}
	return b.String()
}

// withoutPrefix removes the list's subject prefix from a subject, after
// any Re:, as the topics do not repeat it.
func withoutPrefix(subject, prefix string) string {
	prefix = strings.TrimSpace(prefix)
	if prefix == "" {
		return subject
	}
	re := regexp.MustCompile(`(?i)^((?:re:? *)?)` + regexp.QuoteMeta(prefix) + ` *`)
	return re.ReplaceAllString(subject, "${1}")
}

// parsed are the issue's posts as messages. A post that cannot be read
// is shown as what it is rather than keeping the issue from going out.
func (is Issue) parsed() []*message.Message {
	posts := make([]*message.Message, 0, len(is.Posts))
	for _, raw := range is.Posts {
		p, err := message.Parse(raw)
		if err != nil {
			p, _ = message.Parse(message.NewText([]message.Field{{Name: "Subject", Value: "(a post that could not be read)"}},
				"This post could not be read as a message ("+err.Error()+").\n"))
		}
		posts = append(posts, p)
	}
	return posts
}

// plainText is a post's text for the plain digest: its text/plain parts,
// each other part replaced by a note of its name, type, size and
// description.
func plainText(p *message.Message) string {
	var texts []string
	for _, l := range p.Leaves() {
		if l.MediaType == "text/plain" {
			texts = append(texts, l.Text())
			continue
		}
		note := "A part that plain text digests cannot carry was removed.\n"
		if name := partName(l); name != "" {
			note += "Name: " + name + "\n"
		}
		note += "Type: " + l.MediaType + "\n" + fmt.Sprintf("Size: %d bytes\n", len(l.Content))
		if desc := oneLine(l.Header.Decoded("Content-Description")); desc != "" {
			note += "Desc: " + desc + "\n"
		}
		texts = append(texts, note)
	}
	if len(texts) < 2 {
		return strings.Join(texts, "")
	}
	for i := range texts[:len(texts)-1] {
		texts[i] = endLine(texts[i])
	}
	return strings.Join(texts, nextPart+"\n")
}

// partName is an attachment's file name, from its Content-Disposition or
// its Content-Type.
func partName(l message.Leaf) string {
	if _, params, err := mime.ParseMediaType(l.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		return params["filename"]
	}
	return l.Params["name"]
}

// oneLine unfolds a header field's value.
func oneLine(v string) string {
	return strings.Join(strings.Fields(v), " ")
}

// endLine ends s with one line break.
func endLine(s string) string {
	return strings.TrimRight(s, "\n") + "\n"
}

// wrap breaks s at spaces into lines of at most width characters; a word
// longer than width has a line of its own.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return append(lines, line)
}
