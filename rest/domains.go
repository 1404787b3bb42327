package rest

import (
	"errors"
	"net/url"

	"github.com/mailman-go/mailman/lifecycle"
	"github.com/mailman-go/mailman/store"
)

func (c *call) domain(d *store.Domain) object {
	o := object{"mail_host": d.MailHost, "description": d.Description, "self_link": c.link("/domains/" + d.MailHost)}
	if d.AliasDomain != "" {
		o["alias_domain"] = d.AliasDomain
	}
	return o
}

func (s *Server) domainRoutes() {
	s.handle("/domains", methods{
		"GET": func(c *call) error {
			p, err := c.paging()
			if err != nil {
				return err
			}
			ds, err := s.store.Domains(c.r.Context())
			if err != nil {
				return err
			}
			from, to := p.slice(len(ds))
			var es []object
			for _, d := range ds[from:to] {
				es = append(es, c.domain(d))
			}
			return c.collection(p, len(ds), es)
		},
		"POST": func(c *call) error {
			if err := c.allow("mail_host", "description", "alias_domain", "owner"); err != nil {
				return err
			}
			host, err := c.need("mail_host")
			if err != nil {
				return err
			}
			desc, _ := c.str("description")
			alias, _ := c.str("alias_domain")
			d, err := s.store.CreateDomain(c.r.Context(), store.Domain{MailHost: host, Description: desc, AliasDomain: alias})
			if errors.Is(err, store.ErrDomainExists) {
				return badRequest("Duplicate email host: " + host)
			}
			if err != nil {
				return err
			}
			for _, o := range c.form["owner"] {
				if err := s.store.AddDomainOwner(c.r.Context(), d.MailHost, o); err != nil {
					return err
				}
			}
			return c.created("/domains/" + d.MailHost)
		},
	})
	one := func(c *call) (*store.Domain, error) { return s.store.Domain(c.r.Context(), c.r.PathValue("domain")) }
	patch := func(c *call) error {
		if err := c.allow("description", "alias_domain"); err != nil {
			return err
		}
		d, err := one(c)
		if err != nil {
			return err
		}
		desc, alias := d.Description, d.AliasDomain
		if v, ok := c.str("description"); ok {
			desc = v
		}
		if v, ok := c.str("alias_domain"); ok {
			alias = v
		}
		if err := s.store.UpdateDomain(c.r.Context(), d.MailHost, desc, alias); err != nil {
			return err
		}
		return c.noContent()
	}
	s.handle("/domains/{domain}", methods{
		"GET": func(c *call) error {
			d, err := one(c)
			if err != nil {
				return err
			}
			return c.ok(c.domain(d))
		},
		"PATCH": patch,
		"PUT":   patch,
		"DELETE": func(c *call) error {
			warning, err := lifecycle.RemoveDomain(c.r.Context(), s.cfg, s.store, c.r.PathValue("domain"))
			if err != nil {
				return err
			}
			if warning != "" {
				s.log.Warn(warning, "domain", c.r.PathValue("domain"))
			}
			return c.noContent()
		},
	})
	s.handle("/domains/{domain}/lists", methods{"GET": func(c *call) error {
		d, err := one(c)
		if err != nil {
			return err
		}
		return s.listLists(c, store.ListQuery{Domain: d.MailHost})
	}})
	s.handle("/domains/{domain}/owners", methods{
		"GET": func(c *call) error {
			p, err := c.paging()
			if err != nil {
				return err
			}
			us, err := s.store.DomainOwners(c.r.Context(), c.r.PathValue("domain"))
			if err != nil {
				return err
			}
			from, to := p.slice(len(us))
			var es []object
			for _, u := range us[from:to] {
				es = append(es, c.user(u))
			}
			return c.collection(p, len(us), es)
		},
		"POST": func(c *call) error {
			if err := c.allow("owner"); err != nil {
				return err
			}
			owners := c.form["owner"]
			if len(owners) == 0 {
				return badRequest("Missing Parameter: owner")
			}
			d, err := one(c)
			if err != nil {
				return err
			}
			for _, o := range owners {
				if err := s.store.AddDomainOwner(c.r.Context(), d.MailHost, o); err != nil {
					return err
				}
			}
			return c.noContent()
		},
		"DELETE": func(c *call) error {
			d, err := one(c)
			if err != nil {
				return err
			}
			if err := s.store.RemoveDomainOwners(c.r.Context(), d.MailHost); err != nil {
				return err
			}
			return c.noContent()
		},
	})
}

// pathEscape is an email or pattern as a path segment of a link.
func pathEscape(s string) string { return url.PathEscape(s) }
