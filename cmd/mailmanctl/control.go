package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/master"
	"github.com/mailman-go/mailman/runners/registry"
	"github.com/mailman-go/mailman/store"
)

// envStartFD names the descriptor on which a detached master reports to the
// `start` that launched it.
const envStartFD = "MAILMAN_START_FD"

// notRunning is the exit status 1 of stop, restart, reopen and status when
// no master runs.
type notRunning struct{}

func (notRunning) Error() string { return master.ErrNotRunning.Error() }
func (notRunning) ExitCode() int { return exitError }

// runnerSpecs returns the slices to start: those named, or every slice of
// every runner whose start is true.
func runnerSpecs(cfg *config.Config, names []string) ([]master.Spec, error) {
	var specs []master.Spec
	if len(names) == 0 {
		for _, name := range config.RunnerNames {
			if r := cfg.Runner[name]; r.Start {
				for i := range r.Instances {
					specs = append(specs, master.Spec{Name: name, Slice: i, Count: r.Instances})
				}
			}
		}
		return specs, nil
	}
	for _, n := range names {
		s, err := master.ParseSpec(n, config.RunnerNames)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		if !strings.Contains(n, ":") {
			// A bare name starts every instance the configuration asks for.
			count := cfg.Runner[s.Name].Instances
			for i := range count {
				specs = append(specs, master.Spec{Name: s.Name, Slice: i, Count: count})
			}
			continue
		}
		specs = append(specs, s)
	}
	return specs, nil
}

func cmdStart(e *env, args []string) error {
	fs, cfgPath := e.flags("start")
	foreground := fs.Bool("f", false, "stay in the foreground")
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return err
	}
	specs, err := runnerSpecs(cfg, names)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if *foreground {
		opts := master.Options{Config: cfg, Executable: exe, Runners: specs, Prepare: func() error {
			// Migrate the store once, here, before runners open it.
			st, err := openStoreAtStart(cfg, slog.New(slog.NewTextHandler(e.stderr, nil)).With("runner", "master", "pid", os.Getpid()))
			if err != nil {
				return err
			}
			if err := st.Close(); err != nil {
				return err
			}
			return registry.Settle(cfg)
		}, Finish: func() error { return registry.Settle(cfg) }}
		if fd, err := strconv.Atoi(os.Getenv(envStartFD)); err == nil {
			opts.Ready = os.NewFile(uintptr(fd), "start")
		} else {
			opts.Echo = e.stderr
		}
		return master.Run(opts)
	}
	if pid, err := master.Running(cfg.Paths()); err == nil {
		return fmt.Errorf("GNU Mailman is already running with pid %d", pid)
	}
	return startDetached(e, cfg, exe, args)
}

// openStoreAtStart opens (and migrates) the store before any runner
// starts. A database that is not up yet (a PostgreSQL server still
// starting after a power cut, which Mailman's users met as a start that
// failed) is waited for, with a log line each try, up to [master]
// start_timeout; then start fails with the reason.
func openStoreAtStart(cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	timeout := cfg.Master.StartTimeout.D()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := store.OpenWaiting(ctx, cfg.Database.URL, cfg.VarDir(), func(err error, wait time.Duration) {
		log.Warn("database unavailable; waiting for it", "error", err, "retry_in", wait)
	})
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w (waited %s, [master] start_timeout)", err, timeout)
	}
	return st, err
}

// startDetached runs `start -f` as a new session with its output in the
// log, and waits for it to say that every runner is ready, or why not.
func startDetached(e *env, cfg *config.Config, exe string, args []string) error {
	paths := cfg.Paths()
	logFile, err := master.OpenLog(paths.Log)
	if err != nil {
		return err
	}
	defer logFile.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	argv := []string{"start", "-f"}
	if cfg.File != "" {
		argv = append([]string{"-C", cfg.File}, argv...)
	}
	if e.runAsRoot {
		argv = append([]string{"--run-as-root"}, argv...)
	}
	cmd := exec.Command(exe, append(argv, args...)...)
	cmd.Env = append(os.Environ(), envStartFD+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = logFile.File(), logFile.File()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return err
	}
	w.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch word {
	case "ready":
		cmd.Process.Release()
		// Where the site is: without -C, the folder start ran in decides.
		fmt.Fprintf(e.stdout, "GNU Mailman is running (master pid: %s; var_dir: %s)\n", rest, cfg.VarDir())
		return nil
	case "error":
		cmd.Wait()
		return errors.New(rest)
	}
	err = cmd.Wait()
	return fmt.Errorf("the master exited during start-up (%v); see %s", err, paths.Log)
}

