package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mailman-go/mailman/bounce"
	"github.com/mailman-go/mailman/store"
)

// scanned is one file as `bounces scan --json` prints it.
type scanned struct {
	File string `json:"file"`
	bounce.Report
	Error string `json:"error,omitempty"`
}

// cmdBouncesScan reads bounce files as the bounces runner reads them: the
// administrator's "why was this bounce ignored?".
func cmdBouncesScan(e *env, args []string) error {
	fs, _ := e.flags("bounces scan")
	asJSON := fs.Bool("json", false, "print a JSON array")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("need one or more message files")
	}
	var out []scanned
	failed := 0
	for _, f := range files {
		s := scanned{File: f, Report: bounce.Report{Failures: []bounce.Failure{}}}
		raw, err := os.ReadFile(f)
		if err == nil {
			s.Report, err = bounce.Scan(raw)
		}
		if err != nil {
			s.Error, failed = err.Error(), failed+1
		}
		out = append(out, s)
	}
	if *asJSON {
		if err := writeJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		t := newTable(e.stdout, "FILE", "ADDRESS", "FAILURE", "STATUS", "DETECTOR", "DIAGNOSTIC")
		for _, s := range out {
			switch {
			case s.Error != "":
				t.row(s.File, "-", "unreadable", "-", "-", s.Error)
			case len(s.Complaints) > 0:
				for _, c := range s.Complaints {
					t.row(s.File, c.Address, "complaint", "-", "feedback report", c.Type)
				}
			case len(s.Failures) == 0:
				t.row(s.File, "-", "none found", "-", "-", "forwarded as forward_unrecognized_bounces_to says")
			}
			for _, f := range s.Failures {
				kind := "temporary"
				if f.Permanent {
					kind = "permanent"
				}
				if f.Policy() {
					kind += " (policy: not scored)"
				}
				t.row(s.File, f.Address, kind, f.Status, s.Detector, f.Diagnostic)
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files could not be read", failed, len(files))
	}
	return nil
}

// memberShown is a member with its bounce history, as `members show
// --json` prints it.
type memberShown struct {
	*store.Member
	Bounces []store.BounceEvent `json:"bounces"`
}

func cmdMembersShow(e *env, args []string) error {
	fs, cfgPath := e.flags("members show")
	role := roleFlag(fs)
	asJSON := fs.Bool("json", false, "print a JSON object")
	a, rest, st, err := listCommand(e, fs, cfgPath, args, 1, 1)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := store.ParseRole(*role)
	if err != nil {
		return usageError{err.Error()}
	}
	ctx := context.Background()
	m, err := st.Member(ctx, a.ListID(), rest[0], r)
	if err != nil {
		return err
	}
	bs, err := st.MemberBounces(ctx, a.ListID(), m.Address)
	if err != nil {
		return err
	}
	if *asJSON {
		if bs == nil {
			bs = []store.BounceEvent{}
		}
		return writeJSON(e.stdout, memberShown{m, bs})
	}
	t := newTable(e.stdout, "SETTING", "VALUE")
	for _, row := range [][2]any{
		{"address", m.Address}, {"display_name", m.DisplayName}, {"role", m.Role},
		{"delivery_status", m.DeliveryStatus}, {"delivery_mode", m.DeliveryMode},
		{"moderation_action", m.ModerationAction}, {"bounce_score", m.BounceScore},
		{"last_bounce_received", formatTime(m.LastBounceReceived)}, {"last_warning_sent", formatTime(m.LastWarningSent)},
		{"total_warnings_sent", m.TotalWarningsSent}, {"subscribed_at", m.SubscribedAt.Format(time.RFC3339)},
	} {
		t.row(row[0], row[1])
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(bs) == 0 {
		fmt.Fprintln(e.stdout, "\nNo bounces")
		return nil
	}
	fmt.Fprintln(e.stdout, "\nBounces:")
	t = newTable(e.stdout, "AT", "KIND", "STATUS", "MESSAGE-ID", "REASON")
	for _, b := range bs {
		t.row(b.At.Local().Format("2006-01-02 15:04"), b.Kind, b.Status, b.MessageID, strings.TrimSpace(b.Reason))
	}
	return t.flush()
}
