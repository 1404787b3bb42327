// Command mailman-bench is the benchmark suite `make bench` runs. It
// measures this project and GNU Mailman 3.3.8 (Debian's mailman3, installed
// when it can be) with the same load clients in the same run, beside this
// machine's own limits, and writes the table into docs/benchmarks.md:
//
//   - durable LMTP ingest with 1, 8 and 32 connections, the LMTP runner
//     alone, and memory during it;
//   - the floors: durable files written by a bare loop with 1 and 8
//     writers, and LMTP with no storage at all;
//   - end-to-end latency, from the 250 to the SMTP sink, one post at a
//     time to a list of one member, every runner started;
//   - fan-out to lists of 1,000 and 10,000 members;
//   - start-up (start until LMTP answers) and idle memory;
//   - with -suite rest (or all), the REST API on a list of 100,000
//     members under 20 clients: a page of members/find, lists/{id},
//     held/count and the whole roster, in their own table.
//
// Each figure is run several times and reported as the median with the
// smallest and largest. Where Mailman cannot be measured, the table says
// why and still shows this project's figures.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailman-go/mailman/internal/gendoc"
)

// config is what a run measures, from the flags.
type config struct {
	bin        string
	out        string
	dir        string
	mailmanDir string
	mailman    string // "auto" or "off"
	reps       int
	n          int
	conns      []int
	floorConns []int
	posts      int
	interval   time.Duration
	fanouts    []int
	// personalized is the fan-out list (one of fanouts) also measured
	// with personalize individual; 0 for none.
	personalized int
	idle         time.Duration
	command      string
	// suite is mail (ingest, delivery, memory), rest (the REST API) or
	// all.
	suite        string
	rosterSize   int
	restClients  int
	restRequests int
	restTimeout  time.Duration
}

