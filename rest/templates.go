package rest

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/mailman-go/mailman/store"
)

// templateRoutes serves the URIs of templates (3.1's /uris) for the site,
// a domain and a list. Postorius PATCHes them with its own template
// views; the core keeps the URIs, never fetching one while a request
// waits.
func (s *Server) templateRoutes() {
	site := func(*call) (string, string, error) { return "", "/uris", nil }
	domain := func(c *call) (string, string, error) {
		d, err := s.store.Domain(c.r.Context(), c.r.PathValue("domain"))
		if err != nil {
			return "", "", err
		}
		return store.DomainTemplates(d.MailHost), "/domains/" + d.MailHost + "/uris", nil
	}
	list := func(c *call) (string, string, error) {
		l, err := s.findList(c)
		if err != nil {
			return "", "", err
		}
		return store.ListTemplates(l.ListID), "/lists/" + l.ListID + "/uris", nil
	}
	for path, scope := range map[string]func(*call) (string, string, error){"/uris": site, "/domains/{domain}/uris": domain, "/lists/{list}/uris": list} {
		s.uriRoutes(path, scope)
	}
}

func (s *Server) uriRoutes(path string, scope func(*call) (string, string, error)) {
	entry := func(c *call, base string, t store.Template) object {
		o := object{"name": t.Name, "uri": t.URI, "self_link": c.link(base + "/" + t.Name)}
		if t.Username != "" && t.Password != "" {
			o["username"], o["password"] = t.Username, t.Password
		}
		return o
	}
	v31 := func(h func(*call) error) func(*call) error {
		return func(c *call) error {
			if c.version == "3.0" {
				return errorBody(http.StatusNotFound, "")
			}
			return h(c)
		}
	}
	write := func(replace bool) func(*call) error {
		return v31(func(c *call) error {
			sc, _, err := scope(c)
			if err != nil {
				return err
			}
			var ts []store.Template
			for k, v := range c.form {
				if k == "username" || k == "password" {
					continue
				}
				if !slices.Contains(store.TemplateNames, k) {
					return badRequest("Unknown template: " + k)
				}
				t := store.Template{Name: k, URI: v[0]}
				t.Username, _ = c.str("username")
				t.Password, _ = c.str("password")
				ts = append(ts, t)
			}
			if err := s.store.SetTemplates(c.r.Context(), sc, ts, replace); err != nil {
				return err
			}
			return c.noContent()
		})
	}
	s.handle(path, methods{
		"GET": v31(func(c *call) error {
			sc, base, err := scope(c)
			if err != nil {
				return err
			}
			ts, err := s.store.Templates(c.r.Context(), sc)
			if err != nil {
				return err
			}
			var es []object
			for _, t := range ts {
				es = append(es, entry(c, base, t))
			}
			return c.collection(page{limit: -1}, len(es), es)
		}),
		"PATCH": write(false), "PUT": write(true),
		"DELETE": v31(func(c *call) error {
			sc, _, err := scope(c)
			if err != nil {
				return err
			}
			if err := s.store.SetTemplates(c.r.Context(), sc, nil, true); err != nil {
				return err
			}
			return c.noContent()
		}),
	})
	one := func(c *call) (string, string, string, error) {
		sc, base, err := scope(c)
		name := c.r.PathValue("name")
		if err == nil && !slices.Contains(store.TemplateNames, name) {
			err = notFound()
		}
		return sc, base, name, err
	}
	s.handle(path+"/{name}", methods{
		"GET": v31(func(c *call) error {
			sc, base, name, err := one(c)
			if err != nil {
				return err
			}
			ts, err := s.store.Templates(c.r.Context(), sc)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(ts, func(t store.Template) bool { return t.Name == name })
			if i < 0 {
				return notFound()
			}
			return c.ok(entry(c, base, ts[i]))
		}),
		"PATCH": v31(func(c *call) error { return s.setOneTemplate(c, one) }),
		"PUT":   v31(func(c *call) error { return s.setOneTemplate(c, one) }),
		"DELETE": v31(func(c *call) error {
			sc, _, name, err := one(c)
			if err != nil {
				return err
			}
			if err := s.store.SetTemplates(c.r.Context(), sc, []store.Template{{Name: name}}, false); err != nil {
				return err
			}
			return c.noContent()
		}),
	})
}

func (s *Server) setOneTemplate(c *call, one func(*call) (string, string, string, error)) error {
	if err := c.allow("uri", "username", "password"); err != nil {
		return err
	}
	sc, _, name, err := one(c)
	if err != nil {
		return err
	}
	uri, err := c.need("uri")
	if err != nil {
		return err
	}
	if uri != "" && !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://") && !strings.HasPrefix(uri, "file:") {
		return invalid("uri", "not an http, https or file URI")
	}
	t := store.Template{Name: name, URI: uri}
	t.Username, _ = c.str("username")
	t.Password, _ = c.str("password")
	err = s.store.SetTemplates(c.r.Context(), sc, []store.Template{t}, false)
	if errors.Is(err, store.ErrUnknownTemplate) {
		return notFound()
	}
	if err != nil {
		return err
	}
	return c.noContent()
}
