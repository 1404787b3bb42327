package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/subscription"
)

// unsetWarning is how Mailman writes a warning date never set.
const unsetWarning = "0001-01-01T00:00:00"

// appendMember appends m as Mailman shows a member, its keys in
// Mailman's order. An encoder of its own, rather than encoding/json, as
// rosters of 100,000 members are encoded whole: four times faster.
func (c *call) appendMember(b []byte, m *store.Member) []byte {
	email := strings.ToLower(m.Address)
	b = append(b, `{"address":`...)
	b = c.appendLink(b, "/addresses/", pathEscape(email))
	b = append(b, `,"bounce_score":`...)
	b = strconv.AppendInt(b, int64(m.BounceScore), 10)
	b = append(b, `,"delivery_mode":`...)
	b = appendString(b, m.DeliveryMode)
	if m.DisplayName != "" {
		b = append(b, `,"display_name":`...)
		b = appendString(b, m.DisplayName)
	}
	b = append(b, `,"email":`...)
	b = appendString(b, email)
	if !m.LastBounceReceived.IsZero() {
		b = append(b, `,"last_bounce_received":`...)
		b = appendString(b, store.FormatTime(m.LastBounceReceived))
	}
	b = append(b, `,"last_warning_sent":`...)
	if m.LastWarningSent.IsZero() {
		b = appendString(b, unsetWarning)
	} else {
		b = appendString(b, store.FormatTime(m.LastWarningSent))
	}
	b = append(b, `,"list_id":`...)
	b = appendString(b, m.ListID)
	b = append(b, `,"member_id":`...)
	if id, ok := c.id(m.MemberID).(json.Number); ok {
		b = append(b, id...)
	} else {
		b = appendString(b, m.MemberID)
	}
	if m.ModerationAction != "" {
		b = append(b, `,"moderation_action":`...)
		b = appendString(b, m.ModerationAction)
	}
	b = append(b, `,"role":`...)
	b = appendString(b, string(m.Role))
	b = append(b, `,"self_link":`...)
	b = c.appendLink(b, "/members/", c.idPath(m.MemberID))
	b = append(b, `,"subscription_mode":`...)
	b = appendString(b, m.SubscriptionMode)
	b = append(b, `,"total_warnings_sent":`...)
	b = strconv.AppendInt(b, int64(m.TotalWarningsSent), 10)
	if m.UserID != "" {
		b = append(b, `,"user":`...)
		b = c.appendLink(b, "/users/", c.idPath(m.UserID))
	}
	return append(b, '}')
}

// member is a member as an object, for one member's answer and for
// fields.
func (c *call) member(m *store.Member) object {
	var o object
	d := json.NewDecoder(bytes.NewReader(c.appendMember(nil, m)))
	d.UseNumber() // a 3.0 member_id is a 128-bit integer
	d.Decode(&o)
	return o
}

// findMembers answers a page of the memberships q selects, with the
// request's fields. A whole roster is answered from the copy kept of its
// encoding while the roster's version holds: scripts export big rosters
// whole, often several at once (mailmanclient's list.members), and
// encoding 100,000 members takes a second.
func (s *Server) findMembers(c *call, q store.MemberQuery) error {
	p, err := c.paging()
	if err != nil {
		return err
	}
	q.Offset, q.Limit = p.offset, p.limit
	encode := func(ctx context.Context) ([]byte, error) {
		ms, total, err := s.store.FindMembers(ctx, q)
		if err != nil {
			return nil, err
		}
		if len(c.form["fields"]) > 0 {
			es := make([]any, len(ms))
			for i := range ms {
				es[i] = c.fields(c.member(&ms[i]))
			}
			return encodeObjects(p, total, es)
		}
		return encodeCollection(p, total, len(ms), func(b []byte, i int) ([]byte, error) { return c.appendMember(b, &ms[i]), nil })
	}
	if !q.Roster() || p.offset != 0 || p.limit >= 0 || len(c.form["fields"]) > 0 {
		body, err := encode(c.r.Context())
		if err != nil {
			return err
		}
		return c.writeBody(body)
	}
	version, err := s.store.RosterVersion(c.r.Context(), q.ListID)
	if errors.Is(err, store.ErrNoSuchList) {
		return c.writeCollection(p, 0, nil)
	}
	if err != nil {
		return err
	}
	body, err := s.rosters.Get(c.r.Context(), rosterKey{strings.ToLower(q.ListID), q.Role, c.version}, version, func() ([]byte, error) {
		return encode(context.WithoutCancel(c.r.Context()))
	})
	if err != nil {
		return err
	}
	return c.writeBody(body)
}

