package mailmantest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Postfix is a private instance of the real Postfix in front of a site:
// its own configuration, queue, data and log under the site's folder,
// listening on two free loopback ports, with nothing of the machine's own
// Postfix used or started.
//
//   - Inbound is the port mail "from the Internet" arrives at: list mail
//     goes to the site's LMTP port through the maps `mailmanctl aliases`
//     writes, and a recipient is refused at RCPT unless Postfix's probe of
//     it over LMTP succeeds (reject_unverified_recipient), so unknown lists
//     are refused while the sender is still connected.
//   - Submit is the port the site's outgoing runner delivers to.
//   - Mail for MailDomain is delivered to Maildirs, read with Mailbox.
//   - Anything else is refused by an error transport: no test mail leaves
//     the machine.
type Postfix struct {
	Dir             string // the instance's folder: etc/, queue/, data/, mail/, log/
	Inbound, Submit int
	site            *Site
	tb              testing.TB
}

// MailDomain is the domain whose addresses have mailboxes in a Postfix
// instance.
const MailDomain = "example.org"

// HavePostfix says whether Postfix is installed; under CI (where .ci/run
// installs it) its absence fails the test rather than skipping it.
func HavePostfix(tb testing.TB) {
	tb.Helper()
	for _, bin := range []string{"/usr/sbin/postfix", "/usr/sbin/postmap", "/usr/sbin/sendmail", "/usr/sbin/postqueue"} {
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("%s is missing: .ci/run installs Debian's postfix", bin)
			}
			tb.Skipf("Postfix is not installed (%s): apt-get install postfix", bin)
		}
	}
	if os.Geteuid() != 0 {
		tb.Skip("a private Postfix instance is started as root")
	}
}

// StartPostfix configures and starts a Postfix instance in front of s,
// with a mailbox for each of users (local parts at MailDomain), points the
// site's SMTP delivery at it and its maps at Postfix's postmap, and writes
// the maps. Postfix is stopped when the test ends.
func (s *Site) StartPostfix(users ...string) *Postfix {
	s.tb.Helper()
	HavePostfix(s.tb)
	p := &Postfix{Dir: filepath.Join(s.Dir, "postfix"), Inbound: FreePort(s.tb), Submit: FreePort(s.tb), site: s, tb: s.tb}
	etc := filepath.Join(p.Dir, "etc")
	for _, d := range []string{etc, filepath.Join(p.Dir, "queue"), filepath.Join(p.Dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			s.tb.Fatal(err)
		}
	}
	// Postfix's daemons run as postfix and deliver as nobody: they must
	// reach the maps and the mailboxes under the site's private folder.
	for _, d := range []string{s.Dir, s.Paths().VarDir, s.Paths().Data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			s.tb.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	mail := filepath.Join(p.Dir, "mail")
	data := filepath.Join(p.Dir, "data")
	for _, d := range []string{mail, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			s.tb.Fatal(err)
		}
	}
	run(s.tb, "chown", "nobody:nogroup", mail)
	run(s.tb, "chown", "postfix:postfix", data)
	varData := s.Paths().Data
	mainCF := fmt.Sprintf(`# A private instance for one test: loopback only, nothing delivered outside.
compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.test.example
mydomain = test.example
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
maillog_file = %[1]s/log/maillog
maillog_file_prefixes = %[1]s
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s

# The lists, from mailmanctl aliases, as docs/postfix.md says.
relay_domains = hash:%[2]s/postfix_domains
transport_maps = hash:%[2]s/postfix_lmtp
recipient_delimiter = +
# An address of a list domain that is no list goes to the list server too,
# which refuses it; never to the network.
relay_transport = lmtp:[127.0.0.1]:%[3]d
default_transport = error:this test delivers nothing outside
smtpd_recipient_restrictions = reject_unverified_recipient, permit_mynetworks, reject
unverified_recipient_reject_code = 550

# The members' mailboxes.
virtual_mailbox_domains = %[4]s
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = texthash:%[1]s/etc/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
`, p.Dir, varData, s.LMTPPort, MailDomain)
	masterCF := fmt.Sprintf(`127.0.0.1:%d inet n - n - - smtpd
127.0.0.1:%d inet n - n - - smtpd -o smtpd_recipient_restrictions=permit_mynetworks,reject
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`, p.Inbound, p.Submit)
	// Postfix allows no substitution in a map of mailboxes: one line each.
	var vmailbox strings.Builder
	for _, u := range users {
		fmt.Fprintf(&vmailbox, "%s@%s\t%s/%s/\n", u, MailDomain, MailDomain, u)
	}
	for name, text := range map[string]string{"main.cf": mainCF, "master.cf": masterCF, "vmailbox": vmailbox.String()} {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(text), 0o644); err != nil {
			s.tb.Fatal(err)
		}
	}
	s.SetMTA("smtp_port", fmt.Sprint(p.Submit))
	s.SetMTA("transport_file_type", `"hash"`)
	s.SetMTA("postmap_command", fmt.Sprintf("%q", "/usr/sbin/postmap -c "+etc))
	s.SetMTA("incoming", `"postfix"`)
	s.MustCtl("aliases")
	run(s.tb, "/usr/sbin/postfix", "-c", etc, "start")
	s.tb.Cleanup(func() {
		exec.Command("/usr/sbin/postfix", "-c", etc, "stop").Run()
		// postfix stop returns before the master has gone; the next test
		// may reuse neither its ports nor its folder before then.
		pidFile := filepath.Join(p.Dir, "queue", "pid", "master.pid")
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(pidFile); os.IsNotExist(err) {
				break
			}
		}
		if s.tb.Failed() {
			s.tb.Logf("Postfix's log: %s", p.LogPath())
		}
	})
	s.WaitFor("Postfix listening", 10*time.Second, func() bool {
		return bytes.Contains(p.Log(), []byte("daemon started"))
	})
	return p
}

