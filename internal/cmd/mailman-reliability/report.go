package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

type outcome = mailmantest.Outcome

// report is what one run found.
type report struct {
	date    time.Time
	machine string
	command string
	tests   testRun
	fuzz    []fuzzResult
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Written by `%s` on %s.\n\nMachine: %s.\n\n", r.command, r.date.Format("2006-01-02 15:04 UTC"), r.machine)
	t := r.tests
	fmt.Fprintf(&b, "The whole test suite with the race detector: %d passed, %d failed, %d skipped, in %s.\n\n",
		t.passed, t.failed, t.skipped, t.elapsed.Round(time.Second))
	for _, f := range t.failures {
		fmt.Fprintf(&b, "- failed: `%s`\n", f)
	}
	if len(t.failures) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("### Faults, crashes and load\n\n")
	b.WriteString("| test | what was tried | sent | acknowledged | delivered | duplicated | lost | faults injected | what held |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	outcomes := slices.Clone(t.outcomes)
	slices.SortStableFunc(outcomes, func(a, b outcome) int { return strings.Compare(a.Test, b.Test) })
	sum := func(get func(outcome) int) string {
		total, any := 0, false
		for _, o := range outcomes {
			if n := get(o); n >= 0 {
				total, any = total+n, true
			}
		}
		return count(total, any)
	}
	for _, o := range outcomes {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s | %s | %s |\n", o.Test, cell(o.Tried),
			count(o.Sent, o.Sent >= 0), count(o.Acknowledged, o.Acknowledged >= 0), count(o.Delivered, o.Delivered >= 0),
			count(o.Duplicated, o.Duplicated >= 0), count(o.Lost, o.Lost >= 0), cell(o.Faults), cell(o.Held))
	}
	fmt.Fprintf(&b, "| **all** | | %s | %s | %s | %s | **%s** | | |\n\n",
		sum(func(o outcome) int { return o.Sent }), sum(func(o outcome) int { return o.Acknowledged }),
		sum(func(o outcome) int { return o.Delivered }), sum(func(o outcome) int { return o.Duplicated }),
		sum(func(o outcome) int { return o.Lost }))
	b.WriteString("The totals add what each test measured (a dash adds nothing), so one column's total may exceed another's.\n\n")
	b.WriteString("### Fuzzing\n\n")
	b.WriteString(r.fuzzTable())
	return b.String()
}

func (r *report) fuzzTable() string {
	var b strings.Builder
	b.WriteString("| target | package | what it parses | inputs executed | new inputs found | time | result |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	total := 0
	for _, f := range r.fuzz {
		result := "no failure"
		if f.err != "" {
			result = "**FAILED**"
		}
		total += f.execs
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %d | %s | %s |\n", f.target.name, strings.TrimPrefix(f.target.pkg, "./"),
			f.target.parses, count(f.execs, true), f.interesting, f.elapsed.Round(time.Second), result)
	}
	fmt.Fprintf(&b, "| **all** | | | %s | | | |\n", count(total, true))
	return b.String()
}

// count prints n with thousands separators, or a dash when it was not
// measured.
func count(n int, measured bool) string {
	if !measured {
		return "–"
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
