package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// hyperKitty is Debian's HyperKitty, run by Django's runserver on a free
// loopback port with the settings of test/hyperkitty/hksite: a private
// SQLite database, this site's REST API, the archiver key given.
type hyperKitty struct {
	t    *testing.T
	port int
	env  []string
	cmd  *exec.Cmd
	log  syncBuffer
}

// syncBuffer is runserver's output, written by the command's copying
// goroutine while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const debianPython = "/usr/bin/python3"

func newHyperKitty(t *testing.T, key string) *hyperKitty {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import hyperkitty, django_mailman3").Run(); err != nil {
		// CI installs it, and sets this so that its absence fails.
		if os.Getenv("HYPERKITTY_REQUIRED") != "" {
			t.Fatalf("python3-django-hyperkitty is not installed: %v", err)
		}
		t.Skipf("python3-django-hyperkitty is not installed (apt-get install python3-django-hyperkitty): %v", err)
	}
	here, _ := filepath.Abs("hyperkitty")
	data := t.TempDir()
	hk := &hyperKitty{t: t, port: mailmantest.FreePort(t), env: append(os.Environ(),
		"PYTHONPATH="+here, "DJANGO_SETTINGS_MODULE=hksite.settings", "HK_DATA="+data, "MAILMAN_ARCHIVER_KEY="+key)}
	migrate := exec.Command(debianPython, "-m", "django", "migrate", "-v", "0")
	migrate.Env = hk.env
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("HyperKitty's migrate: %v\n%s", err, out)
	}
	t.Cleanup(hk.stop)
	return hk
}

func (hk *hyperKitty) base() string { return fmt.Sprintf("http://127.0.0.1:%d/hyperkitty/", hk.port) }

// start starts runserver, which asks the core at restPort about lists,
// and waits until it answers.
func (hk *hyperKitty) start(restPort int) {
	hk.t.Helper()
	hk.cmd = exec.Command(debianPython, "-m", "django", "runserver", fmt.Sprintf("127.0.0.1:%d", hk.port), "--noreload")
	hk.cmd.Env = append(hk.env, fmt.Sprintf("MAILMAN_REST_API_URL=http://127.0.0.1:%d", restPort))
	hk.cmd.Stdout, hk.cmd.Stderr = &hk.log, &hk.log
	hk.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := hk.cmd.Start(); err != nil {
		hk.t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if resp, err := http.Get(hk.base()); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			hk.t.Fatalf("HyperKitty not answering at %s:\n%s", hk.base(), hk.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (hk *hyperKitty) stop() {
	if hk.cmd == nil || hk.cmd.Process == nil {
		return
	}
	syscall.Kill(-hk.cmd.Process.Pid, syscall.SIGTERM)
	hk.cmd.Wait()
	hk.cmd = nil
}

// TestHyperKittyDownForAWhile: the real HyperKitty is down while posts
// come in; the members get them at once, with List-Archive and
// Archived-At, and the prototype archive has them; HyperKitty is started,
// `mailmanctl archive retry` sends the backlog, and every post is in
// HyperKitty once, at its Archived-At link.
func TestHyperKittyDownForAWhile(t *testing.T) {
	mailmantest.Binary(t)
	const key = "archiver-key-for-tests"
	hk := newHyperKitty(t, key)
	s := mailmantest.NewSite(t, fmt.Sprintf("[archiver.prototype]\nenable = true\n\n[archiver.hyperkitty]\nenable = true\nbase_url = %q\napi_key = %q\n", hk.base(), key))
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "anne@example.com", "bart@example.com")
	sink := s.StartSink()
	s.Start()
	defer s.Stop()

	c := s.LMTP()
	const posts = 3
	for i := range posts {
		if err := sendPost(c, "anne@example.com", "test@example.com", fmt.Sprintf("<archived-%d@example.com>", i)); err != nil {
			t.Fatal(err)
		}
	}
	var links []string
	sink.Wait("the posts at bart's", 30*time.Second, func(ds []mailmantest.Delivery) bool {
		links = links[:0]
		for _, d := range delivered(ds, "bart@example.com", "[Test] Held post") {
			for _, line := range strings.Split(string(d.Data), "\r\n") {
				if l, ok := strings.CutPrefix(line, "Archived-At: <"); ok {
					links = append(links, strings.TrimSuffix(l, ">"))
				}
			}
		}
		return len(links) == posts
	})
	for _, l := range links {
		if !strings.HasPrefix(l, hk.base()+"list/test@example.com/message/") {
			t.Errorf("Archived-At <%s>, not HyperKitty's", l)
		}
	}
	backlog := func() int {
		var counts map[string]int
		if err := json.Unmarshal([]byte(s.MustCtl("queues", "--json")), &counts); err != nil {
			t.Fatalf("queues --json: %v", err)
		}
		return counts["archive/hyperkitty"]
	}
	s.WaitFor("the posts kept for HyperKitty", 30*time.Second, func() bool { return backlog() == posts })
	maildir, _ := filepath.Glob(filepath.Join(s.Paths().Archives, "prototype", "test@example.com", "new", "*"))
	if len(maildir) != posts {
		t.Errorf("the prototype archive holds %d posts, want %d", len(maildir), posts)
	}
	if status := s.MustCtl("status"); !strings.Contains(status, "archiver hyperkitty: 3 posts waiting") {
		t.Errorf("status does not show the backlog:\n%s", status)
	}

	hk.start(s.RESTPort)
	if out := s.MustCtl("archive", "retry"); !strings.Contains(out, "3 posts to archive again now") {
		t.Errorf("archive retry: %s", out)
	}
	s.WaitFor("the backlog archived", 60*time.Second, func() bool { return backlog() == 0 })
	for _, l := range links {
		resp, err := http.Get(l)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", l, resp.StatusCode)
		}
	}
	if n := strings.Count(hk.log.String(), "Archived message <archived-"); n != posts {
		t.Errorf("HyperKitty archived %d posts, want each of the %d once:\n%s", n, posts, hk.log.String())
	}
	if strings.Contains(hk.log.String(), "Duplicate email") {
		t.Errorf("a post was sent to HyperKitty twice:\n%s", hk.log.String())
	}
}
