// Package outgoing is the runner of the outgoing queue: it hands each
// message to the site's mail server over SMTP, for the recipients the
// pipeline chose. It owns the SMTP conversation (one connection kept open
// across messages), which footer a list's posts get, VERP envelope senders,
// and what becomes of the recipients the server refuses: a bounce event in
// the store for a permanent refusal, a deferred entry in the retry queue for
// a temporary one, and the message dropped once it has made no progress for
// the retry period.
//
// It must not know how recipients are chosen (the pipeline did that), how
// a footer goes into a MIME body (package message does that), how bounce
// events are scored later, or how the retry queue moves messages back (the
// retry runner does that when an entry is due).
//
// Metadata it reads (package msgdata): ListID (empty for a site notice),
// Recipients, EnvSender, NoDecorate, VERP, PostID; and the retry state it
// writes on the entries it parks in retry: Recipients (those still owed),
// VERP, Attempts, LastRecipCount and DeliverUntil.
package outgoing

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/bounce"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/oneclick"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
	"github.com/mailman-go/mailman/templates"
)

// Settings are the [mta] settings the runner applies.
type Settings struct {
	Host          string        // [mta] smtp_host
	Port          int           // [mta] smtp_port; 0 means 25, as Mailman's 'smtp'
	User, Pass    string        // [mta] smtp_user, smtp_pass: AUTH PLAIN when both are set
	SecureMode    string        // "smtp", "starttls" or "smtps"
	Timeout       time.Duration // [mta] smtp_timeout: to connect, for each command and each write (twice that for the end of DATA); 0 means 5 minutes
	MaxRecipients int           // [mta] max_recipients (500): RCPTs per transaction; 0 means no limit
	Connections   int           // [mta] smtp_connections: at most this many at once for copies sent one member at a time
	// MaxSessions is [mta] max_sessions_per_connection: transactions on a
	// connection before it is quit and another opened; 0 means no limit.
	MaxSessions  int
	VERPInterval int           // [mta] verp_delivery_interval: 0 never, 1 always, N when post_id % N == 0
	RetryPeriod  time.Duration // [mta] delivery_retry_period (5 days); 0 means 5 days
	Hostname     string        // for EHLO; "" means os.Hostname()
	// RetryDelay is [mta] delivery_retry_delay: the wait before the first
	// retry, doubled at each further attempt up to an hour; 0 means a minute.
	RetryDelay time.Duration
}

// Handler delivers the entries of the outgoing queue.
type Handler struct {
	Store    *store.Store
	Retry    *switchboard.Switchboard
	Settings Settings
	Now      func() time.Time // nil means time.Now
	// Templates has the lists' headers and footers.
	Templates *templates.Loader
	// OneClick, when set, gives each copy of a post its member's
	// one-click unsubscribe link, each copy sent alone.
	OneClick *OneClick

	// rootCAs, when set, replaces the system's trusted roots for the
	// server's certificate: tests sign their own.
	rootCAs *x509.CertPool

	mu     sync.Mutex   // the kept connection serves one delivery at a time
	client *smtp.Client // the kept connection; nil when there is none
	used   int          // transactions on the kept connection
	down   bool         // the last connection attempt failed: the next success is logged
}

// New is the runner's handler for a site; it keeps a connection to the
// mail server open across messages, closed with the site.
func New(s *runners.Site) (runners.Handler, error) {
	st, err := s.Store()
	if err != nil {
		return nil, err
	}
	retry, err := s.Queue("retry")
	if err != nil {
		return nil, err
	}
	m := s.Config.MTA
	// A footer edited in Postorius shows within a minute, without a
	// fetch of it for each post.
	loader := &templates.Loader{Store: st, SiteEmail: s.Config.Mailman.SiteOwner, Log: s.Log, Fresh: time.Minute}
	h := &Handler{Store: st, Retry: retry, Templates: loader, Settings: Settings{
		Host: m.SMTPHost, Port: m.SMTPPort, User: m.SMTPUser, Pass: m.SMTPPass, SecureMode: m.SMTPSecureMode, Timeout: m.SMTPTimeout.D(),
		MaxRecipients: m.MaxRecipients, VERPInterval: m.VERPDeliveryInterval, Connections: m.SMTPConnections, MaxSessions: m.MaxSessionsPerConn,
		RetryPeriod: m.DeliveryRetryPeriod.D(), RetryDelay: m.DeliveryRetryDelay.D(),
	}}
	if u := s.Config.Unsubscribe.BaseURL; u != "" {
		keys, err := oneclick.LoadKeys(oneclick.KeysFile(s.Config.VarDir()))
		if err != nil {
			return nil, err
		}
		h.OneClick = &OneClick{Keys: keys, BaseURL: u}
	}
	s.OnClose(h.Close)
	return h, nil
}

