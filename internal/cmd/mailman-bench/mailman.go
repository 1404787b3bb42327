package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// mailman is GNU Mailman 3.3.8 from Debian's mailman3 package, in a
// private instance: its own configuration and var_dir under dir, run as
// the user list (Mailman refuses root), on loopback ports. The system
// instance (/etc/mailman3) is neither used nor started.
type mailman struct {
	dir, config                  string
	lmtpPort, smtpPort, restPort int
	lmtp                         *exec.Cmd // the LMTP runner started alone
}

// asList runs a command as the user list, as Debian's package expects.
var asList = []string{"setpriv", "--reuid=list", "--regid=list", "--init-groups", "--"}

// installMailman installs Debian's mailman3 unless it is there, keeping its
// maintainer scripts from starting the system instance. It returns the
// installed version, or why Mailman cannot be measured here.
func installMailman(logf func(string, ...any)) (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("installing and running Mailman needs root (it runs as the user list)")
	}
	version := func() string {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Status} ${Version}", "mailman3").Output()
		if err != nil || !strings.HasPrefix(string(out), "install ok installed ") {
			return ""
		}
		return strings.TrimPrefix(string(out), "install ok installed ")
	}
	if v := version(); v != "" {
		return v, nil
	}
	logf("installing Debian's mailman3 (apt-get)")
	policy := "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
			return "", err
		}
		defer os.Remove(policy)
	}
	for _, sel := range []string{"postfix postfix/main_mailer_type select No configuration", "postfix postfix/mailname string localhost"} {
		cmd := exec.Command("debconf-set-selections")
		cmd.Stdin = strings.NewReader(sel + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("debconf-set-selections: %v: %s", err, out)
		}
	}
	for _, args := range [][]string{{"update", "-q"}, {"install", "-y", "-q", "--no-install-recommends", "mailman3"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			tail := string(out)
			if len(tail) > 600 {
				tail = tail[len(tail)-600:]
			}
			return "", fmt.Errorf("apt-get %s: %v: %s", args[0], err, tail)
		}
	}
	if v := version(); v != "" {
		return v, nil
	}
	return "", errors.New("mailman3 is not installed after apt-get install")
}

