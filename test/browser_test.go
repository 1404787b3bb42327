package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// browser is a headless Chromium driven through Selenium by
// test/web/browser.py, one JSON command per line. Every failed command
// fails the test with the page's address and text and a screenshot.
type browser struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	shots *screenshots
}

// screenshots is where the browsers of one test keep a picture of each
// page it checks: a folder that outlives the test, listed at its end.
type screenshots struct {
	dir   string
	taken []string
}

func newScreenshots(t *testing.T) *screenshots {
	dir, err := os.MkdirTemp("", "mailman-web-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	s := &screenshots{dir: dir}
	t.Cleanup(func() {
		t.Logf("screenshots in %s:", dir)
		for _, p := range s.taken {
			t.Logf("  %s", p)
		}
	})
	return s
}

func newBrowser(t *testing.T, name string, shots *screenshots) *browser {
	t.Helper()
	needWeb(t, "python3-selenium", "selenium")
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromedriver"} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("WEB_REQUIRED") != "" {
				t.Fatalf("%s is missing (apt-get install chromium chromium-driver)", p)
			}
			t.Skipf("%s is missing (apt-get install chromium chromium-driver)", p)
		}
	}
	script, _ := filepath.Abs(filepath.Join("web", "browser.py"))
	b := &browser{t: t, name: name, shots: shots, cmd: exec.Command(debianPython, script)}
	b.cmd.Stderr = os.Stderr
	var err error
	if b.in, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.out = bufio.NewScanner(stdout)
	b.out.Buffer(nil, 16<<20)
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.in.Close()
		b.cmd.Wait()
	})
	if _, err := b.send(map[string]string{"op": "ready"}); err != nil {
		t.Fatalf("the browser did not start: %v", err)
	}
	return b
}

// send gives the browser one command and returns its answer; "ready" only
// reads the greeting.
func (b *browser) send(cmd map[string]string) (string, error) {
	if cmd["op"] != "ready" {
		line, _ := json.Marshal(cmd)
		if _, err := fmt.Fprintf(b.in, "%s\n", line); err != nil {
			return "", err
		}
	}
	if !b.out.Scan() {
		return "", fmt.Errorf("the browser exited: %v", b.out.Err())
	}
	var answer struct {
		OK    *string `json:"ok"`
		Error string  `json:"error"`
	}
	if err := json.Unmarshal(b.out.Bytes(), &answer); err != nil {
		return "", fmt.Errorf("the browser's answer %q: %v", b.out.Bytes(), err)
	}
	if answer.Error != "" {
		return "", fmt.Errorf("%s", answer.Error)
	}
	if answer.OK == nil {
		return "", nil
	}
	return *answer.OK, nil
}

// do is send that fails the test, showing where the browser was.
func (b *browser) do(cmd map[string]string) string {
	b.t.Helper()
	answer, err := b.send(cmd)
	if err != nil {
		url, _ := b.send(map[string]string{"op": "url"})
		text, _ := b.send(map[string]string{"op": "text"})
		b.shot("failed")
		b.t.Fatalf("%s's browser: %v: %v\nat %s:\n%s", b.name, cmd, err, url, text)
	}
	return answer
}

func (b *browser) get(url string) { b.t.Helper(); b.do(map[string]string{"op": "get", "url": url}) }

func (b *browser) fill(css, text string) {
	b.t.Helper()
	b.do(map[string]string{"op": "fill", "css": css, "text": text})
}

// submit clicks the element css names and waits for the page it leads to.
func (b *browser) submit(css string) {
	b.t.Helper()
	b.do(map[string]string{"op": "click", "css": css, "wait": "page"})
}

// follow clicks the element of that tag whose text has label in it and
// waits for the page it leads to.
func (b *browser) follow(tag, label string) {
	b.t.Helper()
	b.do(map[string]string{"op": "click", "xpath": labelled(tag, label), "wait": "page"})
}

// tap clicks the element css names, which changes the page in place (a
// radio button, a dialog's link).
func (b *browser) tap(css string) { b.t.Helper(); b.do(map[string]string{"op": "click", "css": css}) }

// tapOn is tap for the element of that tag whose text has label in it.
func (b *browser) tapOn(tag, label string) {
	b.t.Helper()
	b.do(map[string]string{"op": "click", "xpath": labelled(tag, label)})
}

func labelled(tag, label string) string {
	return fmt.Sprintf("//%s[contains(normalize-space(.), %q)]", tag, label)
}

func (b *browser) choose(css, value string) {
	b.t.Helper()
	b.do(map[string]string{"op": "select", "css": css, "value": value})
}

func (b *browser) text() string { b.t.Helper(); return b.do(map[string]string{"op": "text"}) }

// shot keeps a picture of the page as it is, named for the step.
func (b *browser) shot(step string) {
	p := filepath.Join(b.shots.dir, fmt.Sprintf("%02d-%s-%s.png", len(b.shots.taken)+1, b.name, step))
	if _, err := b.send(map[string]string{"op": "shot", "path": p}); err != nil {
		b.t.Errorf("screenshot %s: %v", p, err)
		return
	}
	b.shots.taken = append(b.shots.taken, p)
}

// see fails the test unless the page shows all of want within a few
// seconds (its scripts may still be fetching what it shows); the page is
// kept as step.
func (b *browser) see(step string, want ...string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		missing := missingText(b.text(), want)
		if missing == "" || time.Now().After(deadline) {
			b.shot(step)
			if missing != "" {
				b.t.Fatalf("%s: the page does not show %q:\n%s", step, missing, b.text())
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// missingText is the first of want that text does not have, or "".
func missingText(text string, want []string) string {
	for _, w := range want {
		if !strings.Contains(text, w) {
			return w
		}
	}
	return ""
}

// seeSoon loads url until the page shows all of want, for what other
// processes bring about (a mail through the MTA, an archiving).
func (b *browser) seeSoon(step, url string, timeout time.Duration, want ...string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b.get(url)
		text := b.text()
		missing := missingText(text, want)
		if missing == "" {
			b.shot(step)
			return
		}
		if time.Now().After(deadline) {
			b.shot(step)
			b.t.Fatalf("%s: %s does not show %q after %v:\n%s", step, url, missing, timeout, text)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
