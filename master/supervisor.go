package master

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailman-go/mailman/config"
)

// child is one runner slice and its current process, if any.
type child struct {
	spec      Spec
	gen       int // bumped at each start; events of older processes are ignored
	pid       int
	state     string
	ready     bool
	restarts  int // restarts after unexpected exits; requested ones are free
	startedAt time.Time
	lastExit  string
	reason    string
	history   History
	requested bool // the master asked this process to stop for a restart
}

type eventKind int

const (
	evReady   eventKind = iota // the process said it is ready
	evExit                     // the process exited
	evRestart                  // a back-off delay is over
	evKill                     // a process asked to stop has had stop_timeout
)

type event struct {
	kind     eventKind
	c        *child
	gen      int
	exit     Exit
	lastLine string
}

// supervisor owns every child: one goroutine (run) changes their state, fed
// by events from per-process goroutines and timers.
type supervisor struct {
	opts      Options
	paths     config.Paths
	logFile   *LogFile
	out       io.Writer // where runners' output lines go
	log       *slog.Logger
	policy    Policy
	children  []*child
	events    chan event
	signals   chan os.Signal
	started   chan error // start-up's outcome, sent once
	starting  bool
	stopping  bool
	spawnReqs chan spawnReq
	startedAt time.Time
}

func newSupervisor(opts Options, paths config.Paths, logFile *LogFile, out io.Writer, log *slog.Logger) *supervisor {
	s := &supervisor{
		opts: opts, paths: paths, logFile: logFile, out: out, log: log,
		events:    make(chan event, 64),
		signals:   make(chan os.Signal, 4),
		started:   make(chan error, 1),
		starting:  true,
		spawnReqs: make(chan spawnReq),
		startedAt: time.Now(),
	}
	s.policy = DefaultBackoff
	s.policy.Window = opts.Config.Master.RestartWindow.D()
	for _, spec := range opts.Runners {
		s.children = append(s.children, &child{spec: spec, state: "stopped"})
	}
	return s
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

// spawner starts every child from one OS thread that never exits: the
// parent-death signal fires when the thread that forked the child ends, not
// the process (golang/go#27505), so a thread Go might retire must not fork.
// It lives as long as the process, so the supervisor can never be left
// waiting on it.
func (s *supervisor) spawner() {
	runtime.LockOSThread()
	for r := range s.spawnReqs {
		r.err <- r.cmd.Start()
	}
}

func (s *supervisor) run(ctx context.Context) error {
	go s.spawner()
	for _, c := range s.children {
		s.start(c)
	}
	s.publish()
	for {
		select {
		case <-ctx.Done():
			return s.shutdown()
		case sig := <-s.signals:
			s.signal(sig)
		case ev := <-s.events:
			s.handle(ev)
		}
		s.publish()
	}
}

// start launches a process for c.
func (s *supervisor) start(c *child) {
	c.gen++
	gen := c.gen
	c.ready, c.requested, c.reason = false, false, ""
	readyR, readyW, err := os.Pipe()
	if err != nil {
		s.startFailed(c, gen, err)
		return
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		readyW.Close()
		s.startFailed(c, gen, err)
		return
	}
	args := []string{"runner", c.spec.String()}
	if f := s.opts.Config.File; f != "" {
		args = append([]string{"-C", f}, args...)
	}
	cmd := exec.Command(s.opts.Executable, args...)
	cmd.Env = append(os.Environ(), EnvReadyFD+"=3", EnvMasterPID+"="+strconv.Itoa(os.Getpid()))
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.Stdout, cmd.Stderr = outW, outW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	errc := make(chan error)
	s.spawnReqs <- spawnReq{cmd, errc}
	err = <-errc
	readyW.Close()
	outW.Close()
	if err != nil {
		readyR.Close()
		outR.Close()
		s.startFailed(c, gen, err)
		return
	}
	c.pid, c.state, c.startedAt = cmd.Process.Pid, "starting", time.Now()
	s.log.Info("runner started", "child", c.spec.String(), "child_pid", c.pid)

	var lastLine atomic.Pointer[string]
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		s.copyOutput(c.spec, c.pid, outR, &lastLine)
	}()
	go func() {
		defer readyR.Close()
		buf := make([]byte, 16)
		n, _ := io.ReadFull(readyR, buf[:len("ready\n")])
		if string(buf[:n]) == "ready\n" {
			s.events <- event{kind: evReady, c: c, gen: gen}
		}
	}()
	go func() {
		cmd.Wait()
		// The last lines a dying runner wrote say why it died; wait for
		// them, but not for a grandchild that might hold the pipe open.
		select {
		case <-copied:
		case <-time.After(time.Second):
		}
		ev := event{kind: evExit, c: c, gen: gen, exit: exitOf(cmd.ProcessState)}
		if l := lastLine.Load(); l != nil {
			ev.lastLine = *l
		}
		s.events <- ev
	}()
}