// signalMaster sends sig to the master of cfg and returns its pid.
func signalMaster(cfg *config.Config, sig syscall.Signal) (int, error) {
	pid, err := master.Running(cfg.Paths())
	if errors.Is(err, master.ErrNotRunning) {
		return 0, notRunning{}
	}
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return 0, fmt.Errorf("signal master pid %d: %w", pid, err)
	}
	return pid, nil
}

// waitUntil polls cond until it is true or the timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// processGone is whether pid has ended: no such process, or one only its
// parent has yet to reap.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist) && runtime.GOOS == "linux"
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

func cmdStop(e *env, args []string) error {
	fs, cfgPath := e.flags("stop")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return err
	}
	pid, err := signalMaster(cfg, syscall.SIGTERM)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Shutting down Mailman's master runner (pid %d)\n", pid)
	// The master gives each runner stop_timeout before killing it.
	timeout := cfg.Master.StopTimeout.D() + 5*time.Second
	// The lock is let go a moment before the process ends; stop returns
	// once both are gone, so that what runs next finds no master.
	stopped := waitUntil(timeout, func() bool {
		_, err := master.Running(cfg.Paths())
		return errors.Is(err, master.ErrNotRunning) && processGone(pid)
	})
	if !stopped {
		return fmt.Errorf("the master (pid %d) has not stopped after %s", pid, timeout)
	}
	return nil
}

func cmdRestart(e *env, args []string) error {
	fs, cfgPath := e.flags("restart")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return err
	}
	paths := cfg.Paths()
	before, err := master.ReadState(paths)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := signalMaster(cfg, syscall.SIGUSR1); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Restarting the Mailman runners")
	old := map[int]bool{}
	if before != nil {
		for _, r := range before.Runners {
			old[r.PID] = true
		}
	}
	timeout := cfg.Master.StopTimeout.D() + cfg.Master.StartTimeout.D()
	restarted := waitUntil(timeout, func() bool {
		s, err := master.ReadState(paths)
		if err != nil {
			return false
		}
		for _, r := range s.Runners {
			if r.State != "running" || old[r.PID] {
				return false
			}
		}
		return true
	})
	if !restarted {
		return fmt.Errorf("not every runner is running again after %s; see `mailmanctl status`", timeout)
	}
	return nil
}

func cmdReopen(e *env, args []string) error {
	fs, cfgPath := e.flags("reopen")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return err
	}
	if _, err := signalMaster(cfg, syscall.SIGHUP); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Reopening the Mailman log")
	return nil
}

func cmdStatus(e *env, args []string) error {
	fs, cfgPath := e.flags("status")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return err
	}
	paths := cfg.Paths()
	pid, err := master.Running(paths)
	if errors.Is(err, master.ErrNotRunning) {
		if *asJSON {
			writeJSON(e.stdout, master.Status{Runners: []master.RunnerStatus{}})
		} else {
			fmt.Fprintln(e.stdout, master.ErrNotRunning)
		}
		return exitStatus(exitError)
	}
	if err != nil {
		return err
	}
	st, err := master.ReadState(paths)
	if err != nil {
		return fmt.Errorf("the master (pid %d) runs, but its state: %w", pid, err)
	}
	now := time.Now()
	report := st.Report(pid, now)
	backlog, err := archiveBacklog(paths.Queues)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, struct {
			master.Status
			ArchiveBacklog map[string]int `json:"archive_backlog"`
		}{report, backlog})
	}
	fmt.Fprintf(e.stdout, "GNU Mailman is running (master pid: %d, up %s)\n", pid, now.Sub(st.StartedAt).Round(time.Second))
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUNNER\tSLICE\tPID\tSTATE\tRESTARTS\tUPTIME\tLAST EXIT")
	for _, r := range report.Runners {
		pid, up, last := "-", "-", r.LastExit
		if r.PID != 0 {
			pid, up = strconv.Itoa(r.PID), (time.Duration(r.UptimeS) * time.Second).String()
		}
		if last == "" {
			last = "-"
		}
		if r.Reason != "" {
			last += " (" + r.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Name, r.Slice, pid, r.State, r.Restarts, up, last)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printBacklog(e.stdout, backlog)
	return nil
}

// exitStatus ends a command with a status and no message.
type exitStatus int

func (s exitStatus) Error() string { return "" }
func (s exitStatus) ExitCode() int { return int(s) }
