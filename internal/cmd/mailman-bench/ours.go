package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// server is a list server the suite drives: this project or Mailman.
type server interface {
	Name() string
	LMTPAddr() string
	// Setup creates the benchmark lists: ingest (no member), one (one
	// member), and one list per fan-out size, named fanN; any sender may
	// post.
	Setup(fanouts []int) error
	// StartLMTP starts the LMTP runner alone, so that what it accepts
	// piles up in its queue.
	StartLMTP() error
	// StartAll starts every runner, and may return before LMTP answers.
	StartAll() error
	Stop() error
	// Roots are the processes now running, whose trees are measured.
	Roots() ([]int, error)
	// ClearIngest empties the queue the ingest fills, once n entries are
	// there.
	ClearIngest(n int) error
	// Personalize sets a list's personalize (none or individual) while
	// the runners run.
	Personalize(list, mode string) error
}

// listName is the name of the list that fans out to n members.
func listName(n int) string { return fmt.Sprintf("fan%d@example.com", n) }

// memberFile writes n member addresses, one a line, into dir.
func memberFile(dir string, n int) (string, error) {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "rcpt-%05d@sink.example\n", i)
	}
	file := filepath.Join(dir, fmt.Sprintf("members-%d.txt", n))
	return file, os.WriteFile(file, []byte(b.String()), 0o644)
}

// freePort asks the kernel for a loopback port no one listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ours is this project, driven through mailmanctl.
type ours struct {
	bin, dir, config   string
	lmtpPort, restPort int
}

func newOurs(bin, dir string, smtpPort int) (*ours, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	restPort, err := freePort()
	if err != nil {
		return nil, err
	}
	o := &ours{bin: bin, dir: dir, config: filepath.Join(dir, "mailman.toml"), lmtpPort: port, restPort: restPort}
	toml := fmt.Sprintf(runAsUser()+"[paths]\nvar_dir = \"var\"\n\n[mta]\nlmtp_host = \"127.0.0.1\"\nlmtp_port = %d\nsmtp_host = \"127.0.0.1\"\nsmtp_port = %d\n# The load clients speak LMTP directly: no mail server's maps.\nincoming = \"none\"\n\n[webservice]\nport = %d\n", port, smtpPort, restPort)
	return o, os.WriteFile(o.config, []byte(toml), 0o644)
}

func (o *ours) Name() string     { return "mailman-go" }
func (o *ours) LMTPAddr() string { return fmt.Sprintf("127.0.0.1:%d", o.lmtpPort) }

func (o *ours) ctl(args ...string) (string, error) {
	cmd := exec.Command(o.bin, append([]string{"-C", o.config}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("mailmanctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (o *ours) Setup(fanouts []int) error {
	lists := map[string]int{"ingest@example.com": 0, "one@example.com": 1}
	for _, n := range fanouts {
		lists[listName(n)] = n
	}
	for list, n := range lists {
		if _, err := o.ctl("lists", "create", list); err != nil {
			return err
		}
		if _, err := o.ctl("lists", "set", list, "default_nonmember_action", "accept"); err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		file, err := memberFile(o.dir, n)
		if err != nil {
			return err
		}
		if _, err := o.ctl("members", "add", list, "--file", file); err != nil {
			return err
		}
	}
	return nil
}

func (o *ours) Personalize(list, mode string) error {
	_, err := o.ctl("lists", "set", list, "personalize", mode)
	return err
}

func (o *ours) StartLMTP() error { _, err := o.ctl("start", "lmtp"); return err }
func (o *ours) StartAll() error  { _, err := o.ctl("start"); return err }
func (o *ours) Stop() error      { _, err := o.ctl("stop"); return err }

func (o *ours) Roots() ([]int, error) {
	out, err := o.ctl("status", "--json")
	if err != nil {
		return nil, err
	}
	var st struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.PID == 0 {
		return nil, fmt.Errorf("mailmanctl status: no master pid in %q", out)
	}
	return []int{st.PID}, nil
}

// ClearIngest waits until the LMTP journal has published its n entries as
// queue files, then removes them.
func (o *ours) ClearIngest(n int) error {
	return clearQueue(o.queueDir(), ".msg", n)
}

// queueDir is the queue the ingest fills.
func (o *ours) queueDir() string { return filepath.Join(o.dir, "var", "queue", "incoming") }

// runAsUser keeps the benchmark's site root when the benchmark runs as
// root (mailmanctl refuses root otherwise): it measures the server, not a
// service user's set-up.
func runAsUser() string {
	if os.Geteuid() != 0 {
		return ""
	}
	return "[mailman]\nrun_as_user = \"root\"\n\n"
}
