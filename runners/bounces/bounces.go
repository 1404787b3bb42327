// Package bounces is the bounces runner: it reads each message the LMTP
// runner queued for a list's -bounces address, finds whom it is about (a
// VERP address, a probe's token, or what package bounce reads in it),
// records and scores the failure against the member, and tells whom the
// list's settings say; on a timer it also scores the refusals the outgoing
// runner recorded, warns the members whose delivery bounces turned off,
// and removes those whose warnings ran out. The scoring rules are the
// store's (ProcessBounce, BouncesDue); what the messages say is here.
package bounces

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mailman-go/mailman/bounce"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// Settings are the site's part of bounce processing.
type Settings struct {
	VERPProbes bool          // [mta] verp_probes
	SiteOwner  string        // [mailman] site_owner, for forward_unrecognized_bounces_to = site_owner
	Every      time.Duration // [bounces] register_bounces_every
	// Periodic is whether this instance does the timed work: only the
	// first slice of the queue does, so that two never warn one member.
	Periodic bool
}

// probeLife is how long a probe's token stays valid, as Mailman's.
const probeLife = 10 * 24 * time.Hour

// Handler is the bounces runner.
type Handler struct {
	Store    *store.Store
	Virgin   *switchboard.Switchboard
	Settings Settings
	Now      func() time.Time // time.Now when nil
}

