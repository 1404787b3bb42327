// Package archive owns the archivers, Mailman's four: what each does with
// a list's post (prototype: a Maildir per list; mail-archive: an
// undecorated copy mailed to an archiving service, public lists only;
// mhonarc: the message on the standard input of a command; hyperkitty:
// HyperKitty's HTTP archiving protocol), the links each gives a list and
// a message for List-Archive and Archived-At, which archivers a list
// uses, and Mailman's date clobbering.
//
// It knows nothing of queues: the archive runner hands it one message for
// one archiver at a time and keeps what failed for later, and mail is
// sent through the function the runner gives.
package archive

import (
	"context"
	"errors"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/store"
)

// Archiver archives a list's posts.
type Archiver interface {
	Name() string
	// ListURL is the list's archive, for List-Archive; "" for none.
	ListURL(l *store.List) string
	// Permalink is where the message whose Message-ID-Hash is hash will
	// be, known before it is archived, for Archived-At; "" for none.
	Permalink(l *store.List, hash string) string
	// Archive archives msg. An error wrapping ErrRefused will not
	// succeed if tried again; any other may.
	Archive(ctx context.Context, l *store.List, msg []byte) error
}

// ErrRefused is an archiver's refusal of one message: trying again would
// be refused again.
var ErrRefused = errors.New("the archiver refused the message")

// Names are the archivers, as Mailman names them.
var Names = []string{"prototype", "mail-archive", "mhonarc", "hyperkitty"}

// Site is the archivers a site has enabled, by name, built from its
// configuration.
type Site struct {
	archivers map[string]Archiver
	cfg       config.Archivers
}

// Send mails a list's message (mail-archive's copy) to one recipient.
type Send func(ctx context.Context, l *store.List, msg []byte, rcpt string) error

// NewSite builds the archivers cfg enables; send is how mail-archive
// mails its copies.
func NewSite(cfg *config.Config, send Send) *Site {
	a := cfg.Archiver
	s := &Site{archivers: map[string]Archiver{}, cfg: a}
	if a.Prototype.Enable {
		s.archivers["prototype"] = &prototype{dir: cfg.Paths().Archives}
	}
	if a.MailArchive.Enable {
		s.archivers["mail-archive"] = &mailArchive{base: a.MailArchive.BaseURL, recipient: a.MailArchive.Recipient, send: send}
	}
	if a.MHonArc.Enable {
		s.archivers["mhonarc"] = &mhonarc{base: a.MHonArc.BaseURL, command: a.MHonArc.Command}
	}
	if a.HyperKitty.Enable {
		s.archivers["hyperkitty"] = newHyperKitty(a.HyperKitty.BaseURL, a.HyperKitty.APIKey)
	}
	return s
}

// Get returns the enabled archiver called name.
func (s *Site) Get(name string) (Archiver, bool) {
	a, ok := s.archivers[name]
	return a, ok
}

// Enabled are the names of the site's enabled archivers, in Names' order.
func (s *Site) Enabled() []string {
	var out []string
	for _, n := range Names {
		if _, ok := s.archivers[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// ListChoices is, for each of the site's enabled archivers, whether a
// list that turned those in set on or off uses it: one it has not named,
// it does.
func (s *Site) ListChoices(set map[string]bool) map[string]bool {
	on := map[string]bool{}
	for _, n := range s.Enabled() {
		v, named := set[n]
		on[n] = v || !named
	}
	return on
}

// ForList are the enabled archivers the list uses: those the site enables
// that the list has not turned off (REST archivers), none when its
// archive_policy is never, and mail-archive only for a public archive.
func (s *Site) ForList(ctx context.Context, st *store.Store, l *store.List) ([]Archiver, error) {
	policy, set, err := st.ListArchiving(ctx, l.ListID)
	if err != nil {
		return nil, err
	}
	if policy == "never" {
		return nil, nil
	}
	on := s.ListChoices(set)
	var out []Archiver
	for _, n := range s.Enabled() {
		if !on[n] || n == "mail-archive" && policy != "public" {
			continue
		}
		out = append(out, s.archivers[n])
	}
	return out, nil
}

// Wanted reports whether a post is to be archived at all: not when it
// says X-No-Archive or X-Archive: no, as Mailman reads them.
func Wanted(msg *message.Message) bool {
	if msg.Has("X-No-Archive") {
		return false
	}
	return !strings.EqualFold(strings.TrimSpace(msg.Get("X-Archive")), "no")
}

// ClobberDate is Mailman's date clobbering for archiver name: under
// always, or under maybe when the Date is missing, unreadable or further
// than the skew from now, the Date becomes now and the old one moves to
// X-Original-Date.
func (s *Site) ClobberDate(name string, msg *message.Message, now time.Time) {
	_, ac := s.cfg.Archiving(name)
	old := msg.Get("Date")
	clobber := ac.ClobberDate == "always"
	if ac.ClobberDate == "maybe" {
		t, err := mail.ParseDate(old)
		skew := ac.ClobberSkew.D()
		clobber = err != nil || t.Before(now.Add(-skew)) || t.After(now.Add(skew))
	}
	if !clobber {
		return
	}
	msg.Del("Date")
	msg.Del("X-Original-Date")
	if old != "" {
		msg.Add("X-Original-Date", old)
	}
	msg.Add("Date", message.Date(now))
}

// joinURL is base with path added, one slash between.
func joinURL(base, path string) string {
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(path, "/")
}

// listPart is the list's posting address as a URL path segment.
func listPart(l *store.List) string { return url.PathEscape(l.PostingAddress) }
