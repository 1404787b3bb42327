package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mailman-go/mailman/archive"
	archiverunner "github.com/mailman-go/mailman/runners/archive"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/runners/lmtp"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// queueRoot returns the folder holding the queues of cfg, and fails when
// it does not exist rather than creating queues for a configuration
// nothing uses.
func queueRoot(cfg *config.Config) (string, error) {
	root := cfg.Paths().Queues
	if _, err := os.Stat(root); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no queues in %s: nothing has run with this configuration yet (var_dir = %s)", root, cfg.VarDir())
		}
		return "", err
	}
	return root, nil
}

// openQueue opens a queue that a runner serves, by name.
func openQueue(root, name string) (*switchboard.Switchboard, error) {
	if !slices.Contains(config.QueueNames, name) || name == "shunt" || name == switchboard.BadQueue {
		return nil, fmt.Errorf("%q is not a queue a runner serves (queues: %s)", name, strings.Join(servedQueues(), ", "))
	}
	return switchboard.Open(root, name)
}

func servedQueues() []string {
	var qs []string
	for _, q := range config.QueueNames {
		if q != "shunt" && q != switchboard.BadQueue {
			qs = append(qs, q)
		}
	}
	return qs
}

func cmdQueues(e *env, args []string) error {
	fs, cfgPath := e.flags("queues")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return err
	}
	root, err := queueRoot(cfg)
	if err != nil {
		return err
	}
	counts := map[string]switchboard.Counts{}
	for _, name := range config.QueueNames {
		q, err := switchboard.Open(root, name)
		if err != nil {
			return err
		}
		c, err := q.Count()
		q.Close()
		if err != nil {
			return err
		}
		counts[name] = c
	}
	// After the queues, so that an entry published meanwhile is counted
	// once (see switchboard.JournalBacklog).
	journaled, err := switchboard.JournalBacklog(cfg.Paths().LMTPJournal)
	if err != nil {
		return err
	}
	backlog, err := archiveBacklog(root)
	if err != nil {
		return err
	}
	if *asJSON {
		totals := map[string]int{}
		for name, c := range counts {
			totals[name] = c.Total() + journaled[name]
		}
		for name, n := range backlog {
			totals["archive/"+name] = n
		}
		return writeJSON(e.stdout, totals)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tJOURNALED\tREADY\tDEFERRED\tIN FLIGHT\tPRESERVED\tTOTAL")
	for _, name := range config.QueueNames {
		c := counts[name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", name, journaled[name], c.Ready, c.Deferred, c.InFlight, c.Preserved, c.Total()+journaled[name])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printBacklog(e.stdout, backlog)
	return nil
}

// siteQueue opens the named queue of the site configured at cfgPath, and
// says where its queues are.
func (e *env) siteQueue(cfgPath, name string) (*switchboard.Switchboard, string, error) {
	cfg, err := e.config(cfgPath)
	if err != nil {
		return nil, "", err
	}
	root, err := queueRoot(cfg)
	if err != nil {
		return nil, "", err
	}
	q, err := switchboard.Open(root, name)
	return q, root, err
}

func cmdArchive(e *env, args []string) error {
	fs, cfgPath := e.flags("archive")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "retry" {
		return usageError{"archive takes one verb: retry"}
	}
	q, _, err := e.siteQueue(*cfgPath, "archive")
	if err != nil {
		return err
	}
	defer q.Close()
	n, err := archiverunner.RetryNow(q)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d posts to archive again now\n", n)
	return nil
}

// archiveBacklog is the archive queue's posts kept for each archiver that
// failed to take them.
func archiveBacklog(root string) (map[string]int, error) {
	q, err := switchboard.Open(root, "archive")
	if err != nil {
		return nil, err
	}
	defer q.Close()
	return archiverunner.Backlog(q)
}

// printBacklog says, for people, which archivers are behind.
func printBacklog(w io.Writer, backlog map[string]int) {
	for _, name := range archive.Names {
		if n := backlog[name]; n > 0 {
			fmt.Fprintf(w, "archiver %s: %d posts waiting to be archived again (see the log for why)\n", name, n)
		}
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdQfile(e *env, args []string) error {
	fs, _ := e.flags("qfile")
	asJSON := fs.Bool("json", false, "print one JSON object")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("need exactly one queue file")
	}
	entry, err := switchboard.ReadFile(rest[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, map[string]any{
			"entry":   entry.Name,
			"msgdata": entry.Msgdata,
			"message": string(entry.Message),
		})
	}
	fmt.Fprintf(e.stdout, "Entry: %s\nMetadata:\n", entry.Name)
	keys := make([]string, 0, len(entry.Msgdata))
	for k := range entry.Msgdata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(e.stdout, "    %s: %s\n", k, entry.Msgdata[k])
	}
	fmt.Fprintf(e.stdout, "Message (%d bytes):\n", len(entry.Message))
	_, err = e.stdout.Write(entry.Message)
	return err
}

func cmdInject(e *env, args []string) error {
	fs, cfgPath := e.flags("inject")
	queue := fs.String("queue", runners.DefaultWhichq, "queue to put the message in")
	list := fs.String("list", "", "the list the message is for (its posting address or list-id)")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usagef("at most one message file")
	}
	listID := ""
	if *list != "" {
		if _, err := store.ParseListIdentifier(*list); err != nil {
			return usagef("--list: %v", err)
		}
		st, err := e.openStore(*cfgPath)
		if err != nil {
			return err
		}
		l, err := st.FindList(context.Background(), *list)
		st.Close()
		if err != nil {
			return err
		}
		listID = l.ListID
	}
	var msg []byte
	if len(rest) == 0 || rest[0] == "-" {
		msg, err = io.ReadAll(e.stdin)
	} else {
		msg, err = os.ReadFile(rest[0])
	}
	if err != nil {
		return err
	}
	if len(msg) == 0 {
		return errors.New("the message is empty")
	}
	// As if the message had come in through the door for the queue's
	// sub-address (a post for incoming, -request for command).
	md := lmtp.Received(listID, len(msg), time.Now())
	if sub, ok := lmtp.SubaddressFor(*queue); ok {
		lmtp.Route(sub, md)
	}
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return err
	}
	q, err := openQueue(cfg.Paths().Queues, *queue)
	if err != nil {
		return err
	}
	defer q.Close()
	name, err := q.Enqueue(msg, md)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, name)
	return nil
}

func cmdUnshunt(e *env, args []string) error {
	fs, cfgPath := e.flags("unshunt")
	discard := fs.Bool("discard", false, "drop every shunt entry instead")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	shunt, root, err := e.siteQueue(*cfgPath, "shunt")
	if err != nil {
		return err
	}
	defer shunt.Close()
	done, err := runners.Unshunt(shunt, func(q string) (*switchboard.Switchboard, error) { return openQueue(root, q) }, *discard)
	if err != nil {
		return err
	}
	failed := 0
	for _, u := range done {
		switch {
		case u.Err != nil:
			failed++
			fmt.Fprintf(e.stderr, "cannot unshunt %s %s, skipping: %v\n", u.Entry, u.MessageID, u.Err)
		case *discard:
			fmt.Fprintf(e.stdout, "discarded %s %s\n", u.Entry, u.MessageID)
		default:
			fmt.Fprintf(e.stdout, "%s %s -> %s %s\n", u.Entry, u.MessageID, u.Queue, u.NewEntry)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d entries stayed in shunt", failed, len(done))
	}
	return nil
}