// rosterKey is a whole roster's encoding kept: a list, a role ("" for
// all) and the API version.
type rosterKey struct {
	listID     string
	role       store.Role
	apiVersion string
}

// memberByPath is the membership /members/{id} names.
func (s *Server) memberByPath(c *call) (*store.Member, error) {
	id, ok := c.parseID(c.r.PathValue("id"))
	if !ok {
		return nil, notFound()
	}
	return s.store.MemberByID(c.r.Context(), id)
}

var (
	roleNames       = []string{"member", "owner", "moderator", "nonmember"}
	actionNames     = []string{"hold", "reject", "discard", "accept", "defer"}
	deliveryModes   = store.DeliveryModes
	deliveryStatus  = []string{"enabled", "by_user", "by_moderator", "by_bounces"}
	subscribeParams = []string{"list_id", "subscriber", "display_name", "role", "delivery_mode", "delivery_status",
		"pre_verified", "pre_confirmed", "pre_approved", "invitation", "send_welcome_message"}
)

func (s *Server) memberRoutes() {
	s.handle("/members", methods{
		"GET": func(c *call) error {
			if err := c.allow("fields"); err != nil {
				return err
			}
			return s.findMembers(c, store.MemberQuery{})
		},
		"POST": s.subscribe,
	})
	find := func(c *call) error {
		if err := c.allow("list_id", "subscriber", "role", "moderation_action", "delivery_mode", "delivery_status", "fields"); err != nil {
			return err
		}
		q := store.MemberQuery{}
		q.ListID, _ = c.str("list_id")
		q.Subscriber, _ = c.str("subscriber")
		role, err := c.enum("role", roleNames...)
		if err != nil {
			return err
		}
		q.Role = store.Role(role)
		if q.ModerationAction, err = c.enum("moderation_action", actionNames...); err != nil {
			return err
		}
		if q.DeliveryMode, err = c.enum("delivery_mode", deliveryModes...); err != nil {
			return err
		}
		if q.DeliveryStatus, err = c.enum("delivery_status", deliveryStatus...); err != nil {
			return err
		}
		return s.findMembers(c, q)
	}
	s.handle("/members/find", methods{"GET": find, "POST": find})
	s.handle("/members/{id}", methods{
		"GET": func(c *call) error {
			m, err := s.memberByPath(c)
			if err != nil {
				return err
			}
			return c.ok(c.fields(c.member(m)))
		},
		"PATCH": func(c *call) error {
			m, err := s.memberByPath(c)
			if err != nil {
				return err
			}
			return s.patchMember(c, m)
		},
		"DELETE": func(c *call) error {
			m, err := s.memberByPath(c)
			if err != nil {
				return err
			}
			return s.deleteMember(c, m)
		},
	})
	prefs := func(c *call) (string, error) {
		m, err := s.memberByPath(c)
		if err != nil {
			return "", err
		}
		return store.MemberPrefs(m.MemberID), nil
	}
	s.preferenceRoutes("/members/{id}/preferences", prefs)
	s.handle("/members/{id}/all/preferences", methods{"GET": func(c *call) error {
		m, err := s.memberByPath(c)
		if err != nil {
			return err
		}
		p, err := s.store.EffectivePreferences(c.r.Context(), m)
		if err != nil {
			return err
		}
		o := object(p)
		o["self_link"] = c.link("/members/" + c.idPath(m.MemberID) + "/all/preferences")
		return c.ok(o)
	}})
}

