package switchboard

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type journalSite struct {
	root, path string
	queues     map[string]*Switchboard
}

func newJournalSite(t *testing.T) *journalSite {
	t.Helper()
	dir := t.TempDir()
	js := &journalSite{root: filepath.Join(dir, "queue"), path: filepath.Join(dir, "journal", "lmtp.jnl"), queues: map[string]*Switchboard{}}
	for _, name := range []string{"incoming", "command"} {
		js.queues[name] = openQueue(t, js.root, name)
	}
	return js
}

func (js *journalSite) open(t *testing.T, size int64) *Journal {
	t.Helper()
	j, err := OpenJournal(js.path, size, js.queues, func(err error) { t.Log(err) })
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// messageIDs returns the Message-IDs of a queue's ready entries, in order.
func (js *journalSite) messageIDs(t *testing.T, queue string) []string {
	t.Helper()
	var ids []string
	for _, f := range mustReady(t, js.queues[queue], Whole) {
		e, err := ReadFile(filepath.Join(js.root, queue, f))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strings.Trim(e.MessageID(), "<>"))
	}
	return ids
}

func enqueueN(t *testing.T, j *Journal, queue, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%d@example.com", prefix, i)
		if _, err := j.Enqueue(queue, testMessage(id), Msgdata{"listid": []byte(`"test.example.com"`)}); err != nil {
			t.Fatalf("enqueue %s: %v", id, err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestJournalPublishesInOrder(t *testing.T) {
	js := newJournalSite(t)
	j := js.open(t, DefaultJournalSize)
	in := enqueueN(t, j, "incoming", "in", 50)
	cmd := enqueueN(t, j, "command", "cmd", 5)
	j.Flush()
	if got := js.messageIDs(t, "incoming"); !slices.Equal(got, in) {
		t.Errorf("incoming holds %v, want %v", got, in)
	}
	if got := js.messageIDs(t, "command"); !slices.Equal(got, cmd) {
		t.Errorf("command holds %v, want %v", got, cmd)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	// A clean close leaves nothing to replay.
	j = js.open(t, DefaultJournalSize)
	defer j.Close()
	if got := js.messageIDs(t, "incoming"); len(got) != 50 {
		t.Errorf("after reopening, incoming holds %d entries, want 50", len(got))
	}
	if n := len(files(t, filepath.Join(js.root, "incoming"))); n != 50 {
		t.Errorf("incoming has %d files, want 50 (no .new left)", n)
	}
}

// crashAt makes the journal opened next stop its background work at step
// for good, as a SIGKILL there would. The function it returns waits until
// it has, then closes the journal's file, which releases the lock as the
// kernel does for a dead process.
func crashAt(t *testing.T, step string) func(*Journal) {
	arm, crash := crashLater(t, step)
	arm()
	return crash
}

// crashLater is crashAt for a crash at the first step once arm is called.
func crashLater(t *testing.T, step string) (arm func(), crash func(*Journal)) {
	var armed atomic.Bool
	stopped := make(chan struct{})
	testHookApply = func(s string) {
		if s == step && armed.Load() {
			close(stopped)
			select {}
		}
	}
	t.Cleanup(func() { testHookApply = func(string) {} })
	return func() { armed.Store(true) }, func(j *Journal) {
		<-stopped
		testHookApply = func(string) {}
		j.f.Close()
	}
}

// TestJournalCrash stops the background work at each of its steps, as a
// SIGKILL there would, then opens the journal again: every acknowledged
// entry is in its queue exactly once.
func TestJournalCrash(t *testing.T) {
	for _, step := range []string{"write", "checkpoint", "publish"} {
		t.Run(step, func(t *testing.T) {
			js := newJournalSite(t)
			crash := crashAt(t, step)
			j := js.open(t, DefaultJournalSize)
			want := enqueueN(t, j, "incoming", "crash", 20)
			crash(j)

			j2 := js.open(t, DefaultJournalSize)
			defer j2.Close()
			got := js.messageIDs(t, "incoming")
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("after the crash incoming holds %v, want each of %v once", got, want)
			}
			more := enqueueN(t, j2, "incoming", "after", 3)
			j2.Flush()
			if got := js.messageIDs(t, "incoming"); len(got) != len(want)+len(more) {
				t.Errorf("after new entries incoming holds %d, want %d", len(got), len(want)+len(more))
			}
		})
	}
}

func TestJournalIgnoresTornTail(t *testing.T) {
	js := newJournalSite(t)
	crash := crashAt(t, "write")
	j := js.open(t, DefaultJournalSize)
	want := enqueueN(t, j, "incoming", "torn", 3)
	crash(j)
	// A fourth record whose write was cut short: never acknowledged.
	j.mu.Lock()
	rec := encodeRecord(j.gen, "incoming", "1700000000.000000000+"+fmt.Sprintf("%040d", 4), []byte("Mailman-Queue-Entry: 1\n"))
	f, err := os.OpenFile(js.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(rec[:len(rec)-5], j.tail)
	f.Close()
	j.mu.Unlock()

	j2 := js.open(t, DefaultJournalSize)
	defer j2.Close()
	if got := js.messageIDs(t, "incoming"); len(got) != len(want) {
		t.Errorf("incoming holds %v, want the %d acknowledged entries only", got, len(want))
	}
	if n := len(files(t, filepath.Join(js.root, BadQueue))); n != 0 {
		t.Errorf("bad/ holds %d files, want none", n)
	}
}

func TestJournalWrapsAround(t *testing.T) {
	js := newJournalSite(t)
	const size = 16 * journalHeaderSize // about 18 entries of 3 KB
	j := js.open(t, size)
	want := enqueueN(t, j, "incoming", "wrap", 120)
	// One too large for the journal goes straight to the queue.
	big := bytes.Repeat([]byte("x"), size/3)
	if _, err := j.Enqueue("incoming", append(testMessage("big@example.com"), big...), nil); err != nil {
		t.Fatal(err)
	}
	want = append(want, "big@example.com")
	j.Flush()
	if got := js.messageIDs(t, "incoming"); !slices.Equal(got, want) {
		t.Errorf("incoming holds %d entries %v..., want %d in order", len(got), got[:min(3, len(got))], len(want))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = js.open(t, size)
	defer j.Close()
	if got := js.messageIDs(t, "incoming"); len(got) != len(want) {
		t.Errorf("after reopening, incoming holds %d entries, want %d", len(got), len(want))
	}
}

// TestJournalFull: while entries cannot be written to their queues (a full
// disk), the journal fills, Enqueue fails instead of acknowledging, and
// once writes succeed again everything acknowledged is delivered.
func TestJournalFull(t *testing.T) {
	js := newJournalSite(t)
	var mu sync.Mutex
	failing := true
	journalWriteFile = func(name string, data []byte, perm os.FileMode) error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return errors.New("no space left on device")
		}
		return os.WriteFile(name, data, perm)
	}
	journalWait = 200 * time.Millisecond
	defer func() { journalWriteFile, journalWait = os.WriteFile, 10*time.Second }()
	j := js.open(t, 16*journalHeaderSize)
	defer j.Close()
	var acked []string
	var err error
	for i := 0; err == nil; i++ {
		id := fmt.Sprintf("full-%d@example.com", i)
		if _, err = j.Enqueue("incoming", testMessage(id), nil); err == nil {
			acked = append(acked, id)
		}
	}
	if !errors.Is(err, ErrJournalFull) {
		t.Fatalf("Enqueue on a full journal: %v, want ErrJournalFull", err)
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before the journal filled")
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	j.Flush()
	if got := js.messageIDs(t, "incoming"); !slices.Equal(got, acked) {
		t.Errorf("incoming holds %d entries, want the %d acknowledged", len(got), len(acked))
	}
	if _, err := j.Enqueue("incoming", testMessage("later@example.com"), nil); err != nil {
		t.Errorf("Enqueue once the queues are writable again: %v", err)
	}
}

func TestJournalConcurrentWriters(t *testing.T) {
	js := newJournalSite(t)
	j := js.open(t, 64*journalHeaderSize)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				if _, err := j.Enqueue("incoming", testMessage(fmt.Sprintf("w%d-%d@example.com", w, i)), nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	j.Flush()
	if got := js.messageIDs(t, "incoming"); len(got) != 320 || len(slices.Compact(slices.Sorted(slices.Values(got)))) != 320 {
		t.Errorf("incoming holds %d entries, want 320 distinct", len(got))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestJournalIsLocked(t *testing.T) {
	js := newJournalSite(t)
	j := js.open(t, DefaultJournalSize)
	defer j.Close()
	if _, err := OpenJournal(js.path, DefaultJournalSize, js.queues, nil); err == nil {
		t.Fatal("a second OpenJournal of a journal in use succeeded")
	}
}

func TestJournalRejectsForeignFile(t *testing.T) {
	js := newJournalSite(t)
	os.MkdirAll(filepath.Dir(js.path), 0o770)
	if err := os.WriteFile(js.path, bytes.Repeat([]byte("not a journal "), 1000), 0o660); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenJournal(js.path, DefaultJournalSize, js.queues, nil); err == nil {
		t.Fatal("OpenJournal took a file that is not a journal")
	}
}

// leftAt leaves the journal as a holder that died at step would, with n
// entries to incoming acknowledged; it returns the dead holder's Journal.
func leftAt(t *testing.T, js *journalSite, step string, n int) *Journal {
	crash := crashAt(t, step)
	j := js.open(t, DefaultJournalSize)
	enqueueN(t, j, "incoming", step, n)
	crash(j)
	return j
}

// TestJournalBacklog: JournalBacklog counts, by queue, what the journal
// holds and its queues do not show yet, whatever the state the journal's
// holder left it in.
func TestJournalBacklog(t *testing.T) {
	const small = 16 * journalHeaderSize // about 18 entries of 3 KB
	cases := []struct {
		name string
		// make leaves the journal in its state; the journal's holder is
		// gone or idle by the time it returns.
		make    func(t *testing.T, js *journalSite) (published int)
		backlog map[string]int
	}{
		{
			name:    "no journal",
			make:    func(*testing.T, *journalSite) int { return 0 },
			backlog: nil,
		},
		{
			name:    "a new journal",
			make:    func(t *testing.T, js *journalSite) int { js.open(t, DefaultJournalSize).Close(); return 0 },
			backlog: map[string]int{},
		},
		{
			name: "every entry published",
			make: func(t *testing.T, js *journalSite) int {
				j := js.open(t, DefaultJournalSize)
				enqueueN(t, j, "incoming", "done", 5)
				j.Flush()
				t.Cleanup(func() { j.Close() })
				return 5
			},
			backlog: map[string]int{},
		},
		{
			name: "published and unpublished entries",
			make: func(t *testing.T, js *journalSite) int {
				arm, crash := crashLater(t, "write")
				j := js.open(t, DefaultJournalSize)
				enqueueN(t, j, "incoming", "done", 4)
				j.Flush()
				arm()
				enqueueN(t, j, "incoming", "waiting", 3)
				enqueueN(t, j, "command", "waiting", 2)
				crash(j)
				return 4
			},
			backlog: map[string]int{"incoming": 3, "command": 2},
		},
		{
			// The .new files are there, the checkpoint past them is not:
			// they are still the journal's.
			name:    "written to the queues, not checkpointed",
			make:    func(t *testing.T, js *journalSite) int { leftAt(t, js, "checkpoint", 6); return 0 },
			backlog: map[string]int{"incoming": 6},
		},
		{
			// Checkpointed, not yet renamed: counted by neither, until the
			// renames (or the next start) publish them.
			name: "checkpointed, not published",
			make: func(t *testing.T, js *journalSite) int {
				// One batch for all six, however slowly a loaded machine
				// acknowledges them: the first waits for the others.
				delay := applyDelay
				applyDelay = 2 * time.Second
				t.Cleanup(func() { applyDelay = delay })
				leftAt(t, js, "publish", 6)
				return 0
			},
			backlog: map[string]int{},
		},
		{
			// After a wrap, the records of the generation before are still
			// in the file past the new ones; they are not the backlog.
			name: "a wrapped journal",
			make: func(t *testing.T, js *journalSite) int {
				arm, crash := crashLater(t, "write")
				j := js.open(t, small)
				published := 0
				for gen := j.gen; j.gen == gen; published += 10 {
					enqueueN(t, j, "incoming", fmt.Sprint("before-", published), 10)
					j.Flush()
				}
				if j.tail > small/2 {
					t.Fatalf("after the wrap the tail is at %d of %d", j.tail, small)
				}
				arm()
				enqueueN(t, j, "incoming", "after", 3)
				crash(j)
				return published
			},
			backlog: map[string]int{"incoming": 3},
		},
		{
			name: "a torn tail",
			make: func(t *testing.T, js *journalSite) int {
				j := leftAt(t, js, "write", 3)
				rec := encodeRecord(j.gen, "incoming", "1700000000.000000000+"+fmt.Sprintf("%040d", 4), []byte("Mailman-Queue-Entry: 1\n"))
				f, err := os.OpenFile(js.path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteAt(rec[:len(rec)-5], j.tail); err != nil {
					t.Fatal(err)
				}
				return 0
			},
			backlog: map[string]int{"incoming": 3},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			js := newJournalSite(t)
			published := tc.make(t, js)
			before, err := os.ReadFile(js.path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			got, err := JournalBacklog(js.path)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.backlog) || (got == nil) != (tc.backlog == nil) {
				t.Errorf("JournalBacklog = %v, want %v", got, tc.backlog)
			}
			if n := len(mustReady(t, js.queues["incoming"], Whole)); n != published {
				t.Errorf("incoming shows %d entries, want %d", n, published)
			}
			if after, _ := os.ReadFile(js.path); !bytes.Equal(before, after) {
				t.Error("JournalBacklog changed the journal")
			}
		})
	}
}

// TestJournalBacklogOfDamagedFiles: a file that is no journal is an error;
// one being created (short, or with its first checkpoint torn) has no
// backlog.
func TestJournalBacklogOfDamagedFiles(t *testing.T) {
	torn := make([]byte, 16*journalHeaderSize)
	copy(torn[headerSlotSize:], journalMagic+"\x01\x00\x00")
	cases := []struct {
		name    string
		content []byte
		fails   bool
	}{
		{"empty", nil, false},
		{"shorter than its header", make([]byte, 100), false},
		{"the first checkpoint torn", torn, false},
		{"not a journal", bytes.Repeat([]byte("not a journal "), 1000), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lmtp.jnl")
			if err := os.WriteFile(path, tc.content, 0o660); err != nil {
				t.Fatal(err)
			}
			got, err := JournalBacklog(path)
			if (err != nil) != tc.fails || len(got) != 0 {
				t.Errorf("JournalBacklog = %v, %v; want no backlog and an error: %v", got, err, tc.fails)
			}
		})
	}
}

// countBoth counts incoming's entries in the queue and then in the
// journal, in the order JournalBacklog asks for.
func countBoth(t *testing.T, js *journalSite) (queued, journaled int) {
	t.Helper()
	c, err := js.queues["incoming"].Count()
	if err != nil {
		t.Fatal(err)
	}
	backlog, err := JournalBacklog(js.path)
	if err != nil {
		t.Fatal(err)
	}
	return c.Total(), backlog["incoming"]
}

// TestJournalBacklogNeverCountsTwice counts the queue and then the journal
// while entries flow through it, as mailmanctl queues does beside a
// running LMTP runner: the two together never hold more entries than
// were enqueued, and once all is published the journal holds none.
func TestJournalBacklogNeverCountsTwice(t *testing.T) {
	js := newJournalSite(t)
	j := js.open(t, 64*journalHeaderSize) // small enough to wrap
	defer j.Close()
	const total = 400
	var started atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			started.Add(1)
			if _, err := j.Enqueue("incoming", testMessage(fmt.Sprintf("flow-%d@example.com", i)), nil); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		if queued, journaled := countBoth(t, js); int64(queued+journaled) > started.Load() {
			t.Fatalf("%d in the queue and %d in the journal, of %d enqueued", queued, journaled, started.Load())
		}
	}
	j.Flush()
	if backlog, err := JournalBacklog(js.path); err != nil || backlog["incoming"] != 0 {
		t.Errorf("after Flush the journal holds %v, %v", backlog, err)
	}
}

// TestJournalBacklogDuringRecovery: a journal recovering what a dead
// holder left is counted with its queues, at every step of the recovery,
// as no more entries than the dead holder acknowledged.
func TestJournalBacklogDuringRecovery(t *testing.T) {
	for _, step := range []string{"recover-checkpoint", "recover-publish"} {
		t.Run(step, func(t *testing.T) {
			js := newJournalSite(t)
			const acked = 7
			leftAt(t, js, "write", acked)
			seen := false
			testHookApply = func(s string) {
				if s != step {
					return
				}
				seen = true
				if queued, journaled := countBoth(t, js); queued+journaled > acked {
					t.Errorf("at %s: %d in the queue and %d in the journal, of %d acknowledged", step, queued, journaled, acked)
				}
			}
			defer func() { testHookApply = func(string) {} }()
			j2 := js.open(t, DefaultJournalSize)
			defer j2.Close()
			if !seen {
				t.Fatalf("the recovery has no step %s", step)
			}
			if got := js.messageIDs(t, "incoming"); len(got) != acked {
				t.Errorf("after the recovery incoming holds %d entries, want %d", len(got), acked)
			}
		})
	}
}

func FuzzJournalRecord(f *testing.F) {
	f.Add(encodeRecord(1, "incoming", "1700000000.000000000+"+fmt.Sprintf("%040d", 1), []byte("Mailman-Queue-Entry: 1\n")), uint64(1))
	f.Add([]byte("MMJR\x01\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff"), uint64(1))
	f.Fuzz(func(t *testing.T, b []byte, gen uint64) {
		queue, name, data, size, ok := decodeRecord(b, gen)
		if !ok {
			return
		}
		if size > len(b) {
			t.Fatalf("record of %d bytes in %d", size, len(b))
		}
		if again := encodeRecord(gen, queue, name, data); !bytes.Equal(again, b[:size]) {
			t.Fatalf("re-encoding gives %q, want %q", again, b[:size])
		}
	})
}
