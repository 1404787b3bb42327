package rest

import (
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/subscription"
)

func (c *call) held(l *store.List, h *store.HeldMessage) object {
	o := object{}
	// Every metadata key kept at hold time, as Mailman shows them; the
	// fields below win over any of the same name.
	var md map[string]any
	if json.Unmarshal(h.Msgdata, &md) == nil {
		for k, v := range md {
			o[k] = v
		}
	}
	subject := h.Subject
	if m, err := message.Parse(h.Message); err == nil {
		subject = m.Decoded("Subject")
	}
	msg := string(h.Message)
	if len(h.Message) == 0 {
		msg = "[the held message could not be found]"
	}
	o["request_id"] = h.ID
	o["self_link"] = c.link("/lists/" + l.ListID + "/held/" + strconv.FormatInt(h.ID, 10))
	o["hold_date"] = store.FormatTime(h.HeldAt)
	o["message_id"] = h.MessageID
	o["sender"] = h.Sender
	o["reason"] = strings.Join(h.Reasons, "; ")
	o["subject"] = subject
	o["original_subject"] = h.Subject
	o["msg"] = msg
	o["moderation_reasons"] = h.Reasons
	o["type"] = "held message"
	return o
}

func (c *call) request(l *store.List, p *store.Pending, r subscription.Request) object {
	owner := subscription.OwnerSubscriber
	if r.Stage == subscription.StageModerate {
		owner = subscription.OwnerModerator
	}
	when := r.When
	if when.IsZero() {
		when = p.CreatedAt
	}
	o := object{
		"token": p.Token, "type": p.Type, "email": r.Address, "list_id": l.ListID, "token_owner": owner,
		"when": store.FormatTime(when), "self_link": c.link("/lists/" + l.ListID + "/requests/" + p.Token),
	}
	if r.DisplayName != "" {
		o["display_name"] = r.DisplayName
	}
	return o
}

