package pipeline

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/mailman-go/mailman/archive"
	"github.com/mailman-go/mailman/internal/version"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// sender is whom the post is from: From, else the envelope sender.
func (p *post) sender() string {
	if a := p.msg.Addresses("From"); len(a) > 0 {
		return a[0]
	}
	if a := p.msg.Addresses("X-MailFrom"); len(a) > 0 {
		return a[0]
	}
	return ""
}

// memberRecipients: the members with delivery enabled who take each post
// (not a digest), minus the sender when they do not want their own posts.
func memberRecipients(ctx context.Context, p *post) error {
	if _, ok := p.md[msgdata.Recipients]; ok {
		return nil
	}
	ms, err := p.store.Members(ctx, p.list.Address, store.Regular)
	if err != nil {
		return err
	}
	sender := p.sender()
	var rcpts []string
	p.noDigestReaders = true
	for _, m := range ms {
		a := strings.ToLower(m.Address)
		if m.DeliveryMode != store.RegularDelivery {
			p.noDigestReaders = false
		}
		if !m.DeliveryEnabled || m.DeliveryMode != store.RegularDelivery || (a == sender && !m.ReceiveOwnPostings) {
			continue
		}
		rcpts = append(rcpts, a)
	}
	slices.Sort(rcpts)
	p.md.Set(msgdata.Recipients, slices.Compact(rcpts))
	return nil
}

// ownerRecipients: the owners and moderators, for mail to LIST-owner.
func ownerRecipients(ctx context.Context, p *post) error {
	var rcpts []string
	for _, role := range []store.Role{store.Owner, store.Moderator} {
		ms, err := p.store.Members(ctx, p.list.Address, role)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.DeliveryEnabled {
				rcpts = append(rcpts, strings.ToLower(m.Address))
			}
		}
	}
	slices.Sort(rcpts)
	p.md.Set(msgdata.Recipients, slices.Compact(rcpts))
	p.md.Set(msgdata.NoDecorate, true)
	p.md.Set(msgdata.VERP, true)
	return nil
}

// avoidDuplicates drops from the recipients the members named in To, Cc,
// Resent-To or Resent-Cc who asked not to get the list's copy as well:
// they have the copy sent to them directly. Several Cc fields (Cc:, CC:,
// cc:) become one, as Mailman's avoid-duplicates makes them.
func avoidDuplicates(ctx context.Context, p *post) error {
	p.msg.Merge("Cc")
	var rcpts []string
	p.md.Get(msgdata.Recipients, &rcpts)
	explicit := map[string]bool{}
	for _, a := range p.msg.Addresses("To", "Cc", "Resent-To", "Resent-Cc") {
		explicit[a] = a != strings.ToLower(p.list.PostingAddress)
	}
	kept := rcpts[:0]
	for _, r := range rcpts {
		if explicit[r] {
			m, err := p.store.Member(ctx, p.list.ListID, r, store.Regular)
			if err != nil && !errors.Is(err, store.ErrNoSuchMember) {
				return err
			}
			if err == nil && !m.ReceiveListCopy {
				continue
			}
		}
		kept = append(kept, r)
	}
	p.md.Set(msgdata.Recipients, kept)
	return nil
}

// cleansed are headers that must not reach the members: passwords and
// requests for receipts.
var cleansed = []string{"Approved", "Approve", "X-Approved", "X-Approve", "Urgent", "Return-Receipt-To",
	"Disposition-Notification-To", "X-Confirm-Reading-To", "X-PMRQC", "Archived-At"}

func cleanse(_ context.Context, p *post) error {
	for _, h := range cleansed {
		p.msg.Del(h)
	}
	return nil
}

// cookHeaders adds the headers list mail carries; for a post, also
// Precedence: list, X-BeenThere and Reply-To munging. X-BeenThere is added
// beside those of the lists the post came through before, never in their
// place: the loop rule of each list looks for its own among them, and a
// post going round two lists subscribed to each other stops only if the
// first list still finds its mark when the post comes back. A message the
// system wrote keeps the Precedence it was written with, or none: a
// confirmation has none on purpose, so that filters do not file it as bulk
// and the person's reply is not taken for automatic mail (Mailman adds
// "list" to those too).
func cookHeaders(_ context.Context, p *post) error {
	if !p.msg.Has("X-Mailman-Version") {
		p.msg.Add("X-Mailman-Version", version.Header())
	}
	if p.virgin || p.list == nil {
		return nil
	}
	if !p.msg.Has("Precedence") {
		p.msg.Add("Precedence", "list")
	}
	p.md.Set(msgdata.OriginalSender, p.sender())
	p.msg.Add("X-BeenThere", p.list.PostingAddress)
	if p.list.ReplyGoesToList == "point_to_list" {
		reply := []string{p.list.PostingAddress}
		for _, a := range p.msg.Addresses("Reply-To") {
			if a != strings.ToLower(p.list.PostingAddress) {
				reply = append(reply, a)
			}
		}
		p.msg.Set("Reply-To", strings.Join(reply, ", "))
	}
	return nil
}

// replyPrefix matches the "Re:"-like words that start a reply's subject,
// in the languages Mailman knows, with counters such as "Re[2]:".
var replyPrefix = regexp.MustCompile(`(?i)^\s*(re|aw|sv|vs)(\[\d+\])?:\s*`)

