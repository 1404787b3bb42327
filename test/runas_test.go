package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mailman-go/mailman/internal/mailmantest"
	"github.com/mailman-go/mailman/master"
)

// TestRunAsUser: started by root, mailmanctl refuses to run unless told
// whom to run as; told run_as_user = "nobody", the master, its runners and
// every command run as nobody, and nothing in var_dir belongs to root.
func TestRunAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to become another user")
	}
	s := mailmantest.NewSite(t, "")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody here")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	// nobody must reach the site's folder and start the binary again
	// (the master starts its runners from it).
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(s.Dir, "mailmanctl")
	b, err := os.ReadFile(mailmantest.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	ctl := func(args ...string) (string, int) {
		t.Helper()
		var out bytes.Buffer
		cmd := exec.Command(bin, append([]string{"-C", s.Config}, args...)...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = s.Dir, &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return out.String(), cmd.ProcessState.ExitCode()
	}
	setRunAs := func(line string) {
		t.Helper()
		cfg, err := os.ReadFile(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		cfg = regexp.MustCompile(`(?m)^run_as_user = .*$`).ReplaceAll(cfg, []byte(line))
		if err := os.WriteFile(s.Config, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	setRunAs(`run_as_user = ""`)
	for _, args := range [][]string{{"lists", "create", "test@example.com"}, {"start", "retry"}, {"queues"}} {
		out, code := ctl(args...)
		if code != 1 || !strings.Contains(out, "refusing to run as root") || !strings.Contains(out, "run_as_user") {
			t.Errorf("%v as root with no run_as_user: exit %d\n%s", args, code, out)
		}
	}
	if _, err := os.Stat(s.Paths().VarDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused command left var_dir: %v", err)
	}
	if out, code := ctl("--run-as-root", "lists", "list"); code != 1 || !strings.Contains(out, "no such file") {
		t.Errorf("--run-as-root lists list where no site is: exit %d\n%s", code, out)
	}

	// As README.md has a postmaster do: var_dir belongs to the user.
	if err := os.Mkdir(s.Paths().VarDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(s.Paths().VarDir, uid, gid); err != nil {
		t.Fatal(err)
	}
	setRunAs(`run_as_user = "nobody"`)
	if out, code := ctl("lists", "create", "test@example.com"); code != 0 {
		t.Fatalf("lists create as nobody: exit %d\n%s", code, out)
	}
	t.Cleanup(func() { ctl("stop") })
	if out, code := ctl("start", "lmtp", "retry"); code != 0 {
		t.Fatalf("start as nobody: exit %d\n%s", code, out)
	}
	out, _ := ctl("status", "--json")
	var st master.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Runners) != 2 {
		t.Fatalf("status: %v\n%s", err, out)
	}
	pids := map[string]int{"master": st.PID}
	for _, r := range st.Runners {
		pids[r.Name] = r.PID
	}
	for name, pid := range pids {
		if got := processIDs(t, pid); got != [2]int{uid, gid} {
			t.Errorf("%s (pid %d) runs as uid, gid %v, want %d, %d (nobody)", name, pid, got, uid, gid)
		}
	}
	if c, err := mailmantest.DialLMTP(fmt.Sprintf("127.0.0.1:%d", s.LMTPPort)); err != nil {
		t.Errorf("the LMTP runner, as nobody, does not serve: %v", err)
	} else {
		c.Close()
	}
	if out, code := ctl("stop"); code != 0 {
		t.Fatalf("stop: exit %d\n%s", code, out)
	}
	filepath.WalkDir(s.Paths().VarDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if sys := info.Sys().(*syscall.Stat_t); sys.Uid != uint32(uid) {
			t.Errorf("%s belongs to uid %d, not nobody", path, sys.Uid)
		}
		return nil
	})
}

// processIDs returns the effective user and group ids of process pid.
func processIDs(t *testing.T, pid int) [2]int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var ids [2]int
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 2 && f[0] == "Uid:":
			ids[0], _ = strconv.Atoi(f[2])
		case len(f) > 2 && f[0] == "Gid:":
			ids[1], _ = strconv.Atoi(f[2])
		}
	}
	return ids
}