func (s *Server) moderationRoutes() {
	heldOf := func(c *call) (*store.List, *store.HeldMessage, error) {
		l, err := s.findList(c)
		if err != nil {
			return nil, nil, err
		}
		id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
		if err != nil {
			return nil, nil, notFound()
		}
		h, err := s.store.HeldMessage(c.r.Context(), id)
		if err != nil {
			return nil, nil, err
		}
		if h.ListID != l.ListID {
			return nil, nil, notFound()
		}
		return l, h, nil
	}
	s.handle("/lists/{list}/held", methods{"GET": func(c *call) error {
		l, err := s.findList(c)
		if err != nil {
			return err
		}
		p, err := c.paging()
		if err != nil {
			return err
		}
		hs, total, err := s.store.HeldPage(c.r.Context(), l.ListID, p.offset, p.limit)
		if err != nil {
			return err
		}
		var es []object
		for _, h := range hs {
			es = append(es, c.held(l, h))
		}
		return c.collection(p, total, es)
	}})
	s.handle("/lists/{list}/held/count", methods{"GET": func(c *call) error {
		l, err := s.findList(c)
		if err != nil {
			return err
		}
		n, err := s.store.CountHeld(c.r.Context(), l.ListID)
		if err != nil {
			return err
		}
		return c.ok(object{"count": n})
	}})
	s.handle("/lists/{list}/held/{id}", methods{
		"GET": func(c *call) error {
			l, h, err := heldOf(c)
			if err != nil {
				return err
			}
			return c.ok(c.held(l, h))
		},
		"POST": func(c *call) error {
			if err := c.allow("action", "comment", "reason"); err != nil {
				return err
			}
			_, h, err := heldOf(c)
			if err != nil {
				return err
			}
			action, err := c.need("action")
			if err != nil {
				return err
			}
			comment, _ := c.str("comment")
			if r, ok := c.str("reason"); ok && comment == "" {
				comment = r
			}
			m := s.moderator.With(s.log.With("by", "rest"))
			switch action {
			case "accept":
				_, err = m.Accept(c.r.Context(), h.ID)
			case "reject":
				_, err = m.Reject(c.r.Context(), h.ID, comment)
			case "discard":
				_, err = m.Discard(c.r.Context(), h.ID)
			case "defer", "hold":
			default:
				return invalid("action", "Accepted Values are: hold, reject, discard, accept, defer")
			}
			if err != nil {
				return err
			}
			return c.noContent()
		},
	})

	requests := func(c *call) (*store.List, []object, error) {
		l, err := s.findList(c)
		if err != nil {
			return nil, nil, err
		}
		if err := c.allow("token_owner", "request_type"); err != nil {
			return nil, nil, err
		}
		owner, err := c.enum("token_owner", "no_one", subscription.OwnerSubscriber, subscription.OwnerModerator)
		if err != nil {
			return nil, nil, err
		}
		typ, err := c.enum("request_type", subscription.PendingSubscription, subscription.PendingUnsubscription)
		if err != nil {
			return nil, nil, err
		}
		types := []string{subscription.PendingSubscription, subscription.PendingUnsubscription}
		if typ != "" {
			types = []string{typ}
		}
		ps, err := s.store.ListPending(c.r.Context(), l.ListID, types...)
		if err != nil {
			return nil, nil, err
		}
		var es []object
		for _, p := range ps {
			r, err := subscription.DecodeRequest(p)
			if err != nil {
				continue
			}
			o := c.request(l, p, r)
			if owner == "" || o["token_owner"] == owner {
				es = append(es, o)
			}
		}
		return l, es, nil
	}
	s.handle("/lists/{list}/requests", methods{"GET": func(c *call) error {
		p, err := c.paging()
		if err != nil {
			return err
		}
		_, es, err := requests(c)
		if err != nil {
			return err
		}
		from, to := p.slice(len(es))
		return c.collection(p, len(es), es[from:to])
	}})
	s.handle("/lists/{list}/requests/count", methods{"GET": func(c *call) error {
		_, es, err := requests(c)
		if err != nil {
			return err
		}
		return c.ok(object{"count": len(es)})
	}})
	s.handle("/lists/{list}/requests/{token}", methods{
		"GET": func(c *call) error {
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			p, r, err := s.workflow.Request(c.r.Context(), l, c.r.PathValue("token"))
			if err != nil {
				return err
			}
			return c.ok(c.request(l, p, r))
		},
		"POST": func(c *call) error {
			if err := c.allow("action", "reason"); err != nil {
				return err
			}
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			action, err := c.need("action")
			if err != nil {
				return err
			}
			if _, err := c.enum("action", subscription.Accept, subscription.Reject, subscription.Discard, subscription.Defer); err != nil {
				return err
			}
			reason, _ := c.str("reason")
			err = s.workflow.Decide(c.r.Context(), l, c.r.PathValue("token"), action, reason)
			switch {
			case errors.Is(err, subscription.ErrAlreadyMember):
				return conflict("Member already subscribed")
			case errors.Is(err, subscription.ErrBanned):
				return badRequest("Membership is banned")
			case err != nil:
				return err
			}
			return c.noContent()
		},
	})
	s.banRoutes("/bans", func(*call) (string, error) { return "", nil })
	s.banRoutes("/lists/{list}/bans", func(c *call) (string, error) {
		l, err := s.findList(c)
		if err != nil {
			return "", err
		}
		return l.ListID, nil
	})
	s.headerMatchRoutes()
}

