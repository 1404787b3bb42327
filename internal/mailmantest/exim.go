package mailmantest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// EximRootEnv names the folder Debian's exim4 packages are unpacked in
// (dpkg-deb -x, nothing installed); without it the harness looks in
// .exim/root at the module's root, where `make exim` and .ci/run put them.
const EximRootEnv = "MAILMAN_EXIM_ROOT"

// EximUID is the uid and gid of Debian-exim in an Exim instance's own
// passwd and group files: Debian's exim4 looks that user up by name
// before it reads any configuration, and the machine has no such user. The
// number is the group to give [mta] maps_group, which mailmanctl, outside
// the instance, knows by number only.
const EximUID = 64990

// Exim is a private instance of Debian's Exim in front of a site: the
// binary unpacked from Debian's packages, with the configuration Debian's
// update-exim4.conf makes of its own split files (the unpacked
// /etc/exim4/conf.d) and the test's, for a site that delivers locally
// only ("local" in Debian's terms: no DNS, a router that fails every
// domain that is not local), with spool and log under the site's folder,
// one loopback port. It runs in a mount namespace of its own, where
// Debian-exim exists and the unpacked libraries are found (a setuid
// binary ignores LD_LIBRARY_PATH): nothing of the machine is changed.
// Started with -C, Exim delivers as Debian-exim rather than root ("exim
// user lost privilege for using -C option" in its log), which the LMTP
// transport does not need.
type Exim struct {
	Dir     string // the instance's folder: etc/ (its /etc/exim4), exim4.conf, spool/, log/
	Inbound int    // the port mail "from the Internet" arrives at
	root    string
	site    *Site
	tb      testing.TB
	daemon  *exec.Cmd
}

// EximConfig is what a test adds to Debian's configuration.
type EximConfig struct {
	// Files are written into conf.d, by their path there
	// ("router/455_mailman-go"), before update-exim4.conf runs.
	Files map[string]string
	// Domains are the list domains: Debian's dc_other_hostnames, which
	// makes them local domains.
	Domains []string
}

// EximRoot is where the unpacked Exim is, and whether it is there.
func EximRoot() (string, bool) {
	root := os.Getenv(EximRootEnv)
	if root == "" {
		gomod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil || len(bytes.TrimSpace(gomod)) == 0 {
			return "", false
		}
		root = filepath.Join(filepath.Dir(string(bytes.TrimSpace(gomod))), ".exim", "root")
	}
	_, err := os.Stat(filepath.Join(root, "usr", "sbin", "exim4"))
	return root, err == nil
}

