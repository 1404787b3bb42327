package test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/lmtpload"
	"github.com/mailman-go/mailman/internal/mailmantest"
)

// procStatusKB reads one field of /proc/PID/status, in KiB (VmRSS, the
// resident set now; VmHWM, its peak).
func procStatusKB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("/proc/%d/status: %s: %v", pid, field, err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// lmtpPID is the pid of the site's one LMTP runner.
func lmtpPID(t *testing.T, s *mailmantest.Site) int {
	t.Helper()
	for _, r := range s.Status().Runners {
		if r.Name == "lmtp" && r.State == "running" {
			return r.PID
		}
	}
	t.Fatal("no LMTP runner running")
	return 0
}

func loadPost(list, id string) []byte {
	return []byte(fmt.Sprintf("From: anne@example.org\r\nTo: %s\r\nSubject: load\r\nMessage-ID: <%s>\r\n\r\n%s\r\n", list, id, strings.Repeat("body of a post under load. ", 40)))
}

// TestLoadOneConnection sends 10,000 posts on one pipelining LMTP
// connection to the LMTP runner alone, so that the incoming queue fills up,
// and samples the runner's resident memory every 1,000: it must stay flat,
// since nothing of a message outlives its transaction. Every post gets its
// 250 and is in the queue once.
func TestLoadOneConnection(t *testing.T) {
	const messages, every = 10000, 1000
	s := mailmantest.NewSite(t, "")
	s.MustCtl("lists", "create", "load@example.com")
	s.Start("lmtp")
	pid := lmtpPID(t, s)
	c, err := lmtpload.Dial(fmt.Sprintf("127.0.0.1:%d", s.LMTPPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	var rss []int // KiB after each thousand
	for i := range messages {
		id := fmt.Sprintf("one-%d@load.example", i)
		replies, err := c.Send("anne@example.org", []string{"load@example.com"}, loadPost("load@example.com", id))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !replies[0].OK() {
			t.Fatalf("message %d: %v", i, replies[0])
		}
		if (i+1)%every == 0 {
			rss = append(rss, procStatusKB(t, pid, "VmRSS"))
		}
	}
	took := time.Since(began)
	c.Close()
	peak := procStatusKB(t, pid, "VmHWM")
	s.Stop()
	seen, _ := queuedMessageIDs(t, s, "incoming")
	missing := 0
	for i := range messages {
		if seen[fmt.Sprintf("<one-%d@load.example>", i)] != 1 {
			missing++
		}
	}
	if missing != 0 || len(seen) != messages {
		t.Errorf("%d of %d posts not queued exactly once (%d distinct in the queue)", missing, messages, len(seen))
	}
	// Measured, the runner settles at about 18 MiB within the first 2,000
	// posts and then swings by up to 3 MiB as the garbage collector runs.
	// The bound is twice that swing, 6 MiB, and less than the 8.6 MB that
	// keeping only the text of each of the last 8,000 posts would add.
	base, last := rss[1], rss[len(rss)-1]
	if bound := base + 6<<10; last > bound {
		t.Errorf("VmRSS grew from %d KiB after 2,000 posts to %d KiB after %d (bound %d KiB): %v", base, last, messages, bound, rss)
	}
	t.Logf("%d posts on one connection in %s (%.0f/s); VmRSS every %d posts (KiB): %v; VmHWM %d KiB",
		messages, took.Round(time.Millisecond), float64(messages)/took.Seconds(), every, rss, peak)
	o := mailmantest.NewOutcome(t, "10,000 posts on one LMTP connection")
	o.Sent, o.Acknowledged, o.Delivered, o.Duplicated, o.Lost = messages, messages, messages-missing, 0, missing
	o.Faults = "none"
	o.Held = fmt.Sprintf("LMTP runner VmRSS %d KiB after 2,000, %d KiB after 10,000; peak (VmHWM) %d KiB; %.0f posts/s", base, last, peak, float64(messages)/took.Seconds())
	mailmantest.Report(t, o)
}

// TestLoadThousandConnections opens 1,000 LMTP connections at once, with
// lmtp_max_connections raised to match, and has each send three posts once
// all are open: no connection is refused or cut, every post gets its 250
// and is in the queue once.
func TestLoadThousandConnections(t *testing.T) {
	const conns, each = 1000, 3
	s := mailmantest.NewSite(t, "")
	s.SetMTA("lmtp_max_connections", strconv.Itoa(conns))
	s.MustCtl("lists", "create", "load@example.com")
	s.Start("lmtp")
	pid := lmtpPID(t, s)
	addr := fmt.Sprintf("127.0.0.1:%d", s.LMTPPort)
	rssBefore := procStatusKB(t, pid, "VmRSS")

	began := time.Now()
	var opened, sent sync.WaitGroup
	opened.Add(conns)
	allOpen := make(chan struct{})
	errs := make(chan error, conns)
	var acked atomic.Int64
	for w := range conns {
		sent.Go(func() {
			c, err := lmtpload.Dial(addr, 30*time.Second)
			opened.Done()
			if err != nil {
				errs <- fmt.Errorf("connection %d: %v", w, err)
				return
			}
			defer c.Close()
			// Every connection is open before any sends, so that the
			// runner holds all of them at once.
			<-allOpen
			for i := range each {
				id := fmt.Sprintf("many-%d-%d@load.example", w, i)
				replies, err := c.Send("anne@example.org", []string{"load@example.com"}, loadPost("load@example.com", id))
				if err != nil {
					errs <- fmt.Errorf("%s: %v", id, err)
					return
				}
				if !replies[0].OK() {
					errs <- fmt.Errorf("%s: %v", id, replies[0])
					return
				}
				acked.Add(1)
			}
		})
	}
	opened.Wait()
	openTook := time.Since(began)
	rssOpen := procStatusKB(t, pid, "VmRSS")
	close(allOpen)
	sent.Wait()
	took := time.Since(began)
	close(errs)
	failed := 0
	for err := range errs {
		if failed < 10 {
			t.Error(err)
		}
		failed++
	}
	peak := procStatusKB(t, pid, "VmHWM")
	s.Stop()
	seen, _ := queuedMessageIDs(t, s, "incoming")
	missing := 0
	for w := range conns {
		for i := range each {
			if seen[fmt.Sprintf("<many-%d-%d@load.example>", w, i)] != 1 {
				missing++
			}
		}
	}
	if failed != 0 || missing != 0 {
		t.Errorf("%d connections failed; %d of %d posts not queued exactly once", failed, missing, conns*each)
	}
	t.Logf("%d connections open in %s, %d posts in %s; VmRSS %d KiB idle, %d KiB with every connection open; VmHWM %d KiB",
		conns, openTook.Round(time.Millisecond), conns*each, took.Round(time.Millisecond), rssBefore, rssOpen, peak)
	o := mailmantest.NewOutcome(t, "1,000 concurrent LMTP connections, 3 posts each")
	o.Sent, o.Acknowledged, o.Delivered, o.Duplicated, o.Lost = conns*each, int(acked.Load()), conns*each-missing, 0, missing
	o.Faults = "none"
	o.Held = fmt.Sprintf("no connection refused or cut; LMTP runner VmRSS %d KiB idle, %d KiB with 1,000 open; peak (VmHWM) %d KiB", rssBefore, rssOpen, peak)
	mailmantest.Report(t, o)
}