// subscribe is POST /members: the subscription workflow for role member,
// an immediate addition for the others.
func (s *Server) subscribe(c *call) error {
	ctx := c.r.Context()
	if err := c.allow(subscribeParams...); err != nil {
		return err
	}
	listID, err := c.need("list_id")
	if err != nil {
		return err
	}
	subscriber, err := c.need("subscriber")
	if err != nil {
		return err
	}
	role, err := c.enum("role", roleNames...)
	if err != nil {
		return err
	}
	mode, err := c.enum("delivery_mode", deliveryModes...)
	if err != nil {
		return err
	}
	status, err := c.enum("delivery_status", deliveryStatus...)
	if err != nil {
		return err
	}
	var f subscription.Flags
	for _, b := range []struct {
		name string
		to   *bool
	}{{"pre_verified", &f.PreVerified}, {"pre_confirmed", &f.PreConfirmed}, {"pre_approved", &f.PreApproved}} {
		if *b.to, err = c.boolean(b.name, false); err != nil {
			return err
		}
	}
	invitation, err := c.boolean("invitation", false)
	if err != nil {
		return err
	}
	if _, ok := c.str("send_welcome_message"); ok {
		w, err := c.boolean("send_welcome_message", false)
		if err != nil {
			return err
		}
		f.SendWelcome = &w
	}
	l, err := s.store.FindList(ctx, listID)
	if errors.Is(err, store.ErrNoSuchList) || errors.Is(err, store.ErrInvalidAddress) {
		return badRequest("No such list")
	}
	if err != nil {
		return err
	}
	display, _ := c.str("display_name")
	address := subscriber
	if !strings.Contains(subscriber, "@") {
		u, err := s.store.User(ctx, subscriber)
		if errors.Is(err, store.ErrNoSuchUser) {
			return badRequest("No such user: " + subscriber)
		}
		if err != nil {
			return err
		}
		if u.PreferredAddress == "" {
			return badRequest("User has no preferred address")
		}
		address = u.PreferredAddress
		if display == "" {
			display = u.DisplayName
		}
	}
	addr, name, err := store.ParseMemberAddress(address)
	if err != nil {
		return invalid("subscriber", "Invalid email address: "+address)
	}
	if display == "" {
		display = name
	}
	if role == "" || role == "member" {
		f.Invitation = invitation
		asUser := !strings.Contains(subscriber, "@")
		out, err := s.workflow.Subscribe(ctx, l, store.Subscription{Address: addr, DisplayName: display, DeliveryMode: mode, AsUser: asUser}, f)
		switch {
		case errors.Is(err, subscription.ErrAlreadyMember):
			return conflict("Member already subscribed")
		case errors.Is(err, subscription.ErrPending):
			return conflict("Subscription request already pending")
		case errors.Is(err, subscription.ErrBanned):
			return badRequest("Membership is banned")
		case errors.Is(err, subscription.ErrListAddress):
			return badRequest("List posting address cannot subscribe")
		case errors.Is(err, subscription.ErrNoModerator):
			return badRequest(err.Error())
		case err != nil:
			return err
		}
		if out.Member == nil {
			return c.accepted(object{"token": out.Token, "token_owner": out.TokenOwner})
		}
		if status != "" && status != "enabled" {
			if err := s.store.SetPreferences(ctx, store.MemberPrefs(out.Member.MemberID), map[string]string{"delivery_status": status}, false); err != nil {
				return err
			}
		}
		return c.created("/members/" + c.idPath(out.Member.MemberID))
	}
	entry := (&mail.Address{Name: display, Address: addr}).String()
	res, err := s.store.AddMembers(ctx, l.Address, store.Role(role), []string{entry}, nil)
	if err != nil {
		return err
	}
	if len(res.Existing) > 0 {
		return badRequest(fmt.Sprintf("%s is already an %s of %s", addr, role, l.PostingAddress))
	}
	m, err := s.store.Member(ctx, l.ListID, addr, store.Role(role))
	if err != nil {
		return err
	}
	if mode != "" {
		if err := s.store.SetMemberOption(ctx, l.Address, addr, store.Role(role), "delivery_mode", mode); err != nil {
			return err
		}
	}
	s.log.Info("member added", "list", l.ListID, "address", addr, "role", role, "by", "rest")
	return c.created("/members/" + c.idPath(m.MemberID))
}

// patchMember changes a membership's address, delivery mode or
// moderation action.
func (s *Server) patchMember(c *call, m *store.Member) error {
	if err := c.allow("address", "delivery_mode", "moderation_action"); err != nil {
		return err
	}
	ctx := c.r.Context()
	l, err := s.store.ListByID(ctx, m.ListID)
	if err != nil {
		return err
	}
	mode, err := c.enum("delivery_mode", deliveryModes...)
	if err != nil {
		return err
	}
	action, ok := c.str("moderation_action")
	if ok && action != "" && !slices.Contains(actionNames, action) {
		return invalid("moderation_action", "Accepted Values are: "+strings.Join(actionNames, ", "))
	}
	if addr, ok := c.str("address"); ok && !strings.EqualFold(addr, m.Address) {
		return s.moveMember(c, l, m, addr)
	}
	if mode != "" {
		if err := s.store.SetMemberOption(ctx, l.Address, m.Address, m.Role, "delivery_mode", mode); err != nil {
			return err
		}
	}
	if ok {
		if err := s.store.SetMemberOption(ctx, l.Address, m.Address, m.Role, "moderation_action", action); err != nil {
			return err
		}
	}
	return c.noContent()
}

