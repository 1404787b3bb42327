package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// mailmanctl is the path of the binary built for this test run.
var mailmanctl string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailmanctl-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mailmanctl = filepath.Join(dir, "mailmanctl")
	// Not built with -race: these tests start hundreds of processes, and the
	// race detector's start-up cost would dominate; unit tests cover races.
	build := exec.Command("go", "build", "-o", mailmanctl, "../cmd/mailmanctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mailmanctl:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// site is one installation on a temporary var_dir.
type site struct {
	dir    string // holds mailman.toml and var/
	config string
}

func newSite(t *testing.T, toml string) *site {
	t.Helper()
	dir := t.TempDir()
	s := &site{dir: dir, config: filepath.Join(dir, "mailman.toml")}
	if err := os.WriteFile(s.config, []byte("[paths]\nvar_dir = \"var\"\n"+toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// command returns mailmanctl with the site's configuration and args.
func (s *site) command(args ...string) *exec.Cmd {
	cmd := exec.Command(mailmanctl, append([]string{"-C", s.config}, args...)...)
	cmd.Dir = s.dir
	return cmd
}

func (s *site) queueDir(name string) string { return filepath.Join(s.dir, "var", "queue", name) }
