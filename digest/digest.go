// Package digest owns a list's digests as Mailman makes them: each post
// the members get is also added to the list's next issue (once, in the
// store, keyed by the queue entry that carried it); an issue is closed when
// its posts reach the list's digest_size_threshold, when the periodic run
// comes, or when someone asks; it is numbered by Mailman's rules (a new
// volume when a new period of digest_volume_frequency has begun) and sent,
// as a MIME digest and an RFC 1153 plain one (build.go), to the members
// who take digests, through the virgin queue and so the normal outgoing
// path. The pipeline runner, the scheduler, mailmanctl digests and the
// REST API all go through a Sender; none holds digest logic of its own.
// It does not know how the messages it queues are delivered.
package digest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
	"github.com/mailman-go/mailman/templates"
)

// Sender collects, closes and sends a site's digests.
type Sender struct {
	Store  *store.Store
	Virgin *switchboard.Switchboard
	// Templates has the lists' digest masthead, header and footer; nil
	// (or none registered) writes the defaults.
	Templates *templates.Loader
	Log       *slog.Logger
}

// NewSender is the Sender of a site whose store is st, queueing to
// virgin, with the templates the lists, their domains and the site
// register; siteEmail is the site owner's address ($site_email).
func NewSender(st *store.Store, virgin *switchboard.Switchboard, siteEmail string, log *slog.Logger) *Sender {
	return &Sender{Store: st, Virgin: virgin, Log: log, Templates: &templates.Loader{Store: st, SiteEmail: siteEmail, Log: log}}
}

// Collect adds a post to its list's next issue, once for key, when the
// list has digests, and sends the issue at once when the posts waiting
// reach the list's digest_size_threshold. A threshold of 0 means the
// periodic run or a person sends it (Mailman sends one digest a post).
func (s *Sender) Collect(ctx context.Context, list *store.List, key string, msg []byte, now time.Time) error {
	set, err := s.Store.DigestSettings(ctx, list.ListID)
	if err != nil || !set.Enabled {
		return err
	}
	waiting, err := s.Store.AddDigestPost(ctx, list.ListID, key, msg, now)
	if err != nil {
		return fmt.Errorf("add to the digest: %w", err)
	}
	if set.Threshold > 0 && float64(waiting)/1024 >= set.Threshold {
		_, err = s.sendIssues(ctx, list, set, now, "size", true)
	}
	return err
}

// sendLease is how long a sender holds an issue it closed or took up: a
// sender that crashed leaves it to the next run after that.
const sendLease = 10 * time.Minute

// Send sends the list's issues closed before and not sent (a crash came
// between) that no other sender holds, then makes the posts waiting an
// issue and sends it; why ("size", "periodic", "forced") goes to the log.
// It returns the issues sent.
func (s *Sender) Send(ctx context.Context, list *store.List, now time.Time, why string) ([]store.DigestIssue, error) {
	set, err := s.Store.DigestSettings(ctx, list.ListID)
	if err != nil {
		return nil, err
	}
	return s.sendIssues(ctx, list, set, now, why, true)
}

// SendPeriodic is the periodic run for one list: it sends what Send does
// when the list sends its digests periodically, and otherwise only the
// issues a crash left unsent.
func (s *Sender) SendPeriodic(ctx context.Context, list *store.List, now time.Time) ([]store.DigestIssue, error) {
	set, err := s.Store.DigestSettings(ctx, list.ListID)
	if err != nil {
		return nil, err
	}
	return s.sendIssues(ctx, list, set, now, "periodic", set.SentPeriodically())
}

// sendIssues sends the list's unsent issues no other sender holds and,
// with closeNew, an issue of the posts waiting.
func (s *Sender) sendIssues(ctx context.Context, list *store.List, set store.DigestSettings, now time.Time, why string, closeNew bool) ([]store.DigestIssue, error) {
	left, err := s.Store.UnsentDigestIssues(ctx, list.ListID)
	if err != nil {
		return nil, err
	}
	var unsent []store.DigestIssue
	for _, is := range left {
		mine, err := s.Store.ClaimDigestIssue(ctx, is.ID, now, now.Add(sendLease))
		if err != nil {
			return nil, err
		}
		if mine {
			unsent = append(unsent, is)
		}
	}
	if closeNew {
		is, err := s.Store.CloseDigestIssue(ctx, list.ListID, now, now.Add(sendLease), func(n store.DigestNumbers) (int, int) {
			return Numbers(set.Frequency, n, now)
		})
		switch {
		case errors.Is(err, store.ErrNoDigestPosts):
		case err != nil:
			return nil, fmt.Errorf("close the digest: %w", err)
		default:
			unsent = append(unsent, *is)
		}
	}
	for i, is := range unsent {
		if err := s.send(ctx, list, is, now, why); err != nil {
			return unsent[:i], err
		}
	}
	return unsent, nil
}

// Periodic is SendPeriodic for every list. It returns the issues sent.
func (s *Sender) Periodic(ctx context.Context, now time.Time) ([]store.DigestIssue, error) {
	lists, err := s.Store.Lists(ctx)
	if err != nil {
		return nil, err
	}
	var sent []store.DigestIssue
	var errs []error
	for _, l := range lists {
		is, err := s.SendPeriodic(ctx, l, now)
		sent = append(sent, is...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.ListID, err))
		}
	}
	return sent, errors.Join(errs...)
}

