// Package incoming is the runner of the incoming queue: it judges each post
// the LMTP runner queued for a list with the list's chain of rules, and
// accepts it (on to the pipeline queue), holds it for a moderator, rejects
// it with a bounce to its sender, or discards it, telling the people
// involved through the virgin queue. Mail to a list's -owner address takes
// the owner chain, straight to the pipeline.
//
// Chains are data (chains.go): ordered links of a rule, an action and a
// target chain, run by a small engine as Mailman's are. A rule is a small
// named unit in a file of its own, listed once in the rules table
// (rules.go). The package knows the store and the switchboard; it does not
// deliver anything itself.
//
// Metadata of the entries it writes (package msgdata): to pipeline, the
// entry's own plus EnvSender and, once a moderator approved it,
// ModeratorApproved; to virgin, a notice's (notice.Msgdata).
package incoming

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/dmarc"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// Settings are the site settings the runner applies.
type Settings struct {
	ModeratorRequestLife   time.Duration // how long a held post's token stays valid
	MaxAutoresponsesPerDay int           // mail to one address per list and day, shared with the command runner; 0 means no limit
	// HeaderChecks and JumpChain are [antispam]'s: see headerMatchLinks.
	HeaderChecks []config.HeaderCheck
	JumpChain    string
}

// Handler judges the entries of the incoming queue.
type Handler struct {
	Store    *store.Store
	Pipeline *switchboard.Switchboard
	Virgin   *switchboard.Switchboard
	Settings Settings
	// DMARC looks up the policies of posters' domains; nil mitigates
	// nothing.
	DMARC *dmarc.Resolver
	// Now is the clock; tests set it.
	Now func() time.Time
}

// New is the runner's handler for a site.
func New(s *runners.Site) (runners.Handler, error) {
	st, err := s.Store()
	if err != nil {
		return nil, err
	}
	pipeline, err := s.Queue("pipeline")
	if err != nil {
		return nil, err
	}
	virgin, err := s.Queue("virgin")
	if err != nil {
		return nil, err
	}
	checks, err := s.Config.Antispam.Checks()
	if err != nil {
		return nil, fmt.Errorf("[antispam] header_checks: %w", err)
	}
	resolver := &dmarc.Resolver{Server: s.Config.DMARC.Resolver, Timeout: s.Config.DMARC.ResolverTimeout.D(), Lifetime: s.Config.DMARC.ResolverLifetime.D()}
	if f := s.Config.DMARC.OrgDomainDataFile; f != "" {
		if resolver.Suffixes, err = dmarc.LoadSuffixes(f); err != nil {
			return nil, fmt.Errorf("[dmarc] org_domain_data_file: %w", err)
		}
	}
	return &Handler{Store: st, Pipeline: pipeline, Virgin: virgin, DMARC: resolver, Settings: Settings{
		ModeratorRequestLife:   s.Config.Mailman.ModeratorRequestLife.D(),
		MaxAutoresponsesPerDay: s.Config.MTA.MaxAutoresponsesPerDay,
		HeaderChecks:           checks,
		JumpChain:              s.Config.Antispam.JumpChain,
	}}, nil
}

// Dispose runs the entry through its list's chain. A store that cannot be
// reached is a temporary failure (the loop decides): the message is not
// at fault, so it stays queued.
func (h *Handler) Dispose(ctx context.Context, e *switchboard.Entry, log *slog.Logger) (runners.Outcome, error) {
	list, err := runners.EntryList(ctx, h.Store, e)
	if err != nil {
		return runners.Done, err
	}
	msg, err := message.Parse(e.Message)
	if err != nil {
		return runners.Done, fmt.Errorf("entry %s: %w", e.Name, err)
	}
	p := &Post{
		List:    list,
		Msg:     msg,
		Msgdata: e.Msgdata.Clone(),
		Senders: senders(msg),
		store:   h.Store,
		dmarc:   h.DMARC,
		now:     h.now(),
		log:     log.With("list", list.ListID),
	}
	if _, ok := p.Msgdata[msgdata.EnvSender]; !ok {
		p.Msgdata.Set(msgdata.EnvSender, "noreply@"+list.Address.Domain)
	}
	start := "default-posting-chain"
	if p.Msgdata.Bool(msgdata.ToOwner) {
		start = "default-owner-chain"
	}
	return runners.Done, h.process(ctx, p, start)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Post is one message being judged, with what the rules found so far.
type Post struct {
	List    *store.List
	Msg     *message.Message
	Msgdata switchboard.Msgdata
	// Senders are the message's sender addresses, lower-cased, in
	// Mailman's order: From, the envelope sender, Reply-To, Sender.
	Senders []string

	Hits, Misses []string
	// Reasons say, for people, why the post is held or rejected.
	Reasons []string
	// ModerationSender is the sender a moderation rule judged.
	ModerationSender string
	// ModerationAction is what a moderation rule decided: accept, hold,
	// reject or discard.
	ModerationAction string

	store *store.Store
	dmarc *dmarc.Resolver
	now   time.Time
	log   *slog.Logger // names the entry, its message and its list
}

// Sender is whom the post is from for the people told about it.
func (p *Post) Sender() string {
	if p.ModerationSender != "" {
		return p.ModerationSender
	}
	if len(p.Senders) > 0 {
		return p.Senders[0]
	}
	return ""
}

// reason records why the post is held or rejected.
func (p *Post) reason(format string, args ...any) {
	p.Reasons = append(p.Reasons, fmt.Sprintf(format, args...))
}

// senders returns the valid sender addresses of msg, as Mailman's
// sender_headers = from from_ reply-to sender; from_ is the envelope sender,
// which the LMTP runner wrote as X-MailFrom.
func senders(msg *message.Message) []string {
	var out []string
	for _, name := range []string{"From", "X-MailFrom", "Reply-To", "Sender"} {
		for _, a := range msg.Addresses(name) {
			if !strings.Contains(a, "@") {
				continue
			}
			dup := false
			for _, o := range out {
				dup = dup || o == a
			}
			if !dup {
				out = append(out, a)
			}
		}
	}
	return out
}
