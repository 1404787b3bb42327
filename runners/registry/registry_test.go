package registry

import (
	"slices"
	"testing"

	"github.com/mailman-go/mailman/config"
)

// TestInStepWithConfig: every runner the registry builds is described in
// config.Runners, and every runner config says is built (start = true by
// default) has a builder.
func TestInStepWithConfig(t *testing.T) {
	for _, name := range Builders.Names() {
		if !slices.Contains(config.RunnerNames, name) {
			t.Errorf("runner %s has a builder but no entry in config.Runners", name)
		}
	}
	for _, r := range config.Runners {
		if _, ok := Builders[r.Name]; ok != r.Start {
			t.Errorf("runner %s: built %v, but config.Runners says start = %v", r.Name, ok, r.Start)
		}
	}
}
