package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mailman-go/mailman/digest"
	"github.com/mailman-go/mailman/store"
)

// digestReport is one list's line of mailmanctl digests.
type digestReport struct {
	List    string `json:"list_id"`
	Waiting int    `json:"posts_waiting"`
	Bytes   int64  `json:"bytes_waiting"`
	Volume  int    `json:"volume"`
	Number  int    `json:"next_digest_number"`
	Done    string `json:"done"`
}

// cmdDigests is Mailman's `mailman digests`: it shows each list's digest,
// and sends (--send: whatever its size; --periodic: for the lists that
// send periodically) or starts a new volume (--bump), as the scheduler
// and the REST API do, through digest.Sender.
func cmdDigests(e *env, args []string) error {
	fs, cfgPath := e.flags("digests")
	var lists multiFlag
	fs.Var(&lists, "list", "a list (posting address or list-id); repeat for more; default: every list")
	send := fs.Bool("send", false, "send each list's digest now, whatever its size")
	periodic := fs.Bool("periodic", false, "send the digests of the lists with digest_send_periodic, as the scheduler does")
	bump := fs.Bool("bump", false, "start a new volume, numbered from 1")
	dryRun := fs.Bool("dry-run", false, "show what would be done, and do nothing")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *send && *periodic {
		return usagef("--send and --periodic exclude each other")
	}
	cfg, st, err := e.openSite(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	var chosen []*store.List
	if len(lists) == 0 {
		if chosen, err = st.Lists(ctx); err != nil {
			return err
		}
	}
	for _, name := range lists {
		id, err := store.ParseListIdentifier(name)
		if err != nil {
			return usageError{err.Error()}
		}
		l, err := st.FindList(ctx, id)
		if err != nil {
			return err
		}
		chosen = append(chosen, l)
	}
	var sender *digest.Sender
	if !*dryRun && (*send || *periodic || *bump) {
		virgin, _, err := e.siteQueue(*cfgPath, "virgin")
		if err != nil {
			return err
		}
		defer virgin.Close()
		log, closeLog, err := siteLog(cfg)
		if err != nil {
			return err
		}
		defer closeLog()
		sender = digest.NewSender(st, virgin, cfg.Mailman.SiteOwner, log)
	}
	now := time.Now()
	var reports []digestReport
	for _, l := range chosen {
		r, err := digestList(ctx, st, sender, l, now, *send, *periodic, *bump)
		if err != nil {
			return fmt.Errorf("%s: %w", l.ListID, err)
		}
		reports = append(reports, r)
	}
	if *asJSON {
		if reports == nil {
			reports = []digestReport{}
		}
		return writeJSON(e.stdout, reports)
	}
	t := newTable(e.stdout, "LIST", "WAITING", "BYTES", "NEXT ISSUE", "DONE")
	for _, r := range reports {
		t.row(r.List, r.Waiting, r.Bytes, fmt.Sprintf("vol %d, no %d", r.Volume, r.Number), r.Done)
	}
	return t.flush()
}

// digestList does to one list what the flags ask; a nil sender only says
// what it would do.
func digestList(ctx context.Context, st *store.Store, sender *digest.Sender, l *store.List, now time.Time, send, periodic, bump bool) (digestReport, error) {
	r := digestReport{List: l.ListID, Done: "-"}
	var err error
	if r.Waiting, r.Bytes, err = st.DigestWaiting(ctx, l.ListID); err != nil {
		return r, err
	}
	set, err := st.DigestSettings(ctx, l.ListID)
	if err != nil {
		return r, err
	}
	n, err := st.DigestNumbers(ctx, l.ListID)
	if err != nil {
		return r, err
	}
	if bump {
		n = digest.Bumped(n, now)
		r.Done = fmt.Sprintf("would start volume %d", n.Volume)
		if sender != nil {
			if n, err = sender.Bump(ctx, l, now); err != nil {
				return r, err
			}
			r.Done = fmt.Sprintf("started volume %d", n.Volume)
		}
	}
	if (send || (periodic && set.SentPeriodically())) && r.Waiting > 0 {
		vol, num := digest.Numbers(set.Frequency, n, now)
		r.Done = fmt.Sprintf("would send vol %d, no %d (%d posts)", vol, num, r.Waiting)
		if sender != nil {
			sent, err := sender.Send(ctx, l, now, "forced")
			if err != nil {
				return r, err
			}
			r.Done = "sent"
			for _, is := range sent {
				r.Done += fmt.Sprintf(" vol %d, no %d (%d posts)", is.Volume, is.Number, is.Posts)
			}
			if n, err = st.DigestNumbers(ctx, l.ListID); err != nil {
				return r, err
			}
			r.Waiting, r.Bytes = 0, 0
		}
	}
	r.Volume, r.Number = n.Volume, n.Number
	return r, nil
}
