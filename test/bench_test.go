package test

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/internal/lmtpload"
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
// with 1 and 8 connections against the two floors it is judged by: a loop
// of durable file writes (create, write, fsync, rename, directory fsync)
// with as many writers, and the same LMTP exchanges with a server that
// stores nothing (go-smtp, as the runner uses, in this process). The three
// take turns in chunks of 500 messages, so that the disk's drift, which on
// this machine is larger than the differences measured, falls on all
// three alike. The floor writes into the very queue directory the runner
// fills, under names the switchboard ignores: on ext4 a directory's
// history changes how fast files are created in it.
func BenchmarkIngest(b *testing.B) {
	s := mailmantest.NewSite(b, "")
	s.MustCtl("lists", "create", "ingest@example.com")
	s.Start("lmtp")
	defer s.Stop()
	addr := fmt.Sprintf("127.0.0.1:%d", s.LMTPPort)
	dir := s.Paths().Queue("incoming")
	d, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	bare := func() (func(n int64) error, func(), error) {
		return func(n int64) error { return durableWrite(d, dir, n, ingestMessage) }, func() {}, nil
	}
	discard := discardLMTP(b)
	var next atomic.Int64
	queued := 0
	for _, width := range []int{1, 8} {
		b.Run(fmt.Sprintf("conns=%d", width), func(b *testing.B) {
			const chunk = 500
			var ingest, floor, protocol time.Duration
			for done := 0; done < b.N; done += chunk {
				n := min(chunk, b.N-done)
				ingest += parallel(b, n, width, &next, lmtpSender(addr))
				// The runner's journal publishes its entries in the
				// background; that work is the runner's, so it must not
				// fall into the floor's time.
				queued += n
				s.WaitFor("the journal published", 10*time.Second, func() bool {
					c, err := s.Queue("incoming").Count()
					return err == nil && c.Ready >= queued
				})
				floor += parallel(b, n, width, &next, bare)
				protocol += parallel(b, n, width, &next, lmtpSender(discard))
			}
			rate := func(d time.Duration) float64 { return float64(b.N) / d.Seconds() }
			b.ReportMetric(rate(ingest), "msgs/s")
			b.ReportMetric(rate(floor), "floor-msgs/s")
			b.ReportMetric(rate(protocol), "no-storage-msgs/s")
			b.ReportMetric(100*floor.Seconds()/ingest.Seconds(), "%-of-floor")
		})
	}
}

// lmtpSender makes parallel's workers for an LMTP server at addr: one
// pipelining connection each, sending numbered ingest messages.
func lmtpSender(addr string) func() (func(n int64) error, func(), error) {
	return func() (func(n int64) error, func(), error) {
		c, err := lmtpload.Dial(addr, 5*time.Second)
		if err != nil {
			return nil, nil, err
		}
		rcpts := []string{"ingest@example.com"}
		send := func(n int64) error {
			msg := strings.Replace(ingestMessage, "<ID>", fmt.Sprintf("<ingest-%d@client.example>", n), 1)
			replies, err := c.Send("poster@client.example", rcpts, []byte(msg))
			if err == nil && !replies[0].OK() {
				err = fmt.Errorf("message %d: %v", n, replies[0])
			}
			return err
		}
		return send, func() { c.Close() }, nil
	}
}

// discardLMTP serves LMTP on a loopback port, reading each message whole
// and accepting every recipient without storing anything.
func discardLMTP(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &discardSession{}, nil }))
	srv.LMTP = true
	srv.Domain = "localhost"
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

type discardSession struct{ rcpts []string }

func (d *discardSession) Reset()                               { d.rcpts = nil }
func (d *discardSession) Logout() error                        { return nil }
func (d *discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (d *discardSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	d.rcpts = append(d.rcpts, to)
	return nil
}
func (d *discardSession) Data(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }
func (d *discardSession) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	_, err := io.Copy(io.Discard, r)
	for _, rc := range d.rcpts {
		st.SetStatus(rc, err)
	}
	return nil
}

// parallel runs n operations over width workers, each set up by start and
// numbering its operations from next, and returns how long they took.
func parallel(b *testing.B, n, width int, next *atomic.Int64, start func() (op func(n int64) error, stop func(), err error)) time.Duration {
	last := next.Load() + int64(n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for range width {
		wg.Go(func() {
			op, stop, err := start()
			if err != nil {
				b.Error(err)
				return
			}
			defer stop()
			for {
				i := next.Add(1)
				if i > last {
					return
				}
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	next.Store(last)
	return time.Since(t0)
}

func durableWrite(d *os.File, dir string, n int64, msg string) error {
	tmp := filepath.Join(dir, fmt.Sprintf("bare-%d-%d.tmp", time.Now().UnixNano(), n))
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
	if err := os.Rename(tmp, strings.TrimSuffix(tmp, ".tmp")+".bare"); err != nil {
		return err
	}
	return d.Sync()
}
