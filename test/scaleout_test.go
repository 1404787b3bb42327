package test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/lmtpload"
	"github.com/mailman-go/mailman/internal/mailmantest"
	"github.com/mailman-go/mailman/internal/pgtest"
)

// host is one installation of a site spread over several: its own
// var_dir, master, LMTP port and mail server (a sink of its own, so that
// where a message was delivered shows which host's runners sent it).
type host struct {
	name string
	site *mailmantest.Site
	sink *mailmantest.Sink
	lmtp *lmtpload.Client
}

// post offers one message from from to rcpt over the host's LMTP
// connection and returns the reply; it fails the test only from the
// test's goroutine, so that posts can be sent from several at once.
func (h *host) post(from, rcpt, subject, id string) (lmtpload.Reply, error) {
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nbody\r\n", from, rcpt, subject, id)
	replies, err := h.lmtp.Send(from, []string{rcpt}, []byte(msg))
	if err != nil {
		return lmtpload.Reply{}, fmt.Errorf("%s: %s to %s at host %s: %w", id, from, rcpt, h.name, err)
	}
	return replies[0], nil
}

// startHosts starts hosts A and B of one site on a new PostgreSQL
// database, every runner on each, with the configuration extra, and
// connects to each one's LMTP port; they stop when the test ends.
func startHosts(t *testing.T, extra string) []*host {
	t.Helper()
	pgtest.Need(t, cluster)
	extra = fmt.Sprintf("[database]\nurl = %q\n%s", cluster.NewDatabase(t), extra)
	var hosts []*host
	for _, name := range []string{"A", "B"} {
		s := mailmantest.NewSite(t, extra)
		hosts = append(hosts, &host{name: name, site: s, sink: s.StartSink()})
	}
	// Both masters at once: each migrates the empty database as it starts,
	// and the migrations' advisory lock makes them take turns.
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Go(func() {
			if _, errOut, code := h.site.Ctl("start"); code != 0 {
				t.Errorf("start host %s: exit %d\n%s", h.name, code, errOut)
			}
		})
	}
	wg.Wait()
	for _, h := range hosts {
		t.Cleanup(h.site.Stop)
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, h := range hosts {
		c, err := lmtpload.Dial(fmt.Sprintf("127.0.0.1:%d", h.site.LMTPPort), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		h.lmtp = c
	}
	return hosts
}

var postNumber = regexp.MustCompile(`(?m)^Subject: \[Test (\d+)\] `)

// TestTwoHostsShareOnePostgreSQL runs one site on two installations whose
// store is one PostgreSQL database, every runner started on both, and
// shows that they act as one: a list created through A is served by B, a
// post held through A is moderated and delivered through B, a join begun
// at A is confirmed at B, and posts through either host are numbered from
// one sequence.
func TestTwoHostsShareOnePostgreSQL(t *testing.T) {
	hosts := startHosts(t, "")
	a, b := hosts[0], hosts[1]

	sent, acknowledged := 0, 0
	acked := map[string][]string{} // a post's Message-ID: the members it must reach
	members := []string{"anne@example.org", "bob@example.org"}
	mustPost := func(h *host, from, rcpt, subject, id string, to []string) {
		t.Helper()
		sent++
		r, err := h.post(from, rcpt, subject, id)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() {
			t.Fatalf("%s to %s at host %s: %v", id, rcpt, h.name, r)
		}
		acknowledged++
		if to != nil {
			acked[id] = to
		}
	}
	// waitAt waits until sink h has a copy of id for each of rcpts.
	waitAt := func(h *host, id string, rcpts []string) {
		t.Helper()
		h.sink.Wait(id+" at "+strings.Join(rcpts, ", ")+" through host "+h.name, 15*time.Second, func(ds []mailmantest.Delivery) bool {
			got := deliveredCopies(ds)[id]
			for _, r := range rcpts {
				if got[r] == 0 {
					return false
				}
			}
			return true
		})
	}

	// A list created through A is served by B at once: B's LMTP runner
	// has never looked it up, and keeps no negative answers.
	a.site.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	a.site.MustCtl(append([]string{"members", "add", "test@example.com"}, members...)...)
	mustPost(b, "anne@example.org", "test@example.com", "first", "first@test", members)
	waitAt(b, "first@test", members)

	// A nonmember's post held through A is B's to moderate and deliver.
	mustPost(a, "zoe@example.net", "test@example.com", "from outside", "held@test", nil)
	var held []struct {
		ID     int64  `json:"id"`
		Sender string `json:"sender"`
	}
	b.site.WaitFor("the held post listed on B", 15*time.Second, func() bool {
		if err := json.Unmarshal([]byte(b.site.MustCtl("held", "list", "--json")), &held); err != nil {
			t.Fatal(err)
		}
		return len(held) > 0
	})
	if len(held) != 1 || held[0].Sender != "zoe@example.net" {
		t.Fatalf("held on B: %+v, want zoe@example.net's post", held)
	}
	b.site.MustCtl("held", "accept", strconv.FormatInt(held[0].ID, 10))
	acked["held@test"] = members
	waitAt(b, "held@test", members)

	// A join begun at A, confirmed by a reply that reaches B.
	const nina = "nina@example.net"
	mustPost(a, nina, "test-join@example.com", "join", "join@test", nil)
	var token string
	a.sink.Wait("the confirmation through A", 15*time.Second, func(ds []mailmantest.Delivery) bool {
		for _, d := range delivered(ds, nina, "Your confirmation is needed to join the test@example.com mailing list.") {
			if m := confirmFrom.FindStringSubmatch(string(d.Data)); m != nil {
				token = m[1]
			}
		}
		return token != ""
	})
	mustPost(b, nina, token, "Re: Your confirmation is needed", "confirm@test", nil)
	b.sink.Wait("the welcome through B", 15*time.Second, func(ds []mailmantest.Delivery) bool {
		return len(delivered(ds, nina, `Welcome to the "Test" mailing list`)) == 1
	})
	members = append(members, nina)
	mustPost(a, "anne@example.org", "test@example.com", "after the join", "joined@test", members)
	waitAt(a, "joined@test", members)

	// Post numbers from one sequence: alternately through A and B, each
	// delivered before the next is sent, they count up by one; then both
	// hosts at once, which must still never give a number twice.
	b.site.MustCtl("lists", "set", "test@example.com", "subject_prefix", "[Test %d] ")
	numberOf := func(id string) []int {
		var ns []int
		for _, h := range hosts {
			for _, d := range h.sink.Received() {
				if headerMessageID(d.Data) != id {
					continue
				}
				m := postNumber.FindSubmatch(d.Data)
				if m == nil {
					t.Fatalf("%s delivered without a numbered subject:\n%s", id, d.Data)
				}
				n, _ := strconv.Atoi(string(m[1]))
				if !slices.Contains(ns, n) {
					ns = append(ns, n)
				}
			}
		}
		if len(ns) != 1 {
			t.Errorf("%s delivered with the numbers %v, want one", id, ns)
		}
		return ns
	}
	var sequential []int
	for i := range 6 {
		h := hosts[i%2]
		id := fmt.Sprintf("seq-%d@test", i)
		mustPost(h, "anne@example.org", "test@example.com", "in turn", id, members)
		waitAt(h, id, members)
		sequential = append(sequential, numberOf(id)...)
	}
	for i := 1; i < len(sequential); i++ {
		if sequential[i] != sequential[i-1]+1 {
			t.Errorf("posts sent in turn to A and B numbered %v, want each one more than the last", sequential)
			break
		}
	}
	const burst = 10 // a host
	var wg sync.WaitGroup
	var mu sync.Mutex
	var burstIDs []string
	burstAt := map[string]*host{}
	for _, h := range hosts {
		wg.Go(func() {
			for i := range burst {
				id := fmt.Sprintf("burst-%s-%d@test", h.name, i)
				r, err := h.post("anne@example.org", "test@example.com", "at once", id)
				mu.Lock()
				sent++
				switch {
				case err != nil:
					t.Error(err)
				case !r.OK():
					t.Errorf("%s at host %s: %v", id, h.name, r)
				default:
					acknowledged++
					acked[id] = members
					burstIDs = append(burstIDs, id)
					burstAt[id] = h
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, id := range burstIDs {
		burstAt[id].sink.Wait(id, 15*time.Second, func(ds []mailmantest.Delivery) bool {
			return len(deliveredCopies(ds)[id]) == len(members)
		})
	}
	givenTo := map[int][]string{}
	for _, id := range burstIDs {
		for _, n := range numberOf(id) {
			givenTo[n] = append(givenTo[n], id)
		}
	}
	for n, ids := range givenTo {
		if len(ids) > 1 {
			t.Errorf("post number %d given to %d posts: %v", n, len(ids), ids)
		}
		if n <= sequential[len(sequential)-1] {
			t.Errorf("post number %d, after the posts in turn ended at %d", n, sequential[len(sequential)-1])
		}
	}

	// Every acknowledged post, once at each member, whichever host took
	// it and whichever delivered it.
	var all []mailmantest.Delivery
	for _, h := range hosts {
		all = append(all, h.sink.Received()...)
	}
	got := deliveredCopies(all)
	lost, dups, complete := 0, 0, 0
	for id, to := range acked {
		if len(got[id]) == len(to) {
			complete++
		}
		for _, r := range to {
			switch n := got[id][r]; {
			case n == 0:
				lost++
				t.Errorf("%s never reached %s", id, r)
			case n > 1:
				dups += n - 1
				t.Errorf("%s reached %s %d times", id, r, n)
			}
		}
	}
	for _, h := range hosts {
		if n := count(t, h.site, "shunt").Total(); n != 0 {
			t.Errorf("%d entries shunted on host %s", n, h.name)
		}
		for _, r := range h.site.Status().Runners {
			if r.Restarts != 0 {
				t.Errorf("host %s: runner %s restarted %d times (last exit %s)", h.name, r.Name, r.Restarts, r.LastExit)
			}
		}
	}
	o := mailmantest.NewOutcome(t, "two hosts, one PostgreSQL database, every runner on both")
	o.Sent, o.Acknowledged, o.Delivered, o.Duplicated, o.Lost = sent, acknowledged, complete, dups, lost
	o.Faults = "none"
	o.Held = fmt.Sprintf("list made on A served by B at once; post held via A accepted and delivered by B; join begun at A confirmed at B; post numbers in turn %v, %d posts at once to both hosts got %d distinct numbers",
		sequential, len(burstIDs), len(givenTo))
	mailmantest.Report(t, o)
}
