package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

func TestMain(m *testing.M) { mailmantest.Main(m) }

// The suite runs end to end on this project, small, and its table holds
// a measured figure in every row this project has.
func TestSuiteOnThisProject(t *testing.T) {
	c := config{
		bin: mailmantest.Binary(t), dir: t.TempDir(), mailman: "off",
		reps: 2, n: 50, conns: []int{1, 4}, floorConns: []int{1, 4},
		posts: 3, interval: 20 * time.Millisecond, fanouts: []int{20}, personalized: 20, idle: 100 * time.Millisecond,
		command: "mailman-bench -test", suite: "mail",
	}
	r, err := run(c, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	md := r.markdown()
	for _, want := range []string{
		"mailman-bench -test",
		"Mailman was not measured in this run (-mailman off)",
		"| 1 | **", "| 4 | **",
		"| end to end, median (3 posts 20ms apart, LMTP 250 to the sink) | **",
		"| fan-out to 20 members (250 until the sink has every copy) | **",
		"| fan-out to 20 members, personalize individual (a copy and an SMTP transaction each) | **",
		"| … as recipients per second | **",
		"| start-up: start until LMTP answers LHLO | **",
		"| memory idle, PSS summed (100ms after start) | **",
		"| memory during ingest, peak PSS (LMTP runner alone) | **",
		"| end to end, median under 20 ms |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the table lacks %q:\n%s", want, md)
		}
	}
	for _, fig := range []string{"ingest-1", "ingest-4", "e2e-p50", "fanout-20", "fanout-20-individual", "startup", "idle-pss"} {
		if n := len(r.ours.samples[fig]); n != 2 {
			t.Errorf("%s: %d samples, want 2", fig, n)
		}
	}
	for _, fig := range []string{"durable-1", "durable-4", "nostore-1", "nostore-4"} {
		if s := r.floors.stat(fig); !s.ok || s.median <= 0 {
			t.Errorf("floor %s: %+v", fig, s)
		}
	}
}

// The REST figures run on this project, small, and fill their rows.
func TestRESTSuiteOnThisProject(t *testing.T) {
	c := config{
		bin: mailmantest.Binary(t), dir: t.TempDir(), mailman: "off", reps: 1,
		suite: "rest", rosterSize: 200, restClients: 4, restRequests: 20, restTimeout: time.Minute,
		command: "mailman-bench -test -suite rest",
	}
	r, err := run(c, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	md := r.restMarkdown()
	for _, want := range []string{
		"| `members/find` of one page (25 of 200 members, a random page) | median | **",
		"| the whole roster, `lists/{id}/roster/member` (200 members), again | requests per second | **",
		"| the whole roster, `lists/{id}/roster/member` (200 members), just after a member changed | median | **",
		"| `lists/{id}/held/count` | median | **",
		"| a page of members/find under 10 ms (median, 4 clients) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the REST table lacks %q:\n%s", want, md)
		}
	}
	if _, ok := r.ours.samples["ingest-1"]; ok {
		t.Errorf("-suite rest ran the mail figures")
	}
	for _, fig := range []string{"rest-held-count-rate", "rest-roster-p50"} {
		if s := r.floors.stat(fig); !s.ok || s.median <= 0 {
			t.Errorf("HTTP alone, %s: %+v", fig, s)
		}
	}
}

func TestStat(t *testing.T) {
	r := &results{}
	for _, v := range []float64{5, 1, 3, 9} {
		r.add("x", v)
	}
	if s := r.stat("x"); s != (stat{median: 4, min: 1, max: 9, ok: true}) {
		t.Errorf("stat of 1 3 5 9 = %+v", s)
	}
	r.add("x", 4.5)
	if s := r.stat("x"); s.median != 4.5 {
		t.Errorf("median of five = %v", s.median)
	}
	if s := r.stat("none"); s.ok {
		t.Errorf("stat of nothing = %+v", s)
	}
	if got := ratio(stat{median: 10, ok: true}, stat{median: 2, ok: true}, true); got != "5.0×" {
		t.Errorf("ratio higher = %s", got)
	}
	if got := ratio(stat{median: 2, ok: true}, stat{median: 10, ok: true}, false); got != "5.0×" {
		t.Errorf("ratio lower = %s", got)
	}
}
