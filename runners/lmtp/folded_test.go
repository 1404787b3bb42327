package lmtp

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// foldedMessage is a post whose To field has n continuation lines of 78
// octets: at 50,000 lines, the 3.9 MB message of issue 19 that cost the
// door's parser of the time 5 s of CPU (it added each continuation line to
// the field's value by copying the value so far).
func foldedMessage(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: anne@example.org\r\nTo: test@example.com,\r\n")
	for i := range n {
		fmt.Fprintf(&b, " member%06d@example.com, member%06d@example.org, member%06d@example.net,\r\n", i, i, i)
	}
	b.WriteString(" last@example.com\r\nSubject: folded\r\n\r\nHello\r\n")
	return b.Bytes()
}

// bytesAllocated is what one run of f allocates on the heap: the least of
// three runs, so that a one-off allocation elsewhere does not count.
func bytesAllocated(f func()) uint64 {
	least := ^uint64(0)
	var before, after runtime.MemStats
	for range 3 {
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// TestPrepareLinearInFoldedLines: what the door allocates for a header
// does not grow faster than its continuation lines. A parser that copies
// the field so far for each line allocates, per line, in proportion to the
// number of lines: fifty times more per line at 50,000 lines than at
// 1,000. Allocations, not time, are counted, so the test does not depend
// on the machine's speed or load.
func TestPrepareLinearInFoldedLines(t *testing.T) {
	type cost struct{ allocs, bytesPerLine float64 }
	costs := map[int]cost{}
	for _, n := range []int{1000, 50000} {
		msg := foldedMessage(n)
		var err error
		run := func() { _, err = prepare(msg, "anne@example.org", "lists.example.com") }
		c := cost{allocs: testing.AllocsPerRun(3, run), bytesPerLine: float64(bytesAllocated(run)) / float64(n)}
		if err != nil {
			t.Fatal(err)
		}
		costs[n] = c
		t.Logf("%d continuation lines: %.0f allocations, %.0f bytes allocated per line", n, c.allocs, c.bytesPerLine)
	}
	small, large := costs[1000], costs[50000]
	// The fields are slices of the message: the allocations are the
	// fields' list and the message written out, however many lines.
	if large.allocs > small.allocs {
		t.Errorf("%.0f allocations at 50,000 continuation lines, %.0f at 1,000: they grow with the lines", large.allocs, small.allocs)
	}
	// The message written out once is most of the bytes: about a line's
	// worth per line, at any size.
	if large.bytesPerLine > 2*small.bytesPerLine {
		t.Errorf("%.0f bytes allocated per continuation line at 50,000 lines, %.0f at 1,000: not linear", large.bytesPerLine, small.bytesPerLine)
	}
}

// BenchmarkParseFolded is the door's reading of a header with 1,000,
// 10,000 and 50,000 continuation lines (message.Parse, and the fields the
// door adds): its ns/op grows as the lines do, fifty times from 1,000 to
// 50,000, when it is linear.
func BenchmarkParseFolded(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		msg := foldedMessage(n)
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := prepare(msg, "anne@example.org", "lists.example.com"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
