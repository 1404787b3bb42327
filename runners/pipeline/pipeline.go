// Package pipeline is the runner of the pipeline and virgin queues: it
// prepares an accepted post for delivery (who gets it, the headers list
// mail carries, the subject prefix, the post's number) and hands it to the
// outgoing queue; messages the system wrote itself take a shorter way.
//
// Handlers are small named steps listed in tables, as Mailman's are; a new
// handler is one function and one line in a table. The package knows the
// store and the switchboard; it delivers nothing itself.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mailman-go/mailman/archive"
	"github.com/mailman-go/mailman/digest"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// post is one message going through a pipeline.
type post struct {
	list     *store.List
	msg      *message.Message
	md       switchboard.Msgdata
	store    *store.Store
	now      time.Time
	virgin   bool
	entry    string // the outgoing entry, once queued
	outgoing *switchboard.Switchboard
	// The site's archivers, the archive queue, and the archivers of the
	// list, once listArchivers has read them.
	site          *archive.Site
	archive       *switchboard.Switchboard
	archivers     []archive.Archiver
	archiversRead bool
	// The digests the post goes into, and the queue entry that carries
	// it: a post is added to a digest once for it.
	digests *digest.Sender
	source  string
	// noDigestReaders says memberRecipients found no member taking the
	// digest: the post need not be kept for one.
	noDigestReaders bool
}

type handler struct {
	name string
	run  func(ctx context.Context, p *post) error
}

var (
	postingPipeline = []handler{
		{"member-recipients", memberRecipients},
		{"avoid-duplicates", avoidDuplicates},
		{"cleanse", cleanse},
		{"cook-headers", cookHeaders},
		// Numbered before the prefix shows the number: the list was read
		// when the post began, and another pipeline (another host's, on a
		// shared database) may have numbered a post since.
		{"after-delivery", afterDelivery},
		{"subject-prefix", subjectPrefix},
		{"rfc-2369", rfc2369},
		{"to-archive", toArchive},
		{"to-digest", toDigest},
		{"dmarc", dmarcStep},
		{"to-outgoing", toOutgoing},
	}
	ownerPipeline = []handler{
		{"owner-recipients", ownerRecipients},
		{"to-outgoing", toOutgoing},
	}
	virginPipeline = []handler{
		{"cook-headers", cookHeaders},
		{"rfc-2369", rfc2369},
		{"to-outgoing", toOutgoing},
	}
)

// Handler is the pipeline runner's.
type Handler struct {
	Store    *store.Store
	Outgoing *switchboard.Switchboard
	// Archive is the archive queue, and Archivers the site's archivers:
	// their links go into List-Archive and Archived-At.
	Archive   *switchboard.Switchboard
	Archivers *archive.Site
	// Digests collects the posts for the lists' digests; nil collects
	// none.
	Digests *digest.Sender
	Now     func() time.Time // nil means time.Now
}

// New is the pipeline runner's handler for a site.
func New(s *runners.Site) (runners.Handler, error) {
	st, out, err := storeAndOutgoing(s)
	if err != nil {
		return nil, err
	}
	arch, err := s.Queue("archive")
	if err != nil {
		return nil, err
	}
	virgin, err := s.Queue("virgin")
	if err != nil {
		return nil, err
	}
	// The pipeline asks the archivers for links only, never to archive.
	return &Handler{Store: st, Outgoing: out, Archive: arch, Archivers: archive.NewSite(s.Config, nil),
		Digests: digest.NewSender(st, virgin, s.Config.Mailman.SiteOwner, s.Log)}, nil
}

// NewVirgin is the virgin runner's handler for a site.
func NewVirgin(s *runners.Site) (runners.Handler, error) {
	st, out, err := storeAndOutgoing(s)
	return &VirginHandler{Store: st, Outgoing: out}, err
}

func storeAndOutgoing(s *runners.Site) (*store.Store, *switchboard.Switchboard, error) {
	st, err := s.Store()
	if err != nil {
		return nil, nil, err
	}
	out, err := s.Queue("outgoing")
	return st, out, err
}

// Dispose runs the entry through the owner or the posting pipeline.
func (h *Handler) Dispose(ctx context.Context, e *switchboard.Entry, log *slog.Logger) (runners.Outcome, error) {
	steps := postingPipeline
	if e.Msgdata.Bool(msgdata.ToOwner) {
		steps = ownerPipeline
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	p := &post{site: h.Archivers, archive: h.Archive, digests: h.Digests, source: e.Name}
	return run(ctx, p, h.Store, h.Outgoing, log, e, steps, false, now)
}

// VirginHandler is the virgin runner's: messages the system wrote itself.
type VirginHandler struct {
	Store    *store.Store
	Outgoing *switchboard.Switchboard
}

// Dispose runs the entry through the virgin pipeline.
func (h *VirginHandler) Dispose(ctx context.Context, e *switchboard.Entry, log *slog.Logger) (runners.Outcome, error) {
	return run(ctx, &post{}, h.Store, h.Outgoing, log, e, virginPipeline, true, time.Now())
}

// run runs e through steps as p, which the caller may have given the
// archivers.
func run(ctx context.Context, p *post, st *store.Store, out *switchboard.Switchboard, log *slog.Logger, e *switchboard.Entry, steps []handler, virgin bool, now time.Time) (runners.Outcome, error) {
	p.md, p.store, p.now, p.virgin, p.outgoing = e.Msgdata.Clone(), st, now, virgin, out
	if id := p.md.String(msgdata.ListID); id != "" {
		list, err := st.ListByID(ctx, id)
		switch {
		case errors.Is(err, store.ErrNoSuchList):
			return runners.Done, fmt.Errorf("list %s: %w", id, runners.ErrListGone)
		case err != nil:
			return runners.Done, fmt.Errorf("list %s: %w", id, err)
		}
		p.list = list
	} else if !virgin {
		return runners.Done, fmt.Errorf("entry %s has no list", e.Name)
	}
	msg, err := message.Parse(e.Message)
	if err != nil {
		return runners.Done, fmt.Errorf("entry %s: %w", e.Name, err)
	}
	p.msg = msg
	for _, s := range steps {
		if err := s.run(ctx, p); err != nil {
			return runners.Done, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	var rcpts []string
	p.md.Get(msgdata.Recipients, &rcpts)
	log.Info("pipeline", "list", p.md.String(msgdata.ListID), "recipients", len(rcpts), "new_entry", p.entry)
	return runners.Done, nil
}
