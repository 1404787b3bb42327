// Package rest owns Mailman's REST API, as Postorius, HyperKitty and
// mailmanclient speak it: its paths under /3.0/ and /3.1/, its
// authentication, its JSON representations, paging and error bodies. It
// holds no list logic: each handler reads the request, calls the store,
// the subscription workflow or the moderator the command line and the
// runners call, and writes what Mailman would answer. It knows nothing of
// how it is run (the rest runner serves it).
package rest

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mailman-go/mailman/archive"
	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/digest"
	"github.com/mailman-go/mailman/internal/versioncache"
	"github.com/mailman-go/mailman/moderation"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/subscription"
)

// Server answers Mailman's REST API.
type Server struct {
	cfg       *config.Config
	store     *store.Store
	moderator *moderation.Moderator
	workflow  *subscription.Workflow
	log       *slog.Logger
	mux       *http.ServeMux
	// userHash and passHash are the SHA-256 of the admin credentials,
	// compared in constant time to those of each request.
	userHash, passHash [32]byte
	// rosters keeps whole rosters' encodings (see findMembers).
	rosters *versioncache.Cache[rosterKey, []byte]
	// archivers are the site's, whose names a list turns on and off.
	archivers *archive.Site
	digests   *digest.Sender
}

// New is the API of a site: its store, and the moderator and workflow
// that write the queues.
func New(cfg *config.Config, st *store.Store, m *moderation.Moderator, w *subscription.Workflow, log *slog.Logger) *Server {
	s := &Server{
		cfg: cfg, store: st, moderator: m, workflow: w, log: log, mux: http.NewServeMux(),
		userHash:  sha256.Sum256([]byte(cfg.Webservice.AdminUser)),
		passHash:  sha256.Sum256([]byte(cfg.Webservice.AdminPass)),
		rosters:   versioncache.New[rosterKey](cfg.Webservice.RosterCacheSize, func(b []byte) int { return len(b) }),
		archivers: archive.NewSite(cfg, nil),
		digests:   digest.NewSender(st, m.Virgin, cfg.Mailman.SiteOwner, log),
	}
	s.routes()
	return s
}

// ServeHTTP authenticates every request, the root included, then routes
// it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="mailman3-rest",charset="utf-8"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"title": "401 Unauthorized", "description": "REST API authorization failed"})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// linkBase is what the links this API writes in version start with: its
// own address as [webservice] gives it.
func (s *Server) linkBase(version string) string {
	scheme := "http"
	if s.cfg.Webservice.UseHTTPS {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s:%d/%s", scheme, s.cfg.Webservice.Hostname, s.cfg.Webservice.Port, version)
}

func (s *Server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	// Both compared, always: the time taken says nothing of which failed.
	return subtle.ConstantTimeCompare(u[:], s.userHash[:])&subtle.ConstantTimeCompare(p[:], s.passHash[:]) == 1
}

// methods maps HTTP methods to the handlers of one resource.
type methods map[string]func(*call) error

// handle registers a resource at pattern (after the version), for both
// versions; a method it lacks is Mailman's 405.
func (s *Server) handle(pattern string, ms methods) {
	s.mux.HandleFunc("/{version}"+pattern, func(w http.ResponseWriter, r *http.Request) {
		v := r.PathValue("version")
		if v != "3.0" && v != "3.1" {
			writeJSON(w, http.StatusNotFound, map[string]any{"title": "404 Not Found"})
			return
		}
		h, ok := ms[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = ms[http.MethodGet]
		}
		if !ok {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"title": "405 Method Not Allowed"})
			return
		}
		c := &call{s: s, w: w, r: r, version: v, linkBase: s.linkBase(v)}
		if err := c.readParams(); err != nil {
			s.fail(c, err)
			return
		}
		if err := h(c); err != nil {
			s.fail(c, err)
		}
	})
}

// fail answers err: an *apiError as it says, a store error by what it
// means, anything else 500 with a log line (the details stay in the log).
func (s *Server) fail(c *call, err error) {
	var ae *apiError
	var ce *store.ConfigError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &ce):
		ae = badRequest(ce.Error())
	case errors.Is(err, store.ErrNoSuchList), errors.Is(err, store.ErrNoSuchMember), errors.Is(err, store.ErrNoSuchDomain),
		errors.Is(err, store.ErrNoSuchUser), errors.Is(err, store.ErrNoSuchAddress), errors.Is(err, store.ErrNoSuchHeld),
		errors.Is(err, store.ErrNoSuchToken), errors.Is(err, store.ErrTokenExpired), errors.Is(err, store.ErrNoSuchBan),
		errors.Is(err, subscription.ErrNotRequest), errors.Is(err, store.ErrNoSuchHeaderMatch):
		ae = notFound()
	case errors.Is(err, store.ErrInvalidAddress):
		ae = badRequest(err.Error())
	case errors.Is(err, store.ErrUnavailable):
		c.w.Header().Set("Retry-After", "5")
		s.log.Warn("rest request failed: database unavailable", "method", c.r.Method, "path", c.r.URL.Path, "error", err)
		ae = &apiError{status: http.StatusServiceUnavailable, body: map[string]any{"title": "503 Service Unavailable", "description": "database unavailable; try again"}}
	default:
		s.log.Error("rest request failed", "method", c.r.Method, "path", c.r.URL.Path, "error", err)
		ae = &apiError{status: http.StatusInternalServerError, body: map[string]any{"title": "500 Internal Server Error"}}
	}
	writeJSON(c.w, ae.status, ae.body)
}

// routes registers every resource. Go's mux prefers the more specific
// pattern, so literal segments (roster, held/count) win over the
// {role}/{email} and {id} forms beside them.
func (s *Server) routes() {
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"title": "404 Not Found"})
	})
	s.systemRoutes()
	s.domainRoutes()
	s.listRoutes()
	s.memberRoutes()
	s.userRoutes()
	s.moderationRoutes()
	s.queueRoutes()
	s.templateRoutes()
}

// isLoopback reports whether host names only this machine.
func isLoopback(host string) bool {
	h := strings.Trim(host, "[]")
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

// CheckListen refuses a configuration that would put the API, with
// Mailman's well-known default password, on an address others reach.
func CheckListen(ws config.Webservice) error {
	if ws.AdminPass == config.DefaultAdminPass && !isLoopback(ws.Hostname) {
		return errors.New("[webservice] hostname " + ws.Hostname + " is not loopback and admin_pass is still Mailman's default: " +
			"set a password of your own (Postorius's MAILMAN_REST_API_PASS) or listen on 127.0.0.1")
	}
	return nil
}
