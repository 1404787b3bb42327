package test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/lmtpload"
	"github.com/mailman-go/mailman/internal/mailmantest"
)

// deliveryBenchSite is a list of n members, every runner started, and a
// sink standing in for the MTA.
func deliveryBenchSite(b *testing.B, n int) (*mailmantest.Site, *mailmantest.Sink, *lmtpload.Client) {
	s := mailmantest.NewSite(b, "")
	s.MustCtl("lists", "create", "bench@example.com", "--owner", "owen@example.com")
	var addrs strings.Builder
	for i := range n {
		fmt.Fprintf(&addrs, "member%d@example.org\n", i)
	}
	file := s.Dir + "/members.txt"
	if err := os.WriteFile(file, []byte(addrs.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	s.MustCtl("members", "add", "bench@example.com", "--file", file)
	sink := s.StartSink()
	s.Start("lmtp", "incoming", "pipeline", "outgoing", "virgin", "retry")
	b.Cleanup(s.Stop)
	c, err := lmtpload.Dial(fmt.Sprintf("127.0.0.1:%d", s.LMTPPort), 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return s, sink, c
}

func benchPost(b *testing.B, c *lmtpload.Client, i int) {
	msg := fmt.Sprintf("From: member0@example.org\r\nTo: bench@example.com\r\nSubject: post %d\r\nMessage-ID: <bench-%d@example.org>\r\n\r\n%s", i, i, ingestMessage)
	replies, err := c.Send("member0@example.org", []string{"bench@example.com"}, []byte(msg))
	if err != nil || !replies[0].OK() {
		b.Fatalf("post %d: %v %v", i, replies, err)
	}
}

// BenchmarkEndToEndLatency is one post at a time to a list of one member,
// from LMTP's 250 until the sink has it (Mailman 3.3.8: 1,480 ms here).
func BenchmarkEndToEndLatency(b *testing.B) {
	_, sink, c := deliveryBenchSite(b, 1)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		benchPost(b, c, i)
		acked := time.Now()
		sink.Wait("the post", 10*time.Second, func(ds []mailmantest.Delivery) bool { return len(ds) >= i })
		lat = append(lat, sink.Received()[i-1].At.Sub(acked))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkFanout10k is one post to a list of 10,000 members, from LMTP's
// 250 until the sink has every recipient (Mailman 3.3.8: 8.06 s here).
func BenchmarkFanout10k(b *testing.B) {
	const members = 10_000
	_, sink, c := deliveryBenchSite(b, members)
	i := 0
	for b.Loop() {
		i++
		benchPost(b, c, i)
		sink.Wait("every member's copy", time.Minute, func(ds []mailmantest.Delivery) bool {
			n := 0
			for _, d := range ds {
				n += len(d.To)
			}
			return n >= i*members
		})
	}
	b.ReportMetric(float64(b.N*members)/b.Elapsed().Seconds(), "recipients/s")
}