// Bump starts a new volume for the list's next issue, numbered 1, its
// period running from now (what Mailman's --bump says it does).
func (s *Sender) Bump(ctx context.Context, list *store.List, now time.Time) (store.DigestNumbers, error) {
	n, err := s.Store.DigestNumbers(ctx, list.ListID)
	if err != nil {
		return n, err
	}
	n = Bumped(n, now)
	return n, s.Store.SetDigestNumbers(ctx, list.ListID, n)
}

// Bumped are the numbers after a bump at now: the next volume, from 1.
func Bumped(n store.DigestNumbers, now time.Time) store.DigestNumbers {
	return store.DigestNumbers{Volume: n.Volume + 1, Number: 1, LastSentAt: now}
}

// Numbers are the volume and number of an issue closed at now, from the
// list's numbers: the next volume, from 1, when a new period of frequency
// has begun since the last issue was sent. Mailman numbers the first
// issue of a new period as the last of the old one and moves on after it;
// here the issue carries the period it is sent in.
func Numbers(frequency string, n store.DigestNumbers, now time.Time) (volume, number int) {
	if !n.LastSentAt.IsZero() && NewPeriod(frequency, n.LastSentAt, now) {
		return n.Volume + 1, 1
	}
	return n.Volume, n.Number
}

// NewPeriod reports whether now is in a later period of frequency than
// last, in UTC: a new year, month, quarter (three months: Mailman's are
// four), ISO week or day.
func NewPeriod(frequency string, last, now time.Time) bool {
	last, now = last.UTC(), now.UTC()
	switch frequency {
	case "yearly":
		return now.Year() != last.Year()
	case "quarterly":
		return now.Year() != last.Year() || (now.Month()-1)/3 != (last.Month()-1)/3
	case "weekly":
		ly, lw := last.ISOWeek()
		ny, nw := now.ISOWeek()
		return ny != ly || nw != lw
	case "daily":
		return now.YearDay() != last.YearDay() || now.Year() != last.Year()
	default: // monthly, Mailman's default
		return now.Year() != last.Year() || now.Month() != last.Month()
	}
}

// send builds an issue's two digests and queues each for its members;
// the issue is then recorded as sent and its posts dropped.
func (s *Sender) send(ctx context.Context, list *store.List, is store.DigestIssue, now time.Time, why string) error {
	mime, plain, err := s.recipients(ctx, list)
	if err != nil {
		return err
	}
	posts, err := s.Store.DigestIssuePosts(ctx, is.ID)
	if err != nil {
		return err
	}
	issue := Issue{
		DisplayName:    list.DisplayName,
		PostingAddress: list.PostingAddress,
		RequestAddress: mta.Sub(list.PostingAddress, mta.Request),
		OwnerAddress:   mta.Sub(list.PostingAddress, mta.Owner),
		SubjectPrefix:  list.SubjectPrefix,
		Volume:         is.Volume,
		Number:         is.Number,
		Date:           now,
		Footer:         strings.Join(notice.ListFooter(list), "\n"),
		Posts:          posts,
	}
	// The list's own texts where it has them; a template that cannot be
	// had leaves the default, for the digest must go.
	addresses := map[string]string{"got_list_email": issue.PostingAddress, "got_request_email": issue.RequestAddress, "got_owner_email": issue.OwnerAddress}
	for name, text := range map[string]*string{
		"list:member:digest:masthead": &issue.Masthead,
		"list:member:digest:header":   &issue.Header,
		"list:member:digest:footer":   &issue.Footer,
	} {
		t, ok, err := s.Templates.Text(ctx, list, name, addresses)
		if err != nil {
			s.Log.Warn("digest template not used", "list", list.ListID, "template", name, "error", err)
		}
		if ok {
			*text = t
		}
	}
	for _, d := range []struct {
		rcpts []string
		build func(Issue) ([]byte, error)
	}{{mime, Issue.MIME}, {plain, Issue.Plain}} {
		if len(d.rcpts) == 0 {
			continue
		}
		issue.MessageID = message.NewMessageID(list.Address.Domain)
		msg, err := d.build(issue)
		if err != nil {
			return fmt.Errorf("digest %d.%d: %w", is.Volume, is.Number, err)
		}
		md := switchboard.Msgdata{}
		md.Set(msgdata.ListID, list.ListID)
		md.Set(msgdata.Recipients, d.rcpts)
		md.Set(msgdata.NoDecorate, true)
		md.Set(msgdata.EnvSender, mta.Sub(list.PostingAddress, mta.Bounces))
		if _, err := s.Virgin.Enqueue(msg, md); err != nil {
			return err
		}
	}
	if err := s.Store.MarkDigestSent(ctx, is.ID, now); err != nil {
		return err
	}
	s.Log.Info("digest sent", "list", list.ListID, "volume", is.Volume, "number", is.Number, "posts", len(posts),
		"recipients", len(mime)+len(plain), "why", why)
	return nil
}

// recipients are the members with delivery enabled who take the MIME
// digest (mime_digests, and summary_digests as Mailman sends them) and
// the plain one.
func (s *Sender) recipients(ctx context.Context, list *store.List) (mime, plain []string, err error) {
	ms, err := s.Store.Members(ctx, list.Address, store.Regular)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range ms {
		if !m.DeliveryEnabled {
			continue
		}
		switch m.DeliveryMode {
		case store.MIMEDigests, store.SummaryDigests:
			mime = append(mime, strings.ToLower(m.Address))
		case store.PlainDigests:
			plain = append(plain, strings.ToLower(m.Address))
		}
	}
	return mime, plain, nil
}
