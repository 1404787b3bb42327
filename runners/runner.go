package runners

import (
	"context"
	"errors"
	"fmt"

	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// ErrListGone is the reason an entry whose list no longer exists is
// shunted: it was queued before the list was removed.
var ErrListGone = errors.New("the list no longer exists")

// EntryList is the list an entry is for (its listid): an error wrapping
// ErrListGone when the list was removed since the entry was queued, and
// the store's error (temporary when it is unavailable) otherwise.
func EntryList(ctx context.Context, st *store.Store, e *switchboard.Entry) (*store.List, error) {
	listID := e.Msgdata.String(msgdata.ListID)
	list, err := st.ListByID(ctx, listID)
	switch {
	case errors.Is(err, store.ErrNoSuchList):
		return nil, fmt.Errorf("list %s: %w", listID, ErrListGone)
	case err != nil:
		return nil, fmt.Errorf("list %s: %w", listID, err)
	}
	return list, nil
}

// Runner is one runner of a site, whatever it serves: a queue (a *Loop
// over a Handler) or a port (the LMTP server, the REST server). Run serves
// until ctx ends, calling ready once, when it serves; a stop lets the work
// in hand finish, and Run then returns nil. An error is a failure the
// master restarts the runner for.
type Runner interface {
	Run(ctx context.Context, ready func()) error
}

// Builder makes a runner from what its site provides. Everything it opens
// it registers with the site (Site.Queue, Site.Store, Site.OnClose), which
// closes it all when the runner has ended.
type Builder func(s *Site) (Runner, error)

// Serve is the Builder of a queue runner: the Loop over the queue named
// after the runner, disposing of each entry with the Handler newHandler
// makes, with the [runner.NAME] settings of the site.
func Serve(newHandler func(s *Site) (Handler, error)) Builder {
	return func(s *Site) (Runner, error) {
		h, err := newHandler(s)
		if err != nil {
			return nil, fmt.Errorf("%s runner: %w", s.Name, err)
		}
		queue, err := s.Queue(s.Name)
		if err != nil {
			return nil, err
		}
		shunt, err := s.Queue(ShuntQueue)
		if err != nil {
			return nil, err
		}
		settings := s.Settings()
		return &Loop{
			Queue: queue, Shunt: shunt, Slice: s.Slice, Handler: h,
			SleepTime:  settings.SleepTime.D(),
			Logger:     s.Log,
			StuckAfter: settings.MessageTimeout.D(),
			OnStuck:    s.OnStuck,
		}, nil
	}
}
