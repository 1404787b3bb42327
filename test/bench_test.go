package test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

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

// ingestMessage is a 3 KB post, as in the ingest figures.
var ingestMessage = func() string {
	var b strings.Builder
	b.WriteString("From: poster@client.example\r\nTo: ingest@example.com\r\nSubject: ingest\r\nMessage-ID: <ID>\r\n\r\n")
	for b.Len() < 3000 {
		b.WriteString("The quick brown fox jumps over the lazy dog, again and again.\r\n")
	}
	return b.String()
}()

// BenchmarkIngest measures durable LMTP ingest into the real lmtp runner
// with 1 and 8 connections, and, in the same run and on the same file
// system, the bare floor: a loop of durable file writes (create, write,
// fsync, rename, directory fsync) with 1 and 8 writers.
func BenchmarkIngest(b *testing.B) {
	s := mailmantest.NewSite(b, "")
	s.MustCtl("lists", "create", "ingest@example.com")
	s.Start("lmtp")
	defer s.Stop()
	addr := fmt.Sprintf("127.0.0.1:%d", s.LMTPPort)
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("lmtp/conns=%d", conns), func(b *testing.B) {
			var next atomic.Int64
			var wg sync.WaitGroup
			for range conns {
				wg.Go(func() {
					c, err := mailmantest.DialLMTP(addr)
					if err != nil {
						b.Error(err)
						return
					}
					defer c.Close()
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						if err := sendIngest(c, n); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
	dir := filepath.Join(s.Dir, "var", "bare")
	os.MkdirAll(dir, 0o770)
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("bare-durable-write/writers=%d", writers), func(b *testing.B) {
			d, err := os.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						if err := durableWrite(d, dir, n, ingestMessage); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func sendIngest(c *smtp.Client, n int64) error {
	if err := c.Mail("poster@client.example", nil); err != nil {
		return err
	}
	if err := c.Rcpt("ingest@example.com", nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, strings.Replace(ingestMessage, "<ID>", fmt.Sprintf("<ingest-%d@client.example>", n), 1)); err != nil {
		return err
	}
	_, err = w.CloseWithLMTPResponse()
	return err
}

func durableWrite(d *os.File, dir string, n int64, msg string) error {
	tmp := filepath.Join(dir, fmt.Sprintf("%d-%d.tmp", time.Now().UnixNano(), n))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o660)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(msg); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	f.Close()
	if err := os.Rename(tmp, strings.TrimSuffix(tmp, ".tmp")+".msg"); err != nil {
		return err
	}
	return d.Sync()
}
