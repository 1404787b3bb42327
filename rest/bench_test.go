package rest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/mailman-go/mailman/store"
)

// The requests Postorius waits on for a big list, served over a real
// connection: a page of its roster, the whole roster, the list itself and
// its held count. make bench measures the same beside Mailman; these are
// for profiling one request at a time.

const benchRoster = 100000

func benchSite(b *testing.B) *site {
	s := newSite(b)
	s.setup()
	addrs := make([]string, benchRoster)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("rcpt-%06d@sink.example", i)
	}
	a, _ := store.ParseListAddress("ant@example.com")
	if _, err := s.store.AddMembers(context.Background(), a, store.Regular, addrs, nil); err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkRoster(b *testing.B) {
	s := benchSite(b)
	for _, c := range []struct{ name, path string }{
		{"find-page", "/3.1/members/find?list_id=ant.example.com&count=25&page=%d"},
		{"roster-page", "/3.1/lists/ant.example.com/roster/member?count=25&page=%d"},
		{"list", "/3.1/lists/ant.example.com"},
		{"held-count", "/3.1/lists/ant.example.com/held/count"},
		{"whole-roster-changed", "/3.1/lists/ant.example.com/roster/member"},
		{"whole-roster", "/3.1/lists/ant.example.com/roster/member"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var size int64
			for i := 0; b.Loop(); i++ {
				if c.name == "whole-roster-changed" {
					// What is kept of the roster no longer holds.
					b.StopTimer()
					s.must(s.do("PATCH", "/3.1/members/"+store.MemberID(int64(2+i%benchRoster)), form("moderation_action", []string{"hold", "defer"}[i%2])), 204, "PATCH member")
					b.StartTimer()
				}
				path := c.path
				if c.name == "find-page" || c.name == "roster-page" {
					path = fmt.Sprintf(path, 1+(i*7919)%(benchRoster/25))
				}
				req, _ := http.NewRequest("GET", s.srv.URL+path, nil)
				req.SetBasicAuth("restadmin", "restpass")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("GET %s: %d", path, resp.StatusCode)
				}
				size = n
			}
			b.ReportMetric(float64(size), "bytes/op")
		})
	}
}

// BenchmarkRosterParallel is BenchmarkRoster's small requests from 20
// clients at once, as make bench sends them.
func BenchmarkRosterParallel(b *testing.B) {
	s := benchSite(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 20, MaxConnsPerHost: 20}
	client := &http.Client{Transport: tr}
	for _, c := range []struct{ name, path string }{
		{"list", "/3.1/lists/ant.example.com"},
		{"held-count", "/3.1/lists/ant.example.com/held/count"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetParallelism(10)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", s.srv.URL+c.path, nil)
					req.SetBasicAuth("restadmin", "restpass")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
