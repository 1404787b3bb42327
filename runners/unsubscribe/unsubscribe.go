// Package unsubscribe is the unsubscribe runner: it answers the one-click
// unsubscribe links (package oneclick) on [unsubscribe] listen, apart
// from the REST API, which stays an administrator's. It has no queue; the
// unsubscriptions go through the subscription workflow, whose notices go
// to the virgin queue.
package unsubscribe

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/oneclick"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/subscription"
)

type runner struct {
	cfg     *config.Config
	handler http.Handler
	log     *slog.Logger
}

// Build is the unsubscribe runner's builder.
func Build(s *runners.Site) (runners.Runner, error) {
	st, err := s.Store()
	if err != nil {
		return nil, err
	}
	virgin, err := s.Queue("virgin")
	if err != nil {
		return nil, err
	}
	keys, err := oneclick.LoadKeys(oneclick.KeysFile(s.Config.VarDir()))
	if err != nil {
		return nil, err
	}
	w := &subscription.Workflow{Store: st, Virgin: virgin, Log: s.Log,
		PendingLife: s.Config.Mailman.PendingRequestLife.D(), ModeratorLife: s.Config.Mailman.ModeratorRequestLife.D()}
	return &runner{cfg: s.Config, log: s.Log, handler: &oneclick.Handler{Keys: keys, Store: st, Workflow: w, Log: s.Log}}, nil
}

// Run serves until ctx ends.
func (r *runner) Run(ctx context.Context, ready func()) error {
	return runners.ServeHTTP(ctx, r.cfg.Unsubscribe.Listen, r.handler, 30*time.Second, r.cfg.Master.StopTimeout.D(), r.log, ready)
}
