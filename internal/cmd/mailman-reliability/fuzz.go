package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// fuzzTarget is one fuzz target and the executions it runs at -x 1, chosen
// so that each takes about 8 s on this machine class.
type fuzzTarget struct {
	pkg, name string
	execs     int
	parses    string // what it feeds, for the table
}

var fuzzTargets = []fuzzTarget{
	{"./switchboard", "FuzzDecode", 400000, "queue entry files"},
	{"./switchboard", "FuzzJournalRecord", 400000, "LMTP journal records"},
	{"./config", "FuzzLoad", 6000, "TOML configuration files"},
	{"./message", "FuzzParse", 400000, "messages: header fields, addresses, MIME parts"},
	{"./message", "FuzzAddress", 180000, "address header fields"},
	{"./runners/pipeline", "FuzzPipeline", 6000, "posts through the whole posting pipeline (headers, subject prefix, MIME)"},
	{"./message", "FuzzDecorate", 120000, "MIME bodies a header and a footer are added to"},
	{"./digest", "FuzzDigest", 60000, "posts built into MIME and RFC 1153 digests"},
	{"./dmarc", "FuzzParseTags", 200000, "DMARC TXT records"},
	{"./oneclick", "FuzzParsePath", 200000, "one-click unsubscribe link paths"},
	{"./migrate", "FuzzReadConfig21", 100000, "Mailman 2.1 config.pck pickles"},
	{"./runners/lmtp", "FuzzPrepare", 50000, "the LMTP runner's message preparation"},
	{"./runners/lmtp", "FuzzSession", 35000, "LMTP sessions on a real connection: the command parser and the DATA reader"},
	{"./runners/lmtp", "FuzzResolve", 100000, "recipient addresses and sub-addresses"},
	{"./runners/command", "FuzzScript", 100000, "email command scripts"},
	{"./bounce", "FuzzScan", 25000, "bounces: delivery status reports, feedback reports, the text of other servers"},
	{"./rest", "FuzzRequest", 30000, "REST API requests: paths, parameters, form and JSON bodies"},
}

// fuzzResult is what one target did.
type fuzzResult struct {
	target      fuzzTarget
	execs       int // as go test reported them
	interesting int // new inputs found this run
	elapsed     time.Duration
	err         string // why it failed, if it did
}

// runFuzz runs one target with -fuzztime Nx: a number of executions, not a
// duration, since Go 1.26's coordinator can fail a target with "context
// deadline exceeded" when a duration ends (go.dev/issue/75804).
func runFuzz(t fuzzTarget, x int, logf func(string, ...any)) fuzzResult {
	n := t.execs * x
	logf("fuzz %s %s: %d executions", t.pkg, t.name, n)
	start := time.Now()
	cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", fmt.Sprintf("%dx", n), t.pkg)
	out, err := cmd.CombinedOutput()
	res := fuzzResult{target: t, elapsed: time.Since(start)}
	res.execs, res.interesting = parseFuzzOutput(out)
	if err != nil {
		res.err = lastLines(out, 20)
		logf("fuzz %s %s FAILED:\n%s", t.pkg, t.name, res.err)
	}
	return res
}

var fuzzProgress = regexp.MustCompile(`execs: (\d+) .*?new interesting: (\d+)`)

// parseFuzzOutput finds the last progress line go test printed: the
// executions done and the new interesting inputs.
func parseFuzzOutput(out []byte) (execs, interesting int) {
	for _, m := range fuzzProgress.FindAllSubmatch(out, -1) {
		execs, _ = strconv.Atoi(string(m[1]))
		interesting, _ = strconv.Atoi(string(m[2]))
	}
	return execs, interesting
}

func lastLines(out []byte, n int) string {
	lines := strings.Split(string(bytes.TrimSpace(out)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
