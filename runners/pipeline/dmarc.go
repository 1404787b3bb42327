package pipeline

import (
	"context"
	"net/mail"
	"regexp"
	"strings"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/store"
)

// dmarcStep mitigates a post the incoming runner found from a domain
// with a strict DMARC policy (or every post, with
// dmarc_mitigate_unconditionally): munge_from makes the list its From,
// wrap_message encloses it whole in a message from the list. It runs
// after to-archive and to-digest, which keep the poster's From. An
// anonymous list needs none: it hides the From already.
func dmarcStep(ctx context.Context, p *post) error {
	set, err := p.store.DMARCSettings(ctx, p.list.ListID)
	if err != nil {
		return err
	}
	if !p.md.Bool(msgdata.DMARC) && !set.Always || set.AnonymousList {
		return nil
	}
	switch set.Action {
	case "munge_from":
		for _, f := range mungedFields(ctx, p) {
			p.msg.Set(f.Name, f.Value)
		}
	case "wrap_message":
		wrapMessage(ctx, p, set.WrappedText)
	}
	// reject and discard were the incoming runner's; with
	// dmarc_mitigate_unconditionally they add nothing here.
	return nil
}

// emailLike is a display name that is an address: it loses its domain,
// so that the new From names no other domain than the list's.
var emailLike = regexp.MustCompile(`@([^ .]+\.)+[^ .]+$`)

// mungedFields are the From that names the poster "via" the list, at the
// list's posting address, and the Reply-To (when the list leaves Reply-To
// alone) or Cc that keeps the poster's address where replies find it.
func mungedFields(ctx context.Context, p *post) []message.Field {
	var original mail.Address
	froms, err := mail.ParseAddressList(p.msg.Decoded("From"))
	if err == nil && len(froms) == 1 {
		original = *froms[0]
	} else {
		original.Address = p.md.String(msgdata.OriginalSender)
		if original.Address == "" {
			original.Address = p.sender()
		}
	}
	name := original.Name
	if name == "" {
		name = original.Address
		if m, err := p.store.Member(ctx, p.list.ListID, original.Address, store.Regular); err == nil && m.DisplayName != "" {
			name = m.DisplayName
		}
	}
	name = emailLike.ReplaceAllString(name, "---")
	from := mail.Address{Name: name + " via " + p.list.DisplayName, Address: p.list.PostingAddress}
	addTo := "Cc"
	if p.list.ReplyGoesToList == "no_munging" {
		addTo = "Reply-To"
	}
	var kept []string
	present := false
	raw := p.msg.Values(addTo)
	for i, v := range p.msg.DecodedValues(addTo) {
		as, err := mail.ParseAddressList(strings.TrimSpace(v))
		if err != nil {
			kept = append(kept, strings.TrimSpace(raw[i]))
			continue
		}
		for _, a := range as {
			present = present || strings.EqualFold(a.Address, original.Address)
			kept = append(kept, a.String())
		}
	}
	if !present && original.Address != "" {
		kept = append(kept, original.String())
	}
	return []message.Field{{Name: "From", Value: from.String()}, {Name: addTo, Value: strings.Join(kept, ", ")}}
}

// wrapKeeps are the fields of the post the wrapper keeps, by the start
// of their names.
var wrapKeeps = []string{"archived-at", "date", "in-reply-to", "list-", "precedence", "references", "subject", "to", "x-mailman-"}

// wrapMessage makes the post the message/rfc822 body of a message from
// the list, with the wrapped text first when the list has one.
func wrapMessage(ctx context.Context, p *post, text string) {
	original := p.msg.Bytes()
	fields := mungedFields(ctx, p)
	p.msg.Keep(func(name string) bool {
		for _, k := range wrapKeeps {
			if strings.HasPrefix(strings.ToLower(name), k) {
				return true
			}
		}
		return false
	})
	p.msg.Add("MIME-Version", "1.0")
	p.msg.Add("Message-ID", message.NewMessageID(p.list.Address.Domain))
	for _, f := range fields {
		p.msg.Add(f.Name, f.Value)
	}
	if text == "" {
		p.msg.Add("Content-Type", "message/rfc822")
		p.msg.Add("Content-Disposition", "inline")
		p.msg.SetBody(original)
		return
	}
	ct, body := message.Multipart("mixed", []message.Part{
		{ContentType: `text/plain; charset="utf-8"`, Body: []byte(strings.TrimRight(text, "\n") + "\n")},
		{ContentType: "message/rfc822", Body: original},
	})
	p.msg.Add("Content-Type", ct)
	p.msg.SetBody(body)
}
