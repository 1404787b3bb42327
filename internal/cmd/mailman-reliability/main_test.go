package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// Every fuzz target in the module is run by make fuzz, so none is written
// and then forgotten.
func TestEveryFuzzTargetIsListed(t *testing.T) {
	listed := map[string]bool{}
	for _, f := range fuzzTargets {
		listed[f.pkg+" "+f.name] = true
	}
	root := "../../.."
	found := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		for _, decl := range file.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Fuzz") {
				found["./"+filepath.ToSlash(rel)+" "+fn.Name.Name] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Fatal("no fuzz target found in the module")
	}
	for f := range found {
		if !listed[f] {
			t.Errorf("fuzz target %s is not in fuzzTargets", f)
		}
	}
	for f := range listed {
		if !found[f] {
			t.Errorf("fuzzTargets lists %s, which does not exist", f)
		}
	}
}

func TestParseFuzzOutput(t *testing.T) {
	out := []byte(`fuzz: elapsed: 0s, gathering baseline coverage: 0/45 completed
fuzz: elapsed: 0s, gathering baseline coverage: 45/45 completed, now fuzzing with 2 workers
fuzz: elapsed: 3s, execs: 150123 (50036/sec), new interesting: 2 (total: 47)
fuzz: elapsed: 8s, execs: 400000 (49912/sec), new interesting: 5 (total: 50)
PASS
ok  	github.com/mailman-go/mailman/switchboard	8.123s
`)
	if execs, interesting := parseFuzzOutput(out); execs != 400000 || interesting != 5 {
		t.Errorf("parseFuzzOutput = %d, %d; want 400000, 5", execs, interesting)
	}
	if execs, interesting := parseFuzzOutput([]byte("FAIL\n")); execs != 0 || interesting != 0 {
		t.Errorf("parseFuzzOutput of nothing = %d, %d", execs, interesting)
	}
}

func TestReadTestEvents(t *testing.T) {
	in := `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"ok\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"it broke\n"}
{"Action":"fail","Package":"p","Test":"TestB"}
{"Action":"skip","Package":"p","Test":"TestC"}
{"Action":"fail","Package":"p"}
`
	var logged bytes.Buffer
	run, err := readTestEvents(strings.NewReader(in), func(f string, a ...any) { logged.WriteString(f) })
	if err != nil {
		t.Fatal(err)
	}
	if run.passed != 1 || run.failed != 1 || run.skipped != 1 || len(run.failures) != 1 || run.failures[0] != "p TestB" {
		t.Errorf("run = %+v", run)
	}
	if _, err := readTestEvents(strings.NewReader("not json\n"), func(string, ...any) {}); err == nil {
		t.Error("a line that is not JSON was taken")
	}
}

// The report shows every outcome, a dash for what was not measured, and the
// totals; a failure is named.
func TestMarkdown(t *testing.T) {
	file := filepath.Join(t.TempDir(), "outcomes.jsonl")
	t.Setenv(mailmantest.ReportEnv, file)
	o := mailmantest.NewOutcome(t, "a | pipe")
	o.Sent, o.Acknowledged, o.Delivered, o.Lost, o.Duplicated = 2000, 2000, 2000, 0, 12
	o.Faults = "21 SIGKILLs"
	mailmantest.Report(t, o)
	o2 := mailmantest.NewOutcome(t, "memory")
	o2.Held = "peak 30 MB"
	mailmantest.Report(t, o2)
	outcomes, err := readOutcomes(file)
	if err != nil || len(outcomes) != 2 {
		t.Fatalf("readOutcomes = %v, %v", outcomes, err)
	}
	r := report{date: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), machine: "m", command: "make reliability",
		tests: testRun{passed: 10, failed: 1, failures: []string{"p TestB"}, outcomes: outcomes},
		fuzz:  []fuzzResult{{target: fuzzTargets[0], execs: 400000, interesting: 3, elapsed: 8 * time.Second}}}
	md := r.markdown()
	for _, want := range []string{
		"10 passed, 1 failed", "failed: `p TestB`",
		"| `TestMarkdown` | a \\| pipe | 2,000 | 2,000 | 2,000 | 12 | 0 | 21 SIGKILLs |",
		"| `TestMarkdown` | memory | – | – | – | – | – |  | peak 30 MB |",
		"| **all** | | 2,000 | 2,000 | 2,000 | 12 | **0** |",
		"| `FuzzDecode` | `switchboard` | queue entry files | 400,000 | 3 | 8s | no failure |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if _, err := os.Stat(file); err != nil {
		t.Error(err)
	}
}