// HaveExim skips the test unless the unpacked Exim is there and the test
// runs as root (which the namespace and Exim's own setuid need); under CI
// (where .ci/run unpacks it) its absence fails the test.
func HaveExim(tb testing.TB) string {
	tb.Helper()
	root, ok := EximRoot()
	if !ok {
		msg := fmt.Sprintf("Exim is not unpacked in %s: `make exim` (as root) downloads Debian's exim4 packages and unpacks them in .exim/root, installing nothing; %s names another folder", root, EximRootEnv)
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	if os.Geteuid() != 0 {
		tb.Skip("a private Exim instance is started as root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		tb.Skip("unshare (util-linux) is needed for Exim's mount namespace")
	}
	return root
}

// StartExim configures and starts an Exim instance in front of s; it is
// stopped when the test ends.
func (s *Site) StartExim(c EximConfig) *Exim {
	s.tb.Helper()
	root := HaveExim(s.tb)
	x := &Exim{Dir: filepath.Join(s.Dir, "exim"), Inbound: FreePort(s.tb), root: root, site: s, tb: s.tb}
	for _, d := range []string{x.Dir, filepath.Join(x.Dir, "spool"), filepath.Join(x.Dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			s.tb.Fatal(err)
		}
	}
	// Exim's receiving processes run as Debian-exim: they enter the site's
	// folder, and own the spool and the log. var_dir is left to the site:
	// [mta] maps_group is what lets them read the maps there.
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		s.tb.Fatal(err)
	}
	run(s.tb, "chown", "-R", fmt.Sprintf("%d:%d", EximUID, EximUID), filepath.Join(x.Dir, "spool"), filepath.Join(x.Dir, "log"))
	// Exim, once it is Debian-exim, starts itself again: its binary and
	// libraries must be where Debian-exim can reach them, which a checkout
	// in a private folder (mktemp -d's 0700) is not. A copy is 4 MB.
	x.root = filepath.Join(x.Dir, "root")
	run(s.tb, "cp", "-a", root, x.root)
	x.writeIdentity()
	x.writeConfig(c)
	if out, err := x.Command("-bV").CombinedOutput(); err != nil {
		s.tb.Fatalf("exim -bV: %v\n%s", err, out)
	}
	x.daemon = x.Command("-bdf")
	var out bytes.Buffer
	x.daemon.Stdout, x.daemon.Stderr = &out, &out
	if err := x.daemon.Start(); err != nil {
		s.tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { x.daemon.Wait(); close(exited) }()
	s.tb.Cleanup(func() {
		x.daemon.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			x.daemon.Process.Kill()
			<-exited
		}
		if s.tb.Failed() {
			s.tb.Logf("Exim's log: %s\n%s", x.LogPath(), out.String())
		}
	})
	s.WaitFor("Exim listening", 10*time.Second, func() bool {
		select {
		case <-exited:
			s.tb.Fatalf("Exim exited: %s\n%s", x.daemon.ProcessState, out.String())
		default:
		}
		c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", x.Inbound))
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return x
}

// writeConfig has Debian's update-exim4.conf write the instance's
// configuration from a copy of the unpacked /etc/exim4 with c's files,
// its update-exim4.conf.conf, and the settings that keep the instance to
// itself (000_mailman-go-test, read first: Debian sets its macros only
// where they are not set yet). The paths Debian's files name outright
// are then made the instance's.
func (x *Exim) writeConfig(c EximConfig) {
	x.tb.Helper()
	etc := filepath.Join(x.Dir, "etc")
	run(x.tb, "cp", "-a", filepath.Join(x.root, "etc", "exim4"), etc)
	files := map[string]string{
		"../update-exim4.conf.conf": fmt.Sprintf(`dc_eximconfig_configtype='local'
dc_other_hostnames='%s'
dc_local_interfaces='127.0.0.1'
dc_readhost=''
dc_relay_domains=''
dc_minimaldns='false'
dc_relay_nets=''
dc_smarthost=''
CFILEMODE='644'
dc_use_split_config='true'
dc_hide_mailname=''
dc_mailname_in_oh='true'
dc_localdelivery='mail_spool'
`, strings.Join(c.Domains, ":")),
		"main/000_mailman-go-test": fmt.Sprintf(`# The test's instance: its own folders and port, no DNS.
CONFDIR = %[1]s/etc
SPOOLDIR = %[1]s/spool
MAIN_HOST_LOOKUP =
MAIN_HARDCODE_PRIMARY_HOSTNAME = mx.test.example
log_file_path = %[1]s/log/%%slog
pid_file_path = %[1]s/exim.pid
daemon_smtp_ports = %[2]d
`, x.Dir, x.Inbound),
	}
	for name, text := range c.Files {
		files[name] = text
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(etc, "conf.d", name), []byte(text), 0o644); err != nil {
			x.tb.Fatal(err)
		}
	}
	for name, text := range map[string]string{"mailname": "mx.test.example\n", "aliases": "postmaster: root\n"} {
		if err := os.WriteFile(filepath.Join(x.Dir, name), []byte(text), 0o644); err != nil {
			x.tb.Fatal(err)
		}
	}
	script, err := os.ReadFile(filepath.Join(x.root, "usr", "sbin", "update-exim4.conf"))
	if err != nil {
		x.tb.Fatal(err)
	}
	update := filepath.Join(x.Dir, "update-exim4.conf")
	if err := os.WriteFile(update, bytes.ReplaceAll(script, []byte("/etc/mailname"), []byte(filepath.Join(x.Dir, "mailname"))), 0o755); err != nil {
		x.tb.Fatal(err)
	}
	if out, err := x.namespaced(update, "-d", etc, "-o", x.Conf()).CombinedOutput(); err != nil {
		x.tb.Fatalf("update-exim4.conf: %v\n%s", err, out)
	}
	conf, err := os.ReadFile(x.Conf())
	if err != nil {
		x.tb.Fatal(err)
	}
	fixed := strings.NewReplacer(
		"exim_path = /usr/sbin/exim4", "exim_path = "+filepath.Join(x.root, "usr", "sbin", "exim4"),
		"{/etc/aliases}", "{"+filepath.Join(x.Dir, "aliases")+"}",
		"{/etc/email-addresses}", "{"+filepath.Join(x.root, "etc", "email-addresses")+"}",
	).Replace(string(conf))
	if err := os.WriteFile(x.Conf(), []byte(fixed), 0o644); err != nil {
		x.tb.Fatal(err)
	}
}

// writeIdentity writes the instance's passwd and group (the machine's,
// with its own Debian-exim) and a cache of shared libraries that finds the
// unpacked ones, for Command to mount over the machine's.
func (x *Exim) writeIdentity() {
	x.tb.Helper()
	for _, f := range []struct{ name, line string }{
		{"passwd", fmt.Sprintf("Debian-exim:x:%d:%d:Exim:/nonexistent:/usr/sbin/nologin\n", EximUID, EximUID)},
		{"group", fmt.Sprintf("Debian-exim:x:%d:\n", EximUID)},
	} {
		b, err := os.ReadFile(filepath.Join("/etc", f.name))
		if err != nil {
			x.tb.Fatal(err)
		}
		if regexp.MustCompile(`(?m)^[^:]*:[^:]*:` + strconv.Itoa(EximUID) + `:`).Match(b) {
			x.tb.Fatalf("/etc/%s already has id %d, which the Exim instance gives Debian-exim", f.name, EximUID)
		}
		// A machine with Debian's exim4 installed (mailman3 pulls it in)
		// has a Debian-exim of its own, which, read first, would be the
		// instance's: its lines go, so that the name means EximUID.
		b = regexp.MustCompile(`(?m)^Debian-exim:.*\n`).ReplaceAll(b, nil)
		if err := os.WriteFile(filepath.Join(x.Dir, f.name), append(b, f.line...), 0o644); err != nil {
			x.tb.Fatal(err)
		}
	}
	ldconf := filepath.Join(x.Dir, "ld.so.conf")
	if err := os.WriteFile(ldconf, []byte("include /etc/ld.so.conf.d/*.conf\n"+filepath.Join(x.root, "usr", "lib", "x86_64-linux-gnu")+"\n"), 0o644); err != nil {
		x.tb.Fatal(err)
	}
	run(x.tb, "ldconfig", "-X", "-C", filepath.Join(x.Dir, "ld.so.cache"), "-f", ldconf)
}

// Conf is the instance's configuration file, as update-exim4.conf wrote
// it.
func (x *Exim) Conf() string { return filepath.Join(x.Dir, "exim4.conf") }

// Command is the instance's exim with args, run in its mount namespace.
func (x *Exim) Command(args ...string) *exec.Cmd {
	return x.namespaced(append([]string{filepath.Join(x.root, "usr", "sbin", "exim4"), "-C", x.Conf()}, args...)...)
}

// namespaced is the command args in the instance's mount namespace.
func (x *Exim) namespaced(args ...string) *exec.Cmd {
	script := fmt.Sprintf(`mount --bind %[1]s/passwd /etc/passwd && mount --bind %[1]s/group /etc/group && mount --bind %[1]s/ld.so.cache /etc/ld.so.cache && exec "$0" "$@"`, x.Dir)
	return exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script}, args...)...)
}

