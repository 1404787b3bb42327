// Package mailmantest runs real mailmanctl sites for tests, in the spirit of
// net/http/httptest: the binary built once per test binary, a temporary
// var_dir with free loopback ports, a master started with the runners a test
// names and stopped when it ends, an LMTP client, and a way to run one runner
// in-process until its queue is empty. The folder of a failed test is kept
// and its path logged.
package mailmantest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/master"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/runners/registry"
	"github.com/mailman-go/mailman/switchboard"
)

var binary string

// Main builds mailmanctl for the tests of a package and removes it after
// them; call it from TestMain. The binary is built without the race
// detector: end-to-end tests start many processes, and unit tests cover races.
func Main(m *testing.M) { os.Exit(MainFunc(m.Run)) }

func build(out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("find the module: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", "build", "-o", out, "./cmd/mailmanctl")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build mailmanctl: %v\n%s", err, b)
	}
	binary = out
	return nil
}

// Binary is the path of the mailmanctl built by Main.
func Binary(tb testing.TB) string {
	if testing.Short() {
		tb.Skip("end-to-end: the long tier (go test without -short)")
	}
	if binary == "" {
		tb.Fatal("mailmantest.Main was not called from TestMain")
	}
	return binary
}

// Site is one installation in a temporary folder.
type Site struct {
	Dir      string // holds mailman.toml and var/
	Config   string // mailman.toml
	LMTPPort int
	SMTPPort int
	RESTPort int // [webservice] port
	// UnsubscribePort is [unsubscribe] listen's port.
	UnsubscribePort int
	tb              testing.TB
}

// RunAsUser is the [mailman] section a test site needs: run_as_user =
// "root" when the tests run as root (CI does), which mailmanctl refuses
// otherwise, and nothing when they do not.
func RunAsUser() string {
	if os.Geteuid() != 0 {
		return ""
	}
	return "[mailman]\nrun_as_user = \"root\"\n\n"
}

// NewSite writes a configuration with var_dir in a new folder, free
// loopback ports, and extra appended (TOML sections). When the test ends it
// stops any master still running, fails the test if the log shows a panic,
// and removes the folder unless the test failed.
func NewSite(tb testing.TB, extra string) *Site {
	tb.Helper()
	dir, err := os.MkdirTemp("", "mailmantest-")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Site{Dir: dir, Config: filepath.Join(dir, "mailman.toml"), LMTPPort: FreePort(tb), SMTPPort: FreePort(tb), RESTPort: FreePort(tb),
		UnsubscribePort: FreePort(tb), tb: tb}
	// The same for the unsubscribe runner's listen, in the test's own
	// [unsubscribe] when it has one.
	listen := fmt.Sprintf("[unsubscribe]\nlisten = \"127.0.0.1:%d\"\n", s.UnsubscribePort)
	if strings.Contains(extra, "[unsubscribe]\n") {
		extra, listen = strings.Replace(extra, "[unsubscribe]\n", listen, 1), ""
	}
	extra = listen + "\n" + extra
	// A test's own [mailman] section takes run_as_user in it: TOML
	// allows a table once.
	runAs := RunAsUser()
	if runAs != "" && strings.Contains(extra, "[mailman]\n") {
		extra, runAs = strings.Replace(extra, "[mailman]\n", runAs[:len(runAs)-1], 1), ""
	}
	toml := fmt.Sprintf("%s[paths]\nvar_dir = \"var\"\n\n[mta]\nlmtp_host = \"127.0.0.1\"\nlmtp_port = %d\nsmtp_host = \"127.0.0.1\"\nsmtp_port = %d\ntransport_file_type = \"regex\"\n\n[webservice]\nport = %d\n\n%s",
		runAs, s.LMTPPort, s.SMTPPort, s.RESTPort, extra)
	if err := os.WriteFile(s.Config, []byte(toml), 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, _, code := s.Ctl("status"); code == 0 {
			s.Ctl("stop")
		}
		// A panic in the master or a runner goes to the log; no test that
		// shows one may pass.
		if log, err := os.ReadFile(s.LogPath()); err == nil && bytes.Contains(log, []byte("panic: ")) {
			tb.Errorf("the site's log shows a panic: %s", s.LogPath())
		}
		if tb.Failed() {
			tb.Logf("kept the site of this failed test: %s (log: %s)", dir, s.LogPath())
			return
		}
		os.RemoveAll(dir)
	})
	return s
}

// SetMTA sets key of the [mta] section to value (in TOML syntax) in the
// site's configuration, for the processes started after.
func (s *Site) SetMTA(key, value string) { s.Set("mta", key, value) }

