package bounce

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/message"
)

// The sisimai project's corpus of real bounces (testdata/sisimai, BSD
// 2-clause: its LICENSE is beside it), with what sisimai's own tests
// expect of each (expected.tsv: file, recipient, status, reply code,
// reason, hard bounce, feedback type).
const corpus = "testdata/sisimai"

type expectation struct{ status, reason string }

func expectations(t testing.TB) map[string][]expectation {
	f, err := os.Open(filepath.Join(corpus, "expected.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string][]expectation{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 5 {
			t.Fatalf("expected.tsv: %q", sc.Text())
		}
		want[cols[0]] = append(want[cols[0]], expectation{status: cols[2], reason: cols[4]})
	}
	return want
}

// corpusFigures is what Scan makes of the corpus.
type corpusFigures struct {
	bounces, found              int // bounces (neither vacation replies nor feedback reports), and those Scan found a failure in
	absent                      []string
	classed, classRight         int // failures whose report gives sisimai a status, and those Scan calls permanent or temporary as that status does
	vacations, quiet            int // vacation replies, and those Scan found nothing in
	deliveries, quietDeliveries int // reports of delivery (2.x.x), and those Scan found no failure in
	feedback, complaints        int // feedback reports, and those Scan found the subscriber of
	missed, wrongClass          []string
	byDetector                  map[string]int
}

func scanCorpus(t testing.TB) corpusFigures {
	want := expectations(t)
	files, err := filepath.Glob(filepath.Join(corpus, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	sort.Strings(files)
	c := corpusFigures{byDetector: map[string]int{}}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(file)
		r, err := Scan(raw)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		// An address may be in a part's base64 or quoted-printable.
		lower := bytes.ToLower(raw)
		body := raw
		if bytes.HasPrefix(body, []byte("From ")) {
			_, body, _ = bytes.Cut(body, []byte("\n"))
		}
		if m, err := message.Parse(body); err == nil {
			for _, l := range m.Leaves() {
				lower = append(lower, bytes.ToLower(l.Content)...)
			}
		}
		switch {
		case strings.HasPrefix(name, "rfc3834-"):
			c.vacations++
			if len(r.Failures) == 0 && len(r.Complaints) == 0 {
				c.quiet++
			} else {
				c.missed = append(c.missed, name+" (a vacation reply, read as a bounce)")
			}
			continue
		case strings.HasPrefix(name, "arf-"):
			c.feedback++
			if len(r.Complaints) > 0 {
				c.complaints++
			} else {
				c.missed = append(c.missed, name+" (feedback report)")
			}
			for _, cp := range r.Complaints {
				if !bytes.Contains(lower, []byte(strings.ToLower(cp.Address))) {
					c.absent = append(c.absent, name+": "+cp.Address)
				}
			}
			continue
		}
		if delivered(want[name]) {
			c.deliveries++
			if len(r.Failures) == 0 {
				c.quietDeliveries++
			} else {
				c.missed = append(c.missed, name+" (a report of delivery, read as a failure)")
			}
			continue
		}
		if len(r.Complaints) > 0 {
			c.feedback++
			c.complaints++
			continue
		}
		c.bounces++
		if len(r.Failures) == 0 {
			c.missed = append(c.missed, name)
			continue
		}
		c.found++
		c.byDetector[r.Detector]++
		for _, f := range r.Failures {
			local, domain, _ := strings.Cut(strings.ToLower(f.Address), "@")
			if !bytes.Contains(lower, []byte(local+"@"+domain)) && !bytes.Contains(lower, []byte(`"`+local+`"@`+domain)) {
				c.absent = append(c.absent, name+": "+f.Address)
			}
		}
		// Sisimai names the class of each failure by its status; where it
		// gives one class for the whole message, every failure found must
		// be of it.
		class := ""
		for _, e := range want[name] {
			if e.status == "" || (class != "" && class != e.status[:1]) {
				class = "?"
				break
			}
			class = e.status[:1]
		}
		if class != "4" && class != "5" {
			continue
		}
		for _, f := range r.Failures {
			c.classed++
			if f.Permanent == (class == "5") {
				c.classRight++
			} else {
				c.wrongClass = append(c.wrongClass, name+": "+f.Address+" "+f.Status+" want "+want[name][0].status+" "+want[name][0].reason)
			}
		}
	}
	return c
}

// TestCorpus: on sisimai's corpus, Scan finds a failing address in at
// least 98% of the bounces (Mailman 3.3.8's detectors find one in 80%),
// every address it reports is in the message, it calls failures
// permanent or temporary as sisimai's status does in at least 95% of
// them, finds nothing in vacation replies and the subscriber of every
// feedback report.
func TestCorpus(t *testing.T) {
	c := scanCorpus(t)
	t.Logf("bounces: %d of %d found (%.1f%%); by detector %v", c.found, c.bounces, pct(c.found, c.bounces), c.byDetector)
	t.Logf("permanent or temporary as sisimai's status: %d of %d (%.1f%%)", c.classRight, c.classed, pct(c.classRight, c.classed))
	t.Logf("vacation replies left alone: %d of %d; reports of delivery: %d of %d; feedback reports read: %d of %d",
		c.quiet, c.vacations, c.quietDeliveries, c.deliveries, c.complaints, c.feedback)
	if testing.Verbose() {
		for _, m := range c.missed {
			t.Logf("missed: %s", m)
		}
		for _, w := range c.wrongClass {
			t.Logf("class: %s", w)
		}
	}
	if pct(c.found, c.bounces) < 98 {
		t.Errorf("found failures in %.1f%% of the bounces, want 98%% or more", pct(c.found, c.bounces))
	}
	if len(c.absent) > 0 {
		t.Errorf("addresses reported that the message does not hold: %q", c.absent)
	}
	if pct(c.classRight, c.classed) < 95 {
		t.Errorf("permanent or temporary right for %.1f%%, want 95%% or more", pct(c.classRight, c.classed))
	}
	if c.quiet != c.vacations || c.quietDeliveries != c.deliveries {
		t.Errorf("vacation replies or reports of delivery read as bounces: %q", c.missed)
	}
}

// delivered reports whether sisimai reads the report as one of delivery.
func delivered(es []expectation) bool {
	for _, e := range es {
		if !strings.HasPrefix(e.status, "2.") {
			return false
		}
	}
	return len(es) > 0
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// BenchmarkScanCorpus reads the whole corpus; bounces/s is the figure.
func BenchmarkScanCorpus(b *testing.B) {
	files, err := filepath.Glob(filepath.Join(corpus, "*.eml"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no corpus: %v", err)
	}
	raws := make([][]byte, len(files))
	size := 0
	for i, f := range files {
		if raws[i], err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
		size += len(raws[i])
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for b.Loop() {
		for _, raw := range raws {
			if _, err := Scan(raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(raws))/b.Elapsed().Seconds(), "bounces/s")
}
