package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/master"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/runners/lmtp"
	"github.com/mailman-go/mailman/runners/registry"
	"github.com/mailman-go/mailman/switchboard"
)

func init() {
	register(command{"runner", "NAME[:SLICE:COUNT]", "run one runner (or one slice of it) in the foreground", cmdRunner})
}

// noRestart marks an error that restarting the runner cannot fix: the
// process exits with the status the master does not restart.
type noRestart struct{ error }

func (noRestart) ExitCode() int   { return master.ExitNoRestart }
func (e noRestart) Unwrap() error { return e.error }

// parseRunnerSpec parses Mailman's NAME[:SLICE:COUNT]; a bare name is the
// whole queue.
func parseRunnerSpec(spec string) (master.Spec, error) {
	parts := strings.Split(spec, ":")
	s := master.Spec{Name: parts[0], Count: 1}
	if !slices.Contains(config.RunnerNames, s.Name) {
		return s, fmt.Errorf("unknown runner %q (runners: %s)", s.Name, strings.Join(config.RunnerNames, ", "))
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
		if err := (switchboard.Slice{Index: s.Slice, Count: s.Count}).Validate(); err != nil {
			return s, fmt.Errorf("runner %q: %w", spec, err)
		}
		return s, nil
	}
	return s, fmt.Errorf("runner %q is not NAME or NAME:SLICE:COUNT", spec)
}

// exitStuck is a runner's exit status when a message hung in its handler
// for longer than message_timeout (EX_SOFTWARE): a failure the master
// restarts, unlike 78.
const exitStuck = 70

func cmdRunner(e *env, args []string) error {
	fs, cfgPath := e.flags("runner")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("need exactly one runner")
	}
	spec, err := parseRunnerSpec(rest[0])
	if err != nil {
		return usageError{err.Error()}
	}
	// A runner the master started must not outlive it: the parent-death
	// signal covers a master that dies later, this check one that died
	// before the signal was armed.
	if want := os.Getenv(master.EnvMasterPID); want != "" && want != strconv.Itoa(os.Getppid()) {
		return errors.New("the master that started this runner is gone")
	}
	cfg, err := config.FromEnvironment(*cfgPath)
	if err != nil {
		return noRestart{err}
	}
	slice := switchboard.Slice{Index: spec.Slice, Count: spec.Count}
	log := slog.New(slog.NewTextHandler(e.stderr, nil)).With("runner", spec.Name, "slice", slice.String(), "pid", os.Getpid())
	unlock, err := lockSlice(cfg, spec)
	if err != nil {
		return err
	}
	defer unlock()
	// Logs go to standard error, which the master writes to its log file;
	// a HUP forwarded by the master must therefore not end the runner.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	defer stop()
	root := filepath.Join(cfg.VarDir(), "queue")
	if spec.Name == "lmtp" {
		return runLMTP(ctx, cfg, log)
	}
	h, cleanup, err := registry.Handler(ctx, spec.Name, cfg, log)
	if errors.Is(err, registry.ErrNotBuilt) {
		return noRestart{err}
	}
	if err != nil {
		return err
	}
	defer cleanup()
	queue, err := switchboard.Open(root, spec.Name)
	if err != nil {
		return err
	}
	defer queue.Close()
	shunt, err := switchboard.Open(root, "shunt")
	if err != nil {
		return err
	}
	defer shunt.Close()

	loop := &runners.Loop{
		Queue: queue, Shunt: shunt, Slice: slice, Handler: h,
		SleepTime: cfg.Runner[spec.Name].SleepTime.D(),
		Logger:    log,
		OnReady:   notifyReady,
		// A hung handler cannot be taken back inside the process: exit
		// with a failure, so that the master starts the runner again and
		// its recovery counts the attempt.
		StuckAfter: cfg.Runner[spec.Name].MessageTimeout.D(),
		OnStuck:    func(string) { os.Exit(exitStuck) },
	}
	log.Info("runner started", "queue", queue.Dir())
	err = loop.Run(ctx)
	log.Info("runner stopped")
	return err
}

