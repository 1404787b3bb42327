package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// testRun is what the module's tests did.
type testRun struct {
	passed, failed, skipped int
	failures                []string // the tests that failed
	outcomes                []mailmantest.Outcome
	elapsed                 time.Duration
}

// runTests runs every test of the module with the race detector, as make
// test does, and collects the figures the reliability tests report into
// file.
func runTests(file string, logf func(string, ...any)) (testRun, error) {
	logf("go test -race -count=1 ./... (a few minutes)")
	start := time.Now()
	cmd := exec.Command("go", "test", "-race", "-count=1", "-json", "./...")
	cmd.Env = append(os.Environ(), mailmantest.ReportEnv+"="+file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return testRun{}, err
	}
	if err := cmd.Start(); err != nil {
		return testRun{}, fmt.Errorf("go test: %w", err)
	}
	r, err := readTestEvents(stdout, logf)
	if werr := cmd.Wait(); werr != nil && r.failed == 0 {
		// A build failure fails no test but runs none either.
		return r, fmt.Errorf("go test: %v\n%s", werr, stderr.Bytes())
	}
	if err != nil {
		return r, err
	}
	r.elapsed = time.Since(start)
	r.outcomes, err = readOutcomes(file)
	return r, err
}

// testEvent is one line of go test -json.
type testEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func readTestEvents(r io.Reader, logf func(string, ...any)) (testRun, error) {
	var run testRun
	output := map[string][]string{} // a running test's output, kept to show if it fails
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev testEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return run, fmt.Errorf("go test -json: %w: %q", err, sc.Text())
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "output":
			if ev.Test != "" {
				output[key] = append(output[key], ev.Output)
			}
		case "pass", "skip", "fail":
			if ev.Test == "" {
				logf("%s %s", ev.Action, ev.Package)
				continue
			}
			switch ev.Action {
			case "pass":
				run.passed++
			case "skip":
				run.skipped++
			case "fail":
				run.failed++
				run.failures = append(run.failures, key)
				logf("FAIL %s\n%s", key, joinTail(output[key], 40))
			}
			delete(output, key)
		}
	}
	return run, sc.Err()
}

func joinTail(lines []string, n int) string {
	var b bytes.Buffer
	for _, l := range lines[max(0, len(lines)-n):] {
		b.WriteString(l)
	}
	return b.String()
}

// readOutcomes reads the figures the tests appended to file.
func readOutcomes(file string) ([]mailmantest.Outcome, error) {
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []mailmantest.Outcome
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var o mailmantest.Outcome
		if err := json.Unmarshal(line, &o); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, i+1, err)
		}
		out = append(out, o)
	}
	return out, nil
}
