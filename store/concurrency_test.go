package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The child processes of TestConcurrentProcesses find what to do in these.
const (
	envWorker = "MAILMAN_STORE_TEST_WORKER" // the worker's number
	envDB     = "MAILMAN_STORE_TEST_DB"     // the database's [database] url
	envStart  = "MAILMAN_STORE_TEST_START"  // when to start, Unix nanoseconds
)

const (
	workers    = 4
	iterations = 200
	concList   = "conc@example.com"
)

func workerAddress(w, i int) string { return fmt.Sprintf("Worker%d.%03d@Example.com", w, i) }

// TestConcurrentProcesses runs four processes of this test binary at once on
// one database, each writing and reading with every kind of operation, and
// checks that none fails (no "database is locked", no deadlock) and that
// every write landed.
func TestConcurrentProcesses(t *testing.T) {
	if os.Getenv(envWorker) != "" {
		concurrencyWorker(t)
		return
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	forBackends(t, testConcurrentProcesses)
}

func testConcurrentProcesses(t *testing.T, b backend) {
	ctx := context.Background()
	db := b.newDB(t)
	if db.url == "" {
		// The workers open it from var_dirs of their own.
		db.url = "sqlite:" + filepath.Join(db.varDir, "conc.db")
	}
	s := db.open(t)
	l := createList(t, s, concList, "owner@example.com")

	deadline, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now().Add(300 * time.Millisecond)
	type result struct {
		out []byte
		err error
		dur time.Duration
	}
	results := make([]result, workers)
	var wg sync.WaitGroup
	for w := range workers {
		cmd := exec.CommandContext(deadline, os.Args[0], "-test.run=^TestConcurrentProcesses$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(),
			envWorker+"="+strconv.Itoa(w),
			envDB+"="+db.url,
			envStart+"="+strconv.FormatInt(start.UnixNano(), 10))
		wg.Go(func() {
			t0 := time.Now()
			out, err := cmd.CombinedOutput()
			results[w] = result{out, err, time.Since(t0)}
		})
	}
	wg.Wait()
	for w, r := range results {
		if r.err != nil || bytes.Contains(r.out, []byte("database is locked")) || !bytes.Contains(r.out, []byte("\nPASS")) {
			t.Errorf("worker %d: %v\n%s", w, r.err, r.out)
		} else {
			t.Logf("worker %d: done in %v", w, r.dur.Round(time.Millisecond))
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	ms, err := s.Members(ctx, l.Address, Regular)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	if len(ms) != workers*iterations {
		t.Errorf("%d members, want %d", len(ms), workers*iterations)
	}
	var want []string
	for w := range workers {
		for i := range iterations {
			want = append(want, strings.ToLower(workerAddress(w, i)))
		}
	}
	slices.Sort(want)
	got := make([]string, len(ms))
	for i, m := range ms {
		got[i] = strings.ToLower(m.Address)
	}
	if !slices.Equal(got, want) {
		t.Errorf("members are not the %d the workers added", len(want))
	}
	if all, err := s.Members(ctx, l.Address, ""); err != nil || len(all) != workers*iterations+1 {
		t.Errorf("%d memberships (%v), want %d members and the owner", len(all), err, workers*iterations)
	}
	if n := countRows(t, s, "pending", ""); n != 0 {
		t.Errorf("%d pending requests left, want 0", n)
	}
	if n := countRows(t, s, "held_messages", ""); n != 0 {
		t.Errorf("%d held messages left, want 0", n)
	}
	final, err := s.List(ctx, l.Address)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(final.Description, "worker ") || final.MaxNumRecipients < 1 || final.MaxNumRecipients > iterations {
		t.Errorf("final settings: description %q, max_num_recipients %d", final.Description, final.MaxNumRecipients)
	}
}

// concurrencyWorker is one child process: each iteration is its own set of
// transactions, interleaved with the other workers'.
func concurrencyWorker(t *testing.T) {
	ctx := context.Background()
	w, err := strconv.Atoi(os.Getenv(envWorker))
	if err != nil {
		t.Fatalf("%s: %v", envWorker, err)
	}
	startNanos, _ := strconv.ParseInt(os.Getenv(envStart), 10, 64)
	s, err := Open(ctx, os.Getenv(envDB), t.TempDir())
	if err != nil {
		t.Fatalf("worker %d: Open: %v", w, err)
	}
	defer s.Close()
	a := listAddr(t, concList)
	l, err := s.List(ctx, a)
	if err != nil {
		t.Fatalf("worker %d: List: %v", w, err)
	}
	time.Sleep(time.Until(time.Unix(0, startNanos)))

	for i := range iterations {
		addr := workerAddress(w, i)
		res, err := s.AddMembers(ctx, a, Regular, []string{addr}, nil)
		if err != nil || res.Added != 1 {
			t.Fatalf("worker %d, iteration %d: AddMembers = %+v, %v", w, i, res, err)
		}
		m, err := s.Member(ctx, l.ListID, strings.ToLower(addr), Regular)
		if err != nil || !strings.EqualFold(m.Address, addr) {
			t.Fatalf("worker %d, iteration %d: Member of its own address = %v, %v", w, i, m, err)
		}
		if _, err := s.Member(ctx, l.ListID, "owner@example.com", Owner); err != nil {
			t.Fatalf("worker %d, iteration %d: Member(owner): %v", w, i, err)
		}
		// Another worker's address, added or not yet: either answer, but no failure.
		if _, err := s.Member(ctx, l.ListID, workerAddress((w+1)%workers, i), Regular); err != nil && !errors.Is(err, ErrNoSuchMember) {
			t.Fatalf("worker %d, iteration %d: Member of another worker's address: %v", w, i, err)
		}
		key, value := "description", fmt.Sprintf("worker %d iteration %d", w, i)
		if i%2 == 1 {
			key, value = "max_num_recipients", strconv.Itoa(i+1)
		}
		if err := s.SetListSetting(ctx, a, key, value); err != nil {
			t.Fatalf("worker %d, iteration %d: SetListSetting(%s): %v", w, i, key, err)
		}
		if _, err := s.ListByID(ctx, l.ListID); err != nil {
			t.Fatalf("worker %d, iteration %d: ListByID: %v", w, i, err)
		}

		payload := map[string]any{"worker": w, "iteration": i}
		tok, err := s.AddPending(ctx, l.ListID, "subscription", payload, time.Hour)
		if err != nil {
			t.Fatalf("worker %d, iteration %d: AddPending: %v", w, i, err)
		}
		p, err := s.TakePending(ctx, tok)
		if err != nil {
			t.Fatalf("worker %d, iteration %d: TakePending: %v", w, i, err)
		}
		var back struct{ Worker, Iteration int }
		if err := json.Unmarshal(p.Payload, &back); err != nil || back.Worker != w || back.Iteration != i {
			t.Fatalf("worker %d, iteration %d: TakePending payload %s", w, i, p.Payload)
		}

		msg := fmt.Appendf(nil, "From: %s\r\nSubject: %d\r\n\r\n\xe9\xff\x00\r\n", addr, i)
		id, _, err := s.Hold(ctx, &HeldMessage{ListID: l.ListID, Sender: addr, Subject: strconv.Itoa(i), Reasons: []string{"test"}, Message: msg}, time.Hour)
		if err != nil {
			t.Fatalf("worker %d, iteration %d: Hold: %v", w, i, err)
		}
		h, err := s.HeldMessage(ctx, id)
		if err != nil || !bytes.Equal(h.Message, msg) || h.Sender != addr {
			t.Fatalf("worker %d, iteration %d: HeldMessage = %+v, %v", w, i, h, err)
		}
		if _, err := s.HeldMessages(ctx, l.ListID); err != nil {
			t.Fatalf("worker %d, iteration %d: HeldMessages: %v", w, i, err)
		}
		if err := s.DeleteHeld(ctx, id); err != nil {
			t.Fatalf("worker %d, iteration %d: DeleteHeld: %v", w, i, err)
		}
		if i%50 == 0 {
			if _, err := s.EvictExpired(ctx, time.Now()); err != nil {
				t.Fatalf("worker %d, iteration %d: EvictExpired: %v", w, i, err)
			}
		}
	}
}

// Goroutines sharing one Store (its pool of connections) write and read at
// once without failing; run with -race, this also checks the Store for data
// races.
func TestConcurrentGoroutines(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")
		const goroutines, each = 8, 25
		errs := make(chan error, goroutines)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					addr := fmt.Sprintf("g%d-%d@example.com", g, i)
					if _, err := s.AddMembers(ctx, l.Address, Regular, []string{addr}, nil); err != nil {
						errs <- fmt.Errorf("AddMembers: %w", err)
						return
					}
					if _, err := s.Member(ctx, l.ListID, addr, Regular); err != nil {
						errs <- fmt.Errorf("Member: %w", err)
						return
					}
					if err := s.SetListSetting(ctx, l.Address, "max_num_recipients", strconv.Itoa(i)); err != nil {
						errs <- fmt.Errorf("SetListSetting: %w", err)
						return
					}
					tok, err := s.AddPending(ctx, l.ListID, "subscription", addr, time.Hour)
					if err == nil {
						_, err = s.TakePending(ctx, tok)
					}
					if err != nil {
						errs <- fmt.Errorf("pending: %w", err)
						return
					}
					if _, err := s.Lists(ctx); err != nil {
						errs <- fmt.Errorf("Lists: %w", err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := countRows(t, s, "members", ""); n != goroutines*each {
			t.Errorf("%d members, want %d", n, goroutines*each)
		}
	})
}
