package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
)

// results are one system's samples, by figure.
type results struct {
	name    string
	skipped string // why the system was not measured, if it was not
	samples map[string][]float64
}

func (r *results) add(figure string, v float64) {
	if r.samples == nil {
		r.samples = map[string][]float64{}
	}
	r.samples[figure] = append(r.samples[figure], v)
}

// stat is the median, smallest and largest of a figure's samples; ok is
// false when there are none.
type stat struct {
	median, min, max float64
	ok               bool
}

func (r *results) stat(figure string) stat {
	if r == nil {
		return stat{}
	}
	vs := slices.Clone(r.samples[figure])
	if len(vs) == 0 {
		return stat{}
	}
	slices.Sort(vs)
	med := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return stat{median: med, min: vs[0], max: vs[len(vs)-1], ok: true}
}

type report struct {
	config         config
	date           time.Time
	machine        string
	mailmanVersion string
	ours, mailman  *results
	floors         *results
}

// row is one line of the table: a figure, how to print it, and whether
// more is better.
type row struct {
	label, figure, unit string
	higher              bool
	noRatio             bool // a count, not a cost
	// rate turns a time into a rate for the ratio and the target
	// (recipients per second from seconds), when set.
	perSecond float64
}

func (s stat) format(unit string) string {
	if !s.ok {
		return "–"
	}
	f := func(v float64) string {
		switch {
		case v == float64(int64(v)):
			return fmt.Sprintf("%d", int64(v))
		case v >= 100:
			return fmt.Sprintf("%.0f", v)
		case v >= 10:
			return fmt.Sprintf("%.1f", v)
		default:
			return fmt.Sprintf("%.3g", v)
		}
	}
	if unit != "" {
		unit = " " + unit
	}
	return fmt.Sprintf("**%s**%s (%s–%s)", f(s.median), unit, f(s.min), f(s.max))
}

// ratio says how many times better ours is than theirs.
func ratio(ours, theirs stat, higher bool) string {
	if !ours.ok || !theirs.ok || ours.median == 0 || theirs.median == 0 {
		return "–"
	}
	x := ours.median / theirs.median
	if !higher {
		x = theirs.median / ours.median
	}
	return fmt.Sprintf("%.1f×", x)
}

// heading writes a generated section's title, the command and the
// machine, and returns Mailman's name for its columns.
func (r *report) heading(b *bytes.Buffer, title string) string {
	fmt.Fprintf(b, "## %s\n\n", title)
	fmt.Fprintf(b, "Measured %s by `make bench`, which ran:\n\n```sh\n%s\n```\n\n", r.date.Format("2006-01-02 15:04 UTC"), r.config.command)
	fmt.Fprintf(b, "Machine: %s.\n\n", r.machine)
	if r.mailmanVersion != "" {
		return "Mailman " + r.mailmanVersion
	}
	return "Mailman 3.3.8"
}

