package main

import (
	"context"
	"log/slog"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/master"
	"github.com/mailman-go/mailman/runners/process"
)

func cmdRunner(e *env, args []string) error {
	fs, cfgPath := e.flags("runner")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("need exactly one runner")
	}
	spec, err := master.ParseSpec(rest[0], config.RunnerNames)
	if err != nil {
		return usageError{err.Error()}
	}
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return process.NoRestart(err)
	}
	return process.Run(context.Background(), process.Options{
		Config: cfg, Spec: spec,
		Log: slog.New(slog.NewTextHandler(e.stderr, nil)),
	})
}