// notifyReady tells the master, when it started this runner, that the
// runner is serving its queue.
func notifyReady() {
	fd, err := strconv.Atoi(os.Getenv(master.EnvReadyFD))
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "ready")
	f.WriteString("ready\n")
	f.Close()
}

// lockSlice makes sure one process at a time serves a runner slice: two
// would take back each other's in-flight entries when they start.
func lockSlice(cfg *config.Config, spec master.Spec) (func(), error) {
	dir := filepath.Join(cfg.VarDir(), "locks")
	if err := os.MkdirAll(dir, 0o770); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, fmt.Sprintf("runner-%s-%d-%d.lck", spec.Name, spec.Slice, spec.Count))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o660)
	if err != nil {
		return nil, err
	}
	// A runner killed a moment ago may still hold the lock while its last
	// threads exit, so a busy lock is tried for a second before giving up.
	for try := 0; ; try++ {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || try == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.Close()
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, fmt.Errorf("runner %s is already running (another process holds %s)", spec, path)
	}
	return nil, fmt.Errorf("lock %s: %w", path, err)
}

// openLMTPJournal opens the LMTP runner's journal in front of the queues it
// fills, which puts into them whatever a killed runner acknowledged. The
// journal closes its queues when it closes.
func openLMTPJournal(cfg *config.Config, onError func(error)) (*switchboard.Journal, error) {
	root := filepath.Join(cfg.VarDir(), "queue")
	queues := map[string]*switchboard.Switchboard{}
	for _, name := range lmtp.Queues {
		q, err := switchboard.Open(root, name)
		if err != nil {
			return nil, err
		}
		queues[name] = q
	}
	return switchboard.OpenJournal(filepath.Join(cfg.VarDir(), "journal", "lmtp.jnl"), switchboard.DefaultJournalSize, queues, onError)
}

// publishLMTPJournal puts into their queues the entries a killed LMTP
// runner's journal holds, when no runner holds it: the master does it
// before runners start and after they stop, so that queues never hide an
// acknowledged message in a journal.
func publishLMTPJournal(cfg *config.Config) error {
	if _, err := os.Stat(filepath.Join(cfg.VarDir(), "journal", "lmtp.jnl")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	j, err := openLMTPJournal(cfg, func(err error) { errs = append(errs, err) })
	if err != nil {
		return err
	}
	return errors.Join(append(errs, j.Close())...)
}

// runLMTP runs the LMTP runner: it has no queue of its own and fills
// incoming, command and bounces.
func runLMTP(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	st, err := registry.OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	// The journal recovers what a killed predecessor acknowledged before
	// the port opens.
	journal, err := openLMTPJournal(cfg, func(err error) { log.Error("journal", "error", err) })
	if err != nil {
		return err
	}
	ls, err := lmtp.Listen(cfg.MTA.LMTPHost, cfg.MTA.LMTPPort, cfg.MTA.LMTPSocket)
	if err != nil {
		journal.Close()
		return err
	}
	srv := lmtp.New(cfg, st, journal, log)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ls) }()
	log.Info("runner started", "listen", ls[0].Addr().String(), "socket", cfg.MTA.LMTPSocket)
	notifyReady()
	select {
	case err := <-served:
		journal.Close()
		return err
	case <-ctx.Done():
	}
	// Leave time, within the master's stop_timeout, for transactions in
	// progress to finish; the MTA retries what is cut short.
	shutdown, cancel := context.WithTimeout(context.Background(), cfg.Master.StopTimeout.D()*8/10)
	defer cancel()
	err = srv.Shutdown(shutdown)
	if jerr := journal.Close(); jerr != nil {
		err = errors.Join(err, jerr)
	}
	log.Info("runner stopped")
	return err
}
