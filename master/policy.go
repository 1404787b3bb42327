package master

import (
	"strconv"
	"time"
)

// Exit statuses that runners and the master agree on.
const (
	// ExitNoRestart is what a runner exits with when starting it again
	// cannot help (a bad configuration, a runner that does not exist):
	// sysexits' EX_CONFIG.
	ExitNoRestart = 78
	// ExitStuck is what a runner exits with when a message hung in its
	// handler for longer than message_timeout (EX_SOFTWARE): a failure
	// that is restarted, unlike ExitNoRestart, so that the new process's
	// recovery counts the attempt.
	ExitStuck = 70
)

// Exit is how a runner process ended.
type Exit struct {
	Code      int    // exit status, when it exited
	Signal    string // the signal that killed it, when one did ("killed", "terminated")
	Requested bool   // the master asked it to stop (shutdown or restart)
}

func (e Exit) String() string {
	if e.Signal != "" {
		return "signal: " + e.Signal
	}
	if e.Code == ExitNoRestart {
		return "exit status 78 (do not restart)"
	}
	return "exit status " + strconv.Itoa(e.Code)
}

// Policy is how hard the master tries to keep a runner up.
type Policy struct {
	MinBackoff  time.Duration // delay before the first restart after a failure
	MaxBackoff  time.Duration // the delay doubles up to this
	StableAfter time.Duration // a runner up this long is healthy again: back-off starts over
	MaxRestarts int           // failures allowed within Window; one more and the runner is given up
	Window      time.Duration
}

// DefaultBackoff is the back-off the master uses: quick enough that a
// runner killed by accident is back within a second, slow enough that one
// failing at every start does not spin.
var DefaultBackoff = Policy{MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second, StableAfter: time.Minute}

// History is what the master remembers of one runner slice's failures.
type History struct {
	Failures []time.Time   // unexpected exits within the window
	Backoff  time.Duration // the delay before the next restart after a failure
}

// Decision is what to do after an exit.
type Decision struct {
	Restart bool
	Delay   time.Duration
	Failure bool   // the exit counts against max_restarts
	GiveUp  string // when set, the runner is marked failed, with this reason
}

// Decide says what the master does when a runner that started at started
// exits at now. It is pure so that the whole policy is one table test.
//
// Unlike Mailman 3.3, which restarts only runners that exit for SIGUSR1 and
// counts even those, any unexpected exit is restarted with back-off, a
// requested restart is free, and the cap applies within a time window.
func (p Policy) Decide(h History, e Exit, started, now time.Time, stopping bool) (Decision, History) {
	switch {
	case stopping:
		return Decision{}, h
	case e.Requested:
		return Decision{Restart: true}, h
	case e.Signal == "" && e.Code == ExitNoRestart:
		return Decision{GiveUp: "it exited with status 78: restarting it cannot help (see the log)"}, h
	}
	if now.Sub(started) >= p.StableAfter {
		h.Backoff = 0
	}
	kept := h.Failures[:0:0]
	for _, f := range h.Failures {
		if now.Sub(f) < p.Window {
			kept = append(kept, f)
		}
	}
	h.Failures = append(kept, now)
	if len(h.Failures) > p.MaxRestarts {
		return Decision{Failure: true, GiveUp: "it failed " + strconv.Itoa(len(h.Failures)) + " times within " + p.Window.String()}, h
	}
	d := Decision{Restart: true, Failure: true, Delay: max(h.Backoff, p.MinBackoff)}
	h.Backoff = min(2*d.Delay, p.MaxBackoff)
	return d, h
}
