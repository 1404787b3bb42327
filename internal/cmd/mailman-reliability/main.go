// Command mailman-reliability runs the reliability suite and writes what it
// tried and what held into docs/reliability.md (make reliability), or runs
// only the fuzz targets (make fuzz, which CI runs):
//
//	mailman-reliability fuzz [-x N]
//	mailman-reliability report [-x N] [-out docs/reliability.md]
//
// The report runs every test of the module with the race detector, as
// make test does, with $MAILMAN_RELIABILITY_REPORT set so that the fault,
// crash and load tests append their figures (see mailmantest.Report), then
// every fuzz target for its number of executions times N. The fuzz targets
// and their counts are listed here, once; a test checks that no target of
// the module is missing.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mailman-go/mailman/internal/gendoc"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("mailman-reliability: ")
	if len(os.Args) < 2 || (os.Args[1] != "fuzz" && os.Args[1] != "report") {
		fmt.Fprintln(os.Stderr, "usage: mailman-reliability fuzz|report [-x N] [-out FILE]")
		os.Exit(2)
	}
	verb := os.Args[1]
	fs := flag.NewFlagSet(verb, flag.ExitOnError)
	x := fs.Int("x", 1, "run each fuzz target for N times its listed executions (about 8 s each at 1)")
	out := fs.String("out", "docs/reliability.md", "the file whose generated section is rewritten; - prints the section")
	fs.Parse(os.Args[2:])
	if *x < 1 {
		log.Fatalf("-x %d: must be at least 1", *x)
	}
	logf := func(format string, args ...any) { log.Printf(format, args...) }

	var r report
	r.date = time.Now().UTC()
	r.machine = gendoc.Machine(".")
	r.command = "make reliability"
	if *x != 1 {
		r.command = fmt.Sprintf("make reliability FUZZX=%d", *x)
	}
	failed := false
	if verb == "report" {
		dir, err := os.MkdirTemp("", "mailman-reliability-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		r.tests, err = runTests(filepath.Join(dir, "outcomes.jsonl"), logf)
		if err != nil {
			log.Fatal(err)
		}
		failed = r.tests.failed > 0
	}
	for _, t := range fuzzTargets {
		res := runFuzz(t, *x, logf)
		r.fuzz = append(r.fuzz, res)
		if res.err != "" {
			failed = true
		}
	}
	if verb == "fuzz" {
		fmt.Print(r.fuzzTable())
	} else {
		section := r.markdown()
		if *out == "-" {
			fmt.Print(section)
		} else if err := gendoc.WriteSection(*out, "reliability", "Reliability", section); err != nil {
			log.Fatal(err)
		} else {
			logf("wrote the tables into %s", *out)
		}
	}
	if failed {
		log.Fatal("some tests or fuzz targets failed; see above")
	}
}