// startFailed treats a process that could not even be started as one that
// exited at once, so the same policy applies.
func (s *supervisor) startFailed(c *child, gen int, err error) {
	c.startedAt = time.Now()
	go func() { s.events <- event{kind: evExit, c: c, gen: gen, exit: Exit{Code: -1}, lastLine: err.Error()} }()
}

// copyOutput writes a runner's output to the log: its own log lines as
// they are, anything else (a Go panic's trace) as one record per line.
func (s *supervisor) copyOutput(spec Spec, pid int, r io.ReadCloser, last *atomic.Pointer[string]) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte("time=")) {
			s.out.Write(append(line, '\n'))
		} else {
			s.log.Warn("runner output", "child", spec.String(), "child_pid", pid, "line", string(line))
		}
		text := string(line)
		last.Store(&text)
	}
}

func exitOf(ps *os.ProcessState) Exit {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return Exit{Signal: ws.Signal().String()}
	}
	return Exit{Code: ps.ExitCode()}
}

func (s *supervisor) handle(ev event) {
	c := ev.c
	if ev.gen != c.gen {
		return
	}
	switch ev.kind {
	case evReady:
		c.ready = true
		if c.state == "starting" {
			c.state = "running"
		}
		s.log.Info("runner ready", "child", c.spec.String(), "child_pid", c.pid)
		if s.starting && s.allReady() {
			s.starting = false
			// Publish first: whoever ran start may run status next.
			s.publish()
			s.started <- nil
		}
	case evKill:
		if c.pid != 0 {
			s.log.Warn("runner did not stop in time; killing it", "child", c.spec.String(), "child_pid", c.pid,
				"stop_timeout", s.opts.Config.Master.StopTimeout)
			syscall.Kill(-c.pid, syscall.SIGKILL)
		}
	case evRestart:
		if c.state == "backoff" {
			s.start(c)
		}
	case evExit:
		s.exited(c, ev)
	}
}

func (s *supervisor) exited(c *child, ev event) {
	ev.exit.Requested = c.requested
	c.pid, c.lastExit = 0, ev.exit.String()
	log := s.log.With("child", c.spec.String(), "exit", c.lastExit)
	if ev.lastLine != "" {
		log = log.With("last_output", ev.lastLine)
	}
	if s.starting && !c.ready {
		// A runner that cannot start is a start-up failure: report it to
		// whoever ran `start` rather than retrying behind their back.
		c.state, c.reason = "failed", "exited during start-up"
		log.Error("runner exited during start-up")
		s.starting = false
		reason := ev.lastLine
		if reason == "" {
			reason = "see " + s.paths.Log
		}
		s.started <- fmt.Errorf("runner %s exited during start-up (%s): %s", c.spec, c.lastExit, reason)
		return
	}
	policy := s.policy
	policy.MaxRestarts = s.opts.Config.Runner[c.spec.Name].MaxRestarts
	d, h := policy.Decide(c.history, ev.exit, c.startedAt, time.Now(), s.stopping)
	c.history = h
	if d.Failure {
		c.restarts++
	}
	switch {
	case d.GiveUp != "":
		c.state, c.reason = "failed", d.GiveUp
		log.Error("runner failed; not restarting it", "reason", d.GiveUp, "restarts", c.restarts)
	case d.Restart && d.Delay == 0:
		log.Info("restarting runner")
		s.start(c)
	case d.Restart:
		c.state = "backoff"
		log.Warn("runner exited unexpectedly; restarting it after a back-off", "delay", d.Delay, "restarts", c.restarts)
		gen := c.gen
		time.AfterFunc(d.Delay, func() { s.events <- event{kind: evRestart, c: c, gen: gen} })
	default:
		c.state = "stopped"
	}
}