func newMailman(dir string, smtpPort int) (*mailman, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	m := &mailman{dir: dir, config: filepath.Join(dir, "mailman.cfg"), lmtpPort: port, smtpPort: smtpPort, restPort: mustFreePort()}
	if err := os.MkdirAll(filepath.Join(dir, "var"), 0o755); err != nil {
		return nil, err
	}
	// Mailman's stock settings but for where it keeps its files, the ports,
	// and NullMTA (no Postfix maps): runner sleep_time 1 s, 500
	// recipients a transaction, SQLite.
	cfg := fmt.Sprintf(`[mailman]
layout: bench
site_owner: owner@example.com

[paths.bench]
var_dir: %[1]s/var
bin_dir: /usr/lib/mailman3/bin
log_dir: %[1]s/var/logs
pid_file: %[1]s/var/master.pid

[database]
class: mailman.database.sqlite.SQLiteDatabase
url: sqlite:///$DATA_DIR/mailman.db

[webservice]
hostname: 127.0.0.1
port: %[2]d

[mta]
incoming: mailman.mta.null.NullMTA
outgoing: mailman.mta.deliver.deliver
smtp_host: 127.0.0.1
smtp_port: %[3]d
lmtp_host: 127.0.0.1
lmtp_port: %[4]d
`, dir, m.restPort, smtpPort, port)
	if err := os.WriteFile(m.config, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	// A script for `mailman shell -r`: any sender may post, and adding
	// members sends no mail.
	helper := `from mailman.interfaces.action import Action
from mailman.interfaces.mailinglist import Personalization


def bench_settings(mlist):
    mlist.default_nonmember_action = Action.accept
    mlist.send_welcome_message = False
    mlist.send_goodbye_message = False
    mlist.admin_notify_mchanges = False


def personalize_individual(mlist):
    mlist.personalize = Personalization.individual


def personalize_none(mlist):
    mlist.personalize = Personalization.none
`
	if err := os.WriteFile(filepath.Join(dir, "benchlists.py"), []byte(helper), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command("chown", "-R", "list:list", filepath.Join(dir, "var")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chown: %v: %s", err, out)
	}
	return m, nil
}

func mustFreePort() int {
	p, err := freePort()
	if err != nil {
		panic(err)
	}
	return p
}

func (m *mailman) Name() string     { return "Mailman 3.3.8" }
func (m *mailman) LMTPAddr() string { return fmt.Sprintf("127.0.0.1:%d", m.lmtpPort) }

// cli runs the mailman command as the user list.
func (m *mailman) cli(args ...string) (string, error) {
	full := append(append(append([]string{}, asList...), "env", "PYTHONPATH="+m.dir, "mailman", "-C", m.config), args...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Dir = m.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("mailman %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (m *mailman) Setup(fanouts []int) error {
	lists := map[string]int{"ingest@example.com": 0, "one@example.com": 1}
	for _, n := range fanouts {
		lists[listName(n)] = n
	}
	// The instance is kept between runs: adding 10,000 members takes
	// Mailman minutes, so what is there is not made again.
	out, err := m.cli("lists", "-q")
	if err != nil {
		return err
	}
	existing := map[string]bool{}
	for _, l := range strings.Fields(out) {
		existing[l] = true
	}
	for list, n := range lists {
		if !existing[list] {
			if _, err := m.cli("create", "-N", list); err != nil {
				return err
			}
			if _, err := m.cli("shell", "-l", list, "-r", "benchlists.bench_settings"); err != nil {
				return err
			}
		}
		if n == 0 {
			continue
		}
		if err := m.addMembers(list, n); err != nil {
			return err
		}
	}
	return nil
}

// Personalize sets list's personalize through `mailman shell`, which
// commits it; the runners read the list afresh for each message.
func (m *mailman) Personalize(list, mode string) error {
	_, err := m.cli("shell", "-l", list, "-r", "benchlists.personalize_"+mode)
	return err
}

// addMembers gives list its n members, unless it has them from an
// earlier run.
func (m *mailman) addMembers(list string, n int) error {
	count, err := m.cli("members", "-c", list)
	if err != nil {
		return err
	}
	if have, _ := strconv.Atoi(strings.TrimSpace(count)); have >= n {
		return nil
	}
	file, err := memberFile(m.dir, n)
	if err != nil {
		return err
	}
	_, err = m.cli("addmembers", "-W", file, list)
	return err
}

// StartLMTP runs Mailman's LMTP runner alone, as `mailman start` cannot
// choose runners.
func (m *mailman) StartLMTP() error {
	args := append(append([]string{}, asList...), "/usr/lib/mailman3/bin/runner", "-C", m.config, "-r", "lmtp")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = m.dir
	log, err := os.Create(filepath.Join(m.dir, "lmtp-runner.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	log.Close()
	m.lmtp = cmd
	_, err = waitLMTP(m.LMTPAddr(), 2*time.Minute)
	return err
}

// StartAll runs `mailman start`, which forks the master and returns.
func (m *mailman) StartAll() error {
	args := append(append([]string{}, asList...), "mailman", "-C", m.config, "start")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = m.dir
	// The forked master keeps the output open: a pipe would never close.
	log, err := os.Create(filepath.Join(m.dir, "start.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	return cmd.Run()
}

func (m *mailman) masterPID() int {
	b, err := os.ReadFile(filepath.Join(m.dir, "var", "master.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// Stop stops the master with its runners, or the LMTP runner started
// alone, and waits until they are gone.
func (m *mailman) Stop() error {
	if pid := m.masterPID(); pid != 0 {
		pids, _ := tree([]int{pid})
		if _, err := m.cli("stop"); err != nil {
			return err
		}
		for _, p := range pids {
			if err := waitGone(p, time.Minute); err != nil {
				return err
			}
		}
	}
	if m.lmtp != nil {
		m.lmtp.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { m.lmtp.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			m.lmtp.Process.Kill()
			<-done
		}
		m.lmtp = nil
	}
	return nil
}

func waitGone(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still running after %s", pid, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func (m *mailman) Roots() ([]int, error) {
	if pid := m.masterPID(); pid != 0 {
		return []int{pid}, nil
	}
	if m.lmtp != nil {
		return []int{m.lmtp.Process.Pid}, nil
	}
	return nil, errors.New("no Mailman process is running")
}

// ClearIngest removes the posts piled up in Mailman's in queue.
func (m *mailman) ClearIngest(n int) error {
	return clearQueue(filepath.Join(m.dir, "var", "queue", "in"), ".pck", n)
}

// clearQueue waits until dir holds n files ending in ext, then removes
// every file in it.
func clearQueue(dir, ext string, n int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		count := 0
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ext) {
				count++
			}
		}
		if count >= n {
			for _, e := range entries {
				os.Remove(filepath.Join(dir, e.Name()))
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s holds %d of the %d entries sent", dir, count, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
