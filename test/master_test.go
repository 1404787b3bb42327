package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
	"github.com/mailman-go/mailman/master"
)

// step is one command of a transcript and what it must answer.
type step struct {
	args string
	code int
	out  string // regular expression matched against stdout+stderr
}

// transcript runs mailmanctl commands and checks each one's exit status and
// output against a pattern, as a postmaster would see them.
func transcript(t *testing.T, s *mailmantest.Site, steps []step) {
	t.Helper()
	for _, st := range steps {
		out, errOut, code := s.Ctl(strings.Fields(st.args)...)
		t.Logf("$ mailmanctl %s  (exit %d)\n%s%s", st.args, code, out, errOut)
		if code != st.code {
			t.Errorf("mailmanctl %s: exit %d, want %d", st.args, code, st.code)
		}
		if !regexp.MustCompile(st.out).MatchString(out + errOut) {
			t.Errorf("mailmanctl %s: output does not match %q", st.args, st.out)
		}
	}
}

func TestStartStatusStop(t *testing.T) {
	s := mailmantest.NewSite(t, "[runner.retry]\ninstances = 2\n")
	transcript(t, s, []step{
		{"status", 1, `^GNU Mailman is not running\n$`},
		{"stop", 1, `^mailmanctl stop: GNU Mailman is not running\n$`},
		{"start retry", 0, `^GNU Mailman is running \(master pid: \d+; var_dir: ` + regexp.QuoteMeta(s.Paths().VarDir) + `\)\n$`},
		{"status", 0, `(?s)^GNU Mailman is running \(master pid: \d+, up \d+s\)\nRUNNER +SLICE +PID +STATE +RESTARTS +UPTIME +LAST EXIT\nretry +0:2 +\d+ +running +0 +\d+s +-\nretry +1:2 +\d+ +running +0 +\d+s +-\n$`},
		{"start retry", 1, `^mailmanctl start: GNU Mailman is already running with pid \d+\n$`},
		{"stop", 0, `^Shutting down Mailman's master runner \(pid \d+\)\n$`},
		{"status", 1, `^GNU Mailman is not running\n$`},
	})
	// The second start must name the pid that runs.
	s.Start("retry")
	pid := s.Status().PID
	_, errOut, _ := s.Ctl("start")
	if !strings.Contains(errOut, fmt.Sprintf("already running with pid %d", pid)) {
		t.Errorf("second start does not name pid %d: %q", pid, errOut)
	}
	st := s.Status()
	if len(st.Runners) != 2 {
		t.Fatalf("status --json: %+v", st)
	}
	for _, r := range st.Runners {
		if r.Name != "retry" || r.State != "running" || r.PID == 0 || r.Restarts != 0 {
			t.Errorf("runner %+v", r)
		}
	}
	s.Stop()
	for _, r := range st.Runners {
		if alive(r.PID) {
			t.Errorf("runner pid %d outlived stop", r.PID)
		}
	}
}

// TestStatusShowsTheBouncesRunner: a postmaster sees in status that the
// bounces queue is served (issue 19: while nothing served it, mail to
// -bounces was kept for ever, unseen).
func TestStatusShowsTheBouncesRunner(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.Start()
	defer s.Stop()
	transcript(t, s, []step{{"status", 0, `(?m)^bounces +0:1 +\d+ +running +0 `}})
}

func TestStartFailuresAreReported(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	transcript(t, s, []step{
		{"start bogus", 2, `unknown runner "bogus"`},
		{"status", 1, `not running`},
	})
	os.WriteFile(s.Config, []byte("[mta]\nlmtp_prot = 1\n"), 0o644)
	_, errOut, code := s.Ctl("start")
	if code != 1 || !strings.Contains(errOut, s.Config+":2: [mta] lmtp_prot: unknown key") {
		t.Errorf("start with a bad config: exit %d, %q", code, errOut)
	}
}