func (s *supervisor) signal(sig os.Signal) {
	switch sig {
	case syscall.SIGHUP:
		if err := s.logFile.Reopen(); err != nil {
			s.log.Error("cannot reopen the log", "error", err)
		} else {
			s.log.Info("log reopened")
		}
		for _, c := range s.children {
			if c.pid != 0 {
				syscall.Kill(c.pid, syscall.SIGHUP)
			}
		}
	case syscall.SIGUSR1:
		s.log.Info("restarting every runner")
		for _, c := range s.children {
			switch {
			case c.pid != 0:
				c.requested, c.state = true, "stopping"
				s.stop(c)
			default:
				// A failed or backing-off runner gets a fresh start: the
				// postmaster asked for it, presumably having fixed the cause.
				c.history = History{}
				s.start(c)
			}
		}
	}
}

// stop asks c's process group to stop and arranges a SIGKILL after
// stop_timeout.
func (s *supervisor) stop(c *child) {
	syscall.Kill(-c.pid, syscall.SIGTERM)
	gen := c.gen
	time.AfterFunc(s.opts.Config.Master.StopTimeout.D(), func() { s.events <- event{kind: evKill, c: c, gen: gen} })
}

// shutdown stops every runner, each given stop_timeout to finish the
// message in hand before it is killed.
func (s *supervisor) shutdown() error {
	s.stopping = true
	s.log.Info("stopping every runner")
	for _, c := range s.children {
		if c.pid != 0 {
			c.state = "stopping"
			s.stop(c)
		} else {
			c.state = "stopped"
		}
	}
	s.publish()
	for s.live() > 0 {
		ev := <-s.events
		if ev.gen != ev.c.gen {
			continue
		}
		switch ev.kind {
		case evExit:
			ev.c.pid, ev.c.state, ev.c.lastExit = 0, "stopped", ev.exit.String()
			s.log.Info("runner stopped", "child", ev.c.spec.String(), "exit", ev.c.lastExit)
		case evKill:
			s.handle(ev)
		}
		s.publish()
	}
	return nil
}

func (s *supervisor) live() int {
	n := 0
	for _, c := range s.children {
		if c.pid != 0 {
			n++
		}
	}
	return n
}

func (s *supervisor) allReady() bool {
	for _, c := range s.children {
		if !c.ready {
			return false
		}
	}
	return true
}

// runnerNames names the runners being started, for the start-up timeout's
// message. It is called from another goroutine than the supervisor's, so it
// reads only the specs, which never change; which runners were late is in
// the log.
func (s *supervisor) runnerNames() string {
	var names []string
	for _, c := range s.children {
		names = append(names, c.spec.String())
	}
	return "starting " + strings.Join(names, ", ") + "; see " + s.paths.Log + " for which were late"
}

func (s *supervisor) publish() {
	st := State{PID: os.Getpid(), StartedAt: s.startedAt}
	for _, c := range s.children {
		r := RunnerState{
			Name: c.spec.Name, Slice: fmt.Sprintf("%d:%d", c.spec.Slice, c.spec.Count),
			PID: c.pid, State: c.state, Restarts: c.restarts, LastExit: c.lastExit, Reason: c.reason,
		}
		if c.pid != 0 {
			r.StartedAt = c.startedAt
		}
		st.Runners = append(st.Runners, r)
	}
	if err := publish(s.paths.MasterState, st); err != nil {
		s.log.Error("cannot write the state file", "error", err)
	}
}