func run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// Etc is the instance's configuration folder, for postfix -c.
func (p *Postfix) Etc() string { return filepath.Join(p.Dir, "etc") }

// LogPath is the instance's log file.
func (p *Postfix) LogPath() string { return filepath.Join(p.Dir, "log", "maillog") }

// Log returns what Postfix has logged so far.
func (p *Postfix) Log() []byte {
	b, _ := os.ReadFile(p.LogPath())
	return b
}

// LogLines returns the log lines that match re.
func (p *Postfix) LogLines(re string) []string { return linesMatching(p.Log(), re) }

// WaitLog waits until the log has a line matching re and returns it.
func (p *Postfix) WaitLog(what, re string, timeout time.Duration) string {
	p.tb.Helper()
	return p.site.waitLine(what+" in Postfix's log", timeout, func() []string { return p.LogLines(re) })
}

// linesMatching returns the lines of b that match re.
func linesMatching(b []byte, re string) []string {
	r := regexp.MustCompile(re)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if r.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// waitLine waits until lines has one and returns the first.
func (s *Site) waitLine(what string, timeout time.Duration, lines func() []string) string {
	s.tb.Helper()
	var line string
	s.WaitFor(what, timeout, func() bool {
		if ls := lines(); len(ls) > 0 {
			line = ls[0]
			return true
		}
		return false
	})
	return line
}

// Sendmail submits msg as a local program does, with Postfix's sendmail:
// through the pickup service, past the SMTP server's restrictions.
func (p *Postfix) Sendmail(from string, to []string, msg []byte) {
	p.tb.Helper()
	cmd := exec.Command("/usr/sbin/sendmail", append([]string{"-C", p.Etc(), "-f", from, "--"}, to...)...)
	cmd.Stdin = bytes.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.tb.Fatalf("sendmail: %v\n%s", err, out)
	}
}

// Flush asks Postfix to try every deferred message now.
func (p *Postfix) Flush() {
	p.tb.Helper()
	run(p.tb, "/usr/sbin/postqueue", "-c", p.Etc(), "-f")
}

// Mailbox returns the messages delivered to user@MailDomain, oldest first.
func (p *Postfix) Mailbox(user string) [][]byte {
	var msgs [][]byte
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(p.Dir, "mail", MailDomain, user, sub)
		des, _ := os.ReadDir(dir)
		for _, de := range des {
			if b, err := os.ReadFile(filepath.Join(dir, de.Name())); err == nil {
				msgs = append(msgs, b)
			}
		}
	}
	return msgs
}

// WaitMailbox waits until user's mailbox holds a message for which match
// holds, and returns it.
func (p *Postfix) WaitMailbox(user, what string, timeout time.Duration, match func(msg []byte) bool) []byte {
	p.tb.Helper()
	var found []byte
	p.site.WaitFor(what+" in the mailbox of "+user, timeout, func() bool {
		for _, m := range p.Mailbox(user) {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}
