// Package registry knows every queue runner by name and how to build its
// handler: adding a runner is one line here. The runner command and the
// test harness both build runners through it.
package registry

import (
	"fmt"

	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/runners/retry"
	"github.com/mailman-go/mailman/switchboard"
)

// builders make the handler of each runner that serves a queue, given the
// folder holding the queues; the cleanup function releases what it holds.
var builders = map[string]func(root string) (runners.Handler, func(), error){
	"retry": func(root string) (runners.Handler, func(), error) {
		out, err := switchboard.Open(root, "outgoing")
		if err != nil {
			return nil, nil, err
		}
		return &retry.Handler{Outgoing: out}, func() { out.Close() }, nil
	},
}

// ErrNotBuilt is returned for a runner this version does not have yet.
var ErrNotBuilt = fmt.Errorf("runner not built yet")

// Handler builds the handler of the named runner over the queues in root.
func Handler(name, root string) (runners.Handler, func(), error) {
	b, ok := builders[name]
	if !ok {
		return nil, nil, fmt.Errorf("%s: %w", name, ErrNotBuilt)
	}
	return b(root)
}
