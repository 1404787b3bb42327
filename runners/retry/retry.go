// Package retry is the runner of the retry queue. The outgoing runner parks a
// message there, due at the exact time of its next delivery attempt, when the
// mail server could not take it; the switchboard does not hand a deferred
// entry out before it is due, so this runner only has to move each entry it
// is given back to the outgoing queue. Unlike Mailman's, which wakes every 15
// minutes, it moves a message as soon as it is due.
package retry

import (
	"context"
	"time"

	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/switchboard"
)

// Handler moves due entries to the outgoing queue.
type Handler struct {
	Outgoing *switchboard.Switchboard
}

// pauseOnFailure is how long the runner waits after the outgoing queue could
// not take a message (a full disk) before it tries again.
const pauseOnFailure = 5 * time.Second

// Dispose enqueues e in the outgoing queue. The loop removes it from retry
// only after that enqueue is durable.
func (h *Handler) Dispose(_ context.Context, e *switchboard.Entry) (runners.Outcome, error) {
	if _, err := h.Outgoing.Enqueue(e.Message, e.Msgdata); err != nil {
		return runners.Done, runners.Temporary(err, pauseOnFailure)
	}
	return runners.Done, nil
}
