// Package registry knows every queue runner by name and how to build its
// handler: adding a runner is one line here. The runner command and the
// test harness both build runners through it.
package registry

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/moderation"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/runners/command"
	"github.com/mailman-go/mailman/runners/incoming"
	"github.com/mailman-go/mailman/runners/outgoing"
	"github.com/mailman-go/mailman/runners/pipeline"
	"github.com/mailman-go/mailman/runners/retry"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// resources opens what handlers need and closes it all at once.
type resources struct {
	ctx     context.Context
	root    string
	cfg     *config.Config
	log     *slog.Logger
	closers []func() error
}

func (r *resources) queue(name string) (*switchboard.Switchboard, error) {
	q, err := switchboard.Open(r.root, name)
	if err == nil {
		r.closers = append(r.closers, q.Close)
	}
	return q, err
}

func (r *resources) store() (*store.Store, error) {
	st, err := OpenStore(r.ctx, r.cfg, r.log)
	if err == nil {
		r.closers = append(r.closers, st.Close)
	}
	return st, err
}

// OpenStore opens a runner's store: never a new one, and waiting, with a
// log line each try, for one that is unavailable until ctx ends.
func OpenStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	return store.OpenExisting(ctx, cfg.Database.URL, cfg.VarDir(), func(err error, wait time.Duration) {
		log.Warn("database unavailable; waiting for it", "error", err, "retry_in", wait)
	})
}

// storeAnd opens the store and the named queue, for a handler that needs
// both.
func (r *resources) storeAnd(queue string) (*store.Store, *switchboard.Switchboard, error) {
	st, err := r.store()
	if err != nil {
		return nil, nil, err
	}
	q, err := r.queue(queue)
	return st, q, err
}

func (r *resources) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// builders make the handler of each runner that serves a queue.
var builders = map[string]func(r *resources, log *slog.Logger) (runners.Handler, error){
	"retry": func(r *resources, _ *slog.Logger) (runners.Handler, error) {
		out, err := r.queue("outgoing")
		if err != nil {
			return nil, err
		}
		return &retry.Handler{Outgoing: out}, nil
	},
	"incoming": func(r *resources, log *slog.Logger) (runners.Handler, error) {
		st, err := r.store()
		if err != nil {
			return nil, err
		}
		pipeline, err := r.queue("pipeline")
		if err != nil {
			return nil, err
		}
		virgin, err := r.queue("virgin")
		if err != nil {
			return nil, err
		}
		return &incoming.Handler{Store: st, Pipeline: pipeline, Virgin: virgin, Log: log, Settings: incoming.Settings{
			ModeratorRequestLife:   r.cfg.Mailman.ModeratorRequestLife.D(),
			MaxAutoresponsesPerDay: r.cfg.MTA.MaxAutoresponsesPerDay,
		}}, nil
	},
	"command": func(r *resources, log *slog.Logger) (runners.Handler, error) {
		st, virgin, err := r.storeAnd("virgin")
		if err != nil {
			return nil, err
		}
		pipeline, err := r.queue("pipeline")
		if err != nil {
			return nil, err
		}
		return &command.Handler{
			Store: st, Virgin: virgin, Log: log,
			Moderator: &moderation.Moderator{Store: st, Pipeline: pipeline, Virgin: virgin},
			Settings: command.Settings{
				PendingRequestLife:   r.cfg.Mailman.PendingRequestLife.D(),
				ModeratorRequestLife: r.cfg.Mailman.ModeratorRequestLife.D(),
			},
		}, nil
	},
	"pipeline": func(r *resources, log *slog.Logger) (runners.Handler, error) {
		st, out, err := r.storeAnd("outgoing")
		return &pipeline.Handler{Store: st, Outgoing: out, Log: log}, err
	},
	"virgin": func(r *resources, log *slog.Logger) (runners.Handler, error) {
		st, out, err := r.storeAnd("outgoing")
		return &pipeline.VirginHandler{Store: st, Outgoing: out, Log: log}, err
	},
	"outgoing": func(r *resources, log *slog.Logger) (runners.Handler, error) {
		st, retryQ, err := r.storeAnd("retry")
		if err != nil {
			return nil, err
		}
		mta := r.cfg.MTA
		h := &outgoing.Handler{Store: st, Retry: retryQ, Log: log, Settings: outgoing.Settings{
			Host: mta.SMTPHost, Port: mta.SMTPPort, User: mta.SMTPUser, Pass: mta.SMTPPass, SecureMode: mta.SMTPSecureMode, Timeout: mta.SMTPTimeout.D(),
			MaxRecipients: mta.MaxRecipients, VERPInterval: mta.VERPDeliveryInterval,
			RetryPeriod: mta.DeliveryRetryPeriod.D(), RetryDelay: mta.DeliveryRetryDelay.D(),
		}}
		r.closers = append(r.closers, h.Close)
		return h, nil
	},
}

// ErrNotBuilt is returned for a runner this version does not have yet.
var ErrNotBuilt = fmt.Errorf("runner not built yet")

// Handler builds the handler of the named runner for the site of cfg; the
// cleanup function releases what it holds. It waits for a database that
// is unavailable until ctx ends.
func Handler(ctx context.Context, name string, cfg *config.Config, log *slog.Logger) (runners.Handler, func(), error) {
	b, ok := builders[name]
	if !ok {
		return nil, nil, fmt.Errorf("%s: %w", name, ErrNotBuilt)
	}
	r := &resources{ctx: ctx, root: filepath.Join(cfg.VarDir(), "queue"), cfg: cfg, log: log}
	h, err := b(r, log)
	if err != nil {
		r.close()
		return nil, nil, err
	}
	return h, r.close, nil
}