// Set sets key of the section [section], which the configuration has, to
// value (in TOML syntax), for the processes started after.
func (s *Site) Set(section, key, value string) {
	s.tb.Helper()
	text, err := os.ReadFile(s.Config)
	if err != nil {
		s.tb.Fatal(err)
	}
	header := []byte("[" + section + "]\n")
	start := bytes.Index(text, header)
	if start < 0 {
		s.tb.Fatalf("the configuration has no [%s]", section)
	}
	start += len(header)
	end := bytes.Index(text[start:], []byte("\n["))
	if end < 0 {
		end = len(text) - start
	}
	body := text[start : start+end]
	if line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` = .*$`); line.Match(body) {
		body = line.ReplaceAllLiteral(body, []byte(key+" = "+value))
	} else {
		body = append([]byte(key+" = "+value+"\n"), body...)
	}
	text = append(append(append([]byte{}, text[:start]...), body...), text[start+end:]...)
	if err := os.WriteFile(s.Config, text, 0o644); err != nil {
		s.tb.Fatal(err)
	}
}

// FreePort is a loopback port nothing listens on, for a test to hand out.
// It is taken below the kernel's ephemeral range (32768 and up on
// Linux), where the source ports of connections and the ports of
// listeners on port 0 come from: a port handed out there could be taken
// by one of those before the site listens on it. Each is handed out once
// in a process.
func FreePort(tb testing.TB) int {
	handedMu.Lock()
	defer handedMu.Unlock()
	for range 1000 {
		port := 20000 + mathrand.IntN(12000)
		if handed[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		handed[port] = true
		return port
	}
	tb.Fatal("no free loopback port between 20000 and 32000")
	return 0
}

var (
	handedMu sync.Mutex
	handed   = map[int]bool{}
)

// Command returns mailmanctl with the site's configuration and args.
func (s *Site) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(Binary(s.tb), append([]string{"-C", s.Config}, args...)...)
	cmd.Dir = s.Dir
	return cmd
}

// Ctl runs mailmanctl and returns its standard output, standard error and
// exit status.
func (s *Site) Ctl(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	cmd := s.Command(args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		s.tb.Fatalf("mailmanctl %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// MustCtl runs mailmanctl and fails the test unless it exits 0.
func (s *Site) MustCtl(args ...string) string {
	s.tb.Helper()
	out, errOut, code := s.Ctl(args...)
	if code != 0 {
		s.tb.Fatalf("mailmanctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// Start starts the master with the named runners (those with start = true
// when none is named) and returns once every runner is ready.
func (s *Site) Start(runners ...string) {
	s.tb.Helper()
	s.MustCtl(append([]string{"start"}, runners...)...)
}

// Stop stops the master and waits until every runner has exited.
func (s *Site) Stop() {
	s.tb.Helper()
	s.MustCtl("stop")
}

// Status returns the master's view of its runners; PID is 0 when no master runs.
func (s *Site) Status() master.Status {
	s.tb.Helper()
	out, errOut, code := s.Ctl("status", "--json")
	var st master.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		s.tb.Fatalf("status --json (exit %d): %v\n%s%s", code, err, out, errOut)
	}
	return st
}

// WaitFor polls cond every 10 ms until it holds, failing the test after timeout.
func (s *Site) WaitFor(what string, timeout time.Duration, cond func() bool) {
	s.tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			s.tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Paths is the layout of the site's var_dir.
func (s *Site) Paths() config.Paths { return config.PathsIn(filepath.Join(s.Dir, "var")) }

// LogPath is the site's log file.
func (s *Site) LogPath() string { return s.Paths().Log }

// QueueRoot is the folder holding the site's queues.
func (s *Site) QueueRoot() string { return s.Paths().Queues }

// Queue opens one of the site's queues.
func (s *Site) Queue(name string) *switchboard.Switchboard {
	s.tb.Helper()
	q, err := switchboard.Open(s.QueueRoot(), name)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.tb.Cleanup(func() { q.Close() })
	return q
}

// Drain runs the named queue runner in this process, built as the runner
// process builds it, until its queue has no ready entry left, and returns
// how many entries it processed: for tests that need a runner's effect
// without processes.
func (s *Site) Drain(name string) int {
	s.tb.Helper()
	cfg, err := config.Load(s.Config)
	if err != nil {
		s.tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	site := runners.NewSite(context.Background(), cfg, name, switchboard.Whole, log)
	defer site.Close()
	r, err := registry.Builders.Build(site)
	if err != nil {
		s.tb.Fatal(err)
	}
	l, ok := r.(*runners.Loop)
	if !ok {
		s.tb.Fatalf("runner %s serves no queue", name)
	}
	if err := l.Recover(); err != nil {
		s.tb.Fatal(err)
	}
	return l.Drain(context.Background())
}

// DialLMTP connects to an LMTP server and greets it with LHLO.
func DialLMTP(addr string) (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClientLMTP(conn)
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// LMTP connects to the site's LMTP runner.
func (s *Site) LMTP() *smtp.Client {
	s.tb.Helper()
	c, err := DialLMTP(fmt.Sprintf("127.0.0.1:%d", s.LMTPPort))
	if err != nil {
		s.tb.Fatal(err)
	}
	s.tb.Cleanup(func() { c.Close() })
	return c
}
