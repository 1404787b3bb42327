package process_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/master"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/runners/process"
	"github.com/mailman-go/mailman/runners/registry"
	"github.com/mailman-go/mailman/switchboard"
)

// newEcho is the handler of a runner this test adds: it copies each entry
// of its queue, "echo", into the queue "echoed".
func newEcho(s *runners.Site) (runners.Handler, error) {
	out, err := s.Queue("echoed")
	if err != nil {
		return nil, err
	}
	return runners.HandlerFunc(func(_ context.Context, e *switchboard.Entry, log *slog.Logger) (runners.Outcome, error) {
		name, err := out.Enqueue(e.Message, e.Msgdata)
		log.Info("echoed", "new_entry", name)
		return runners.Done, err
	}), nil
}

// started runs the runner of spec in this process, as `mailmanctl runner`
// runs it, and returns once it is ready, with a function that stops it
// and returns Run's error.
func started(t *testing.T, cfg *config.Config, reg registry.Registry, spec master.Spec) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- process.Run(ctx, process.Options{
			Config: cfg, Spec: spec, Registry: reg,
			Log:   slog.New(slog.NewTextHandler(t.Output(), nil)),
			Ready: func() { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("the runner ended before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the runner is not ready after 10 s")
	}
	return func() error {
		cancel()
		return <-done
	}
}

func site(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.PathSettings.VarDir = t.TempDir()
	return cfg
}

// TestRunnerAddedByATest adds a runner with one builder line and runs it
// through the same process code as every runner: it serves its queue.
func TestRunnerAddedByATest(t *testing.T) {
	reg := registry.Builders.With("echo", runners.Serve(newEcho))
	cfg := site(t)
	stop := started(t, cfg, reg, master.Spec{Name: "echo", Count: 1})
	in, err := switchboard.Open(cfg.Paths().Queues, "echo")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := switchboard.Open(cfg.Paths().Queues, "echoed")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := in.Enqueue([]byte("Message-ID: <echo@example.com>\n\nhello\n"), nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := out.Count()
		if err != nil {
			t.Fatal(err)
		}
		if c.Ready == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the added runner did not serve its queue within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if c, _ := in.Count(); c.Total() != 0 {
		t.Errorf("the echo queue holds %+v after the runner served it", c)
	}
}

// TestOneProcessPerSlice: a second process for a slice that one serves is
// refused, and another slice of the same runner is not.
func TestOneProcessPerSlice(t *testing.T) {
	cfg := site(t)
	stop := started(t, cfg, nil, master.Spec{Name: "retry", Slice: 0, Count: 2})
	defer stop()
	err := process.Run(t.Context(), process.Options{Config: cfg, Spec: master.Spec{Name: "retry", Slice: 0, Count: 2},
		Log: slog.New(slog.DiscardHandler), Ready: func() { t.Error("a second runner of the slice became ready") }})
	if err == nil {
		t.Fatal("a second runner of the same slice started")
	}
	other := started(t, cfg, nil, master.Spec{Name: "retry", Slice: 1, Count: 2})
	if err := other(); err != nil {
		t.Errorf("the other slice: %v", err)
	}
}

// unbuilt is the registry without the runner name, as a version that has
// not built it yet.
func unbuilt(name string) registry.Registry {
	r := maps.Clone(registry.Builders)
	delete(r, name)
	return r
}

// TestExitStatuses: what the master must not restart says so.
func TestExitStatuses(t *testing.T) {
	tests := []struct {
		name string
		reg  registry.Registry
		want int // the exit status asked for; 0 for a failure with none
	}{
		{"a runner the configuration knows and this version has not built", unbuilt("bounces"), master.ExitNoRestart},
		{"a builder that fails", registry.Builders.With("bounces", func(*runners.Site) (runners.Runner, error) {
			return nil, errors.New("cannot build")
		}), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := process.Run(t.Context(), process.Options{Config: site(t), Spec: master.Spec{Name: "bounces", Count: 1}, Registry: tt.reg,
				Log: slog.New(slog.DiscardHandler), Ready: func() { t.Error("ready") }})
			if err == nil {
				t.Fatal("no error")
			}
			var ee *process.ExitError
			got := 0
			if errors.As(err, &ee) {
				got = ee.ExitCode()
			}
			if got != tt.want {
				t.Errorf("%v: exit status %d, want %d", err, got, tt.want)
			}
		})
	}
}
