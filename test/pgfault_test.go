package test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/lmtpload"
	"github.com/mailman-go/mailman/internal/mailmantest"
	"github.com/mailman-go/mailman/internal/pgtest"
)

// crashPostgreSQL stops the cluster's server as a crash would and returns
// what starts it again; the server is started when the test ends if the
// test has not, so that the tests after it find it running.
func crashPostgreSQL(t *testing.T) (restart func()) {
	t.Helper()
	if err := cluster.StopServer(false); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	restart = func() {
		once.Do(func() {
			if err := cluster.StartServer(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(restart)
	return restart
}

const pgPassword = "pw-not-to-show"

// pgSite is a site on a new PostgreSQL database with the list test (three
// members) and the list other (none), and a sink.
func pgSite(t *testing.T) (*mailmantest.Site, *mailmantest.Sink, []string) {
	t.Helper()
	pgtest.Need(t, cluster)
	// The test cluster commits asynchronously, which loses the last
	// fraction of a second of commits when the server crashes, as a
	// production server (synchronous_commit on, its default) does not;
	// pgx passes the setting on to the server for every connection. The
	// password is for the error messages to hide: the cluster trusts
	// loopback connections and never asks for it.
	url := strings.Replace(cluster.NewDatabase(t), "//mailman@", "//mailman:"+pgPassword+"@", 1) + "&synchronous_commit=on"
	if !strings.Contains(url, pgPassword) {
		t.Fatalf("no password put in %s", url)
	}
	s := mailmantest.NewSite(t, fmt.Sprintf("[database]\nurl = %q\n", url))
	s.SetMTA("delivery_retry_delay", `"1s"`)
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("lists", "create", "other@example.com", "--owner", "owen@example.com")
	members := []string{"m1@example.org", "m2@example.org", "m3@example.org"}
	s.MustCtl(append([]string{"members", "add", "test@example.com"}, members...)...)
	return s, s.StartSink(), members
}

// TestPostgreSQLDownAndRestarting crashes the PostgreSQL server under a
// running site for about ten seconds while posts go on being offered, and
// starts it again: while it is down the LMTP runner answers 451 for every
// list it cannot vouch for from its 2-second cache (never a 5xx), the
// runners keep their entries (nothing shunted) without a restart, and once
// it is back, with no restart of the site, every acknowledged post
// reaches every member.
func TestPostgreSQLDownAndRestarting(t *testing.T) {
	s, sink, members := pgSite(t)
	s.Start()
	defer s.Stop()
	addr := fmt.Sprintf("127.0.0.1:%d", s.LMTPPort)
	c, err := lmtpload.Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var mu sync.Mutex
	var acked []string
	sent := 0
	codes := map[string]map[int]int{} // by phase
	// restartAt is when the server is being started again: a post sent
	// from then until upAt may find it down or up.
	var downAt, restartAt, upAt time.Time // set under mu
	phase := func(at time.Time) string {
		switch {
		case downAt.IsZero() || at.Before(downAt):
			return "before"
		case restartAt.IsZero() || at.Before(restartAt):
			return "down"
		case upAt.IsZero() || at.Before(upAt):
			return "restarting"
		}
		return "after"
	}
	// post sends one message and checks its reply against the server's
	// state when it was sent; it may be called from several goroutines.
	post := func(c *lmtpload.Client, list, id string) lmtpload.Reply {
		msg := fmt.Sprintf("From: m1@example.org\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nbody\r\n", list, id, id)
		at := time.Now()
		replies, err := c.Send("m1@example.org", []string{list}, []byte(msg))
		if err != nil {
			t.Errorf("%s: %v", id, err)
			return lmtpload.Reply{}
		}
		r := replies[0]
		mu.Lock()
		defer mu.Unlock()
		p := phase(at)
		sent++
		if codes[p] == nil {
			codes[p] = map[int]int{}
		}
		codes[p][r.Code]++
		if r.OK() {
			acked = append(acked, id)
		}
		switch {
		case r.Code >= 500:
			t.Errorf("%s to %s (%s): %v; a database that is down must never bounce mail", id, list, p, r)
		case p == "down" && r.OK() && at.After(downAt.Add(2*time.Second)):
			t.Errorf("%s to %s accepted %s after the server went down, past the LMTP runner's cache: %v", id, list, at.Sub(downAt).Round(time.Millisecond), r)
		case p == "down" && !r.OK() && r.Code != 451:
			t.Errorf("%s to %s while the server is down: %v, want 451", id, list, r)
		}
		return r
	}
	// One post end to end, so that every runner has its connections to
	// the store open, as in a site that has been running.
	if r := post(c, "test@example.com", "warm@test"); !r.OK() {
		t.Fatalf("a post before the crash: %v", r)
	}
	sink.Wait("the first post", 15*time.Second, func(ds []mailmantest.Delivery) bool { return len(ds) > 0 })
	// And one just before, which puts the list in the LMTP runner's cache.
	if r := post(c, "test@example.com", "primed@test"); !r.OK() {
		t.Fatalf("a post before the crash: %v", r)
	}

	// Posts offered all along, on a connection of their own.
	stop := make(chan struct{})
	var offering sync.WaitGroup
	stopOffering := sync.OnceFunc(func() {
		close(stop)
		offering.Wait()
	})
	defer stopOffering()
	offering.Go(func() {
		c, err := lmtpload.Dial(addr, 5*time.Second)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			post(c, "test@example.com", fmt.Sprintf("steady-%d@test", i))
		}
	})

	restart := crashPostgreSQL(t)
	mu.Lock()
	downAt = time.Now()
	mu.Unlock()
	// Still in the LMTP runner's cache: accepted without the store, they
	// must wait in the queues for the server.
	const early = 5
	for i := range early {
		if r := post(c, "test@example.com", fmt.Sprintf("early-%d@test", i)); !r.OK() {
			t.Errorf("early post %d, its list cached: %v", i, r)
		}
	}
	time.Sleep(time.Until(downAt.Add(2500 * time.Millisecond)))
	// The list just out of the cache, and one never looked up.
	for _, list := range []string{"test@example.com", "other@example.com"} {
		if r := post(c, list, "down-"+strings.TrimSuffix(list, "@example.com")+"@test"); r.Code != 451 {
			t.Errorf("a post to %s with the server down: %v, want 451", list, r)
		}
	}
	time.Sleep(time.Until(downAt.Add(10 * time.Second)))
	shunted := count(t, s, "shunt").Total()
	queued := count(t, s, "incoming").Total() + count(t, s, "pipeline").Total()
	earlyDelivered := 0
	for id, byRcpt := range deliveredCopies(sink.Received()) {
		if strings.HasPrefix(id, "early-") {
			earlyDelivered += len(byRcpt)
		}
	}
	var restartsDown int
	for _, r := range s.Status().Runners {
		restartsDown += r.Restarts
	}
	mu.Lock()
	restartAt = time.Now()
	mu.Unlock()
	restart()
	mu.Lock()
	upAt = time.Now()
	lasted := upAt.Sub(downAt)
	mu.Unlock()
	log, err := os.ReadFile(s.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	pauses := strings.Count(string(log), "temporary failure; message kept in place")
	t.Logf("down for %s: %d entries in incoming and pipeline, %d copies of the early posts delivered, %d pauses, %d runner restarts",
		lasted.Round(time.Millisecond), queued, earlyDelivered, pauses, restartsDown)
	if shunted != 0 {
		t.Errorf("%d entries shunted while the server was down", shunted)
	}
	if pauses == 0 || earlyDelivered > 0 || queued < early {
		t.Errorf("while the server was down: %d pauses, %d copies of the early posts delivered, %d entries in incoming and pipeline; want the %d early posts kept there",
			pauses, earlyDelivered, queued, early)
	}

	// Back: within a few seconds (the pool finds its broken connections
	// and makes new ones) posts are accepted again, with no restart.
	var firstBack time.Duration
	s.WaitFor("a post accepted once the server is back", 15*time.Second, func() bool {
		r := post(c, "test@example.com", fmt.Sprintf("back-%d@test", time.Now().UnixNano()))
		firstBack = time.Since(upAt)
		return r.OK()
	})
	time.Sleep(time.Second) // some steady posts after the return
	stopOffering()

	complete, lost, dups := waitDelivered(t, sink, acked, members, 30*time.Second)
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
	o := mailmantest.NewOutcome(t, "PostgreSQL server crashed for "+lasted.Round(time.Second).String()+" under running runners, then started")
	o.Sent, o.Acknowledged, o.Delivered, o.Duplicated, o.Lost = sent, len(acked), complete, dups, lost
	o.Faults = "1 PostgreSQL crash (pg_ctl stop -m immediate) and start"
	o.Held = fmt.Sprintf("LMTP codes before %v, down %v, after %v; first post accepted %s after the start; during the crash %d entries kept in incoming and pipeline, %d runner pauses, 0 shunted, no restart",
		codes["before"], codes["down"], codes["after"], firstBack.Round(time.Millisecond), queued, pauses)
	mailmantest.Report(t, o)
}

// TestPostgreSQLDownAtStart starts a site while its PostgreSQL server is
// down: the master migrates the store before it starts any runner, so
// `mailmanctl start` fails at once, naming the database (not its
// password) and why, and leaves no master; once the server is up, start
// works and mail flows.
func TestPostgreSQLDownAtStart(t *testing.T) {
	s, sink, members := pgSite(t)
	cfg, err := os.ReadFile(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Config, append(cfg, "\n[master]\nstart_timeout = \"3s\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	restart := crashPostgreSQL(t)
	began := time.Now()
	out, errOut, code := s.Ctl("start")
	took := time.Since(began)
	t.Logf("start with the server down: exit %d after %s\n%s%s", code, took.Round(time.Millisecond), out, errOut)
	if code == 0 {
		t.Fatal("start succeeded with the database server down")
	}
	if !strings.Contains(errOut, "database unavailable") || !strings.Contains(errOut, fmt.Sprintf("127.0.0.1:%d", cluster.Port)) || !strings.Contains(errOut, "waited 3s") {
		t.Errorf("start's reason does not say it waited for the database at 127.0.0.1:%d:\n%s", cluster.Port, errOut)
	}
	if strings.Contains(out+errOut, pgPassword) {
		t.Errorf("start's reason shows the database password:\n%s", errOut)
	}
	if took < 3*time.Second || took > 15*time.Second {
		t.Errorf("start gave up after %s, want [master] start_timeout (3 s)", took)
	}
	if st := s.Status(); st.PID != 0 {
		t.Errorf("a master runs (pid %d) after the failed start", st.PID)
	}
	// The server comes up while start waits for it, as after a power cut:
	// start succeeds.
	go func() {
		time.Sleep(time.Second)
		restart()
	}()
	began = time.Now()
	s.Start()
	waited := time.Since(began)
	defer s.Stop()
	if waited < time.Second {
		t.Errorf("start took %s with the server down for a second", waited)
	}
	c, err := lmtpload.Dial(fmt.Sprintf("127.0.0.1:%d", s.LMTPPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	replies, err := c.Send("m1@example.org", []string{"test@example.com"}, []byte("From: m1@example.org\r\nTo: test@example.com\r\nSubject: up\r\nMessage-ID: <up@test>\r\n\r\nbody\r\n"))
	if err != nil || !replies[0].OK() {
		t.Fatalf("a post once the server is up: %v, %v", replies, err)
	}
	sink.Wait("the post at every member", 15*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(deliveredCopies(ds)["up@test"]) == len(members)
	})
	log, _ := os.ReadFile(s.LogPath())
	if !strings.Contains(string(log), "database unavailable; waiting for it") {
		t.Error("the log does not say start waited for the database")
	}
	o := mailmantest.NewOutcome(t, "site started while its PostgreSQL server is down")
	o.Sent, o.Acknowledged, o.Delivered, o.Duplicated, o.Lost = 1, 1, 1, 0, 0
	o.Faults = "2 starts with the server down (for good, and for a second)"
	o.Held = fmt.Sprintf("with the server down for good, start waited start_timeout and failed after %s, naming the database, no master left; with the server up a second later, start waited %s and succeeded, and the post reached every member", took.Round(time.Millisecond), waited.Round(time.Millisecond))
	mailmantest.Report(t, o)
}