// New is the runner's handler for a site.
func New(s *runners.Site) (runners.Handler, error) {
	st, err := s.Store()
	if err != nil {
		return nil, err
	}
	virgin, err := s.Queue("virgin")
	if err != nil {
		return nil, err
	}
	return &Handler{Store: st, Virgin: virgin, Settings: Settings{
		VERPProbes: s.Config.MTA.VERPProbes, SiteOwner: s.Config.Mailman.SiteOwner,
		Every: s.Config.Bounces.RegisterBouncesEvery.D(), Periodic: s.Slice.Index == 0,
	}}, nil
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// verpHeaders are where a bounce names the address it was sent to, which
// the outgoing runner made the list's -bounces+user=host@ (Mailman reads
// the same).
var verpHeaders = []string{"To", "Delivered-To", "Envelope-To", "Apparently-To", "X-Original-To"}

// probeToken is the form of the token of a probe.
var probeToken = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Dispose reads one bounce. A store that cannot be reached is a temporary
// failure (the loop keeps the entry for later); a bounce that names no
// member is forwarded as forward_unrecognized_bounces_to says.
func (h *Handler) Dispose(ctx context.Context, e *switchboard.Entry, log *slog.Logger) (runners.Outcome, error) {
	list, err := runners.EntryList(ctx, h.Store, e)
	if err != nil {
		return runners.Done, err
	}
	if !list.ProcessBounces {
		log.Info("bounce dropped: the list does not process bounces")
		return runners.Done, nil
	}
	report, scanErr := bounce.Scan(e.Message)
	if scanErr != nil {
		log.Warn("bounce unreadable", "error", scanErr)
	}
	msg, _ := message.Parse(e.Message)
	messageID := ""
	var verps []string
	probe := ""
	if msg != nil {
		messageID = msg.Get("Message-ID")
		for _, a := range msg.Addresses(verpHeaders...) {
			if rcpt, ok := mta.FromVERP(list.PostingAddress, a); ok {
				verps = append(verps, rcpt)
			} else if d, ok := mta.Detail(list.PostingAddress, mta.Bounces, a); ok && probeToken.MatchString(d) {
				probe = d
			}
		}
	}
	events, err := h.events(ctx, list, report, verps, probe, messageID, log)
	if err != nil {
		return runners.Done, err
	}
	if len(events) == 0 {
		// Forwarding a bounce of the administrators' own mail to them
		// would bounce again, for ever.
		admins, err := h.admins(ctx, list)
		if err != nil {
			return runners.Done, err
		}
		for _, f := range report.Failures {
			if slices.ContainsFunc(admins, func(a string) bool { return strings.EqualFold(a, f.Address) }) {
				log.Warn("bounce for an administrator dropped", "address", f.Address, "status", f.Status)
				return runners.Done, nil
			}
		}
		if len(report.Failures) > 0 && len(report.Permanent()) == 0 {
			log.Info("bounce dropped: temporary failures only", "rcpt", report.Temporary())
			return runners.Done, nil
		}
		return runners.Done, h.forward(list, e.Message, log)
	}
	for _, ev := range events {
		id, err := h.Store.RecordBounce(ctx, ev)
		if err != nil {
			return runners.Done, err
		}
		out, err := h.Store.ProcessBounce(ctx, id, h.now(), h.Settings.VERPProbes)
		if err != nil {
			return runners.Done, err
		}
		if err := h.act(ctx, list, out, e.Message, log); err != nil {
			return runners.Done, err
		}
	}
	// Spent only now: a bounce that could not be recorded finds its
	// probe's token again when it is read again.
	if len(events) > 0 && events[0].Kind == store.BounceProbe {
		return runners.Done, h.Store.DeletePending(ctx, probe)
	}
	return runners.Done, nil
}

// events are the bounce events a message makes: a complaint's; else, when
// the message came back to a VERP address, the VERP address's, if the
// report says something failed for good (a delay, or a vacation reply to
// the VERP address, is none); else a returning probe's; else the
// permanent failures the report names.
func (h *Handler) events(ctx context.Context, list *store.List, r bounce.Report, verps []string, probe, messageID string, log *slog.Logger) ([]store.BounceEvent, error) {
	at := h.now()
	ev := func(address, kind string, f bounce.Failure) store.BounceEvent {
		reason := f.Diagnostic
		if reason == "" {
			reason = "bounce " + f.Status
		}
		if kind == store.BounceNormal && f.Policy() {
			kind = store.BouncePolicy
		}
		return store.BounceEvent{ListID: list.ListID, Address: address, MessageID: messageID, Reason: reason, Status: f.Status, Kind: kind, At: at}
	}
	var es []store.BounceEvent
	switch {
	case len(r.Complaints) > 0:
		for _, c := range r.Complaints {
			es = append(es, store.BounceEvent{ListID: list.ListID, Address: c.Address, MessageID: messageID,
				Reason: "feedback report: " + c.Type, Kind: store.BounceComplaint, At: at})
		}
	case len(verps) > 0:
		var first bounce.Failure
		found := false
		for _, f := range r.Failures {
			if f.Permanent {
				first, found = f, true
				break
			}
		}
		if !found {
			return nil, nil
		}
		for _, a := range verps {
			es = append(es, ev(a, store.BounceNormal, first))
		}
	case probe != "":
		p, err := h.Store.Pending(ctx, probe)
		if err != nil && !errors.Is(err, store.ErrNoSuchToken) && !errors.Is(err, store.ErrTokenExpired) {
			return nil, err
		}
		if err != nil || p.Type != store.PendingProbe || p.ListID != list.ListID {
			log.Info("bounce to an unknown or expired probe token", "error", err)
			return nil, nil
		}
		var payload store.BouncePayload
		if err := json.Unmarshal(p.Payload, &payload); err != nil || payload.Address == "" {
			return nil, nil
		}
		es = append(es, ev(payload.Address, store.BounceProbe, bounce.Failure{Permanent: true, Diagnostic: "the probe bounced"}))
	default:
		for _, f := range r.Failures {
			if f.Permanent {
				es = append(es, ev(f.Address, store.BounceNormal, f))
			}
		}
	}
	return es, nil
}

// act tells whom the list's settings say what processing a bounce did,
// and sends the probe it called for; dsn is the bounce (nil for a refusal
// the outgoing runner recorded).
func (h *Handler) act(ctx context.Context, list *store.List, out store.BounceOutcome, dsn []byte, log *slog.Logger) error {
	e, set := out.Event, out.Settings
	log = log.With("list", list.ListID, "address", e.Address)
	switch out.Action {
	case store.BounceIgnored:
		log.Info("bounce for no member", "reason", e.Reason)
	case store.BounceRecorded:
		log.Info("bounce recorded, not scored: a refusal for policy or content", "status", e.Status, "reason", e.Reason)
	case store.BounceResidual, store.BounceSameDay:
		log.Info("bounce recorded: "+out.Action, "score", out.Score)
	case store.BounceScored:
		log.Info("bounce score incremented", "score", out.Score, "threshold", set.Threshold, "status", e.Status)
		if set.NotifyOwnerOnIncrement && (out.Score < set.Threshold || !h.Settings.VERPProbes) {
			return h.toAdmins(ctx, list, fmt.Sprintf("%s's bounce score incremented on %s", e.Address, list.DisplayName), scoreText(list, out), dsn, e)
		}
	case store.BounceProbing:
		log.Info("bounce score at the threshold: probe sent", "threshold", set.Threshold)
		return h.sendProbe(ctx, list, e, dsn)
	case store.BounceDisabled:
		log.Warn("delivery disabled by bounces", "score", out.Score, "status", e.Status)
		if set.NotifyOwnerOnDisable {
			return h.toAdmins(ctx, list, fmt.Sprintf("%s's subscription disabled on %s", e.Address, list.DisplayName), disabledText(list, out), dsn, e)
		}
	case store.BounceStopped:
		log.Warn("delivery stopped: the subscriber reported the list's mail as spam", "reason", e.Reason)
		return h.toAdmins(ctx, list, fmt.Sprintf("%s reported mail from %s as spam", e.Address, list.DisplayName), complaintText(list, out), dsn, e)
	}
	return nil
}

// Every is how often Tick runs.
func (h *Handler) Every() time.Duration {
	if h.Settings.Every > 0 {
		return h.Settings.Every
	}
	return time.Minute
}

// Tick does the timed work: it scores the refusals not processed yet,
// then sends the warnings due and removes the members due.
func (h *Handler) Tick(ctx context.Context, log *slog.Logger) error {
	if !h.Settings.Periodic {
		return nil
	}
	for {
		es, err := h.Store.UnprocessedBounces(ctx, 100)
		if err != nil {
			return err
		}
		for _, e := range es {
			out, err := h.Store.ProcessBounce(ctx, e.ID, h.now(), h.Settings.VERPProbes)
			if errors.Is(err, store.ErrNoSuchBounce) {
				continue // another host's runner took it
			}
			if err != nil {
				return err
			}
			list, err := h.Store.ListByID(ctx, e.ListID)
			if err != nil {
				return err
			}
			if err := h.act(ctx, list, out, nil, log); err != nil {
				return err
			}
		}
		if len(es) < 100 {
			break
		}
	}
	due, err := h.Store.BouncesDue(ctx, h.now())
	if err != nil {
		return err
	}
	for _, d := range due {
		list, err := h.Store.ListByID(ctx, d.ListID)
		if err != nil {
			return err
		}
		if d.Remove {
			err = h.remove(ctx, list, d, log)
		} else {
			err = h.warn(ctx, list, d, log)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