func main() {
	var c config
	var conns, fanouts string
	flag.StringVar(&c.bin, "bin", "bin/mailmanctl", "the mailmanctl binary to measure")
	flag.StringVar(&c.out, "out", "docs/benchmarks.md", "the file whose generated section is rewritten; - prints the section")
	flag.StringVar(&c.dir, "dir", ".bench-tmp", "where this project's site and the floor's files go (on the disk measured)")
	flag.StringVar(&c.mailmanDir, "mailman-dir", "/var/tmp/mailman-bench", "where Mailman's private instance is kept between runs")
	flag.StringVar(&c.mailman, "mailman", "auto", "auto: install and measure Mailman where possible; off: this project only")
	flag.IntVar(&c.reps, "reps", 3, "runs of each figure")
	flag.IntVar(&c.n, "n", 2000, "messages per ingest run")
	flag.StringVar(&conns, "conns", "1,8,32", "LMTP connections of the ingest runs")
	flag.IntVar(&c.posts, "posts", 50, "posts per end-to-end run")
	flag.DurationVar(&c.interval, "interval", 200*time.Millisecond, "time between end-to-end posts")
	flag.StringVar(&fanouts, "fanout", "1000,10000", "members of the fan-out lists")
	flag.IntVar(&c.personalized, "personalized", 10000, "the fan-out list also measured with personalize individual (a copy and a transaction for each member); 0 for none")
	flag.DurationVar(&c.idle, "idle", 15*time.Second, "how long after start idle memory is read")
	flag.StringVar(&c.suite, "suite", "all", "mail (ingest, delivery, memory), rest (the REST API), or all")
	flag.IntVar(&c.rosterSize, "roster", 100000, "members of the REST figures' list")
	flag.IntVar(&c.restClients, "rest-clients", 20, "REST clients at once")
	flag.IntVar(&c.restRequests, "rest-requests", 400, "REST requests a run")
	flag.DurationVar(&c.restTimeout, "rest-timeout", 360*time.Second, "a REST request taking longer counts as timed out (Mailman's gunicorn timeout)")
	flag.Parse()
	if c.suite != "mail" && c.suite != "rest" && c.suite != "all" {
		log.Fatalf("-suite %q: mail, rest or all", c.suite)
	}
	var err error
	if c.conns, err = ints(conns); err != nil {
		log.Fatalf("-conns: %v", err)
	}
	if c.fanouts, err = ints(fanouts); err != nil {
		log.Fatalf("-fanout: %v", err)
	}
	if c.personalized != 0 && !slices.Contains(c.fanouts, c.personalized) {
		log.Fatalf("-personalized %d: not one of -fanout %s", c.personalized, fanouts)
	}
	for _, n := range c.conns {
		if n <= 8 {
			c.floorConns = append(c.floorConns, n)
		}
	}
	c.command = "mailman-bench " + strings.Join(os.Args[1:], " ")
	r, err := run(c, func(format string, args ...any) { log.Printf(format, args...) })
	if err != nil {
		log.Fatal(err)
	}
	sections := map[string]string{}
	if c.suite != "rest" {
		sections["bench"] = r.markdown()
	}
	if c.suite != "mail" {
		sections["bench-rest"] = r.restMarkdown()
	}
	for _, target := range []string{"bench", "bench-rest"} {
		section, ok := sections[target]
		if !ok {
			continue
		}
		if c.out == "-" {
			fmt.Print(section)
			continue
		}
		if err := gendoc.WriteSection(c.out, target, "Benchmarks", section); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote the %s table into %s", target, c.out)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// run measures everything config asks for.
func run(c config, logf func(string, ...any)) (*report, error) {
	dir, err := filepath.Abs(c.dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &report{config: c, date: time.Now().UTC(), machine: gendoc.Machine(dir)}

	// The floors and this project take turns run by run, so that the
	// disk's drift, which on a shared machine is larger than the
	// differences measured, falls on both alike.
	smtpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	ourDir := filepath.Join(dir, "site")
	os.RemoveAll(ourDir)
	o, err := newOurs(c.bin, ourDir, smtpPort)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(ourDir)
	r.ours = &results{name: o.Name()}
	r.floors = &results{name: "floors"}
	if c.suite != "rest" {
		if err := measureMail(c, o, r, smtpPort, logf); err != nil {
			return nil, err
		}
	}
	if c.suite != "mail" {
		if err := measureREST(c, o, r.ours, logf); err != nil {
			return nil, err
		}
		if err := measureRESTLimit(c, r.ours, r.floors, logf); err != nil {
			return nil, err
		}
	}

	r.mailman = &results{name: "Mailman 3.3.8"}
	if c.mailman == "off" {
		r.mailman.skipped = "not measured in this run (-mailman off)"
		return r, nil
	}
	version, err := installMailman(logf)
	if err != nil {
		r.mailman.skipped = "not measured: " + err.Error()
		logf("Mailman: %s", r.mailman.skipped)
		return r, nil
	}
	r.mailmanVersion = version
	m, err := newMailman(c.mailmanDir, smtpPort)
	if err != nil {
		return nil, err
	}
	m.Stop() // one left running by a run that was interrupted
	if c.suite != "rest" {
		logf("%s: setting up the lists (once; 10,000 members take Mailman minutes)", m.Name())
		if err := m.Setup(c.fanouts); err != nil {
			return nil, err
		}
		if err := m.ClearIngest(0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if err := measureIngest(c, m, r.mailman, logf, nil); err != nil {
			return nil, err
		}
		if err := measureRunning(c, m, r.mailman, smtpPort, logf); err != nil {
			return nil, err
		}
	}
	if c.suite != "mail" {
		if err := measureREST(c, m, r.mailman, logf); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// measureMail runs this project's mail figures, its floors beside them.
func measureMail(c config, o *ours, r *report, smtpPort int, logf func(string, ...any)) error {
	logf("%s: setting up the lists", o.Name())
	if err := o.Setup(c.fanouts); err != nil {
		return err
	}
	discard, err := startDiscardLMTP()
	if err != nil {
		return err
	}
	defer discard.Close()
	if err := measureIngest(c, o, r.ours, logf, func(rep int) error {
		for _, w := range c.floorConns {
			rate, err := durableFiles(o.queueDir(), fmt.Sprintf("%d-%d", rep, w), c.n, w)
			if err != nil {
				return fmt.Errorf("durable-file floor: %w", err)
			}
			r.floors.add(fmt.Sprintf("durable-%d", w), rate)
		}
		for _, w := range c.conns {
			rate, err := ingest(discard.addr, "ingest@example.com", fmt.Sprintf("nostore-%d-%d", rep, w), c.n, w)
			if err != nil {
				return fmt.Errorf("no-storage floor: %w", err)
			}
			r.floors.add(fmt.Sprintf("nostore-%d", w), rate)
		}
		return nil
	}); err != nil {
		return err
	}
	return measureRunning(c, o, r.ours, smtpPort, logf)
}

// measureIngest runs the ingest figures of s with its LMTP runner alone,
// calling between, when set, after each rep.
func measureIngest(c config, s server, res *results, logf func(string, ...any), between func(rep int) error) error {
	logf("%s: ingest, %d messages a run, connections %v, %d runs", s.Name(), c.n, c.conns, c.reps)
	if err := s.StartLMTP(); err != nil {
		return err
	}
	defer s.Stop()
	for rep := 1; rep <= c.reps; rep++ {
		for _, w := range c.conns {
			mem := sample(s.Roots, 100*time.Millisecond)
			rate, err := ingest(s.LMTPAddr(), "ingest@example.com", fmt.Sprintf("%s-ingest-%d-%d-%d", tag(s), rep, w, time.Now().UnixNano()), c.n, w)
			peak := mem.Peak()
			if err != nil {
				return fmt.Errorf("%s ingest: %w", s.Name(), err)
			}
			res.add(fmt.Sprintf("ingest-%d", w), rate)
			res.add("ingest-pss", peak.PSS)
			res.add("ingest-rss", peak.RSS)
			logf("%s: ingest with %d connection(s): %.0f msgs/s", s.Name(), w, rate)
			if err := s.ClearIngest(c.n); err != nil {
				return err
			}
		}
		if between != nil {
			if err := between(rep); err != nil {
				return err
			}
		}
	}
	return nil
}

// measureRunning runs, with every runner started, the start-up, idle
// memory, end-to-end and fan-out figures of s.
func measureRunning(c config, s server, res *results, smtpPort int, logf func(string, ...any)) error {
	k, err := startSink(smtpPort)
	if err != nil {
		return err
	}
	defer k.Close()
	for rep := 1; rep <= c.reps; rep++ {
		t0 := time.Now()
		started := make(chan error, 1)
		go func() { started <- s.StartAll() }()
		ready, err := waitLMTP(s.LMTPAddr(), 2*time.Minute)
		if err != nil {
			return err
		}
		if err := <-started; err != nil {
			return err
		}
		res.add("startup", ready.Sub(t0).Seconds())
		time.Sleep(c.idle)
		roots, err := s.Roots()
		if err != nil {
			return err
		}
		mem, err := treeMemory(roots)
		if err != nil {
			return err
		}
		res.add("idle-pss", mem.PSS)
		res.add("idle-rss", mem.RSS)
		res.add("processes", float64(mem.Procs))
		logf("%s: ready in %.3f s; idle %.1f MiB PSS, %.1f MiB RSS in %d processes", s.Name(), ready.Sub(t0).Seconds(), mem.PSS, mem.RSS, mem.Procs)
		if rep < c.reps {
			if err := s.Stop(); err != nil {
				return err
			}
		}
	}
	defer s.Stop()
	for rep := 1; rep <= c.reps; rep++ {
		lat, err := endToEnd(s.LMTPAddr(), k, "one@example.com", fmt.Sprintf("%s-e2e-%d-%d", tag(s), rep, time.Now().UnixNano()), c.posts, c.interval)
		if err != nil {
			return fmt.Errorf("%s end to end: %w", s.Name(), err)
		}
		res.add("e2e-p50", ms(lat.p50))
		res.add("e2e-p99", ms(lat.p99))
		logf("%s: end to end p50 %.1f ms, p99 %.1f ms", s.Name(), ms(lat.p50), ms(lat.p99))
	}
	for _, n := range c.fanouts {
		for rep := 1; rep <= c.reps; rep++ {
			d, err := fanout(s.LMTPAddr(), k, listName(n), fmt.Sprintf("%s-fan%d-%d-%d", tag(s), n, rep, time.Now().UnixNano()), n)
			if err != nil {
				return fmt.Errorf("%s fan-out to %d: %w", s.Name(), n, err)
			}
			res.add(fmt.Sprintf("fanout-%d", n), d.Seconds())
			logf("%s: fan-out to %d in %.2f s", s.Name(), n, d.Seconds())
		}
	}
	if n := c.personalized; n > 0 {
		if err := s.Personalize(listName(n), "individual"); err != nil {
			return err
		}
		for rep := 1; rep <= c.reps; rep++ {
			d, err := fanout(s.LMTPAddr(), k, listName(n), fmt.Sprintf("%s-fan%dp-%d-%d", tag(s), n, rep, time.Now().UnixNano()), n)
			if err != nil {
				return fmt.Errorf("%s personalized fan-out to %d: %w", s.Name(), n, err)
			}
			res.add(personalizedFigure(n), d.Seconds())
			logf("%s: personalized fan-out to %d in %.2f s", s.Name(), n, d.Seconds())
		}
		// Mailman's instance is kept between runs.
		if err := s.Personalize(listName(n), "none"); err != nil {
			return err
		}
	}
	return nil
}

// personalizedFigure names the personalized fan-out to n members.
func personalizedFigure(n int) string { return fmt.Sprintf("fanout-%d-individual", n) }

func tag(s server) string {
	if _, ok := s.(*ours); ok {
		return "go"
	}
	return "mm3"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