// alive reports whether any thread of process pid is still running: a
// process whose main thread is a zombie may still have threads exiting, and
// holds its files (and their locks) until the last one has.
func alive(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 0 && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

func runnerPIDs(_ testing.TB, s *mailmantest.Site) []int {
	var pids []int
	for _, r := range s.Status().Runners {
		pids = append(pids, r.PID)
	}
	return pids
}

func TestKilledRunnerIsBackWithinASecond(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.Start("retry")
	old := s.Status().Runners[0].PID
	syscall.Kill(old, syscall.SIGKILL)
	killed := time.Now()
	s.WaitFor("the runner to be back", 5*time.Second, func() bool {
		r := s.Status().Runners[0]
		return r.State == "running" && r.PID != old && r.PID != 0
	})
	if d := time.Since(killed); d > time.Second {
		t.Errorf("runner back after %s, want under a second", d)
	}
	r := s.Status().Runners[0]
	if r.Restarts != 1 || r.LastExit != "signal: killed" {
		t.Errorf("after one kill: restarts %d, last exit %q", r.Restarts, r.LastExit)
	}
}

func TestRunnerFailingAgainAndAgainIsGivenUp(t *testing.T) {
	s := mailmantest.NewSite(t, "[runner.retry]\ninstances = 2\nmax_restarts = 2\n")
	s.Start("retry")
	st := s.Status()
	master, other := st.PID, st.Runners[1].PID
	for kill := 1; kill <= 3; kill++ {
		var pid int
		s.WaitFor("runner 0:2 to be running", 10*time.Second, func() bool {
			r := s.Status().Runners[0]
			pid = r.PID
			return r.State == "running"
		})
		syscall.Kill(pid, syscall.SIGKILL)
		s.WaitFor("the master to see the kill", 5*time.Second, func() bool { return s.Status().Runners[0].PID != pid })
	}
	s.WaitFor("runner 0:2 to be given up", 5*time.Second, func() bool { return s.Status().Runners[0].State == "failed" })
	st = s.Status()
	r := st.Runners[0]
	if r.PID != 0 || r.Restarts != 3 || !strings.Contains(r.Reason, "failed 3 times") {
		t.Errorf("given-up runner: %+v", r)
	}
	if st.PID != master || st.Runners[1].PID != other || st.Runners[1].State != "running" {
		t.Errorf("the master or the other runner did not go on: %+v", st)
	}
	log, _ := os.ReadFile(s.LogPath())
	if !strings.Contains(string(log), `level=ERROR msg="runner failed; not restarting it"`) {
		t.Error("giving up was not logged as an error")
	}
	// A restart gives the failed runner a fresh start.
	s.MustCtl("restart")
	if r := s.Status().Runners[0]; r.State != "running" {
		t.Errorf("after restart: %+v", r)
	}
}

func TestRunnerWithBadConfigIsNotRestarted(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.Start("retry")
	pid := s.Status().Runners[0].PID
	// The runner reads the configuration when it starts: break it, then
	// make the runner start again.
	cfg, _ := os.ReadFile(s.Config)
	os.WriteFile(s.Config, append(cfg, []byte("\n[runner.retry]\nsleep_time = 5\n")...), 0o644)
	syscall.Kill(pid, syscall.SIGKILL)
	// status reads the broken configuration too, so read the master's state file.
	state := func() master.RunnerState {
		st, err := master.ReadState(s.Paths())
		if err != nil {
			t.Fatal(err)
		}
		return st.Runners[0]
	}
	s.WaitFor("the runner to be given up", 5*time.Second, func() bool { return state().State == "failed" })
	r := state()
	if r.LastExit != "exit status 78 (do not restart)" || r.Restarts != 1 {
		t.Errorf("runner: %+v", r)
	}
	time.Sleep(300 * time.Millisecond)
	if r := state(); r.State != "failed" || r.Restarts != 1 {
		t.Errorf("a do-not-restart exit was restarted: %+v", r)
	}
	_, errOut, code := s.Ctl("status")
	if code != 1 || !strings.Contains(errOut, "[runner.retry] sleep_time: \"5\": durations need a unit") {
		t.Errorf("status with the broken configuration: exit %d, %q", code, errOut)
	}
	os.WriteFile(s.Config, cfg, 0o644)
	log, _ := os.ReadFile(s.LogPath())
	if !strings.Contains(string(log), `durations need a unit`) {
		t.Error("the runner's reason is not in the log")
	}
}

func TestKilledMasterLeavesNoRunner(t *testing.T) {
	s := mailmantest.NewSite(t, "[runner.retry]\ninstances = 4\n")
	s.Start("retry")
	st := s.Status()
	syscall.Kill(st.PID, syscall.SIGKILL)
	s.WaitFor("every runner to die with the master", 5*time.Second, func() bool {
		for _, r := range st.Runners {
			if alive(r.PID) {
				return false
			}
		}
		return !alive(st.PID)
	})
	// The kernel dropped the lock with the master: no stale state to clear.
	s.Start("retry")
	if st2 := s.Status(); st2.PID == st.PID || len(st2.Runners) != 4 {
		t.Errorf("start after a killed master: %+v", st2)
	}
}

func TestHUPReopensTheLog(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.Start("retry")
	rotated := s.LogPath() + ".1"
	if err := os.Rename(s.LogPath(), rotated); err != nil {
		t.Fatal(err)
	}
	s.MustCtl("reopen")
	s.WaitFor("a new log file", 5*time.Second, func() bool {
		b, err := os.ReadFile(s.LogPath())
		return err == nil && strings.Contains(string(b), `msg="log reopened"`)
	})
	// Runners' lines come through the master, so they reach the new file too.
	s.MustCtl("restart")
	s.WaitFor("a runner's line in the new log", 5*time.Second, func() bool {
		b, _ := os.ReadFile(s.LogPath())
		return strings.Contains(string(b), `msg="runner started" runner=retry`)
	})
	old, _ := os.ReadFile(rotated)
	if !strings.Contains(string(old), `msg="master started"`) || strings.Contains(string(old), "log reopened") {
		t.Errorf("the rotated log is not the old one:\n%s", old)
	}
}

func TestUSR1RestartsEveryRunnerWithoutCountingFailures(t *testing.T) {
	s := mailmantest.NewSite(t, "[runner.retry]\ninstances = 2\nmax_restarts = 0\n")
	s.Start("retry")
	before := runnerPIDs(t, s)
	for range 3 {
		prev := runnerPIDs(t, s)
		syscall.Kill(s.Status().PID, syscall.SIGUSR1)
		s.WaitFor("new runner pids", 10*time.Second, func() bool {
			st := s.Status()
			for i, r := range st.Runners {
				if r.State != "running" || r.PID == prev[i] {
					return false
				}
			}
			return true
		})
	}
	for i, r := range s.Status().Runners {
		if r.PID == before[i] || r.Restarts != 0 || r.State != "running" {
			t.Errorf("after three SIGUSR1 (max_restarts 0): %+v", r)
		}
	}
}

func TestStartMigratesTheStoreAndReportsItsFailure(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.Start("retry")
	if _, err := os.Stat(s.Paths().Database); err != nil {
		t.Errorf("start did not create the store: %v", err)
	}
	s.Stop()
	// A database that cannot be reached fails the start, with the reason
	// and without the password.
	closed := mailmantest.FreePort(t)
	cfg, _ := os.ReadFile(s.Config)
	os.WriteFile(s.Config, append(cfg, []byte(fmt.Sprintf("\n[database]\nurl = \"postgres://mailman:secret@127.0.0.1:%d/mailman?connect_timeout=2\"\n[master]\nstart_timeout = \"1s\"\n", closed))...), 0o644)
	_, errOut, code := s.Ctl("start", "retry")
	if code != 1 || !strings.Contains(errOut, "database unavailable") || !strings.Contains(errOut, fmt.Sprintf("127.0.0.1:%d", closed)) ||
		!strings.Contains(errOut, "waited 1s, [master] start_timeout") || strings.Contains(errOut, "secret") {
		t.Errorf("start with an unreachable PostgreSQL: exit %d, %q", code, errOut)
	}
	if _, _, code := s.Ctl("status"); code != 1 {
		t.Error("a master runs after a failed start")
	}
}
