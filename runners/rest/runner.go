// Package rest is the rest runner: it serves Mailman's REST API (package
// rest) on [webservice] hostname and port, supervised by the master like
// every runner. It has no queue of its own; what it decides it writes to
// the store and to the pipeline and virgin queues.
package rest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/moderation"
	api "github.com/mailman-go/mailman/rest"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/subscription"
)

type runner struct {
	cfg     *config.Config
	handler http.Handler
	log     *slog.Logger
}

// Build is the rest runner's builder. It refuses, before anything
// listens, a configuration that would serve the API to other machines
// with Mailman's default password.
func Build(s *runners.Site) (runners.Runner, error) {
	if err := api.CheckListen(s.Config.Webservice); err != nil {
		return nil, err
	}
	st, err := s.Store()
	if err != nil {
		return nil, err
	}
	pipeline, err := s.Queue("pipeline")
	if err != nil {
		return nil, err
	}
	virgin, err := s.Queue("virgin")
	if err != nil {
		return nil, err
	}
	m := &moderation.Moderator{Store: st, Pipeline: pipeline, Virgin: virgin, Log: s.Log}
	w := &subscription.Workflow{
		Store: st, Virgin: virgin, Log: s.Log,
		PendingLife:   s.Config.Mailman.PendingRequestLife.D(),
		ModeratorLife: s.Config.Mailman.ModeratorRequestLife.D(),
	}
	return &runner{cfg: s.Config, handler: api.New(s.Config, st, m, w, s.Log), log: s.Log}, nil
}

// Run serves until ctx ends, then lets the requests in progress finish
// within the master's stop_timeout: each write is one transaction, so one
// cut short changed nothing.
func (r *runner) Run(ctx context.Context, ready func()) error {
	ws := r.cfg.Webservice
	return runners.ServeHTTP(ctx, net.JoinHostPort(ws.Hostname, strconv.Itoa(ws.Port)), r.handler, 5*time.Minute, r.cfg.Master.StopTimeout.D(),
		r.log, ready, "api_version", ws.APIVersion)
}
