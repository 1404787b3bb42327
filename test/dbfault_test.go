package test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/mailman-go/mailman/internal/lmtpload"
	"github.com/mailman-go/mailman/internal/mailmantest"
	"github.com/mailman-go/mailman/internal/runnertest"
)

// dbFault is one way the database can fail under the running runners: start
// injects it and returns what removes it.
type dbFault struct {
	name string
	// during is the reply a post must get while the fault lasts, its list
	// not in the LMTP runner's cache: 451 where the store cannot be read,
	// 250 where it can; 0 allows either.
	during int
	// pauses says whether the runners behind LMTP must meet the fault (and
	// keep their messages, pausing); else they may never notice it.
	pauses bool
	start  func(t *testing.T, db string) (undo func())
}

// dbFaults are the faults; what each does to the store was found by
// experiment:
//   - A write transaction held by another process blocks every writer
//     (the pipeline's post number) for busy_timeout and then fails them;
//     in WAL mode it blocks no reader, so the LMTP runner, which only
//     reads, goes on accepting mail, as it should.
//   - Readers in WAL mode wait only on the WAL index's read locks (bytes
//     120-127 of the -shm file: the write, checkpoint and recovery locks
//     and the five read marks). A process that holds them all, as one
//     stuck in recovery would, makes every new read retry for about ten
//     seconds and fail with SQLITE_PROTOCOL, and every writer with it.
//     No SQLite connection can be made to hold them from outside: with
//     other connections open, locking_mode=EXCLUSIVE cannot be taken in
//     WAL mode, so the test takes the locks with fcntl itself.
//   - The data folder renamed away: connections already open keep their
//     files, so the runners, whose connections are open, go on reading and
//     writing them (and what they write is there when the folder is put
//     back). Only a connection opened meanwhile cannot find the file, and
//     answers SQLITE_CANTOPEN, a 451.
var dbFaults = []dbFault{
	{name: "write-locked", during: 250, pauses: true, start: runnertest.HoldWriteLock},
	{name: "read-locked", during: 451, pauses: true, start: holdWALIndexLocks},
	{name: "gone", during: 0, pauses: false, start: renameDataAway},
}

// holdWALIndexLocks takes, with fcntl, every lock of db's WAL index.
func holdWALIndexLocks(t *testing.T, db string) func() {
	t.Helper()
	f, err := os.OpenFile(db+"-shm", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 120, Len: 8}
	// Readers hold their read mark for the length of a statement: wait
	// until none does.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock the WAL index: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	return func() { f.Close() } // closing the file releases its locks
}

// renameDataAway renames db's folder away.
func renameDataAway(t *testing.T, db string) func() {
	t.Helper()
	dir := filepath.Dir(db)
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.Rename(dir+".away", dir); err != nil {
			t.Error(err)
		}
	}
}

// TestDatabaseLockedOrGone injects each database fault under running
// runners, with posts accepted just before it sitting in the queues: while
// it lasts the LMTP runner never answers a 5xx (a 451 where the store
// cannot be read), nothing is shunted and the accepted posts stay queued;
// once it is removed, with no restart, new posts are accepted and every
// acknowledged post reaches every member.
func TestDatabaseLockedOrGone(t *testing.T) {
	for _, f := range dbFaults {
		t.Run(f.name, func(t *testing.T) { testDatabaseFault(t, f) })
	}
}

