// Package registry knows every runner by name and how to build it: adding
// a runner is one line in Builders (its package's Builder, or
// runners.Serve of its handler's constructor) and its entry in
// config.Runners, with its [runner.NAME] section in etc/mailman.toml. The
// runner process, the master's start and stop, and the test harness all
// build runners through it, so none of them names a runner.
package registry

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/runners/archive"
	"github.com/mailman-go/mailman/runners/bounces"
	"github.com/mailman-go/mailman/runners/command"
	"github.com/mailman-go/mailman/runners/incoming"
	"github.com/mailman-go/mailman/runners/lmtp"
	"github.com/mailman-go/mailman/runners/outgoing"
	"github.com/mailman-go/mailman/runners/pipeline"
	"github.com/mailman-go/mailman/runners/rest"
	"github.com/mailman-go/mailman/runners/retry"
	"github.com/mailman-go/mailman/runners/scheduler"
	"github.com/mailman-go/mailman/runners/unsubscribe"
)

// Registry maps runner names to their builders.
type Registry map[string]runners.Builder

// Builders is every runner this version has.
var Builders = Registry{
	"lmtp":        lmtp.Build,
	"incoming":    runners.Serve(incoming.New),
	"command":     runners.Serve(command.New),
	"pipeline":    runners.Serve(pipeline.New),
	"virgin":      runners.Serve(pipeline.NewVirgin),
	"bounces":     runners.Serve(bounces.New),
	"outgoing":    runners.Serve(outgoing.New),
	"retry":       runners.Serve(retry.New),
	"archive":     runners.Serve(archive.New),
	"rest":        rest.Build,
	"scheduler":   scheduler.Build,
	"unsubscribe": unsubscribe.Build,
}

// settlers put right, while no runner runs, what a runner killed at the
// wrong moment left behind.
var settlers = []func(cfg *config.Config) error{
	lmtp.PublishJournal,
}

// ErrNotBuilt is a runner the configuration knows that this version does
// not have yet.
var ErrNotBuilt = errors.New("runner not built yet")

// With returns r and the runner name built by b: for a test that adds a
// runner of its own.
func (r Registry) With(name string, b runners.Builder) Registry {
	out := maps.Clone(r)
	out[name] = b
	return out
}

// Names are the runners r can build, sorted.
func (r Registry) Names() []string { return slices.Sorted(maps.Keys(r)) }

// Build builds the runner site.Name for site; what it opens is the
// site's, which the caller closes when the runner has ended, or now if
// Build fails.
func (r Registry) Build(site *runners.Site) (runners.Runner, error) {
	b, ok := r[site.Name]
	if !ok {
		if slices.Contains(config.RunnerNames, site.Name) {
			return nil, fmt.Errorf("%s: %w", site.Name, ErrNotBuilt)
		}
		return nil, fmt.Errorf("unknown runner %q (runners: %s)", site.Name, strings.Join(r.Names(), ", "))
	}
	return b(site)
}

// Settle puts right what killed runners left behind (the acknowledged
// entries still in the LMTP runner's journal). The master calls it before
// its runners start and after they have all stopped, when none holds what
// it settles.
func Settle(cfg *config.Config) error {
	var errs []error
	for _, settle := range settlers {
		errs = append(errs, settle(cfg))
	}
	return errors.Join(errs...)
}