// banRoutes serves the bans of the scope scope finds ("" for the site's)
// at path.
func (s *Server) banRoutes(path string, scope func(*call) (string, error)) {
	link := func(c *call, listID, pattern string) string {
		if listID == "" {
			return c.link("/bans/" + url.PathEscape(pattern))
		}
		return c.link("/lists/" + listID + "/bans/" + url.PathEscape(pattern))
	}
	ban := func(c *call, listID, pattern string) object {
		o := object{"email": pattern, "self_link": link(c, listID, pattern)}
		if listID != "" {
			o["list_id"] = listID
		}
		return o
	}
	s.handle(path, methods{
		"GET": func(c *call) error {
			id, err := scope(c)
			if err != nil {
				return err
			}
			p, err := c.paging()
			if err != nil {
				return err
			}
			bans, err := s.store.Bans(c.r.Context(), id)
			if err != nil {
				return err
			}
			from, to := p.slice(len(bans))
			var es []object
			for _, b := range bans[from:to] {
				es = append(es, ban(c, id, b))
			}
			return c.collection(p, len(bans), es)
		},
		"POST": func(c *call) error {
			if err := c.allow("email"); err != nil {
				return err
			}
			id, err := scope(c)
			if err != nil {
				return err
			}
			email, err := c.need("email")
			if err != nil {
				return err
			}
			bans, err := s.store.Bans(c.r.Context(), id)
			if err != nil {
				return err
			}
			for _, b := range bans {
				if strings.EqualFold(b, strings.TrimSpace(email)) {
					return badRequest("Address is already banned")
				}
			}
			if err := s.store.Ban(c.r.Context(), id, email); err != nil {
				if errors.Is(err, store.ErrBadValue) {
					return invalid("email", err.Error())
				}
				return err
			}
			w := strings.TrimPrefix(link(c, id, strings.TrimSpace(email)), c.link(""))
			return c.created(w)
		},
	})
	s.handle(path+"/{email}", methods{
		"GET": func(c *call) error {
			id, err := scope(c)
			if err != nil {
				return err
			}
			bans, err := s.store.Bans(c.r.Context(), id)
			if err != nil {
				return err
			}
			want := c.r.PathValue("email")
			for _, b := range bans {
				if strings.EqualFold(b, want) {
					return c.ok(ban(c, id, b))
				}
			}
			return notFound()
		},
		"DELETE": func(c *call) error {
			id, err := scope(c)
			if err != nil {
				return err
			}
			err = s.store.Unban(c.r.Context(), id, c.r.PathValue("email"))
			if errors.Is(err, store.ErrBadValue) {
				return notFound()
			}
			if err != nil {
				return err
			}
			return c.noContent()
		},
	})
}

