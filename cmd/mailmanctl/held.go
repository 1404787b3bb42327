package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/master"
	"github.com/mailman-go/mailman/moderation"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// heldJSON is a held post as `held list --json` prints it.
type heldJSON struct {
	ID      int64     `json:"id"`
	List    string    `json:"list"`
	Sender  string    `json:"sender"`
	Subject string    `json:"subject"`
	Reasons []string  `json:"reasons"`
	HeldAt  time.Time `json:"held_at"`
}

func cmdHeldList(e *env, args []string) error {
	fs, cfgPath := e.flags("held list")
	asJSON := fs.Bool("json", false, "print a JSON array")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usagef("wrong number of arguments")
	}
	if len(rest) == 1 {
		if _, err := store.ParseListIdentifier(rest[0]); err != nil {
			return usageError{err.Error()}
		}
	}
	st, err := e.openStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	listID := ""
	if len(rest) == 1 {
		l, err := st.FindList(ctx, rest[0])
		if err != nil {
			return err
		}
		listID = l.ListID
	}
	hs, err := st.HeldMessages(ctx, listID)
	if err != nil {
		return err
	}
	if *asJSON {
		out := []heldJSON{}
		for _, h := range hs {
			out = append(out, heldJSON{h.ID, h.ListID, h.Sender, h.Subject, h.Reasons, h.HeldAt.UTC()})
		}
		return writeJSON(e.stdout, out)
	}
	if len(hs) == 0 {
		fmt.Fprintln(e.stdout, "No held messages")
		return nil
	}
	t := newTable(e.stdout, "ID", "LIST", "SENDER", "SUBJECT", "HELD", "REASONS")
	for _, h := range hs {
		t.row(h.ID, h.ListID, h.Sender, h.Subject, h.HeldAt.Local().Format("2006-01-02 15:04"), strings.Join(h.Reasons, "; "))
	}
	return t.flush()
}

// heldCommand parses ID and opens the store.
func heldCommand(e *env, name string, args []string, extra func(fs *flag.FlagSet)) (int64, *store.Store, *config.Config, error) {
	fs, cfgPath := e.flags(name)
	if extra != nil {
		extra(fs)
	}
	rest, err := parseArgs(fs, args)
	if err != nil {
		return 0, nil, nil, err
	}
	if len(rest) != 1 {
		return 0, nil, nil, usagef("wrong number of arguments")
	}
	id, err := strconv.ParseInt(rest[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, nil, nil, usagef("%q is not a held message's id (see mailmanctl held list)", rest[0])
	}
	cfg, st, err := e.openSite(*cfgPath)
	return id, st, cfg, err
}

func cmdHeldShow(e *env, args []string) error {
	id, st, _, err := heldCommand(e, "held show", args, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	h, err := st.HeldMessage(context.Background(), id)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Held message %d for %s, from %s, held %s\nReasons: %s\n\n", h.ID, h.ListID, terminalSafe(h.Sender),
		h.HeldAt.Local().Format(time.RFC1123Z), terminalSafe(strings.Join(h.Reasons, "; ")))
	// The post as received, but for what a terminal would act on.
	for line := range strings.Lines(string(h.Message)) {
		text, end := strings.CutSuffix(line, "\n")
		text, cr := strings.CutSuffix(text, "\r")
		io.WriteString(e.stdout, terminalSafe(text))
		if cr {
			io.WriteString(e.stdout, "\r")
		}
		if end {
			io.WriteString(e.stdout, "\n")
		}
	}
	return nil
}

// moderate carries out a decision on held message id.
func moderate(e *env, name string, args []string, extra func(fs *flag.FlagSet), decide func(*moderation.Moderator, int64) (*store.HeldMessage, error), done string) error {
	id, st, cfg, err := heldCommand(e, name, args, extra)
	if err != nil {
		return err
	}
	defer st.Close()
	root := cfg.Paths().Queues
	pipeline, err := switchboard.Open(root, "pipeline")
	if err != nil {
		return err
	}
	defer pipeline.Close()
	virgin, err := switchboard.Open(root, "virgin")
	if err != nil {
		return err
	}
	defer virgin.Close()
	log, closeLog, err := siteLog(cfg)
	if err != nil {
		return err
	}
	defer closeLog()
	h, err := decide(&moderation.Moderator{Store: st, Pipeline: pipeline, Virgin: virgin, Log: log}, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s held message %d (%s, from %s)\n", done, h.ID, h.ListID, h.Sender)
	return nil
}

func cmdHeldAccept(e *env, args []string) error {
	return moderate(e, "held accept", args, nil, func(m *moderation.Moderator, id int64) (*store.HeldMessage, error) {
		return m.Accept(context.Background(), id)
	}, "Accepted")
}

func cmdHeldReject(e *env, args []string) error {
	var reason *string
	return moderate(e, "held reject", args, func(fs *flag.FlagSet) {
		reason = fs.String("reason", "", "why, for the sender")
	}, func(m *moderation.Moderator, id int64) (*store.HeldMessage, error) {
		return m.Reject(context.Background(), id, *reason)
	}, "Rejected")
}

func cmdHeldDiscard(e *env, args []string) error {
	return moderate(e, "held discard", args, nil, func(m *moderation.Moderator, id int64) (*store.HeldMessage, error) {
		return m.Discard(context.Background(), id)
	}, "Discarded")
}

// siteLog is a logger appending to the site's log, for a command that
// changes something a runner would have logged (a moderator's decision):
// its lines say mailmanctl made it, and which user ran it.
func siteLog(cfg *config.Config) (*slog.Logger, func(), error) {
	f, err := master.OpenLog(cfg.Paths().Log)
	if err != nil {
		return nil, nil, err
	}
	who := os.Getenv("SUDO_USER")
	if u, err := user.Current(); err == nil && who == "" {
		who = u.Username
	}
	log := slog.New(slog.NewTextHandler(f, nil)).With("runner", "mailmanctl", "pid", os.Getpid(), "user", who)
	return log, func() { f.Close() }, nil
}
