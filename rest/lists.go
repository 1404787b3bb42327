package rest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mailman-go/mailman/lifecycle"
	"github.com/mailman-go/mailman/store"
)

func (c *call) list(l *store.List) object {
	return object{
		"advertised": l.Advertised, "display_name": l.DisplayName, "fqdn_listname": l.PostingAddress,
		"list_id": l.ListID, "list_name": l.Address.Name, "mail_host": l.Address.Domain,
		"member_count": l.MemberCount, "volume": l.Volume, "description": l.Description,
		"self_link": c.link("/lists/" + l.ListID),
	}
}

// findList is the list the path names, by list-id or posting address; a
// name that could be neither is as missing as one that is not there.
func (s *Server) findList(c *call) (*store.List, error) {
	l, err := s.store.FindList(c.r.Context(), c.r.PathValue("list"))
	if errors.Is(err, store.ErrInvalidAddress) {
		return nil, notFound()
	}
	return l, err
}

// listLists answers a page of the lists q selects, with advertised and
// the paging parameters of the request.
func (s *Server) listLists(c *call, q store.ListQuery) error {
	p, err := c.paging()
	if err != nil {
		return err
	}
	adv, err := c.boolean("advertised", false)
	if err != nil {
		return err
	}
	q.AdvertisedOnly, q.Offset, q.Limit = adv, p.offset, p.limit
	ls, total, err := s.store.FindLists(c.r.Context(), q)
	if err != nil {
		return err
	}
	var es []object
	for _, l := range ls {
		es = append(es, c.list(l))
	}
	return c.collection(p, total, es)
}

func (s *Server) listRoutes() {
	s.handle("/lists", methods{
		"GET": func(c *call) error {
			if err := c.allow("advertised"); err != nil {
				return err
			}
			return s.listLists(c, store.ListQuery{})
		},
		"POST": func(c *call) error {
			if err := c.allow("fqdn_listname", "style_name", "list_id"); err != nil {
				return err
			}
			name, err := c.need("fqdn_listname")
			if err != nil {
				return err
			}
			a, err := store.ParseListAddress(name)
			if err != nil {
				return badRequest("Invalid list posting address: " + name)
			}
			style, _ := c.str("style_name")
			l, warning, err := lifecycle.Create(c.r.Context(), s.cfg, s.store, store.NewList{Address: a, RequireDomain: true, Style: style})
			switch {
			case errors.Is(err, store.ErrListExists):
				return badRequest("Mailing list exists")
			case errors.Is(err, store.ErrNoSuchDomain):
				return badRequest("Domain does not exist: " + a.Domain)
			case errors.Is(err, store.ErrNoSuchStyle):
				return badRequest("No such list style: " + style)
			case errors.Is(err, store.ErrAddressClash):
				return badRequest(err.Error())
			case err != nil:
				return err
			}
			s.log.Info("list created", "list", l.ListID, "style", style, "by", "rest")
			if warning != "" {
				s.log.Warn(warning, "list", l.ListID)
			}
			return c.created("/lists/" + l.ListID)
		},
	})
	s.handle("/lists/styles", methods{"GET": func(c *call) error {
		var styles []any
		var names []string
		for _, st := range store.Styles {
			styles = append(styles, map[string]any{"name": st.Name, "description": st.Description})
			names = append(names, st.Name)
		}
		return c.ok(object{"styles": styles, "style_names": names, "default": store.DefaultStyle})
	}})
	find := func(c *call) error {
		if err := c.allow("subscriber", "role"); err != nil {
			return err
		}
		sub, err := c.need("subscriber")
		if err != nil {
			return err
		}
		role, err := c.enum("role", "member", "owner", "moderator", "nonmember")
		if err != nil {
			return err
		}
		p, err := c.paging()
		if err != nil {
			return err
		}
		ls, total, err := s.store.FindLists(c.r.Context(), store.ListQuery{Subscriber: sub, Role: store.Role(role), Offset: p.offset, Limit: p.limit})
		if err != nil {
			return err
		}
		if total == 0 {
			return notFound()
		}
		var es []object
		for _, l := range ls {
			es = append(es, c.list(l))
		}
		return c.collection(p, total, es)
	}
	s.handle("/lists/find", methods{"GET": find, "POST": find})
	s.handle("/lists/{list}", methods{
		"GET": func(c *call) error {
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			return c.ok(c.list(l))
		},
		"DELETE": func(c *call) error {
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			warning, err := lifecycle.Remove(c.r.Context(), s.cfg, s.store, l.Address)
			if err != nil {
				return err
			}
			s.log.Info("list removed", "list", l.ListID, "by", "rest")
			if warning != "" {
				s.log.Warn(warning, "list", l.ListID)
			}
			return c.noContent()
		},
	})
	s.configRoutes()
	s.handle("/lists/{list}/archivers", methods{
		"GET": func(c *call) error {
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			on, err := s.listArchivers(c, l)
			if err != nil {
				return err
			}
			o := object{}
			for k, v := range on {
				o[k] = v
			}
			return c.ok(o)
		},
		"PATCH": s.setArchivers, "PUT": s.setArchivers,
	})
	s.handle("/lists/{list}/digest", methods{
		"GET": func(c *call) error {
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			n, err := s.store.DigestNumbers(c.r.Context(), l.ListID)
			if err != nil {
				return err
			}
			return c.ok(object{"next_digest_number": n.Number, "volume": n.Volume})
		},
		"POST": s.digestNow,
	})
	s.handle("/lists/{list}/roster/{role}", methods{
		"GET": func(c *call) error {
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			role, err := rosterRole(c.r.PathValue("role"))
			if err != nil {
				return err
			}
			if err := c.allow("fields"); err != nil {
				return err
			}
			return s.findMembers(c, store.MemberQuery{ListID: l.ListID, Role: role})
		},
		"DELETE": func(c *call) error {
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			role, err := rosterRole(c.r.PathValue("role"))
			if err != nil {
				return err
			}
			if err := c.allow("emails"); err != nil {
				return err
			}
			emails := c.form["emails"]
			if len(emails) == 0 {
				return badRequest("Missing Parameter: emails")
			}
			out := object{}
			for _, e := range emails {
				err := s.store.RemoveMembers(c.r.Context(), l.Address, role, []string{e})
				switch {
				case err == nil:
					out[e] = true
				case errors.Is(err, store.ErrNoSuchMember), errors.Is(err, store.ErrInvalidAddress):
					out[e] = false
				default:
					return err
				}
			}
			writeJSON(c.w, http.StatusOK, out)
			return nil
		},
	})
	s.handle("/lists/{list}/{role}/{email}", methods{
		"GET": func(c *call) error {
			m, err := s.rosterMember(c)
			if err != nil {
				return err
			}
			return c.ok(c.fields(c.member(m)))
		},
		"PATCH": func(c *call) error {
			m, err := s.rosterMember(c)
			if err != nil {
				return err
			}
			return s.patchMember(c, m)
		},
		"DELETE": func(c *call) error {
			m, err := s.rosterMember(c)
			if err != nil {
				return err
			}
			return s.deleteMember(c, m)
		},
	})
}

