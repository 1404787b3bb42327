package runas

import (
	"errors"
	"testing"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name      string
		euid      int
		runAsUser string
		asRoot    bool
		become    string
		err       error
	}{
		{name: "root, nothing said: refused", euid: 0, err: ErrRoot},
		{name: "root, a service user: become it", euid: 0, runAsUser: "mailman", become: "mailman"},
		{name: "root, run_as_user root: stay", euid: 0, runAsUser: "root"},
		{name: "root, --run-as-root: stay", euid: 0, asRoot: true},
		{name: "root, --run-as-root beats a user", euid: 0, runAsUser: "mailman", asRoot: true},
		{name: "a user, nothing said: stay", euid: 1000},
		{name: "a user, another named: stay (cannot change)", euid: 1000, runAsUser: "mailman"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			become, err := Decide(tt.euid, tt.runAsUser, tt.asRoot)
			if become != tt.become || !errors.Is(err, tt.err) {
				t.Errorf("Decide(%d, %q, %v) = %q, %v; want %q, %v", tt.euid, tt.runAsUser, tt.asRoot, become, err, tt.become, tt.err)
			}
		})
	}
}

func TestBecomeUnknownUser(t *testing.T) {
	if err := Become("no-such-user-here"); err == nil {
		t.Error("Become of an unknown user succeeded")
	}
}
