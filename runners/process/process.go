// Package process owns a runner's process: what `mailmanctl runner
// NAME:SLICE:COUNT` is when the master starts it. It checks that the master
// that started it is still its parent, takes the lock that makes it the
// only process serving its slice, obeys the signals the master sends,
// builds the runner through the registry, tells the master when it is
// ready, and chooses the exit status the master reads. It knows nothing of
// what any runner does.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/internal/flock"
	"github.com/mailman-go/mailman/master"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/runners/registry"
)

// Options are what Run needs.
type Options struct {
	Config *config.Config
	Spec   master.Spec
	// Registry builds the runner; nil means registry.Builders.
	Registry registry.Registry
	// Log is where the runner logs: standard error, which the master
	// writes to the site's log. Run adds the runner, its slice and pid.
	Log *slog.Logger
	// Ready, when set, is told that the runner serves, instead of the
	// master (through $MAILMAN_READY_FD).
	Ready func()
	// OnStuck, when set, replaces what a hung message does to the process:
	// exit with master.ExitStuck.
	OnStuck func(entry string)
}

// ExitError is a failure of the runner process with the exit status the
// master acts on: master.ExitNoRestart for what starting it again cannot
// fix (a bad configuration, a runner not built yet).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the status the process exits with.
func (e *ExitError) ExitCode() int { return e.Code }

// NoRestart marks err as one that restarting the runner cannot fix.
func NoRestart(err error) error { return &ExitError{Code: master.ExitNoRestart, Err: err} }

// sliceLockWait is how long a busy slice lock is tried: a runner killed a
// moment ago may still hold it while its last threads exit.
const sliceLockWait = time.Second

// Run runs the runner of opts.Spec until ctx ends or the master sends
// SIGTERM, SIGINT or SIGUSR1 (a restart); a stop lets the work in hand
// finish, and Run returns nil.
func Run(ctx context.Context, opts Options) error {
	// A runner the master started must not outlive it: the parent-death
	// signal covers a master that dies later, this check one that died
	// before the signal was armed.
	if want := os.Getenv(master.EnvMasterPID); want != "" && want != strconv.Itoa(os.Getppid()) {
		return errors.New("the master that started this runner is gone")
	}
	reg := opts.Registry
	if reg == nil {
		reg = registry.Builders
	}
	spec, cfg := opts.Spec, opts.Config
	log := opts.Log.With("runner", spec.Name, "slice", spec.QueueSlice().String(), "pid", os.Getpid())
	lock, err := flock.Take(cfg.Paths().RunnerLock(spec.Name, spec.Slice, spec.Count), sliceLockWait)
	if errors.Is(err, flock.ErrBusy) {
		return fmt.Errorf("runner %s is already running (another process holds its lock): %w", spec, err)
	}
	if err != nil {
		return err
	}
	defer lock.Release()
	// Logs go to standard error, which the master writes to its log file;
	// a HUP forwarded by the master must therefore not end the runner.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	defer stop()

	site := runners.NewSite(ctx, cfg, spec.Name, spec.QueueSlice(), log)
	// A hung handler cannot be taken back inside the process: exit with a
	// failure, so that the master starts the runner again and its
	// recovery counts the attempt.
	site.OnStuck = opts.OnStuck
	if site.OnStuck == nil {
		site.OnStuck = func(string) { os.Exit(master.ExitStuck) }
	}
	r, err := reg.Build(site)
	if err != nil {
		err = errors.Join(err, site.Close())
		if errors.Is(err, registry.ErrNotBuilt) {
			return NoRestart(err)
		}
		return err
	}
	ready := opts.Ready
	if ready == nil {
		ready = tellMaster
	}
	log.Info("runner started")
	err = r.Run(ctx, ready)
	if cerr := site.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	log.Info("runner stopped")
	return err
}

// tellMaster tells the master, when it started this runner, that the
// runner serves.
func tellMaster() {
	fd, err := strconv.Atoi(os.Getenv(master.EnvReadyFD))
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "ready")
	f.WriteString("ready\n")
	f.Close()
}