// rosterRole reads a role as the paths name it.
func rosterRole(s string) (store.Role, error) {
	r, err := store.ParseRole(strings.TrimSuffix(s, "s"))
	if err != nil {
		return "", notFound()
	}
	return r, nil
}

// rosterMember is the member /lists/{list}/{role}/{email} names.
func (s *Server) rosterMember(c *call) (*store.Member, error) {
	l, err := s.findList(c)
	if err != nil {
		return nil, err
	}
	role, err := rosterRole(c.r.PathValue("role"))
	if err != nil {
		return nil, err
	}
	ms, _, err := s.store.FindMembers(c.r.Context(), store.MemberQuery{ListID: l.ListID, Role: role, Subscriber: c.r.PathValue("email"), Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 || strings.Contains(c.r.PathValue("email"), "*") || !strings.Contains(c.r.PathValue("email"), "@") {
		return nil, notFound()
	}
	return &ms[0], nil
}

// digestNow is Mailman's POST of a list's digest: bump starts a new
// volume, send sends what is waiting, periodic does when the list sends
// its digests periodically.
func (s *Server) digestNow(c *call) error {
	l, err := s.findList(c)
	if err != nil {
		return err
	}
	if err := c.allow("send", "bump", "periodic"); err != nil {
		return err
	}
	do := map[string]bool{}
	for _, k := range []string{"send", "bump", "periodic"} {
		if _, given := c.str(k); given {
			if do[k], err = c.boolean(k, false); err != nil {
				return err
			}
		}
	}
	if do["send"] && do["periodic"] {
		return badRequest("send and periodic options are mutually exclusive")
	}
	if len(c.form) == 0 {
		c.w.WriteHeader(http.StatusOK)
		return nil
	}
	ctx, now := c.r.Context(), time.Now()
	if do["bump"] {
		if _, err := s.digests.Bump(ctx, l, now); err != nil {
			return err
		}
	}
	switch {
	case do["send"]:
		_, err = s.digests.Send(ctx, l, now, "forced")
	case do["periodic"]:
		_, err = s.digests.SendPeriodic(ctx, l, now)
	}
	if err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) setArchivers(c *call) error {
	l, err := s.findList(c)
	if err != nil {
		return err
	}
	enabled := s.archivers.Enabled()
	var unknown []string
	for k := range c.form {
		if !slices.Contains(enabled, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return badRequest("Unexpected parameters: " + strings.Join(unknown, ", "))
	}
	changes := map[string]bool{}
	for _, name := range enabled {
		if _, given := c.str(name); !given {
			if c.r.Method == http.MethodPut {
				return badRequest("Missing Parameter: " + name)
			}
			continue
		}
		if changes[name], err = c.boolean(name, false); err != nil {
			return err
		}
	}
	if err := s.store.SetListArchivers(c.r.Context(), l.ListID, changes); err != nil {
		return err
	}
	return c.noContent()
}

// listArchivers is whether the list uses each of the site's archivers.
func (s *Server) listArchivers(c *call, l *store.List) (map[string]bool, error) {
	_, set, err := s.store.ListArchiving(c.r.Context(), l.ListID)
	if err != nil {
		return nil, err
	}
	return s.archivers.ListChoices(set), nil
}

// configRoutes serves a list's configuration, whose keys and checks the
// store owns.
func (s *Server) configRoutes() {
	get := func(c *call) (*store.List, map[string]any, error) {
		l, err := s.findList(c)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := s.store.ListConfig(c.r.Context(), l.ListID)
		return l, cfg, err
	}
	changes := func(c *call, only string) map[string]store.ConfigChange {
		out := map[string]store.ConfigChange{}
		for k, v := range c.form {
			if only != "" && k != only {
				continue
			}
			ch := store.ConfigChange{Values: v}
			if c.jsonBody != nil {
				ch = store.ConfigChange{JSON: c.jsonBody[k]}
			}
			out[k] = ch
		}
		return out
	}
	write := func(all bool) func(*call) error {
		return func(c *call) error {
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			if err := s.store.PatchListConfig(c.r.Context(), l.ListID, changes(c, ""), all); err != nil {
				return err
			}
			return c.noContent()
		}
	}
	s.handle("/lists/{list}/config", methods{
		"GET": func(c *call) error {
			l, cfg, err := get(c)
			if err != nil {
				return err
			}
			o := object(cfg)
			o["self_link"] = c.link("/lists/" + l.ListID + "/config")
			return c.ok(o)
		},
		"PATCH": write(false),
		"PUT":   write(true),
	})
	attr := func(c *call) (string, error) {
		a := c.r.PathValue("attr")
		if !store.IsConfigKey(a) {
			return "", notFound()
		}
		return a, nil
	}
	writeAttr := func(c *call) error {
		l, err := s.findList(c)
		if err != nil {
			return err
		}
		a, err := attr(c)
		if err != nil {
			return err
		}
		if err := c.allow(a); err != nil {
			return err
		}
		if _, ok := c.form[a]; !ok {
			return badRequest("Missing Parameter: " + a)
		}
		if err := s.store.PatchListConfig(c.r.Context(), l.ListID, changes(c, a), false); err != nil {
			return err
		}
		return c.noContent()
	}
	s.handle("/lists/{list}/config/{attr}", methods{
		"GET": func(c *call) error {
			_, cfg, err := get(c)
			if err != nil {
				return err
			}
			a, err := attr(c)
			if err != nil {
				return err
			}
			return c.ok(object{a: cfg[a]})
		},
		"PATCH": writeAttr,
		"PUT":   writeAttr,
		"DELETE": func(c *call) error {
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			a, err := attr(c)
			if err != nil {
				return err
			}
			if a != "acceptable_aliases" {
				return errorBody(http.StatusMethodNotAllowed, fmt.Sprintf("%s cannot be deleted", a))
			}
			if err := s.store.PatchListConfig(c.r.Context(), l.ListID, map[string]store.ConfigChange{a: {}}, false); err != nil {
				return err
			}
			return c.noContent()
		},
	})
}