func (s *Server) headerMatchRoutes() {
	hmObject := func(c *call, l *store.List, hm store.HeaderMatch) object {
		o := object{"position": hm.Position, "header": hm.Header, "pattern": hm.Pattern,
			"self_link": c.link("/lists/" + l.ListID + "/header-matches/" + strconv.Itoa(hm.Position))}
		if hm.Action != "" {
			o["action"] = hm.Action
		}
		if hm.Tag != "" {
			o["tag"] = hm.Tag
		}
		return o
	}
	read := func(c *call, hm *store.HeaderMatch) error {
		if v, has := c.str("header"); has {
			hm.Header = v
		}
		if v, has := c.str("pattern"); has {
			hm.Pattern = v
		}
		if v, has := c.str("tag"); has {
			hm.Tag = v
		}
		if v, has := c.str("action"); has {
			hm.Action = v
		}
		if v, has := c.str("position"); has {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return invalid("position", "invalid literal for int() with base 10: '"+v+"'")
			}
			hm.Position = n
		}
		return nil
	}
	badMatch := func(err error) error {
		switch {
		case errors.Is(err, store.ErrHeaderMatchExists):
			return badRequest("This header match already exists")
		case errors.Is(err, store.ErrBadValue):
			return badRequest(err.Error())
		}
		return err
	}
	list := func(c *call) (*store.List, []store.HeaderMatch, error) {
		l, err := s.findList(c)
		if err != nil {
			return nil, nil, err
		}
		hms, err := s.store.HeaderMatches(c.r.Context(), l.ListID)
		return l, hms, err
	}
	s.handle("/lists/{list}/header-matches", methods{
		"GET": func(c *call) error {
			p, err := c.paging()
			if err != nil {
				return err
			}
			l, hms, err := list(c)
			if err != nil {
				return err
			}
			from, to := p.slice(len(hms))
			var es []object
			for _, hm := range hms[from:to] {
				es = append(es, hmObject(c, l, hm))
			}
			return c.collection(p, len(hms), es)
		},
		"POST": func(c *call) error {
			if err := c.allow("header", "pattern", "action", "tag", "position"); err != nil {
				return err
			}
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			for _, k := range []string{"header", "pattern"} {
				if _, err := c.need(k); err != nil {
					return err
				}
			}
			hm := store.HeaderMatch{Position: -1}
			if err := read(c, &hm); err != nil {
				return err
			}
			pos, err := s.store.AddHeaderMatch(c.r.Context(), l.ListID, hm, hm.Position)
			if err != nil {
				return badMatch(err)
			}
			return c.created("/lists/" + l.ListID + "/header-matches/" + strconv.Itoa(pos))
		},
		"DELETE": func(c *call) error {
			l, err := s.findList(c)
			if err != nil {
				return err
			}
			if err := s.store.DeleteHeaderMatch(c.r.Context(), l.ListID, -1); err != nil {
				return err
			}
			return c.noContent()
		},
	})
	s.handle("/lists/{list}/header-matches/find", methods{"GET": func(c *call) error {
		if err := c.allow("header", "pattern", "action", "tag"); err != nil {
			return err
		}
		p, err := c.paging()
		if err != nil {
			return err
		}
		l, hms, err := list(c)
		if err != nil {
			return err
		}
		var es []object
		for _, hm := range hms {
			match := true
			for k, v := range map[string]string{"header": hm.Header, "pattern": hm.Pattern, "action": hm.Action, "tag": hm.Tag} {
				if want, ok := c.str(k); ok && !strings.EqualFold(want, v) {
					match = false
				}
			}
			if match {
				es = append(es, hmObject(c, l, hm))
			}
		}
		if len(es) == 0 {
			return notFound()
		}
		from, to := p.slice(len(es))
		return c.collection(p, len(es), es[from:to])
	}})
	at := func(c *call) (*store.List, store.HeaderMatch, error) {
		l, hms, err := list(c)
		if err != nil {
			return nil, store.HeaderMatch{}, err
		}
		n, err := strconv.Atoi(c.r.PathValue("pos"))
		if err != nil || n < 0 || n >= len(hms) {
			return nil, store.HeaderMatch{}, notFound()
		}
		return l, hms[n], nil
	}
	write := func(put bool) func(*call) error {
		return func(c *call) error {
			if err := c.allow("header", "pattern", "action", "tag", "position"); err != nil {
				return err
			}
			l, hm, err := at(c)
			if err != nil {
				return err
			}
			old := hm.Position
			if put {
				for _, k := range []string{"header", "pattern"} {
					if _, err := c.need(k); err != nil {
						return err
					}
				}
				hm = store.HeaderMatch{Position: old}
			}
			if err := read(c, &hm); err != nil {
				return err
			}
			if err := s.store.ReplaceHeaderMatch(c.r.Context(), l.ListID, old, hm); err != nil {
				return badMatch(err)
			}
			return c.noContent()
		}
	}
	s.handle("/lists/{list}/header-matches/{pos}", methods{
		"GET": func(c *call) error {
			l, hm, err := at(c)
			if err != nil {
				return err
			}
			return c.ok(hmObject(c, l, hm))
		},
		"PATCH": write(false), "PUT": write(true),
		"DELETE": func(c *call) error {
			l, hm, err := at(c)
			if err != nil {
				return err
			}
			if err := s.store.DeleteHeaderMatch(c.r.Context(), l.ListID, hm.Position); err != nil {
				return err
			}
			return c.noContent()
		},
	})
}
