package outgoing

import (
	"context"
	"log/slog"
	"regexp"
	"strings"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
	"github.com/mailman-go/mailman/templates"
)

// The templates of a post's decoration, as Mailman names them.
const (
	headerTemplate = "list:member:regular:header"
	footerTemplate = "list:member:regular:footer"
)

// memberPlaceholders are the placeholders a header or a footer fills in
// from the member a copy goes to, Mailman's names and user_unsubscribe_url
// (the member's one-click link, when the site has them).
var memberPlaceholders = []string{"member", "user_email", "user_address", "user_delivered_to", "user_name",
	"user_name_or_address", "user_unsubscribe_url"}

// decoration is the header and the footer of a list's post: the
// templates' texts and the values that fill them but for the member's.
type decoration struct {
	header, footer string
	// defaultFooter is Mailman's default footer, for a list with no
	// footer template; nil when it has one.
	defaultFooter []string
	values        map[string]string
	// names holds each member's address (as written) and display name,
	// read when the texts name the member.
	names map[string]store.Member
}

// decorationFor reads list's header and footer templates for a post with
// metadata md. A template that cannot be read, and was never read before,
// is logged and left out (the footer is then Mailman's default): no post
// waits for a web server's templates.
func (h *Handler) decorationFor(ctx context.Context, log *slog.Logger, list *store.List, info string, md switchboard.Msgdata) *decoration {
	header, _, err := h.Templates.Raw(ctx, list, headerTemplate)
	if err != nil {
		log.Warn("template unreadable; the post goes without it", "template", headerTemplate, "error", err)
		header = ""
	}
	footer, ok, err := h.Templates.Raw(ctx, list, footerTemplate)
	if err != nil {
		log.Warn("template unreadable; the post gets the default footer", "template", footerTemplate, "error", err)
		ok = false
	}
	d := &decoration{header: header, footer: footer}
	if !ok {
		d.defaultFooter = notice.ListFooter(list)
	}
	extra := map[string]string{"info": info}
	var archived map[string]string
	if _, err := md.Get(msgdata.DecorationData, &archived); err == nil {
		for k, v := range archived {
			extra[k] = v
		}
	}
	siteEmail := ""
	if h.Templates != nil {
		siteEmail = h.Templates.SiteEmail
	}
	d.values = templates.Values(list, siteEmail, extra)
	return d
}

// personal reports whether the texts name the member a copy goes to.
func (d *decoration) personal() bool {
	return templates.Uses(d.header, memberPlaceholders...) || templates.Uses(d.footer, memberPlaceholders...)
}

// lines returns the header's and the footer's lines with the values
// filled in; member, when not nil, fills the member's too.
func (d *decoration) lines(member map[string]string) (header, footer []string) {
	values := d.values
	if member != nil {
		values = make(map[string]string, len(d.values)+len(member))
		for k, v := range d.values {
			values[k] = v
		}
		for k, v := range member {
			values[k] = v
		}
	}
	footer = d.defaultFooter
	if footer == nil {
		footer = textLines(templates.Expand(d.footer, values))
	}
	return textLines(templates.Expand(d.header, values)), footer
}

// memberValues are the member placeholders' values for a copy to rcpt;
// unsubscribe is its one-click link, "" when the site has none.
func (d *decoration) memberValues(rcpt, unsubscribe string) map[string]string {
	m, ok := d.names[strings.ToLower(rcpt)]
	if !ok {
		m = store.Member{Address: rcpt}
	}
	v := map[string]string{
		"member":            m.String(),
		"user_email":        rcpt,
		"user_address":      rcpt,
		"user_delivered_to": m.Address,
		"user_name":         m.DisplayName,
		// Mailman's user_name_or_address.
		"user_name_or_address": m.DisplayName,
		"user_unsubscribe_url": unsubscribe,
	}
	if m.DisplayName == "" {
		v["user_name_or_address"] = rcpt
	}
	return v
}

// lineEnd is a line's end in a template, with the spaces before it,
// which Mailman's decorate drops.
var lineEnd = regexp.MustCompile(` *\r?\n`)

// textLines are a template's text as lines, as Mailman's decorate reads
// it; an empty text is no lines.
func textLines(text string) []string {
	if text == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(lineEnd.ReplaceAllString(text, "\n"), "\n"), "\n")
}

// decorate returns raw with header and footer added, or an error when raw
// is no message package message can read; it is then sent as it is.
func decorate(raw []byte, header, footer []string) ([]byte, error) {
	msg, err := message.Parse(raw)
	if err != nil {
		return nil, err
	}
	msg.Decorate(header, footer)
	return msg.Bytes(), nil
}
