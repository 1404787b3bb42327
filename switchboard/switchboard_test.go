package switchboard

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func openQueue(t *testing.T, root, name string) *Switchboard {
	t.Helper()
	s, err := Open(root, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testMessage(id string) []byte {
	return []byte("From: anne@example.com\r\nMessage-ID: <" + id + ">\r\nSubject: test\r\n\r\nHello " + id + "\r\n")
}

// files lists the queue directory's file names, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func exts(names []string) map[string]int {
	m := map[string]int{}
	for _, n := range names {
		m[filepath.Ext(n)]++
	}
	return m
}

func mustReady(t *testing.T, s *Switchboard, slice Slice) []string {
	t.Helper()
	fs, _, err := s.Ready(slice, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestEnqueueDequeueFinish(t *testing.T) {
	root := t.TempDir()
	s := openQueue(t, root, "incoming")
	md := Msgdata{}
	md.Set("listid", "test.example.com")
	md.Set("_private", true)
	name, err := s.Enqueue(testMessage("ant"), md)
	if err != nil {
		t.Fatal(err)
	}
	if got := exts(files(t, s.Dir())); got[".msg"] != 1 || len(got) != 1 {
		t.Fatalf("after enqueue: %v", files(t, s.Dir()))
	}
	ready := mustReady(t, s, Whole)
	if len(ready) != 1 || ready[0] != name+".msg" {
		t.Fatalf("Ready = %v, want [%s.msg]", ready, name)
	}
	e, err := s.Dequeue(ready[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := exts(files(t, s.Dir())); got[".bak"] != 1 || len(got) != 1 {
		t.Fatalf("after dequeue: %v", files(t, s.Dir()))
	}
	if e.Name != name || !bytes.Equal(e.Message, testMessage("ant")) {
		t.Errorf("entry = %q %q", e.Name, e.Message)
	}
	if e.Msgdata.String("listid") != "test.example.com" {
		t.Errorf("listid = %q", e.Msgdata.String("listid"))
	}
	if _, ok := e.Msgdata["_private"]; ok {
		t.Error("underscore key was persisted")
	}
	if e.MessageID() != "<ant>" {
		t.Errorf("MessageID = %q", e.MessageID())
	}
	if _, err := s.Dequeue(ready[0]); !errors.Is(err, ErrGone) {
		t.Errorf("second dequeue: %v, want ErrGone", err)
	}
	if err := s.Finish(e.Name); err != nil {
		t.Fatal(err)
	}
	if got := files(t, s.Dir()); len(got) != 0 {
		t.Fatalf("after finish: %v", got)
	}
}

func TestArrivalOrder(t *testing.T) {
	s := openQueue(t, t.TempDir(), "incoming")
	var want []string
	for i := range 200 {
		name, err := s.Enqueue(testMessage(fmt.Sprint(i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, name+".msg")
	}
	got := mustReady(t, s, Whole)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Ready order differs from arrival order:\n got %v\nwant %v", got, want)
	}
}

func TestDeferred(t *testing.T) {
	s := openQueue(t, t.TempDir(), "retry")
	due := time.Now().Add(time.Hour)
	name, err := s.EnqueueAt(due, testMessage("later"), nil)
	if err != nil {
		t.Fatal(err)
	}
	now, err := s.Enqueue(testMessage("now"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ready, next, err := s.Ready(Whole, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(ready) != 1 || ready[0] != now+".msg" {
		t.Errorf("Ready before due = %v, want only %s", ready, now)
	}
	if !next.Equal(time.Unix(0, due.UnixNano())) {
		t.Errorf("next due = %v, want %v", next, due)
	}
	ready, next, err = s.Ready(Whole, due)
	if err != nil {
		t.Fatal(err)
	}
	if len(ready) != 2 || !next.IsZero() {
		t.Fatalf("Ready at due = %v next %v", ready, next)
	}
	e, err := s.Dequeue(name + ".due")
	if err != nil {
		t.Fatal(err)
	}
	if e.MessageID() != "<later>" {
		t.Errorf("dequeued %q", e.MessageID())
	}
	// A due time already past makes a ready entry.
	past, err := s.EnqueueAt(time.Now().Add(-time.Minute), testMessage("past"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), past+".msg")); err != nil {
		t.Error(err)
	}
}

// TestCrashBeforeRename kills a real process between writing an entry and
// renaming it into place, and checks that no entry became visible.
func TestCrashBeforeRename(t *testing.T) {
	if dir := os.Getenv("SWITCHBOARD_CRASH_DIR"); dir != "" {
		s, err := Open(dir, "incoming")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		s.files.BeforeRename = func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
		s.Enqueue(testMessage("doomed"), nil)
		os.Exit(3) // not reached: the hook kills the process
	}
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashBeforeRename$")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_CRASH_DIR="+root)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper process: %v, want killed by SIGKILL", err)
	}
	s := openQueue(t, root, "incoming")
	left := files(t, s.Dir())
	if got := exts(left); got[".tmp"] != 1 || len(got) != 1 {
		t.Fatalf("after the crash the queue holds %v, want one .tmp", left)
	}
	if ready := mustReady(t, s, Whole); len(ready) != 0 {
		t.Errorf("Ready shows %v after a crash before rename", ready)
	}
	if c, _ := s.Count(); c.Total() != 0 {
		t.Errorf("Count = %+v, want none", c)
	}
	// A fresh temp file may belong to a live writer: Recover keeps it. An old
	// one was left by a crash: Recover removes it.
	if _, err := s.Recover(Whole); err != nil {
		t.Fatal(err)
	}
	if got := files(t, s.Dir()); len(got) != 1 {
		t.Fatalf("Recover removed a fresh temp file: %v", got)
	}
	old := time.Now().Add(-2 * staleTemp)
	os.Chtimes(filepath.Join(s.Dir(), left[0]), old, old)
	if _, err := s.Recover(Whole); err != nil {
		t.Fatal(err)
	}
	if got := files(t, s.Dir()); len(got) != 0 {
		t.Fatalf("Recover left a stale temp file: %v", got)
	}
}

func TestRecoverCountsAttemptsAndPreserves(t *testing.T) {
	root := t.TempDir()
	s := openQueue(t, root, "incoming")
	for i := range 3 {
		if _, err := s.Enqueue(testMessage(fmt.Sprint(i)), Msgdata{"n": []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		// A runner claims every entry and dies without finishing them.
		for _, f := range mustReady(t, s, Whole) {
			if _, err := s.Dequeue(f); err != nil {
				t.Fatal(err)
			}
		}
		rs, err := s.Recover(Whole)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 3 {
			t.Fatalf("attempt %d: recovered %d entries, want 3", attempt, len(rs))
		}
		for _, r := range rs {
			if r.Attempts != attempt {
				t.Errorf("attempt %d: %s counted %d", attempt, r.Name, r.Attempts)
			}
			if preserved := r.Preserved != nil; preserved != (attempt == MaxAttempts) {
				t.Errorf("attempt %d: %s preserved = %v", attempt, r.Name, r.Preserved)
			}
		}
		if attempt < MaxAttempts {
			ready := mustReady(t, s, Whole)
			if len(ready) != 3 {
				t.Fatalf("attempt %d: %d ready after recovery, want 3", attempt, len(ready))
			}
			e, err := ReadFile(filepath.Join(s.Dir(), ready[0]))
			if err != nil {
				t.Fatal(err)
			}
			if e.Msgdata.Int("_bak_count") != attempt {
				t.Errorf("_bak_count = %d, want %d", e.Msgdata.Int("_bak_count"), attempt)
			}
		}
	}
	if got := files(t, s.Dir()); len(got) != 0 {
		t.Errorf("queue still holds %v", got)
	}
	bad := files(t, filepath.Join(root, BadQueue))
	if got := exts(bad); got[".psv"] != 3 || len(got) != 1 {
		t.Errorf("bad holds %v, want 3 .psv", bad)
	}
	// Preserved files are still readable entries.
	if _, err := ReadFile(filepath.Join(root, BadQueue, bad[0])); err != nil {
		t.Error(err)
	}
}

func TestCorruptEntryIsPreserved(t *testing.T) {
	root := t.TempDir()
	s := openQueue(t, root, "incoming")
	name, err := s.Enqueue(testMessage("ok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Dir(), name+".msg")
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, data[:len(data)-5], 0o660); err != nil {
		t.Fatal(err)
	}
	_, err = s.Dequeue(name + ".msg")
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Dequeue of a truncated file: %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "preserved as bad/"+name+".psv") {
		t.Errorf("error does not say where the file went: %v", err)
	}
	if got := files(t, s.Dir()); len(got) != 0 {
		t.Errorf("queue still holds %v", got)
	}
	if got, _ := os.ReadFile(filepath.Join(root, BadQueue, name+".psv")); !bytes.Equal(got, data[:len(data)-5]) {
		t.Error("preserved file differs from the corrupt original")
	}
}

func TestSlicesPartitionEntries(t *testing.T) {
	s := openQueue(t, t.TempDir(), "outgoing")
	var all []string
	for i := range 256 {
		name, err := s.Enqueue(testMessage(fmt.Sprint(i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, name+".msg")
	}
	for _, count := range []int{1, 2, 4} {
		seen := map[string]int{}
		for i := range count {
			slice := Slice{Index: i, Count: count}
			got := mustReady(t, s, slice)
			if count > 1 && len(got) == 0 {
				t.Errorf("slice %v owns nothing out of 256 entries", slice)
			}
			for _, f := range got {
				seen[f]++
			}
		}
		for _, f := range all {
			if seen[f] != 1 {
				t.Errorf("%d slices: %s served %d times", count, f, seen[f])
			}
		}
	}
}

func TestSliceOwnsEdges(t *testing.T) {
	cases := []struct {
		hash  string
		count int
		want  int // index of the owning slice
	}{
		{"0000", 1, 0},
		{"ffff", 1, 0},
		{"0000", 2, 0},
		{"7fff", 2, 0},
		{"8000", 2, 1},
		{"ffff", 2, 1},
		{"3fff", 4, 0},
		{"4000", 4, 1},
		{"bfff", 4, 2},
		{"c000", 4, 3},
		{"ffff", 64, 63},
	}
	for _, c := range cases {
		for i := range c.count {
			s := Slice{Index: i, Count: c.count}
			if got := s.owns(c.hash + strings.Repeat("0", 36)); got != (i == c.want) {
				t.Errorf("slice %v owns %s = %v", s, c.hash, got)
			}
		}
	}
}

func TestSliceValidate(t *testing.T) {
	for _, c := range []struct {
		s  Slice
		ok bool
	}{
		{Slice{0, 1}, true}, {Slice{3, 4}, true}, {Slice{0, 3}, false},
		{Slice{4, 4}, false}, {Slice{-1, 2}, false}, {Slice{0, 0}, false},
	} {
		if err := c.s.Validate(); (err == nil) != c.ok {
			t.Errorf("%v.Validate() = %v", c.s, err)
		}
	}
}

// TestConcurrentDequeueClaimsOnce runs several consumers, each with its own
// Switchboard on the same directory as separate processes would, and checks
// that every entry is claimed by exactly one of them.
func TestConcurrentDequeueClaimsOnce(t *testing.T) {
	root := t.TempDir()
	producer := openQueue(t, root, "incoming")
	const n = 300
	for i := range n {
		if _, err := producer.Enqueue(testMessage(fmt.Sprint(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		s := openQueue(t, root, "incoming")
		wg.Go(func() {
			for {
				ready, _, err := s.Ready(Whole, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				if len(ready) == 0 {
					return
				}
				for _, f := range ready {
					e, err := s.Dequeue(f)
					if errors.Is(err, ErrGone) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					claimed[e.MessageID()]++
					mu.Unlock()
					if err := s.Finish(e.Name); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(claimed) != n {
		t.Errorf("%d distinct entries claimed, want %d", len(claimed), n)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Errorf("%s claimed %d times", id, c)
		}
	}
}

func TestPreserveAndCount(t *testing.T) {
	root := t.TempDir()
	s := openQueue(t, root, "incoming")
	a, _ := s.Enqueue(testMessage("a"), nil)
	s.Enqueue(testMessage("b"), nil)
	s.EnqueueAt(time.Now().Add(time.Hour), testMessage("c"), nil)
	d, _ := s.Enqueue(testMessage("d"), nil)
	if _, err := s.Dequeue(d + ".msg"); err != nil {
		t.Fatal(err)
	}
	c, err := s.Count()
	if err != nil {
		t.Fatal(err)
	}
	if c != (Counts{Ready: 2, Deferred: 1, InFlight: 1}) {
		t.Errorf("Count = %+v", c)
	}
	if err := s.Preserve(a); err != nil {
		t.Fatal(err)
	}
	bad := openQueue(t, root, BadQueue)
	if c, _ := bad.Count(); c != (Counts{Preserved: 1}) {
		t.Errorf("bad Count = %+v", c)
	}
	if err := s.Release(d); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Count(); c != (Counts{Ready: 2, Deferred: 1}) {
		t.Errorf("Count after release = %+v", c)
	}
}

func TestOpenRejectsPaths(t *testing.T) {
	for _, name := range []string{"", ".", "..", "../etc", "a/b"} {
		if _, err := Open(t.TempDir(), name); err == nil {
			t.Errorf("Open(%q) succeeded", name)
		}
	}
}

func TestParseFileName(t *testing.T) {
	h := strings.Repeat("ab", 20)
	cases := []struct {
		name string
		ok   bool
	}{
		{"1700000000.000000001+" + h + ".msg", true},
		{"1700000000.000000001+" + h + ".due", true},
		{"1700000000.000000001+" + h + ".bak", true},
		{"1700000000.000000001+" + h + ".psv", true},
		{"1700000000.000000001+" + h + ".tmp", true},
		{"1700000000.000000001+" + h + ".pck", false},
		{"1700000000.000000001+" + h[:39] + ".msg", false},
		{"1700000000.000000001+" + strings.ToUpper(h) + ".msg", false},
		{"170000000.000000001+" + h + ".msg", false},
		{"1700000000.00000001+" + h + ".msg", false},
		{"1700000000+" + h + ".msg", false},
		{"notes.txt", false},
		{".msg", false},
	}
	for _, c := range cases {
		if _, ok := parseFileName(c.name); ok != c.ok {
			t.Errorf("parseFileName(%q) ok = %v", c.name, ok)
		}
	}
}
