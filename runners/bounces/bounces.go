// Package bounces is the runner of the bounces queue, where the LMTP
// runner puts mail to a list's -bounces address (VERP replies and probes
// included). Bounce processing, which reads them and scores the members,
// is not built yet; until it is, this runner keeps the queue bounded, and
// shows in `mailmanctl status` that something serves it: each bounce waits
// [bounces] max_age from its arrival, for the processing to come, and is
// then removed unread, with a log line. The LMTP runner refuses a bounce
// over [bounces] max_size, so the queue holds at most what a week of small
// bounces takes.
package bounces

import (
	"context"
	"log/slog"
	"time"

	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/switchboard"
)

// Handler keeps each bounce until it is MaxAge old, then removes it.
type Handler struct {
	MaxAge time.Duration
	Now    func() time.Time // time.Now when nil
}

// New is the runner's handler for a site.
func New(s *runners.Site) (runners.Handler, error) {
	return &Handler{MaxAge: s.Config.Bounces.MaxAge.D()}, nil
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Dispose removes e if it arrived MaxAge ago or more, and otherwise keeps
// it, not to be handed out again before then. Its age is taken from the
// time the LMTP runner received it; an entry without that time (put in the
// queue by hand, say) is given the present one.
func (h *Handler) Dispose(_ context.Context, e *switchboard.Entry, log *slog.Logger) (runners.Outcome, error) {
	now := h.now()
	received, err := time.Parse(time.RFC3339Nano, e.Msgdata.String(msgdata.ReceivedTime))
	if err != nil {
		received = now
		e.Msgdata.Set(msgdata.ReceivedTime, now.UTC().Format(time.RFC3339Nano))
	}
	if age := now.Sub(received); age >= h.MaxAge {
		log.Warn("removed a bounce unread: older than [bounces] max_age, and bounce processing is not built yet",
			"list", e.Msgdata.String(msgdata.ListID), "after", age.Round(time.Second))
		return runners.Done, nil
	}
	return runners.Outcome{KeepUntil: received.Add(h.MaxAge)}, nil
}