func (r *report) markdown() string {
	var b bytes.Buffer
	c := r.config
	mm := r.heading(&b, "The suite: this project beside Mailman and the machine's limits")
	if r.mailman.skipped != "" {
		fmt.Fprintf(&b, "**Mailman was %s.** Its columns are empty; the figures in the sections below, from earlier runs, give its anchors.\n\n", r.mailman.skipped)
	} else {
		fmt.Fprintf(&b, "Mailman: Debian's `mailman3` %s, a private instance with the stock settings (runner sleep_time 1 s, SQLite), run as the user list, in the same run.\n\n", r.mailmanVersion)
	}
	fmt.Fprintf(&b, "Each cell is the median of %d runs, with the smallest and largest in brackets. The same Go clients drive both systems: `internal/lmtpload` for LMTP (pipelined when the server offers PIPELINING, lock-step when not; Mailman does not offer it) and an SMTP sink (go-smtp) on the port both deliver to. Lists: `ingest` (no members), `one` (one member), and fan-out lists of %s members; any sender may post. Messages are about 3 KB. A ratio says how many times better mailman-go is: faster, or smaller.\n\n",
		c.reps, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(c.fanouts)), ", "), "[]"))

	fmt.Fprintf(&b, "### Ingest: the LMTP runner alone, %d messages a run, one recipient each\n\n", c.n)
	fmt.Fprintf(&b, "| connections | mailman-go | %s | ratio | durable files, same writers | LMTP, no storage | mailman-go / durable files |\n| --- | --- | --- | --- | --- | --- | --- |\n", mm)
	for _, w := range c.conns {
		fig := fmt.Sprintf("ingest-%d", w)
		o, t := r.ours.stat(fig), r.mailman.stat(fig)
		floor := r.floors.stat(fmt.Sprintf("durable-%d", w))
		frac := "–"
		if floor.ok && o.ok {
			frac = fmt.Sprintf("%.0f%%", 100*o.median/floor.median)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", w, o.format("msgs/s"), t.format("msgs/s"), ratio(o, t, true),
			floor.format("msgs/s"), r.floors.stat(fmt.Sprintf("nostore-%d", w)).format("msgs/s"), frac)
	}
	fmt.Fprintf(&b, "\nDurable files: a bare Go loop that creates, writes, fsyncs and renames each message's file and fsyncs the directory, with as many writers as connections (1 and 8 only), on the same file system. LMTP, no storage: the same client against a go-smtp LMTP server in the suite's process that reads each message and keeps nothing. Both floors take turns with this project's runs.\n\n")

	fmt.Fprintf(&b, "### Delivery, memory and start-up: every runner started\n\n")
	fmt.Fprintf(&b, "| figure | mailman-go | %s | ratio |\n| --- | --- | --- | --- |\n", mm)
	rows := []row{
		{label: fmt.Sprintf("end to end, median (%d posts %s apart, LMTP 250 to the sink)", c.posts, c.interval), figure: "e2e-p50", unit: "ms"},
		{label: "end to end, 99th percentile", figure: "e2e-p99", unit: "ms"},
	}
	for _, n := range c.fanouts {
		rows = append(rows, row{label: fmt.Sprintf("fan-out to %d members (250 until the sink has every copy)", n), figure: fmt.Sprintf("fanout-%d", n), unit: "s", perSecond: float64(n)})
		if n == c.personalized {
			rows = append(rows, row{label: fmt.Sprintf("fan-out to %d members, personalize individual (a copy and an SMTP transaction each)", n), figure: personalizedFigure(n), unit: "s", perSecond: float64(n)})
		}
	}
	rows = append(rows,
		row{label: "start-up: start until LMTP answers LHLO", figure: "startup", unit: "s"},
		row{label: fmt.Sprintf("memory idle, PSS summed (%s after start)", c.idle), figure: "idle-pss", unit: "MiB"},
		row{label: "memory idle, RSS summed", figure: "idle-rss", unit: "MiB"},
		row{label: "processes", figure: "processes", unit: "", noRatio: true},
		row{label: "memory during ingest, peak PSS (LMTP runner alone)", figure: "ingest-pss", unit: "MiB"},
		row{label: "memory during ingest, peak RSS", figure: "ingest-rss", unit: "MiB"},
	)
	for _, rw := range rows {
		o, t := r.ours.stat(rw.figure), r.mailman.stat(rw.figure)
		rt := ratio(o, t, rw.higher)
		if rw.noRatio {
			rt = "–"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", rw.label, o.format(rw.unit), t.format(rw.unit), rt)
		if rw.perSecond > 0 {
			rate := func(s stat) stat {
				if !s.ok {
					return s
				}
				return stat{median: rw.perSecond / s.median, min: rw.perSecond / s.max, max: rw.perSecond / s.min, ok: true}
			}
			ro, rt := rate(o), rate(t)
			fmt.Fprintf(&b, "| … as recipients per second | %s | %s | %s |\n", ro.format("rcpts/s"), rt.format("rcpts/s"), ratio(ro, rt, true))
		}
	}
	b.WriteString("\nMemory is summed over the process tree from /proc/PID/smaps_rollup. PSS counts the pages the processes share once, which is what they cost the machine; RSS counts them in each.\n\n")

	b.WriteString("### Against the targets\n\n| target | measured | met |\n| --- | --- | --- |\n")
	check := func(name, measured string, ok, known bool) {
		verdict := "–"
		if known {
			verdict = map[bool]string{true: "yes", false: "**no**"}[ok]
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, measured, verdict)
	}
	o8, t8, f8 := r.ours.stat("ingest-8"), r.mailman.stat("ingest-8"), r.floors.stat("durable-8")
	if o8.ok && t8.ok {
		check("ingest, 8 connections, ≥ 10× Mailman", fmt.Sprintf("%.1f×", o8.median/t8.median), o8.median >= 10*t8.median, true)
	} else {
		check("ingest, 8 connections, ≥ 10× Mailman", "Mailman not measured", false, false)
	}
	if o8.ok && f8.ok {
		check("ingest, 8 connections, above the 8-writer durable-file rate", fmt.Sprintf("%.0f%% of it", 100*o8.median/f8.median), o8.median > f8.median, true)
	}
	o1, f1 := r.ours.stat("ingest-1"), r.floors.stat("durable-1")
	if o1.ok && f1.ok {
		check("ingest, 1 connection, ≥ 80% of the 1-writer durable-file rate", fmt.Sprintf("%.0f%%", 100*o1.median/f1.median), o1.median >= 0.8*f1.median, true)
	}
	if p50 := r.ours.stat("e2e-p50"); p50.ok {
		check("end to end, median under 20 ms", fmt.Sprintf("%.1f ms", p50.median), p50.median < 20, true)
	}
	if p99 := r.ours.stat("e2e-p99"); p99.ok {
		check("end to end, 99th percentile under 100 ms", fmt.Sprintf("%.1f ms", p99.median), p99.median < 100, true)
	}
	fo, ft := r.ours.stat("fanout-10000"), r.mailman.stat("fanout-10000")
	if fo.ok && ft.ok {
		check("fan-out to 10,000, ≥ 5× Mailman's recipients per second", fmt.Sprintf("%.1f×", ft.median/fo.median), ft.median >= 5*fo.median, true)
	}
	if pss := r.ours.stat("idle-pss"); pss.ok {
		check("under 60 MB PSS in all, idle", fmt.Sprintf("%.1f MiB", pss.median), pss.median < 60, true)
	}
	b.WriteString("\n")
	return b.String()
}
