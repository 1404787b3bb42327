package lmtp

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// runner is the LMTP runner: a server, with no queue of its own, filling
// the queues of Queues through its journal.
type runner struct {
	cfg     *config.Config
	store   *store.Store
	journal *switchboard.Journal
	log     *slog.Logger
}

// Build is the LMTP runner's builder. The journal it opens puts into the
// queues what a killed predecessor acknowledged, before the port opens.
func Build(s *runners.Site) (runners.Runner, error) {
	st, err := s.Store()
	if err != nil {
		return nil, err
	}
	journal, err := openJournal(s.Config, func(err error) { s.Log.Error("journal", "error", err) })
	if err != nil {
		return nil, err
	}
	s.OnClose(journal.Close)
	return &runner{cfg: s.Config, store: st, journal: journal, log: s.Log}, nil
}

// Run serves LMTP until ctx ends, then leaves time, within the master's
// stop_timeout, for the transactions in progress to finish; the MTA
// retries what is cut short.
func (r *runner) Run(ctx context.Context, ready func()) error {
	ls, err := Listen(r.cfg.MTA.LMTPHost, r.cfg.MTA.LMTPPort, r.cfg.MTA.LMTPSocket)
	if err != nil {
		return err
	}
	srv := New(r.cfg, r.store, r.journal, r.log)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ls) }()
	r.log.Info("listening", "listen", ls[0].Addr().String(), "socket", r.cfg.MTA.LMTPSocket)
	ready()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), r.cfg.Master.StopTimeout.D()*8/10)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// openJournal opens the LMTP runner's journal in front of the queues it
// fills, which puts into them whatever a killed runner acknowledged. The
// journal closes its queues when it closes.
func openJournal(cfg *config.Config, onError func(error)) (*switchboard.Journal, error) {
	paths := cfg.Paths()
	queues := map[string]*switchboard.Switchboard{}
	for _, name := range Queues {
		q, err := switchboard.Open(paths.Queues, name)
		if err != nil {
			for _, q := range queues {
				q.Close()
			}
			return nil, err
		}
		queues[name] = q
	}
	return switchboard.OpenJournal(paths.LMTPJournal, switchboard.DefaultJournalSize, queues, onError)
}

// PublishJournal puts into their queues the entries a killed LMTP runner's
// journal holds, when no runner holds it: the master does it before
// runners start and after they stop, so that queues never hide an
// acknowledged message in a journal.
func PublishJournal(cfg *config.Config) error {
	if _, err := os.Stat(cfg.Paths().LMTPJournal); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	j, err := openJournal(cfg, func(err error) { errs = append(errs, err) })
	if err != nil {
		return err
	}
	return errors.Join(append(errs, j.Close())...)
}
