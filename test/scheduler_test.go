package test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// task is a line of mailmanctl tasks --json.
type task struct {
	Name       string `json:"name"`
	Schedule   string `json:"schedule"`
	LastRanOn  string `json:"last_ran_on"`
	LastResult string `json:"last_result"`
	LastFailed bool   `json:"last_failed"`
	Runs       int    `json:"runs"`
	Next       string `json:"next_run"`
}

func tasks(t *testing.T, s *mailmantest.Site) map[string]task {
	t.Helper()
	var ts []task
	if err := json.Unmarshal([]byte(s.MustCtl("tasks", "--json")), &ts); err != nil {
		t.Fatal(err)
	}
	out := map[string]task{}
	for _, x := range ts {
		out[x.Name] = x
	}
	return out
}

// schedulerConfig makes the scheduler look for due jobs often, so that a
// job made due by hand runs within the test's patience.
const schedulerConfig = "[scheduler]\ncheck_every = \"200ms\"\n"

// TestSchedulerEndToEnd: the scheduler runner starts with the master,
// runs the upkeep at once, and leaves the digests and the reminders to
// their times; made due by `mailmanctl tasks --run`, the digests go out
// and a moderator is reminded of a held post, and `mailmanctl tasks`
// shows what each did.
func TestSchedulerEndToEnd(t *testing.T) {
	s := mailmantest.NewSite(t, schedulerConfig)
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "reg@example.com", "mime@example.com")
	s.MustCtl("members", "set", "test@example.com", "mime@example.com", "delivery_mode", "mime_digests")
	s.MustCtl("lists", "set", "test@example.com", "default_nonmember_action", "hold")
	sink := s.StartSink()
	s.Start("lmtp", "incoming", "pipeline", "outgoing", "virgin", "retry", "scheduler")
	defer s.Stop()
	s.WaitFor("the upkeep's first run", 30*time.Second, func() bool { return tasks(t, s)["upkeep"].Runs == 1 })
	ts := tasks(t, s)
	if u := ts["upkeep"]; u.LastFailed || !strings.HasPrefix(u.LastResult, "evicted 0 expired request(s), discarded 0 held post(s)") || u.Schedule != "1h" {
		t.Errorf("upkeep: %+v", u)
	}
	for _, name := range []string{"digests", "notify"} {
		if ts[name].Runs != 0 || ts[name].Next == "" {
			t.Errorf("%s ran before its time: %+v", name, ts[name])
		}
	}
	if ts["digests"].Schedule != "12:00" || ts["notify"].Schedule != "08:00" {
		t.Errorf("schedules: digests %q, notify %q", ts["digests"].Schedule, ts["notify"].Schedule)
	}

	c := s.LMTP()
	defer c.Close()
	for i := range 3 {
		if err := sendPost(c, "reg@example.com", "test@example.com", fmt.Sprintf("<sched-%d@example.com>", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sendPost(c, "stranger@example.org", "test@example.com", "<sched-held@example.com>"); err != nil {
		t.Fatal(err)
	}
	s.WaitFor("the three posts in the digest and one held", 30*time.Second, func() bool {
		return strings.Contains(s.MustCtl("digests"), "test.example.com  3") && strings.Contains(s.MustCtl("held", "list"), "stranger@example.org")
	})

	if out := s.MustCtl("tasks", "--run", "digests"); !strings.Contains(out, "digests is due now") {
		t.Errorf("tasks --run digests: %s", out)
	}
	d := firstDelivered(sink, "mime@example.com", "Test Digest, Vol 1, Issue 1")
	text := decodedText(t, d.Data)
	for i := range 3 {
		if !strings.Contains(text, fmt.Sprintf("<sched-%d@example.com>", i)) {
			t.Errorf("the digest lacks post %d", i)
		}
	}
	s.MustCtl("tasks", "--run", "notify")
	r := firstDelivered(sink, "owen@example.com", "1 test@example.com moderator request(s) waiting")
	if body := string(r.Data); !strings.Contains(body, "stranger@example.org") {
		t.Errorf("the reminder does not name the held post's sender:\n%s", body)
	}
	s.WaitFor("both runs recorded", 30*time.Second, func() bool {
		ts := tasks(t, s)
		return ts["digests"].Runs == 1 && ts["notify"].Runs == 1
	})
	ts = tasks(t, s)
	if got := ts["digests"].LastResult; got != "sent 1 issue(s) of 1 list(s): test.example.com vol 1 no 1" {
		t.Errorf("digests result %q", got)
	}
	if got := ts["notify"].LastResult; got != "reminded the moderators of 1 list(s)" {
		t.Errorf("notify result %q", got)
	}
	table := s.MustCtl("tasks")
	for _, want := range []string{"TASK", "digests", "12:00", "sent 1 issue(s)", "upkeep", "notify"} {
		if !strings.Contains(table, want) {
			t.Errorf("tasks table lacks %q:\n%s", want, table)
		}
	}
	if _, errOut, code := s.Ctl("tasks", "--run", "cron"); code != 2 || !strings.Contains(errOut, `no job "cron"`) {
		t.Errorf("tasks --run cron: exit %d, %s", code, errOut)
	}
}

// TestPeriodicDigestOnceOnTwoHosts: one site on two hosts sharing one
// PostgreSQL database, each running every runner (the scheduler
// included) with a spool and a mail server of its own. Posts come in
// through both; the periodic digest, made due by hand, goes out once:
// one digest to the digest member, from one host's mail server.
func TestPeriodicDigestOnceOnTwoHosts(t *testing.T) {
	hosts := startHosts(t, schedulerConfig)
	a, b := hosts[0], hosts[1]
	a.site.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	a.site.MustCtl("members", "add", "test@example.com", "reg@example.com", "mime@example.com")
	b.site.MustCtl("members", "set", "test@example.com", "mime@example.com", "delivery_mode", "mime_digests")
	for i := range 4 {
		h := hosts[i%2]
		if r, err := h.post("reg@example.com", "test@example.com", "Post", fmt.Sprintf("two-%d@example.com", i)); err != nil || r.Code != 250 {
			t.Fatalf("post %d through %s: %+v, %v", i, h.name, r, err)
		}
	}
	a.site.WaitFor("the four posts in the digest", 30*time.Second, func() bool {
		return strings.Contains(a.site.MustCtl("digests"), "test.example.com  4")
	})
	b.site.MustCtl("tasks", "--run", "digests")
	digests := func() (n int, on []string) {
		for _, h := range hosts {
			if k := len(delivered(h.sink.Received(), "mime@example.com", "Test Digest, Vol 1, Issue 1")); k > 0 {
				n += k
				on = append(on, h.name)
			}
		}
		return n, on
	}
	a.site.WaitFor("the digest", 30*time.Second, func() bool { n, _ := digests(); return n > 0 })
	// Once the run is recorded (the job is not due again until noon) and
	// neither host has mail left to send, a second digest could come from
	// nowhere.
	a.site.WaitFor("the run recorded and the queues empty", 30*time.Second, func() bool {
		if tasks(t, a.site)["digests"].Runs != 1 {
			return false
		}
		for _, h := range hosts {
			var totals map[string]int
			if err := json.Unmarshal([]byte(h.site.MustCtl("queues", "--json")), &totals); err != nil {
				t.Fatal(err)
			}
			if totals["virgin"]+totals["outgoing"]+totals["retry"] != 0 {
				return false
			}
		}
		return true
	})
	if n, on := digests(); n != 1 {
		t.Errorf("the digest member got %d digests (through %v), want 1", n, on)
	}
	ts := tasks(t, b.site)
	if d := ts["digests"]; d.Runs != 1 || d.LastResult != "sent 1 issue(s) of 1 list(s): test.example.com vol 1 no 1" || d.LastRanOn == "" {
		t.Errorf("digests task: %+v", d)
	}
	if u := ts["upkeep"]; u.Runs != 1 {
		t.Errorf("the upkeep, due at once on both hosts, ran %d times", u.Runs)
	}
}
