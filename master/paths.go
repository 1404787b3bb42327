package master

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/internal/flock"
)

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

// lockWait is how long a busy master lock is tried before it is taken as
// another master's: other tools probe it for a moment (see Running).
const lockWait = 200 * time.Millisecond

// lock takes the master lock. The kernel drops a flock when its holder
// dies, so a crashed master never leaves a stale lock behind.
func lock(p config.Paths) (*flock.Lock, error) {
	l, err := flock.Take(p.MasterLock, lockWait)
	if errors.Is(err, flock.ErrBusy) {
		pid, _ := readPID(p.MasterPID)
		return nil, &AlreadyRunningError{PID: pid}
	}
	if err != nil {
		return nil, fmt.Errorf("master lock: %w", err)
	}
	return l, nil
}

// Running returns the pid of the master of this var_dir, or ErrNotRunning.
// The lock, not the pid file, says whether one runs (Mailman's status and
// stop could disagree because they read different files).
func Running(p config.Paths) (int, error) {
	held, err := flock.Held(p.MasterLock)
	if err != nil {
		return 0, fmt.Errorf("master lock: %w", err)
	}
	if !held {
		return 0, ErrNotRunning
	}
	pid, err := readPID(p.MasterPID)
	if err != nil {
		return 0, fmt.Errorf("a master holds %s, but its pid file: %w", p.MasterLock, err)
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
func ReadState(p config.Paths) (*State, error) {
	b, err := os.ReadFile(p.MasterState)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", p.MasterState, err)
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
