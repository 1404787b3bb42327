// Package retry is the runner of the retry queue. The outgoing runner parks a
// message there, due at the exact time of its next delivery attempt, when the
// mail server could not take it; the switchboard does not hand a deferred
// entry out before it is due, so this runner only has to move each entry it
// is given back to the outgoing queue. Unlike Mailman's, which wakes every 15
// minutes, it moves a message as soon as it is due.
package retry

import (
	"context"
	"log/slog"

	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/switchboard"
)

// Handler moves due entries to the outgoing queue.
type Handler struct {
	Outgoing *switchboard.Switchboard
}

// New is the runner's handler for a site.
func New(s *runners.Site) (runners.Handler, error) {
	out, err := s.Queue("outgoing")
	if err != nil {
		return nil, err
	}
	return &Handler{Outgoing: out}, nil
}

// Dispose enqueues e in the outgoing queue. The loop removes it from retry
// only after that enqueue is durable; one that fails (a full disk) is a
// temporary failure, and the entry stays here.
func (h *Handler) Dispose(_ context.Context, e *switchboard.Entry, _ *slog.Logger) (runners.Outcome, error) {
	_, err := h.Outgoing.Enqueue(e.Message, e.Msgdata)
	return runners.Done, err
}
