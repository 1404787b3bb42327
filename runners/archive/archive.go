// Package archive is the runner of the archive queue: it gives each post
// there to each archiver its list uses, and keeps the entry in the queue,
// due again after a back-off and naming only the archivers that failed,
// until each has taken it. So a post is never lost to an archiver that is
// down, and never waits for the next post to be retried (Mailman's
// HyperKitty plugin retries its spool only then): the backlog is visible
// in `mailmanctl queues` as the queue's entries due later, and every
// failure is logged with its reason. An archiver that refuses a post (it
// will refuse it again) puts a copy in shunt for that archiver alone.
package archive

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/mailman-go/mailman/archive"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// Handler archives the entries of the archive queue.
type Handler struct {
	Store     *store.Store
	Archivers *archive.Site
	Shunt     *switchboard.Switchboard
	Now       func() time.Time // nil means time.Now
}

// New is the runner's handler for a site: mail-archive's copies go out
// through the outgoing queue.
func New(s *runners.Site) (runners.Handler, error) {
	st, err := s.Store()
	if err != nil {
		return nil, err
	}
	out, err := s.Queue("outgoing")
	if err != nil {
		return nil, err
	}
	shunt, err := s.Queue("shunt")
	if err != nil {
		return nil, err
	}
	return &Handler{Store: st, Archivers: archive.NewSite(s.Config, sendVia(out)), Shunt: shunt}, nil
}

// sendVia mails a list's message to one recipient through the outgoing
// queue: from the list's bounces address, undecorated (no footer), as
// Mailman's mail-archive archiver sends its copies.
func sendVia(out *switchboard.Switchboard) archive.Send {
	return func(_ context.Context, l *store.List, msg []byte, rcpt string) error {
		md := switchboard.Msgdata{}
		md.Set(msgdata.ListID, l.ListID)
		md.Set(msgdata.Recipients, []string{rcpt})
		md.Set(msgdata.EnvSender, mta.Sub(l.PostingAddress, mta.Bounces))
		md.Set(msgdata.NoDecorate, true)
		_, err := out.Enqueue(msg, md)
		return err
	}
}

// The back-off of an archiver that failed: the first retry after
// firstRetry, each later one after twice the last, never more than
// maxRetry apart; never given up.
const (
	firstRetry = 30 * time.Second
	maxRetry   = 30 * time.Minute
)

func backoff(attempts int) time.Duration {
	d := firstRetry
	for range attempts - 1 {
		if d *= 2; d >= maxRetry {
			return maxRetry
		}
	}
	return d
}

// Dispose gives the post to each archiver still to take it.
func (h *Handler) Dispose(ctx context.Context, e *switchboard.Entry, log *slog.Logger) (runners.Outcome, error) {
	list, err := runners.EntryList(ctx, h.Store, e)
	if err != nil {
		return runners.Done, err
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	var names []string
	if ok, err := e.Msgdata.Get(msgdata.Archivers, &names); err != nil {
		return runners.Done, err
	} else if !ok {
		as, err := h.Archivers.ForList(ctx, h.Store, list)
		if err != nil {
			return runners.Done, err
		}
		for _, a := range as {
			names = append(names, a.Name())
		}
	}
	attempts := e.Msgdata.Int(msgdata.ArchiveAttempts) + 1
	var failed []string
	for _, name := range names {
		a, ok := h.Archivers.Get(name)
		if !ok {
			log.Warn("archiver no longer enabled; the post is not given to it", "archiver", name)
			continue
		}
		msg, err := message.Parse(e.Message)
		if err != nil {
			return runners.Done, err
		}
		h.Archivers.ClobberDate(name, msg, received(e, now))
		switch err := a.Archive(ctx, list, msg.Bytes()); {
		case err == nil:
			log.Info("archived", "archiver", name, "attempt", attempts)
		case errors.Is(err, archive.ErrRefused):
			log.Error("archiver refused the post; a copy for it alone is in shunt", "archiver", name, "error", err)
			if err := h.shunt(e, name, err); err != nil {
				return runners.Done, err
			}
		default:
			failed = append(failed, name)
			log.Warn("archiving failed; tried again later", "archiver", name, "attempt", attempts, "retry_in", backoff(attempts), "error", err)
		}
	}
	if len(failed) == 0 {
		return runners.Done, nil
	}
	e.Msgdata.Set(msgdata.Archivers, failed)
	e.Msgdata.Set(msgdata.ArchiveAttempts, attempts)
	return runners.Outcome{KeepUntil: now.Add(backoff(attempts))}, nil
}

// received is when the post came in, as the LMTP runner recorded it, else
// now: the time a clobbered Date becomes.
func received(e *switchboard.Entry, now time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, e.Msgdata.String(msgdata.ReceivedTime)); err == nil {
		return t
	}
	return now
}

// shunt keeps a copy of e for archiver name alone, with why it was
// refused; unshunted, it goes back to the archive queue for that archiver.
func (h *Handler) shunt(e *switchboard.Entry, name string, cause error) error {
	md := e.Msgdata.Clone()
	md.Set(msgdata.Archivers, []string{name})
	md.Set(msgdata.WhichQ, "archive")
	md.Set(msgdata.Error, cause.Error())
	_, err := h.Shunt.Enqueue(e.Message, md)
	return err
}

// Backlog counts, by archiver, the posts the archive queue keeps for an
// archiver that failed to take them: what `mailmanctl queues` and
// `status` show.
func Backlog(q *switchboard.Switchboard) (map[string]int, error) {
	files, err := q.Files()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, f := range files {
		e, err := switchboard.ReadFile(filepath.Join(q.Dir(), f))
		if err != nil {
			// Taken meanwhile by the runner, or unreadable: counted by
			// the queue's own figures, not here.
			continue
		}
		var names []string
		if ok, _ := e.Msgdata.Get(msgdata.Archivers, &names); ok && e.Msgdata.Int(msgdata.ArchiveAttempts) > 0 {
			for _, n := range names {
				out[n]++
			}
		}
	}
	return out, nil
}

// RetryNow makes every post kept for a failed archiver due now, as it
// is, for when the archiver is back: each is claimed and given back to
// the queue (two renames), so that the runner, and not this, archives
// it. It returns how many it made due.
func RetryNow(q *switchboard.Switchboard) (int, error) {
	files, err := q.Deferred()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range files {
		e, err := q.Dequeue(f)
		if errors.Is(err, switchboard.ErrGone) {
			continue
		}
		if err != nil {
			return n, err
		}
		if err := q.Release(e.Name); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
