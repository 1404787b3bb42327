package master

import (
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	p := Policy{MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second, StableAfter: time.Minute, MaxRestarts: 3, Window: 10 * time.Minute}
	recent := func(n int) []time.Time {
		var fs []time.Time
		for i := range n {
			fs = append(fs, t0.Add(-time.Duration(i+1)*time.Second))
		}
		return fs
	}
	cases := []struct {
		name      string
		policy    Policy
		history   History
		exit      Exit
		uptime    time.Duration
		stopping  bool
		want      Decision
		backoff   time.Duration // history's back-off afterwards
		failures  int           // failures remembered afterwards
		giveUpHas string
	}{
		{name: "stopping: never restarted", exit: Exit{Signal: "terminated"}, stopping: true, want: Decision{}},
		{name: "requested restart is free", exit: Exit{Code: 0, Requested: true}, history: History{Failures: recent(3), Backoff: 800 * time.Millisecond},
			want: Decision{Restart: true}, backoff: 800 * time.Millisecond, failures: 3},
		{name: "do-not-restart status", exit: Exit{Code: ExitNoRestart}, want: Decision{}, giveUpHas: "status 78"},
		{name: "first crash", exit: Exit{Code: 1}, uptime: time.Second,
			want: Decision{Restart: true, Failure: true, Delay: 100 * time.Millisecond}, backoff: 200 * time.Millisecond, failures: 1},
		{name: "killed by a signal", exit: Exit{Signal: "killed"}, uptime: time.Second,
			want: Decision{Restart: true, Failure: true, Delay: 100 * time.Millisecond}, backoff: 200 * time.Millisecond, failures: 1},
		{name: "unrequested clean exit counts too", exit: Exit{Code: 0}, uptime: time.Second,
			want: Decision{Restart: true, Failure: true, Delay: 100 * time.Millisecond}, backoff: 200 * time.Millisecond, failures: 1},
		{name: "back-off doubles", exit: Exit{Code: 1}, history: History{Failures: recent(1), Backoff: 400 * time.Millisecond}, uptime: time.Second,
			want: Decision{Restart: true, Failure: true, Delay: 400 * time.Millisecond}, backoff: 800 * time.Millisecond, failures: 2},
		{name: "back-off is capped", exit: Exit{Code: 1}, history: History{Failures: recent(2), Backoff: 30 * time.Second}, uptime: time.Second,
			want: Decision{Restart: true, Failure: true, Delay: 30 * time.Second}, backoff: 30 * time.Second, failures: 3},
		{name: "a stable run resets the back-off", exit: Exit{Code: 1}, history: History{Failures: recent(1), Backoff: 30 * time.Second}, uptime: 2 * time.Minute,
			want: Decision{Restart: true, Failure: true, Delay: 100 * time.Millisecond}, backoff: 200 * time.Millisecond, failures: 2},
		{name: "one failure too many within the window", exit: Exit{Code: 1}, history: History{Failures: recent(3), Backoff: time.Second}, uptime: time.Second,
			want: Decision{Failure: true}, failures: 4, backoff: time.Second, giveUpHas: "failed 4 times within 10m0s"},
		{name: "old failures fall out of the window", exit: Exit{Code: 1},
			history: History{Failures: []time.Time{t0.Add(-time.Hour), t0.Add(-30 * time.Minute), t0.Add(-11 * time.Minute)}, Backoff: time.Second}, uptime: time.Second,
			want: Decision{Restart: true, Failure: true, Delay: time.Second}, backoff: 2 * time.Second, failures: 1},
		{name: "max_restarts 0 gives up at the first failure", policy: Policy{MinBackoff: time.Millisecond, MaxBackoff: time.Second, StableAfter: time.Minute, MaxRestarts: 0, Window: time.Minute},
			exit: Exit{Code: 1}, uptime: time.Second, want: Decision{Failure: true}, failures: 1, giveUpHas: "failed 1 times"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pol := p
			if c.policy != (Policy{}) {
				pol = c.policy
			}
			got, h := pol.Decide(c.history, c.exit, t0.Add(-c.uptime), t0, c.stopping)
			giveUp := got.GiveUp
			got.GiveUp = ""
			if got != c.want {
				t.Errorf("decision = %+v, want %+v", got, c.want)
			}
			if (giveUp != "") != (c.giveUpHas != "") || !strings.Contains(giveUp, c.giveUpHas) {
				t.Errorf("give up = %q, want it to say %q", giveUp, c.giveUpHas)
			}
			if c.want.Failure && (h.Backoff != c.backoff || len(h.Failures) != c.failures) {
				t.Errorf("history = back-off %v, %d failures; want %v, %d", h.Backoff, len(h.Failures), c.backoff, c.failures)
			}
			if !c.want.Failure && c.failures != 0 && len(h.Failures) != c.failures {
				t.Errorf("a free restart changed the failures: %d", len(h.Failures))
			}
		})
	}
}

func TestExitString(t *testing.T) {
	for _, c := range []struct {
		e    Exit
		want string
	}{
		{Exit{Code: 1}, "exit status 1"},
		{Exit{Signal: "killed"}, "signal: killed"},
		{Exit{Code: ExitNoRestart}, "exit status 78 (do not restart)"},
	} {
		if got := c.e.String(); got != c.want {
			t.Errorf("%+v = %q, want %q", c.e, got, c.want)
		}
	}
}
