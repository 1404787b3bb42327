package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/runners/retry"
	"github.com/mailman-go/mailman/switchboard"
)

func init() {
	register(command{"runner", "NAME[:SLICE:COUNT]", "run one runner (or one slice of it) in the foreground", cmdRunner})
}

// queueRunners builds the handler of each runner that serves a queue. The
// cleanup function releases what the handler holds.
var queueRunners = map[string]func(root string) (runners.Handler, func(), error){
	"retry": func(root string) (runners.Handler, func(), error) {
		out, err := switchboard.Open(root, "outgoing")
		if err != nil {
			return nil, nil, err
		}
		return &retry.Handler{Outgoing: out}, func() { out.Close() }, nil
	},
}

// parseRunnerSpec parses Mailman's NAME[:SLICE:COUNT]; a bare name is the
// whole queue.
func parseRunnerSpec(spec string) (string, switchboard.Slice, error) {
	parts := strings.Split(spec, ":")
	name := parts[0]
	if !slices.Contains(config.RunnerNames, name) {
		return "", switchboard.Slice{}, fmt.Errorf("unknown runner %q (runners: %s)", name, strings.Join(config.RunnerNames, ", "))
	}
	switch len(parts) {
	case 1:
		return name, switchboard.Whole, nil
	case 3:
		i, err1 := strconv.Atoi(parts[1])
		n, err2 := strconv.Atoi(parts[2])
		s := switchboard.Slice{Index: i, Count: n}
		if err1 != nil || err2 != nil {
			return "", s, fmt.Errorf("runner %q: SLICE and COUNT must be numbers", spec)
		}
		if err := s.Validate(); err != nil {
			return "", s, fmt.Errorf("runner %q: %w", spec, err)
		}
		return name, s, nil
	}
	return "", switchboard.Slice{}, fmt.Errorf("runner %q is not NAME or NAME:SLICE:COUNT", spec)
}

func cmdRunner(e *env, args []string) error {
	fs, cfgPath := e.flags("runner")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("need exactly one runner")
	}
	name, slice, err := parseRunnerSpec(rest[0])
	if err != nil {
		return usageError{err.Error()}
	}
	cfg, err := config.FromEnvironment(*cfgPath)
	if err != nil {
		return err
	}
	build, ok := queueRunners[name]
	if !ok {
		return fmt.Errorf("runner %s is not built yet", name)
	}
	root := filepath.Join(cfg.VarDir(), "queue")
	log := slog.New(slog.NewTextHandler(e.stderr, nil)).With("runner", name, "slice", slice.String(), "pid", os.Getpid())
	queue, err := switchboard.Open(root, name)
	if err != nil {
		return err
	}
	defer queue.Close()
	shunt, err := switchboard.Open(root, "shunt")
	if err != nil {
		return err
	}
	defer shunt.Close()
	h, cleanup, err := build(root)
	if err != nil {
		return err
	}
	defer cleanup()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	loop := &runners.Loop{
		Queue: queue, Shunt: shunt, Slice: slice, Handler: h,
		SleepTime: cfg.Runner[name].SleepTime.D(),
		Logger:    log,
	}
	log.Info("runner started", "queue", queue.Dir())
	err = loop.Run(ctx)
	log.Info("runner stopped")
	return err
}
