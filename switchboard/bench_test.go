package switchboard

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// benchMessage is a 3 KB message, the size the ingest benchmarks use.
var benchMessage = func() []byte {
	var b bytes.Buffer
	b.WriteString("From: anne@example.com\r\nTo: test@example.com\r\nMessage-ID: <bench@example.com>\r\nSubject: benchmark\r\n\r\n")
	for b.Len() < 3000 {
		b.WriteString("The quick brown fox jumps over the lazy dog, again and again.\r\n")
	}
	return b.Bytes()
}()

func benchMsgdata() Msgdata {
	md := Msgdata{}
	md.Set("listid", "test.example.com")
	md.Set("to_list", true)
	md.Set("original_size", len(benchMessage))
	return md
}

func benchQueue(b *testing.B) (*Switchboard, Msgdata) {
	s, err := Open(b.TempDir(), "incoming")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, benchMsgdata()
}

// BenchmarkEnqueue is one durable enqueue: write, fsync, rename, directory fsync.
func BenchmarkEnqueue(b *testing.B) {
	s, md := benchQueue(b)
	b.SetBytes(int64(len(benchMessage)))
	for b.Loop() {
		if _, err := s.Enqueue(benchMessage, md); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnqueueParallel is durable enqueues from 8 concurrent writers.
func BenchmarkEnqueueParallel(b *testing.B) {
	s, md := benchQueue(b)
	b.SetBytes(int64(len(benchMessage)))
	// RunParallel starts parallelism × GOMAXPROCS goroutines.
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Enqueue(benchMessage, md); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDequeueFinish is claiming, reading and removing one entry.
func BenchmarkDequeueFinish(b *testing.B) {
	s, md := benchQueue(b)
	for range b.N {
		if _, err := s.Enqueue(benchMessage, md); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(benchMessage)))
	b.ResetTimer()
	files, _, err := s.Ready(Whole, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range files {
		e, err := s.Dequeue(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Finish(e.Name); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareDurableWrite is the floor Enqueue is measured against: the
// same file written by a bare loop (create, write, fsync, rename, directory
// fsync) with no encoding, hashing or naming.
func BenchmarkBareDurableWrite(b *testing.B) {
	dir := b.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.SetBytes(int64(len(benchMessage)))
	i := 0
	for b.Loop() {
		i++
		tmp := filepath.Join(dir, fmt.Sprintf("%d.tmp", i))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o660)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(benchMessage); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		if err := os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("%d.msg", i))); err != nil {
			b.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}
