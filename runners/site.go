package runners

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// ShuntQueue is the queue of the messages a runner failed on, which
// `mailmanctl unshunt` puts back.
const ShuntQueue = "shunt"

// Site is what a runner is built from: the site's configuration, the
// runner's name and slice, its logger, and the store and queues it opens
// through the site, which Close closes in the reverse order.
type Site struct {
	Config *config.Config
	Name   string
	Slice  switchboard.Slice
	Log    *slog.Logger
	// OnStuck, when set, is what a queue runner's watchdog calls when one
	// message stays in its handler past message_timeout (see Loop).
	OnStuck func(entry string)

	ctx     context.Context
	store   *store.Store
	closers []func() error
}

// NewSite is the site of cfg for the runner name serving slice. ctx bounds
// the waits of building (a database that is unavailable is waited for
// until it ends).
func NewSite(ctx context.Context, cfg *config.Config, name string, slice switchboard.Slice, log *slog.Logger) *Site {
	return &Site{Config: cfg, Name: name, Slice: slice, Log: log, ctx: ctx}
}

// Settings are the runner's [runner.NAME] section; a runner the
// configuration does not describe (one a test adds) gets the defaults
// every runner has.
func (s *Site) Settings() config.Runner {
	if r, ok := s.Config.Runner[s.Name]; ok {
		return r
	}
	return config.DefaultRunner()
}

// Store opens the site's store, once: never a new one, and waiting, with a
// log line each try, for one that is unavailable.
func (s *Site) Store() (*store.Store, error) {
	if s.store != nil {
		return s.store, nil
	}
	st, err := store.OpenExisting(s.ctx, s.Config.Database.URL, s.Config.VarDir(), func(err error, wait time.Duration) {
		s.Log.Warn("database unavailable; waiting for it", "error", err, "retry_in", wait)
	})
	if err != nil {
		return nil, err
	}
	s.store = st
	s.OnClose(st.Close)
	return st, nil
}

// Queue opens the named queue.
func (s *Site) Queue(name string) (*switchboard.Switchboard, error) {
	q, err := switchboard.Open(s.Config.Paths().Queues, name)
	if err != nil {
		return nil, err
	}
	s.OnClose(q.Close)
	return q, nil
}

// OnClose has Close call f, before what was opened earlier is closed.
func (s *Site) OnClose(f func() error) { s.closers = append(s.closers, f) }

// Close closes what the runner opened, last opened first.
func (s *Site) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}