// RunQueue has Exim try every message in its queue now, whatever their
// retry times (exim -qff), and returns when it has.
func (x *Exim) RunQueue() {
	x.tb.Helper()
	if out, err := x.Command("-qff").CombinedOutput(); err != nil {
		x.tb.Fatalf("exim -qff: %v\n%s", err, out)
	}
}

// Queued is how many messages Exim's queue holds.
func (x *Exim) Queued() int {
	x.tb.Helper()
	out, err := x.Command("-bpc").Output()
	if err != nil {
		x.tb.Fatalf("exim -bpc: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		x.tb.Fatalf("exim -bpc: %q", out)
	}
	return n
}

// Send submits msg to the instance over SMTP, as a remote server would,
// and returns the error of the first command Exim refused (an
// *smtp.SMTPError), or nil when it took the message. It connects from
// 127.0.0.2: Debian lets 127.0.0.1 relay, and accepts its recipients
// unverified.
func (x *Exim) Send(from, to string, msg []byte) error {
	x.tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", x.Inbound))
	if err != nil {
		x.tb.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		x.tb.Fatal(err)
	}
	if err := c.SendMail(from, []string{to}, bytes.NewReader(msg)); err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			x.tb.Fatalf("sending to %s: %v", to, err)
		}
		return err
	}
	return c.Quit()
}

// LogPath is the instance's main log.
func (x *Exim) LogPath() string { return filepath.Join(x.Dir, "log", "mainlog") }

// LogLines returns the main log's lines that match re.
func (x *Exim) LogLines(re string) []string {
	b, _ := os.ReadFile(x.LogPath())
	return linesMatching(b, re)
}

// WaitLog waits until the main log has a line matching re and returns it.
func (x *Exim) WaitLog(what, re string, timeout time.Duration) string {
	x.tb.Helper()
	return x.site.waitLine(what+" in Exim's log", timeout, func() []string { return x.LogLines(re) })
}