// moveMember moves a membership to another address of its user, as
// Mailman's PATCH of address does.
func (s *Server) moveMember(c *call, l *store.List, m *store.Member, address string) error {
	ctx := c.r.Context()
	a, err := s.store.Address(ctx, address)
	if errors.Is(err, store.ErrNoSuchAddress) {
		return badRequest("Address not registered")
	}
	if err != nil {
		return err
	}
	if m.UserID == "" || a.UserID != m.UserID {
		return badRequest("User does not own address " + address)
	}
	if err := s.store.MoveMember(ctx, m.MemberID, a.OriginalEmail); err != nil {
		if errors.Is(err, store.ErrAlreadyMember) {
			return conflict("Member already subscribed")
		}
		return err
	}
	return c.noContent()
}

// deleteMember unsubscribes: a regular member through the workflow when
// the request says whether it is confirmed or approved, at once
// otherwise, as Mailman does for an administrator.
func (s *Server) deleteMember(c *call, m *store.Member) error {
	if err := c.allow("pre_confirmed", "pre_approved"); err != nil {
		return err
	}
	ctx := c.r.Context()
	l, err := s.store.ListByID(ctx, m.ListID)
	if err != nil {
		return err
	}
	_, hasConfirmed := c.str("pre_confirmed")
	_, hasApproved := c.str("pre_approved")
	if m.Role != store.Regular || !hasConfirmed && !hasApproved {
		if err := s.store.RemoveMembers(ctx, l.Address, m.Role, []string{m.Address}); err != nil {
			return err
		}
		s.log.Info("member removed", "list", l.ListID, "address", m.Address, "role", m.Role, "by", "rest")
		return c.noContent()
	}
	var f subscription.Flags
	if f.PreConfirmed, err = c.boolean("pre_confirmed", true); err != nil {
		return err
	}
	if f.PreApproved, err = c.boolean("pre_approved", true); err != nil {
		return err
	}
	out, err := s.workflow.Unsubscribe(ctx, l, m.Address, f)
	switch {
	case errors.Is(err, subscription.ErrUnsubPending):
		return conflict("Unsubscription request already pending")
	case err != nil:
		return err
	case out.Member == nil:
		return c.accepted(object{"token": out.Token, "token_owner": out.TokenOwner})
	}
	return c.noContent()
}

// preferenceRoutes serves one level of preferences at path, whose owner
// owner finds.
func (s *Server) preferenceRoutes(path string, owner func(*call) (string, error)) {
	get := func(c *call) error {
		o, err := owner(c)
		if err != nil {
			return err
		}
		p, err := s.store.Preferences(c.r.Context(), o)
		if err != nil {
			return err
		}
		out := object(p)
		out["self_link"] = c.link(strings.TrimPrefix(c.r.URL.Path, "/"+c.version))
		return c.ok(out)
	}
	write := func(replace bool) func(*call) error {
		return func(c *call) error {
			if err := c.allow(store.PreferenceKeys...); err != nil {
				return err
			}
			o, err := owner(c)
			if err != nil {
				return err
			}
			prefs := map[string]string{}
			for _, k := range store.PreferenceKeys {
				v, ok := c.str(k)
				if !ok {
					continue
				}
				if _, err := store.CheckPreference(k, v); err != nil {
					return invalid(k, strings.TrimPrefix(strings.TrimPrefix(err.Error(), store.ErrBadValue.Error()), ": "))
				}
				prefs[k] = v
			}
			if err := s.store.SetPreferences(c.r.Context(), o, prefs, replace); err != nil {
				return err
			}
			return c.noContent()
		}
	}
	s.handle(path, methods{
		"GET": get, "PATCH": write(false), "PUT": write(true),
		"DELETE": func(c *call) error {
			o, err := owner(c)
			if err != nil {
				return err
			}
			if err := s.store.DeletePreferences(c.r.Context(), o); err != nil {
				return err
			}
			return c.noContent()
		},
	})
}