const (
	defaultRetryDelay  = time.Minute
	maxRetryDelay      = time.Hour
	defaultRetryPeriod = 5 * 24 * time.Hour
)

// Dispose delivers e to its recipients. A store or a retry queue that
// fails is a temporary failure (the loop decides): the message is not at
// fault, so it stays where it is.
func (h *Handler) Dispose(ctx context.Context, e *switchboard.Entry, log *slog.Logger) (runners.Outcome, error) {
	start := time.Now()
	md := e.Msgdata
	msgID := e.MessageID()
	listID := md.String(msgdata.ListID)
	log = log.With("list", listID)

	var rcpts []string
	if _, err := md.Get(msgdata.Recipients, &rcpts); err != nil {
		return runners.Done, fmt.Errorf("entry %s: %w", e.Name, err)
	}
	// Sorted, as Mailman sends its RCPTs, and each once: a duplicate would
	// be a second copy.
	slices.Sort(rcpts)
	rcpts = slices.Compact(rcpts)
	if len(rcpts) == 0 {
		log.Info("no recipients; nothing to deliver")
		return runners.Done, nil
	}

	var list *store.List
	if listID != "" {
		l, err := h.Store.ListByID(ctx, listID)
		switch {
		case errors.Is(err, store.ErrNoSuchList):
			return runners.Done, fmt.Errorf("list %s: %w", listID, runners.ErrListGone)
		case err != nil:
			return runners.Done, fmt.Errorf("look up list %s: %w", listID, err)
		}
		list = l
	}
	from := md.String(msgdata.EnvSender)
	if from == "" {
		if list == nil {
			return runners.Done, fmt.Errorf("entry %s: a message for no list needs an envsender", e.Name)
		}
		from = mta.Sub(list.PostingAddress, mta.Bounces)
	}

	data := e.Message
	verp := useVERP(md, h.Settings.VERPInterval)
	// A post whose copies differ by member (its one-click link, its To,
	// a footer naming the member) goes to each alone; notices and
	// digests, which name no member, go in bulk.
	var each func(string) []byte
	personalize := "none"
	if list != nil && !md.Bool(msgdata.NoDecorate) {
		ds, err := h.Store.DeliverySettings(ctx, list.ListID)
		if err != nil {
			return runners.Done, fmt.Errorf("list %s: %w", listID, err)
		}
		personalize = ds.Personalize
		deco := h.decorationFor(ctx, log, list, ds.Info, md)
		alone := personalize != "none" || h.OneClick != nil
		if alone && deco.personal() {
			if deco.names, err = h.memberNames(ctx, list); err != nil {
				return runners.Done, fmt.Errorf("list %s: %w", listID, err)
			}
		} else {
			// Decorated once for every recipient, VERP or not: the
			// header and the footer name no member.
			header, footer := deco.lines(nil)
			if decorated, err := decorate(e.Message, header, footer); err != nil {
				log.Info("message sent without a footer", "reason", err)
			} else {
				data = decorated
			}
			deco = nil
		}
		if alone {
			each = perMember(h.OneClick, data, list, personalize == "full", deco)
		}
	}

	delivered, refused := h.deliver(log, from, rcpts, verp, data, each)
	var temporary []refusal
	permanent := 0
	for _, r := range refused {
		if r.permanent() {
			permanent++
		} else {
			temporary = append(temporary, r)
		}
	}

	// Retry first: if it cannot be parked, the whole message stays in
	// outgoing and is delivered again, and bounces recorded now would then
	// be recorded twice.
	deferred := 0
	if len(temporary) > 0 {
		ok, err := h.retry(log, e, temporary, verp)
		if err != nil {
			// Nothing is lost: the entry stays in outgoing and is tried again
			// in full, a duplicate copy for those already served at worst.
			return runners.Done, fmt.Errorf("park %s in %s: %w", e.Name, h.Retry.Name(), err)
		}
		if ok {
			deferred = len(temporary)
		}
	}
	for _, r := range refused {
		if !r.permanent() {
			continue
		}
		log.Warn("recipient refused for good", "rcpt", r.rcpt, "reply", r.reason())
		if list == nil {
			continue
		}
		// A lost bounce event only delays a member's removal, while giving
		// up here would deliver the message again: log and go on.
		// A refusal for policy or content (DMARC, a spam block) is the
		// list's problem more than the member's: recorded, never scored.
		e := store.BounceEvent{ListID: list.ListID, Address: r.rcpt, MessageID: msgID, Reason: r.reason(), Status: r.status(), Kind: store.BounceNormal}
		if (bounce.Failure{Status: e.Status}).Policy() {
			e.Kind = store.BouncePolicy
		}
		if _, err := h.Store.RecordBounce(ctx, e); err != nil {
			log.Error("cannot record bounce", "rcpt", r.rcpt, "error", err)
		}
	}
	log.Info("delivery done", "delivered", delivered, "refused", permanent, "deferred", deferred,
		"verp", verp, "personalize", personalize, "duration", time.Since(start))
	return runners.Done, nil
}

