package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The REST figures: what Postorius and HyperKitty wait on, on a list of
// many members, with many clients at once.

// restServer is a system whose REST API is measured.
type restServer interface {
	Name() string
	// SetupRoster makes the list rosterName(n) with n members, once.
	SetupRoster(n int) error
	// StartREST starts what serves the API and waits until it answers.
	StartREST() error
	RESTBase() string // http://127.0.0.1:PORT/3.1
	Stop() error
}

func rosterName(n int) string   { return fmt.Sprintf("roster%d@example.com", n) }
func rosterListID(n int) string { return fmt.Sprintf("roster%d.example.com", n) }

// restClient is an HTTP client keeping a connection for each of the
// benchmark's clients, with Mailman's default credentials.
func restClient(clients int, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
}

// get fetches url and reads its body whole, failing on anything but 200.
func get(c *http.Client, url string) (int, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth("restadmin", "restpass")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return int(n), nil
}

// waitREST waits until base answers /system/versions.
func waitREST(base string, timeout time.Duration) error {
	c := restClient(1, 5*time.Second)
	deadline := time.Now().Add(timeout)
	for {
		if _, err := get(c, base+"/system/versions"); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("REST API at %s not answering after %s: %w", base, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loadResult is a load run: each request's time, the requests served per
// second over the run, and the size of the last answer.
type loadResult struct {
	p50, p99 time.Duration
	rate     float64
	bytes    int
}

// load runs requests GETs, urls(i) giving the i-th, from clients at
// once.
func load(base string, clients, requests int, timeout time.Duration, url func(i int) string) (loadResult, error) {
	c := restClient(clients, timeout)
	times := make([]time.Duration, requests)
	var next int
	var mu sync.Mutex
	var firstErr error
	var size int
	var wg sync.WaitGroup
	t0 := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= requests {
					return
				}
				start := time.Now()
				n, err := get(c, base+url(i))
				times[i] = time.Since(start)
				mu.Lock()
				size = n
				mu.Unlock()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					next = requests
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	total := time.Since(t0)
	if firstErr != nil {
		return loadResult{}, firstErr
	}
	sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
	return loadResult{p50: times[len(times)/2], p99: times[(len(times)*99)/100], rate: float64(requests) / total.Seconds(), bytes: size}, nil
}

// restFigure is one endpoint measured: its path (for a request number),
// how many requests a run makes, and what is done before each run.
type restFigure struct {
	name, label string
	requests    int
	path        func(i int) string
	before      func(base string) error
}

func restFigures(c config) []restFigure {
	pages := c.rosterSize / 25
	return []restFigure{
		{"find-page", fmt.Sprintf("`members/find` of one page (25 of %d members, a random page)", c.rosterSize), c.restRequests,
			func(int) string {
				return fmt.Sprintf("/members/find?list_id=%s&count=25&page=%d", rosterListID(c.rosterSize), 1+rand.IntN(max(pages, 1)))
			}, nil},
		{"list", "`lists/{id}` (with its member_count)", c.restRequests,
			func(int) string { return "/lists/" + rosterListID(c.rosterSize) }, nil},
		{"held-count", "`lists/{id}/held/count`", c.restRequests,
			func(int) string { return "/lists/" + rosterListID(c.rosterSize) + "/held/count" }, nil},
		{"roster-changed", fmt.Sprintf("the whole roster, `lists/{id}/roster/member` (%d members), just after a member changed", c.rosterSize), c.restClients,
			func(int) string { return "/lists/" + rosterListID(c.rosterSize) + "/roster/member" },
			func(base string) error { return changeMember(base, rosterListID(c.rosterSize)) }},
		{"roster", fmt.Sprintf("the whole roster, `lists/{id}/roster/member` (%d members), again", c.rosterSize), c.restClients,
			func(int) string { return "/lists/" + rosterListID(c.rosterSize) + "/roster/member" }, nil},
	}
}

// changeMember changes the moderation action of the roster's first member,
// through the API, back and forth, so that what a system keeps of the
// roster is out of date.
func changeMember(base, listID string) error {
	c := restClient(1, time.Minute)
	req, err := http.NewRequest("GET", base+"/members/find?list_id="+listID+"&count=1&page=1", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("restadmin", "restpass")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var page struct {
		Entries []struct {
			SelfLink         string `json:"self_link"`
			ModerationAction string `json:"moderation_action"`
		} `json:"entries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Entries) == 0 {
		return fmt.Errorf("members/find of %s: %d entries, %v", listID, len(page.Entries), err)
	}
	m := page.Entries[0]
	_, path, ok := strings.Cut(m.SelfLink, "/3.1/")
	if !ok {
		return fmt.Errorf("member link %q", m.SelfLink)
	}
	action := "hold"
	if m.ModerationAction == "hold" {
		action = "defer"
	}
	req, err = http.NewRequest("PATCH", base+"/"+path, strings.NewReader("moderation_action="+action))
	if err != nil {
		return err
	}
	req.SetBasicAuth("restadmin", "restpass")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("PATCH %s: %d", m.SelfLink, resp.StatusCode)
	}
	return nil
}

// measureREST sets up s's roster and measures each figure c.reps times.
func measureREST(c config, s restServer, res *results, logf func(string, ...any)) error {
	logf("%s: the roster list of %d members", s.Name(), c.rosterSize)
	t0 := time.Now()
	if err := s.SetupRoster(c.rosterSize); err != nil {
		return err
	}
	logf("%s: roster ready in %s", s.Name(), time.Since(t0).Round(time.Second))
	if err := s.StartREST(); err != nil {
		return err
	}
	defer s.Stop()
	for _, f := range restFigures(c) {
		for rep := 1; rep <= c.reps; rep++ {
			if f.before != nil {
				if err := f.before(s.RESTBase()); err != nil {
					return fmt.Errorf("%s %s: %w", s.Name(), f.name, err)
				}
			}
			r, err := load(s.RESTBase(), c.restClients, f.requests, c.restTimeout, f.path)
			if err != nil && isTimeout(err) {
				res.add("rest-"+f.name+"-timeout", c.restTimeout.Seconds())
				logf("%s: %s: a request took longer than %s", s.Name(), f.name, c.restTimeout)
				break
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", s.Name(), f.name, err)
			}
			res.add("rest-"+f.name+"-p50", ms(r.p50))
			res.add("rest-"+f.name+"-p99", ms(r.p99))
			res.add("rest-"+f.name+"-rate", r.rate)
			res.add("rest-"+f.name+"-bytes", float64(r.bytes))
			logf("%s: %s with %d clients: p50 %.1f ms, p99 %.1f ms, %.0f req/s", s.Name(), f.name, c.restClients, ms(r.p50), ms(r.p99), r.rate)
		}
	}
	return nil
}

// measureRESTLimit measures the machine's limit beside each figure: a
// net/http server in this process that checks the same Basic
// authentication and answers each request with a constant body of the size
// mailman-go answered it with, under the same clients.
func measureRESTLimit(c config, ours, floors *results, logf func(string, ...any)) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var body []byte
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "restadmin" || p != "restpass" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		b := body
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})}
	go srv.Serve(l)
	defer srv.Close()
	base := "http://" + l.Addr().String() + "/3.1"
	for _, f := range restFigures(c) {
		size := ours.stat("rest-" + f.name + "-bytes")
		if !size.ok {
			continue
		}
		mu.Lock()
		body = bytes.Repeat([]byte{' '}, int(size.median))
		mu.Unlock()
		for range c.reps {
			r, err := load(base, c.restClients, f.requests, c.restTimeout, f.path)
			if err != nil {
				return fmt.Errorf("HTTP alone, %s: %w", f.name, err)
			}
			floors.add("rest-"+f.name+"-p50", ms(r.p50))
			floors.add("rest-"+f.name+"-rate", r.rate)
		}
		logf("HTTP alone: %s (%d bytes) with %d clients: %.0f req/s", f.name, int(size.median), c.restClients, floors.stat("rest-"+f.name+"-rate").median)
	}
	return nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// restMarkdown is the REST section of docs/benchmarks.md.
func (r *report) restMarkdown() string {
	var b bytes.Buffer
	c := r.config
	mm := r.heading(&b, "The REST API beside Mailman's")
	if r.mailman.skipped != "" {
		fmt.Fprintf(&b, "**Mailman was %s.** Its columns are empty.\n\n", r.mailman.skipped)
	} else {
		fmt.Fprintf(&b, "Mailman: Debian's `mailman3` %s, a private instance with the stock settings (gunicorn, 2 workers, SQLite), run as the user list, in the same run; mailman-go's rest runner alone, on SQLite.\n\n", r.mailmanVersion)
	}
	fmt.Fprintf(&b, "One list of %d members (addresses added from the command line). %d clients at once, each with its own kept-alive connection, send %d requests a run (the whole roster: one request each); each cell is the median of %d runs, with the smallest and largest in brackets. A request that takes over %s counts as timed out, as behind Mailman's gunicorn timeout. A ratio says how many times faster mailman-go is. The whole roster is measured twice: just after one of its members changed (each run first changes one, through the API), so that nothing kept of it holds, and then again. HTTP alone is the machine's limit, measured in the same run: a net/http server in the suite's process that checks the same Basic authentication and answers every request with a constant body of the size mailman-go answered, under the same clients.\n\n",
		c.rosterSize, c.restClients, c.restRequests, c.reps, c.restTimeout)
	fmt.Fprintf(&b, "| request | figure | mailman-go | %s | ratio | HTTP alone |\n| --- | --- | --- | --- | --- | --- |\n", mm)
	for _, f := range restFigures(c) {
		for _, k := range []struct{ suffix, label, unit string }{{"p50", "median", "ms"}, {"p99", "99th percentile", "ms"}, {"rate", "requests per second", "req/s"}} {
			o, t := r.ours.stat("rest-"+f.name+"-"+k.suffix), r.mailman.stat("rest-"+f.name+"-"+k.suffix)
			theirs := t.format(k.unit)
			if to := r.mailman.stat("rest-" + f.name + "-timeout"); to.ok && !t.ok {
				theirs = fmt.Sprintf("timed out (> %s)", c.restTimeout)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", f.label, k.label, o.format(k.unit), theirs, ratio(o, t, k.suffix == "rate"), r.floors.stat("rest-"+f.name+"-"+k.suffix).format(k.unit))
		}
	}
	b.WriteString("\n### Against the targets\n\n| target | measured | met |\n| --- | --- | --- |\n")
	verdict := func(ok bool) string { return map[bool]string{true: "yes", false: "**no**"}[ok] }
	if p := r.ours.stat("rest-find-page-p50"); p.ok {
		fmt.Fprintf(&b, "| a page of members/find under 10 ms (median, %d clients) | %.1f ms | %s |\n", c.restClients, p.median, verdict(p.median < 10))
	}
	for _, name := range []string{"roster-changed", "roster"} {
		if p := r.ours.stat("rest-" + name + "-p50"); p.ok {
			what := map[string]string{"roster-changed": "just after a change", "roster": "again"}[name]
			fmt.Fprintf(&b, "| the whole %d roster under 1 s, %s (median, %d clients) | %.0f ms | %s |\n", c.rosterSize, what, c.restClients, p.median, verdict(p.median < 1000))
		}
	}
	for _, f := range restFigures(c) {
		o, t, limit := r.ours.stat("rest-"+f.name+"-rate"), r.mailman.stat("rest-"+f.name+"-rate"), r.floors.stat("rest-"+f.name+"-rate")
		target := fmt.Sprintf("%s at least 50× Mailman's requests per second", f.label)
		switch to := r.mailman.stat("rest-" + f.name + "-timeout"); {
		case o.ok && t.ok && o.median < 50*t.median && limit.ok && limit.median < 50*t.median:
			fmt.Fprintf(&b, "| %s | %.0f×; 50× is past the machine's limit, HTTP alone being %.0f× Mailman: mailman-go serves %.0f%% of it | **no**, out of reach here |\n", target, o.median/t.median, limit.median/t.median, 100*o.median/limit.median)
		case o.ok && t.ok:
			fmt.Fprintf(&b, "| %s | %.0f× | %s |\n", target, o.median/t.median, verdict(o.median >= 50*t.median))
		case o.ok && to.ok:
			fmt.Fprintf(&b, "| %s | Mailman timed out | yes |\n", target)
		case o.ok:
			fmt.Fprintf(&b, "| %s | Mailman not measured | – |\n", target)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// The two systems' REST sides.

func (o *ours) SetupRoster(n int) error {
	if _, err := o.ctl("lists", "create", rosterName(n)); err != nil {
		return err
	}
	file, err := memberFile(o.dir, n)
	if err != nil {
		return err
	}
	_, err = o.ctl("members", "add", rosterName(n), "--file", file)
	return err
}

func (o *ours) StartREST() error {
	if _, err := o.ctl("start", "rest"); err != nil {
		return err
	}
	return waitREST(o.RESTBase(), time.Minute)
}

func (o *ours) RESTBase() string { return fmt.Sprintf("http://127.0.0.1:%d/3.1", o.restPort) }

func (m *mailman) SetupRoster(n int) error {
	out, err := m.cli("lists", "-q")
	if err != nil {
		return err
	}
	if !containsField(out, rosterName(n)) {
		if _, err := m.cli("create", "-N", rosterName(n)); err != nil {
			return err
		}
		if _, err := m.cli("shell", "-l", rosterName(n), "-r", "benchlists.bench_settings"); err != nil {
			return err
		}
	}
	return m.addMembers(rosterName(n), n)
}

func containsField(s, f string) bool {
	for _, x := range bytes.Fields([]byte(s)) {
		if string(x) == f {
			return true
		}
	}
	return false
}

// StartREST starts Mailman whole (its REST runner is one of them, gunicorn
// under it) and waits until the API answers.
func (m *mailman) StartREST() error {
	if err := m.StartAll(); err != nil {
		return err
	}
	return waitREST(m.RESTBase(), 2*time.Minute)
}

func (m *mailman) RESTBase() string { return fmt.Sprintf("http://127.0.0.1:%d/3.1", m.restPort) }
