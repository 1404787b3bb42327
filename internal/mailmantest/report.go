package mailmantest

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
)

// ReportEnv names the file to which Report appends its figures, one JSON
// object a line; `make reliability` sets it and writes the table of
// docs/reliability.md from that file.
const ReportEnv = "MAILMAN_RELIABILITY_REPORT"

// Outcome is what one reliability test tried and what held. Counts that do
// not apply stay -1 (NewOutcome), so the table shows a dash rather than a
// zero nobody measured.
type Outcome struct {
	Test         string `json:"test"`         // the test function
	Tried        string `json:"tried"`        // the fault or load, in a few words
	Sent         int    `json:"sent"`         // messages offered over LMTP (or injected)
	Acknowledged int    `json:"acknowledged"` // of those, answered 250
	Delivered    int    `json:"delivered"`    // acknowledged messages that reached the sink (or their queue, where that is the end)
	Duplicated   int    `json:"duplicated"`   // extra copies beyond one per message and recipient
	Lost         int    `json:"lost"`         // acknowledged and never delivered: must be 0
	Faults       string `json:"faults"`       // the faults injected, counted
	Held         string `json:"held"`         // what held, or what else was measured (peak memory, codes seen)
}

// NewOutcome starts an Outcome for tb with every count unknown.
func NewOutcome(tb testing.TB, tried string) Outcome {
	return Outcome{Test: tb.Name(), Tried: tried, Sent: -1, Acknowledged: -1, Delivered: -1, Duplicated: -1, Lost: -1}
}

var reportMu sync.Mutex

// Report logs o in the test's output and, when $MAILMAN_RELIABILITY_REPORT
// names a file, appends it there. A test reports only once it has checked
// its figures, so a failed test's figures are marked as such.
func Report(tb testing.TB, o Outcome) {
	tb.Helper()
	if tb.Failed() {
		o.Held = "FAILED: " + o.Held
	}
	line, err := json.Marshal(o)
	if err != nil {
		tb.Fatalf("report: %v", err)
	}
	tb.Logf("reliability: %s", line)
	path := os.Getenv(ReportEnv)
	if path == "" {
		return
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		tb.Errorf("report to %s: %v", path, err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s\n", line); err != nil {
		tb.Errorf("report to %s: %v", path, err)
	}
}