// subjectPrefix puts the list's prefix at the start of the Subject, once,
// with the reply words folded into one "Re: " after it.
func subjectPrefix(_ context.Context, p *post) error {
	prefix := p.list.SubjectPrefix
	if prefix == "" {
		return nil
	}
	original := p.msg.Decoded("Subject")
	p.md.Set(msgdata.OriginalSubject, original)
	// The prefix as it may already stand in the subject, with any number
	// in place of %d.
	old := regexp.MustCompile(`(?i)^\s*` + strings.ReplaceAll(regexp.QuoteMeta(strings.TrimSpace(prefix)), "%d", `\d+`) + `\s*`)
	subject, reply := original, false
	for {
		if loc := replyPrefix.FindStringIndex(subject); loc != nil {
			subject, reply = subject[loc[1]:], true
			continue
		}
		if loc := old.FindStringIndex(subject); loc != nil {
			subject = subject[loc[1]:]
			continue
		}
		break
	}
	subject = strings.TrimSpace(subject)
	p.md.Set(msgdata.StrippedSubject, subject)
	if subject == "" {
		subject = "(no subject)"
	}
	if reply {
		subject = "Re: " + subject
	}
	p.msg.SetPrefixed("Subject", strings.ReplaceAll(prefix, "%d", fmt.Sprint(p.list.PostID)), subject)
	return nil
}

// rfc2369 adds List-Id (RFC 2919) and the RFC 2369 headers.
func rfc2369(ctx context.Context, p *post) error {
	if p.list == nil || !p.list.IncludeRFC2369Headers {
		return nil
	}
	for _, h := range []string{"List-Id", "List-Help", "List-Owner", "List-Subscribe", "List-Unsubscribe", "List-Post"} {
		p.msg.Del(h)
	}
	id := "<" + p.list.ListID + ">"
	if p.list.DisplayName != "" {
		id = p.list.DisplayName + " " + id
	}
	p.msg.Add("List-Id", id)
	p.msg.Add("List-Help", "<mailto:"+mta.Sub(p.list.PostingAddress, mta.Request)+"?subject=help>")
	p.msg.Add("List-Owner", "<mailto:"+mta.Sub(p.list.PostingAddress, mta.Owner)+">")
	p.msg.Add("List-Subscribe", "<mailto:"+mta.Sub(p.list.PostingAddress, mta.Join)+">")
	p.msg.Add("List-Unsubscribe", "<mailto:"+mta.Sub(p.list.PostingAddress, mta.Leave)+">")
	if p.md.Bool(msgdata.ReducedListHeaders) {
		return nil
	}
	p.msg.Add("List-Post", "<mailto:"+p.list.PostingAddress+">")
	// Each archiver's links, as Mailman writes them; made here, not asked
	// of the archiver for each post.
	as, err := p.listArchivers(ctx)
	if err != nil {
		return err
	}
	p.msg.Del("List-Archive")
	p.msg.Del("Archived-At")
	hash := p.msg.Get("Message-ID-Hash")
	if !archive.Wanted(p.msg) {
		// Not archived: a link to it would lead nowhere.
		hash = ""
	}
	links := map[string]string{}
	for _, a := range as {
		if u := a.ListURL(p.list); u != "" {
			p.msg.Add("List-Archive", "<"+u+">")
		}
		if u := a.Permalink(p.list, hash); u != "" {
			p.msg.Add("Archived-At", "<"+u+">")
			// For the footer's $hyperkitty_url and the like, as Mailman
			// names them.
			links[a.Name()+"_url"] = u
		}
	}
	if len(links) > 0 {
		p.md.Set(msgdata.DecorationData, links)
	}
	return nil
}

// listArchivers are the archivers of the post's list, read once: none on
// a site that has none.
func (p *post) listArchivers(ctx context.Context) ([]archive.Archiver, error) {
	if p.archiversRead || p.site == nil || len(p.site.Enabled()) == 0 {
		return p.archivers, nil
	}
	as, err := p.site.ForList(ctx, p.store, p.list)
	if err != nil {
		return nil, err
	}
	p.archivers, p.archiversRead = as, true
	return as, nil
}

// toArchive queues a copy of the post, as its members will have it, for
// the list's archivers, unless it asks not to be archived (X-No-Archive,
// X-Archive: no) or the list has none.
func toArchive(ctx context.Context, p *post) error {
	as, err := p.listArchivers(ctx)
	if err != nil || len(as) == 0 || !archive.Wanted(p.msg) {
		return err
	}
	md := switchboard.Msgdata{}
	md.Set(msgdata.ListID, p.list.ListID)
	if t := p.md.String(msgdata.ReceivedTime); t != "" {
		md.Set(msgdata.ReceivedTime, t)
	}
	_, err = p.archive.Enqueue(p.msg.Bytes(), md)
	return err
}

// toDigest adds the post, as the members get it, to the list's digest,
// which sends it when it is big enough.
func toDigest(ctx context.Context, p *post) error {
	// Mailman keeps every post for the digest: a list whose members all
	// take each post pays a write for nothing, and a member who switches
	// to the digest gets posts they already had.
	if p.digests == nil || p.noDigestReaders {
		return nil
	}
	return p.digests.Collect(ctx, p.list, p.source, p.msg.Bytes(), p.now)
}

// afterDelivery numbers the post and records it as the list's last; the
// number is the one subjectPrefix shows.
func afterDelivery(ctx context.Context, p *post) error {
	id, err := p.store.NextPostID(ctx, p.list.ListID, p.now)
	if err != nil {
		return err
	}
	p.md.Set(msgdata.PostID, id)
	p.list.PostID = id
	return nil
}

// toOutgoing queues the message for delivery, from the list's bounces
// address unless the message already names its envelope sender.
func toOutgoing(_ context.Context, p *post) error {
	if p.list != nil {
		env := p.md.String(msgdata.EnvSender)
		if env == "" || env == "noreply@"+p.list.Address.Domain {
			p.md.Set(msgdata.EnvSender, mta.Sub(p.list.PostingAddress, mta.Bounces))
		}
	}
	name, err := p.outgoing.Enqueue(p.msg.Bytes(), p.md)
	if err != nil {
		return err
	}
	p.entry = name
	return nil
}
