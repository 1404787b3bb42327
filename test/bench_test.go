package test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// BenchmarkStartReady is `mailmanctl start` until it returns, which it
// does once every runner has said it is ready (Mailman 3.3.8: 7.4 s here).
func BenchmarkStartReady(b *testing.B) {
	s := mailmantest.NewSite(b, "")
	for b.Loop() {
		s.Start("retry")
		b.StopTimer()
		s.Stop()
		b.StartTimer()
	}
}

// benchmarkIdleMemory sums PSS and RSS over the master and its runners once
// they are idle. PSS counts the pages the processes share (the binary) once
// in all, which is what they cost the machine.
func benchmarkIdleMemory(b *testing.B, instances int) {
	s := mailmantest.NewSite(b, fmt.Sprintf("[runner.retry]\ninstances = %d\n", instances))
	s.Start("retry")
	defer s.Stop()
	var pss, rss int
	for b.Loop() {
		st := s.Status()
		pss, rss = 0, 0
		for _, pid := range append([]int{st.PID}, runnerPIDs(nil, s)...) {
			p, r := smapsRollup(b, pid)
			pss += p
			rss += r
		}
	}
	b.ReportMetric(float64(pss)/1024, "PSS-MB")
	b.ReportMetric(float64(rss)/1024, "RSS-MB")
	b.ReportMetric(float64(1+instances), "processes")
}

// BenchmarkIdleMemory is the master and one runner.
func BenchmarkIdleMemory(b *testing.B) { benchmarkIdleMemory(b, 1) }

// BenchmarkIdleMemory8 is the master and eight runner processes, about as
// many as a site running every runner will have.
func BenchmarkIdleMemory8(b *testing.B) { benchmarkIdleMemory(b, 8) }

// smapsRollup returns a process's PSS and RSS in kB.
func smapsRollup(b *testing.B, pid int) (pss, rss int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Pss:":
			pss = n
		case "Rss:":
			rss = n
		}
	}
	return pss, rss
}