func testDatabaseFault(t *testing.T, f dbFault) {
	s := mailmantest.NewSite(t, "")
	s.SetMTA("delivery_retry_delay", `"1s"`)
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("lists", "create", "other@example.com", "--owner", "owen@example.com")
	members := []string{"m1@example.org", "m2@example.org", "m3@example.org"}
	s.MustCtl(append([]string{"members", "add", "test@example.com"}, members...)...)
	sink := s.StartSink()
	s.Start()
	defer s.Stop()
	c, err := lmtpload.Dial(fmt.Sprintf("127.0.0.1:%d", s.LMTPPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var mu sync.Mutex
	var acked []string
	sent := 0
	codes := map[int]int{}
	post := func(c *lmtpload.Client, list, id string) lmtpload.Reply {
		msg := fmt.Sprintf("From: m1@example.org\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nbody\r\n", list, id, id)
		replies, err := c.Send("m1@example.org", []string{list}, []byte(msg))
		if err != nil {
			// Called from several goroutines: no Fatal.
			t.Errorf("%s: %v", id, err)
			return lmtpload.Reply{}
		}
		r := replies[0]
		mu.Lock()
		defer mu.Unlock()
		sent++
		codes[r.Code]++
		if r.OK() {
			acked = append(acked, id)
		}
		if r.Code >= 500 {
			t.Errorf("%s to %s: %v; a database fault must never bounce mail", id, list, r)
		}
		return r
	}
	// One post end to end first, so that every runner has its connections
	// to the store open, as in a site that has been running.
	if r := post(c, "test@example.com", "warm@test"); !r.OK() {
		t.Fatalf("a post before the fault: %v", r)
	}
	sink.Wait("the first post", 10*time.Second, func(ds []mailmantest.Delivery) bool { return len(ds) > 0 })

	// And one just before the fault, which puts the list in the LMTP
	// runner's cache for the 2 seconds that follow.
	if r := post(c, "test@example.com", "primed@test"); !r.OK() {
		t.Fatalf("a post before the fault: %v", r)
	}
	db := s.Paths().Database
	undo := f.start(t, db)
	faultAt := time.Now()
	// Still in the LMTP runner's cache of lists: accepted without the
	// store, they must wait in the queues for the fault to go.
	const early = 5
	for i := range early {
		if r := post(c, "test@example.com", fmt.Sprintf("early-%d@test", i)); !r.OK() {
			t.Errorf("early post %d, its list cached: %v", i, r)
		}
	}
	time.Sleep(time.Until(faultAt.Add(2500 * time.Millisecond)))
	// The list just out of the cache, and one never looked up, on two
	// connections at once: each RCPT may wait busy_timeout.
	var wg sync.WaitGroup
	for _, list := range []string{"test@example.com", "other@example.com"} {
		wg.Go(func() {
			c, err := lmtpload.Dial(fmt.Sprintf("127.0.0.1:%d", s.LMTPPort), 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			r := post(c, list, "during-"+strings.TrimSuffix(list, "@example.com")+"@test")
			if f.during != 0 && r.Code != f.during || r.Code != 250 && r.Code != 451 {
				t.Errorf("a post to %s during the fault: %v, want %d", list, r, f.during)
			}
		})
	}
	wg.Wait()
	// The fault has lasted longer than busy_timeout: every runner that
	// needed the store has had its failure.
	time.Sleep(time.Until(faultAt.Add(12 * time.Second)))
	shunted := count(t, s, "shunt").Total()
	queued := count(t, s, "incoming").Total() + count(t, s, "pipeline").Total()
	delivered := 0
	for id, byRcpt := range deliveredCopies(sink.Received()) {
		if strings.HasPrefix(id, "early-") {
			delivered += len(byRcpt)
		}
	}
	lasted := time.Since(faultAt)
	undo()
	log, err := os.ReadFile(s.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	pauses := strings.Count(string(log), "temporary failure; message kept in place")
	t.Logf("%s: after %s, %d entries in incoming and pipeline, %d copies of the early posts delivered, %d pauses, codes %v",
		f.name, lasted.Round(time.Millisecond), queued, delivered, pauses, codes)
	if shunted != 0 {
		t.Errorf("%d entries shunted during the fault", shunted)
	}
	if f.pauses && (pauses == 0 || delivered > 0 || queued < early) {
		t.Errorf("during the fault: %d pauses, %d copies of the early posts delivered, %d entries in incoming and pipeline; want the %d early posts kept there",
			pauses, delivered, queued, early)
	}

	for i := range early {
		if r := post(c, "test@example.com", fmt.Sprintf("after-%d@test", i)); !r.OK() {
			t.Errorf("a post after the fault: %v", r)
		}
	}
	// A post to the list without members is held (its sender is not one);
	// every other reaches the members.
	var want []string
	for _, id := range acked {
		if !strings.Contains(id, "other") {
			want = append(want, id)
		}
	}
	complete, lost, dups := waitDelivered(t, sink, want, members, 30*time.Second)
	if n := count(t, s, "shunt").Total(); n != 0 {
		t.Errorf("%d entries shunted", n)
	}
	// A runner that failed on the store instead of pausing would have been
	// restarted.
	for _, r := range s.Status().Runners {
		if r.Restarts != 0 {
			t.Errorf("runner %s restarted %d times (last exit %s)", r.Name, r.Restarts, r.LastExit)
		}
	}
	o := mailmantest.NewOutcome(t, "database "+f.name+" for "+lasted.Round(time.Second).String()+" under running runners")
	o.Sent, o.Acknowledged, o.Delivered, o.Duplicated, o.Lost = sent, len(acked), complete, dups, lost
	o.Faults = "1 " + f.name
	o.Held = fmt.Sprintf("LMTP codes %v; during the fault %d entries kept in incoming and pipeline, %d runner pauses, 0 shunted, no restart; %d acknowledged posts to the list without members held for moderation, as they should",
		codes, queued, pauses, len(acked)-len(want))
	mailmantest.Report(t, o)
}

// TestRunnerWaitsForMissingDatabase: a runner that starts while the
// database is missing (its folder moved, a disk not mounted) must not make
// an empty one in its place, which would answer 550 for every list and
// bounce the site's mail. It waits, not ready and not crash-looping, while
// the MTA meets a closed port (a deferral), and serves once the database
// is back.
func TestRunnerWaitsForMissingDatabase(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	s.MustCtl("lists", "create", "test@example.com")
	s.Start("lmtp", "incoming")
	defer s.Stop()
	db := s.Paths().Database
	undo := renameDataAway(t, db)
	var killed []int
	for _, r := range s.Status().Runners {
		killed = append(killed, r.PID)
		syscall.Kill(r.PID, syscall.SIGKILL)
	}
	s.WaitFor("the runners started again", 10*time.Second, func() bool {
		for _, r := range s.Status().Runners {
			if slices.Contains(killed, r.PID) || r.PID == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second)
	if _, err := os.Stat(filepath.Dir(db)); !os.IsNotExist(err) {
		t.Errorf("a runner made %s while the database was away: %v", filepath.Dir(db), err)
	}
	for _, r := range s.Status().Runners {
		if r.State == "running" || r.Restarts != 1 {
			t.Errorf("runner %s is %s after %d restarts while its database is missing; want it waiting, restarted once", r.Name, r.State, r.Restarts)
		}
	}
	if c, err := lmtpload.Dial(fmt.Sprintf("127.0.0.1:%d", s.LMTPPort), time.Second); err == nil {
		c.Close()
		t.Error("the LMTP port answers while the runner has no database")
	}
	undo()
	s.WaitFor("the runners ready once the database is back", 40*time.Second, func() bool {
		for _, r := range s.Status().Runners {
			if r.State != "running" {
				return false
			}
		}
		return true
	})
	c, err := lmtpload.Dial(fmt.Sprintf("127.0.0.1:%d", s.LMTPPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	replies, err := c.Send("anne@example.org", []string{"test@example.com"}, []byte("From: anne@example.org\r\nMessage-ID: <back@test>\r\n\r\nbody\r\n"))
	acked := 0
	if err != nil || !replies[0].OK() {
		t.Errorf("a post once the database is back: %v, %v", replies, err)
	} else {
		acked = 1
	}
	log, _ := os.ReadFile(s.LogPath())
	if !strings.Contains(string(log), "database unavailable; waiting for it") {
		t.Error("the log does not say the runners waited for the database")
	}
	o := mailmantest.NewOutcome(t, "runners killed and restarted while the database folder is moved away")
	o.Sent, o.Acknowledged = 1, acked
	o.Faults = fmt.Sprintf("%d runner SIGKILLs with the database missing", len(killed))
	o.Held = "no empty database made; runners waited (not ready, LMTP port closed: the MTA defers) and served once it was back, one restart each"
	mailmantest.Report(t, o)
}