// retry parks the message in the retry queue for the recipients refused
// for now, unless it made no progress for the whole retry period; it
// reports whether it parked it.
func (h *Handler) retry(log *slog.Logger, e *switchboard.Entry, temporary []refusal, verp bool) (bool, error) {
	owed := make([]string, len(temporary))
	for i, r := range temporary {
		owed[i] = r.rcpt
	}
	first := temporary[0] // the log shows one reply: usually they are all the same
	now := h.now()
	md := e.Msgdata.Clone()
	var last int
	hasLast, lastErr := md.Get(msgdata.LastRecipCount, &last)
	until, untilErr := time.Parse(time.RFC3339, md.String(msgdata.DeliverUntil))
	switch {
	case untilErr != nil || !hasLast || lastErr != nil || len(owed) < last:
		// First failure, or some recipients were served since the last
		// attempt: the server is working, so the rest get a new period.
		until = now.Add(orDefault(h.Settings.RetryPeriod, defaultRetryPeriod))
	case now.After(until):
		log.Warn("discarding message with persistent temporary failures",
			"recipients", owed, "deliver_until", until.Format(time.RFC3339), "reply", first.reason())
		return false, nil
	}
	attempts := md.Int(msgdata.Attempts) + 1
	due := now.Add(backoff(orDefault(h.Settings.RetryDelay, defaultRetryDelay), attempts))
	md.Set(msgdata.Recipients, owed)
	md.Set(msgdata.VERP, verp)
	md.Set(msgdata.Attempts, attempts)
	md.Set(msgdata.LastRecipCount, len(owed))
	md.Set(msgdata.DeliverUntil, until.Format(time.RFC3339))
	// The message as it came, not as decorated: the next attempt decorates
	// it again, and a footer must not be added twice.
	name, err := h.Retry.EnqueueAt(due, e.Message, md)
	if err != nil {
		return false, err
	}
	log.Info("delivery deferred", "recipients", len(owed), "reply", first.reason(), "attempts", attempts,
		"due", due.Format(time.RFC3339), "deliver_until", until.Format(time.RFC3339), "retry_entry", name)
	return true, nil
}

// orDefault is d, or def when d is not set.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// backoff is the wait before the given attempt's retry: first, doubled at
// each further attempt, at most maxRetryDelay.
func backoff(first time.Duration, attempts int) time.Duration {
	d := first
	for i := 1; i < attempts && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

// memberNames are list's members by address, for the footers that name
// them.
func (h *Handler) memberNames(ctx context.Context, list *store.List) (map[string]store.Member, error) {
	ms, err := h.Store.Members(ctx, list.Address, store.Regular)
	if err != nil {
		return nil, err
	}
	names := make(map[string]store.Member, len(ms))
	for _, m := range ms {
		names[strings.ToLower(m.Address)] = m
	}
	return names, nil
}

// useVERP decides, as Mailman, whether each recipient gets a copy with an
// envelope sender of its own: a decision already in the metadata stands,
// else every VERPInterval-th post is VERPed.
func useVERP(md switchboard.Msgdata, interval int) bool {
	if _, ok := md[msgdata.VERP]; ok {
		return md.Bool(msgdata.VERP)
	}
	return interval > 0 && md.Int(msgdata.PostID)%interval == 0
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
