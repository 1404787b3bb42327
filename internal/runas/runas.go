// Package runas is how mailmanctl stops being root. Its runners parse mail
// from anyone, so, as Mailman does, it refuses to run as root unless told
// to: a site started by root names the user to become ([mailman]
// run_as_user), and every command becomes that user before it reads or
// writes anything, so that the files it makes belong to the user the
// runners run as. It knows nothing of the commands or the configuration.
package runas

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"syscall"
)

// Root is the run_as_user that keeps a process started by root as root.
const Root = "root"

// ErrRoot is a process running as root that was not told to.
var ErrRoot = errors.New("refusing to run as root (mailmanctl parses mail from anyone): set [mailman] run_as_user to the user that owns var_dir (a service user such as \"mailman\"), or to \"root\", or give --run-as-root")

// Decide says whom a process whose effective user id is euid must become:
// "" to stay as it is. Only root can become another user; a process that is
// not root stays itself whatever runAsUser says, and file permissions
// decide what it may do. asRoot (the --run-as-root flag, or a runner whose
// master already decided) lets root stay root.
func Decide(euid int, runAsUser string, asRoot bool) (string, error) {
	switch {
	case euid != 0, asRoot, runAsUser == Root:
		return "", nil
	case runAsUser == "":
		return "", ErrRoot
	}
	return runAsUser, nil
}

// Become makes the process the user named, with the user's primary group
// and supplementary groups: the groups first, for once the user id is not
// root's it can no longer change them.
func Become(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("run_as_user %q: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("run_as_user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("run_as_user %q: gid %q: %w", name, u.Gid, err)
	}
	if uid == 0 {
		return fmt.Errorf("run_as_user %q has uid 0: name \"root\" to run as root", name)
	}
	groups := []int{gid}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.Atoi(id); err == nil && g != gid {
				groups = append(groups, g)
			}
		}
	}
	// Go applies these to every thread of the process (since Go 1.16).
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("become %s: setgroups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("become %s: setgid %d: %w", name, gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("become %s: setuid %d: %w", name, uid, err)
	}
	return nil
}
