package master

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailman-go/mailman/config"
)

// Paths are the master's files under var_dir.
type Paths struct {
	Lock  string // locks/master.lck: held with flock(2) while a master runs
	PID   string // master.pid
	State string // master.state.json: what `status` shows
	Log   string // logs/mailman.log
}

// PathsFor returns the master's files for a configuration.
func PathsFor(cfg *config.Config) Paths {
	v := cfg.VarDir()
	return Paths{
		Lock:  filepath.Join(v, "locks", "master.lck"),
		PID:   filepath.Join(v, "master.pid"),
		State: filepath.Join(v, "master.state.json"),
		Log:   filepath.Join(v, "logs", "mailman.log"),
	}
}

// ErrNotRunning is returned when no master holds the lock.
var ErrNotRunning = errors.New("GNU Mailman is not running")

// AlreadyRunningError says another master holds the lock.
type AlreadyRunningError struct{ PID int }

func (e *AlreadyRunningError) Error() string {
	if e.PID == 0 {
		return "GNU Mailman is already running (its pid file is unreadable)"
	}
	return fmt.Sprintf("GNU Mailman is already running with pid %d", e.PID)
}

// lock takes the master lock. The kernel drops a flock when its holder
// dies, so a crashed master never leaves a stale lock behind. Other tools
// probe the lock for a moment (see Running), so a busy lock is tried again
// briefly before it is taken as another master's.
func lock(p Paths) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(p.Lock), 0o770); err != nil {
		return nil, fmt.Errorf("master lock: %w", err)
	}
	f, err := os.OpenFile(p.Lock, os.O_RDWR|os.O_CREATE, 0o660)
	if err != nil {
		return nil, fmt.Errorf("master lock: %w", err)
	}
	for try := 0; ; try++ {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("master lock %s: %w", p.Lock, err)
		}
		if try == 10 {
			f.Close()
			pid, _ := readPID(p.PID)
			return nil, &AlreadyRunningError{PID: pid}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Running returns the pid of the master of this var_dir, or ErrNotRunning.
// The lock, not the pid file, says whether one runs (Mailman's status and
// stop could disagree because they read different files).
func Running(p Paths) (int, error) {
	f, err := os.Open(p.Lock)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrNotRunning
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0, ErrNotRunning
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return 0, fmt.Errorf("master lock %s: %w", p.Lock, err)
	}
	pid, err := readPID(p.PID)
	if err != nil {
		return 0, fmt.Errorf("a master holds %s, but its pid file: %w", p.Lock, err)
	}
	return pid, nil
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s does not hold a pid", path)
	}
	return pid, nil
}

// writeAtomic replaces path with data, so a reader never sees half a file.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o660); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// State is what the master publishes in its state file for `status`.
type State struct {
	PID       int           `json:"pid"`
	StartedAt time.Time     `json:"started_at"`
	Runners   []RunnerState `json:"runners"`
}

// RunnerState is one runner slice as the master sees it.
type RunnerState struct {
	Name      string    `json:"name"`
	Slice     string    `json:"slice"` // SLICE:COUNT
	PID       int       `json:"pid"`   // 0 when no process runs
	State     string    `json:"state"` // starting, running, backoff, stopping, failed, stopped
	Restarts  int       `json:"restarts"`
	StartedAt time.Time `json:"started_at,omitzero"`
	LastExit  string    `json:"last_exit"`
	Reason    string    `json:"reason,omitempty"` // why it is failed
}

// ReadState reads the state file of a running master.
func ReadState(p Paths) (*State, error) {
	b, err := os.ReadFile(p.State)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", p.State, err)
	}
	return &s, nil
}

// Status is what `mailmanctl status --json` prints: the master's pid (0 when
// none runs) and each runner slice.
type Status struct {
	PID     int            `json:"pid"`
	Runners []RunnerStatus `json:"runners"`
}

// RunnerStatus is one runner slice in Status.
type RunnerStatus struct {
	Name     string `json:"name"`
	Slice    string `json:"slice"`
	PID      int    `json:"pid"`
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
	UptimeS  int64  `json:"uptime_s"`
	LastExit string `json:"last_exit"`
	Reason   string `json:"reason,omitempty"`
}

// Report turns the state file of the master with pid into a Status as of now.
func (s *State) Report(pid int, now time.Time) Status {
	st := Status{PID: pid, Runners: make([]RunnerStatus, 0, len(s.Runners))}
	for _, r := range s.Runners {
		rs := RunnerStatus{Name: r.Name, Slice: r.Slice, PID: r.PID, State: r.State, Restarts: r.Restarts, LastExit: r.LastExit, Reason: r.Reason}
		if r.PID != 0 && !r.StartedAt.IsZero() {
			rs.UptimeS = int64(now.Sub(r.StartedAt).Seconds())
		}
		st.Runners = append(st.Runners, rs)
	}
	return st
}
