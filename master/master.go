// Package master owns the master process: the lock that makes it the only
// master of a var_dir, the runner processes it starts, supervises and
// restarts, the signals it obeys, the log file, and the state file that
// `mailmanctl status` reads. Runners are child processes of the same binary
// (`mailmanctl runner NAME:SLICE:COUNT`); the master knows their names and
// exit statuses, never what they do.
//
// Each child runs in its own process group with a parent-death signal, so no
// runner outlives a killed master. It reports readiness by writing "ready" on
// the file descriptor named by $MAILMAN_READY_FD, and its standard output and
// error come to the master, which writes them to the log; so only the master
// holds the log file, and SIGHUP has only one file to reopen.
package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oklog/run"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/internal/atomicfile"
	"github.com/mailman-go/mailman/switchboard"
)

// Environment variables a runner reads when the master starts it.
const (
	EnvReadyFD   = "MAILMAN_READY_FD"   // descriptor to write "ready\n" on
	EnvMasterPID = "MAILMAN_MASTER_PID" // the runner exits if its parent is not this pid
)

// Spec names one runner slice.
type Spec struct {
	Name         string
	Slice, Count int
}

func (s Spec) String() string { return fmt.Sprintf("%s:%d:%d", s.Name, s.Slice, s.Count) }

// ParseSpec parses Mailman's NAME[:SLICE:COUNT], a bare name being the
// whole queue (SLICE 0 of COUNT 1), for a runner among known.
func ParseSpec(spec string, known []string) (Spec, error) {
	parts := strings.Split(spec, ":")
	s := Spec{Name: parts[0], Count: 1}
	if !slices.Contains(known, s.Name) {
		return s, fmt.Errorf("unknown runner %q (runners: %s)", s.Name, strings.Join(known, ", "))
	}
	switch len(parts) {
	case 1:
		return s, nil
	case 3:
		var err1, err2 error
		s.Slice, err1 = strconv.Atoi(parts[1])
		s.Count, err2 = strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil {
			return s, fmt.Errorf("runner %q: SLICE and COUNT must be numbers", spec)
		}
		if err := s.QueueSlice().Validate(); err != nil {
			return s, fmt.Errorf("runner %q: %w", spec, err)
		}
		return s, nil
	}
	return s, fmt.Errorf("runner %q is not NAME or NAME:SLICE:COUNT", spec)
}

// QueueSlice is the part of the runner's queue the spec serves.
func (s Spec) QueueSlice() switchboard.Slice {
	return switchboard.Slice{Index: s.Slice, Count: s.Count}
}

// Options is what Run needs.
type Options struct {
	Config     *config.Config
	Executable string    // the binary runners are started from
	Runners    []Spec    // the slices to start and keep up
	Ready      *os.File  // when set, gets "ready PID\n" or "error REASON\n" once start-up is over
	Echo       io.Writer // when set, the log is copied here too (a foreground master's terminal)
	// Prepare, when set, runs once the lock is held and before any runner
	// starts (to migrate the database, say); an error fails the start.
	Prepare func() error
	// Finish, when set, runs once every runner has exited and before the
	// lock is released (to publish what a killed runner left in its
	// journal, say); an error is logged.
	Finish func() error
}

// Run is the master: it takes the lock, starts the runners, keeps them up
// and returns when it is told to stop (SIGTERM or SIGINT) or start-up fails.
func Run(opts Options) error {
	cfg := opts.Config
	paths := cfg.Paths()
	lk, err := lock(paths)
	if err != nil {
		opts.reportStart(err)
		return err
	}
	defer lk.Release()
	if err := atomicfile.WriteFile(paths.MasterPID, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o660); err != nil {
		err = fmt.Errorf("pid file: %w", err)
		opts.reportStart(err)
		return err
	}
	defer os.Remove(paths.MasterPID)
	defer os.Remove(paths.MasterState)
	logFile, err := OpenLog(paths.Log)
	if err != nil {
		opts.reportStart(err)
		return err
	}
	defer logFile.Close()
	var out io.Writer = logFile
	if opts.Echo != nil {
		out = io.MultiWriter(logFile, opts.Echo)
	}
	log := slog.New(slog.NewTextHandler(out, nil)).With("runner", "master", "pid", os.Getpid())
	if opts.Prepare != nil {
		if err := opts.Prepare(); err != nil {
			log.Error("start-up failed", "error", err)
			opts.reportStart(err)
			return err
		}
	}
	if len(opts.Runners) == 0 {
		err := errors.New("no runners to start: name some, or set start = true in a [runner.NAME] section")
		opts.reportStart(err)
		return err
	}

	sup := newSupervisor(opts, paths, logFile, out, log)
	log.Info("master started", "runners", fmt.Sprint(opts.Runners), "var_dir", cfg.VarDir())

	var g run.Group
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.Add(run.SignalHandler(ctx, syscall.SIGTERM, syscall.SIGINT))
	{
		// SIGHUP and SIGUSR1 must not end the group, so they have their own
		// actor rather than run.SignalHandler, which returns on the first signal.
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
		g.Add(func() error {
			for {
				select {
				case s := <-sigs:
					sup.signals <- s
				case <-ctx.Done():
					return nil
				}
			}
		}, func(error) { signal.Stop(sigs); cancel() })
	}
	{
		supCtx, stop := context.WithCancel(context.Background())
		g.Add(func() error { return sup.run(supCtx) }, func(error) { stop() })
	}
	g.Add(func() error {
		timeout := time.NewTimer(cfg.Master.StartTimeout.D())
		defer timeout.Stop()
		select {
		case err := <-sup.started:
			if err != nil {
				opts.reportStart(err)
				return err
			}
		case <-timeout.C:
			err := fmt.Errorf("runners not ready after %s (%s)", cfg.Master.StartTimeout, sup.runnerNames())
			opts.reportStart(err)
			return err
		case <-ctx.Done():
			opts.reportStart(errors.New("stopped during start-up"))
			return nil
		}
		log.Info("all runners ready")
		opts.reportStart(nil)
		<-ctx.Done()
		return nil
	}, func(error) { cancel() })

	err = g.Run()
	if opts.Finish != nil {
		if ferr := opts.Finish(); ferr != nil {
			log.Error("finishing after the runners stopped", "error", ferr)
		}
	}
	if errors.Is(err, run.ErrSignal) {
		log.Info("master stopped", "reason", err.Error())
		return nil
	}
	if err != nil {
		log.Error("master stopped", "error", err)
		return err
	}
	log.Info("master stopped")
	return nil
}

// reportStart tells the process that ran `mailmanctl start` how start-up
// went, once.
func (o *Options) reportStart(err error) {
	if o.Ready == nil {
		return
	}
	if err != nil {
		// One line: start reads one. Some errors span several (pgx's
		// connection failures do).
		fmt.Fprintf(o.Ready, "error %s\n", strings.Join(strings.Fields(err.Error()), " "))
	} else {
		fmt.Fprintf(o.Ready, "ready %d\n", os.Getpid())
	}
	o.Ready.Close()
	o.Ready = nil
}

// publish writes the state file that status reads.
func publish(path string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o660)
}
