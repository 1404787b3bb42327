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

// BenchmarkMembersAddFile100k is `mailmanctl members add LIST --file F` with
// 100,000 addresses, one command per iteration on a new list (Mailman 3.3.8's
// addmembers takes 212 s for 10,000 here).
func BenchmarkMembersAddFile100k(b *testing.B) {
	s := mailmantest.NewSite(b, "")
	var addrs strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&addrs, "Member %d <member%d@example.com>\n", i, i)
	}
	file := s.Dir + "/members.txt"
	if err := os.WriteFile(file, []byte(addrs.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		list := fmt.Sprintf("bulk%d@example.com", n)
		s.MustCtl("lists", "create", list)
		b.StartTimer()
		if out := s.MustCtl("members", "add", list, "--file", file); !strings.Contains(out, "Added 100000 member(s)") {
			b.Fatalf("members add: %s", out)
		}
	}
	b.ReportMetric(100_000*float64(b.N)/b.Elapsed().Seconds(), "members/s")
}
