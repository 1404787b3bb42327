package rest

import (
	"errors"
	"net/http"
	"strings"

	"github.com/mailman-go/mailman/store"
)

func (c *call) user(u *store.User) object {
	o := object{
		"user_id": c.id(u.UserID), "created_on": store.FormatTime(u.CreatedAt), "is_server_owner": u.IsServerOwner,
		"self_link": c.link("/users/" + c.idPath(u.UserID)),
	}
	if u.DisplayName != "" {
		o["display_name"] = u.DisplayName
	}
	if u.Password != "" {
		o["password"] = u.Password
	}
	return o
}

func (c *call) address(a *store.Address) object {
	o := object{
		"email": a.Email, "original_email": a.OriginalEmail, "registered_on": store.FormatTime(a.RegisteredOn),
		"self_link": c.link("/addresses/" + pathEscape(a.Email)),
	}
	if a.DisplayName != "" {
		o["display_name"] = a.DisplayName
	}
	if !a.VerifiedOn.IsZero() {
		o["verified_on"] = store.FormatTime(a.VerifiedOn)
	}
	if a.UserID != "" {
		o["user"] = c.link("/users/" + c.idPath(a.UserID))
	}
	return o
}

// addresses answers a page of addresses out of total.
func (c *call) addresses(p page, total int, as []*store.Address) error {
	var es []object
	for _, a := range as {
		es = append(es, c.address(a))
	}
	return c.collection(p, total, es)
}

// userByPath is the user /users/{user} names: by id (in the version's
// form) or by one of its addresses.
func (s *Server) userByPath(c *call) (*store.User, error) {
	p := c.r.PathValue("user")
	if strings.Contains(p, "@") {
		return s.store.FindUser(c.r.Context(), p)
	}
	id, ok := c.parseID(p)
	if !ok {
		return nil, notFound()
	}
	return s.store.User(c.r.Context(), id)
}

func (c *call) users(p page, us []*store.User) error {
	from, to := p.slice(len(us))
	var es []object
	for _, u := range us[from:to] {
		es = append(es, c.user(u))
	}
	return c.collection(p, len(us), es)
}

func (s *Server) userRoutes() {
	s.handle("/users", methods{
		"GET": func(c *call) error {
			p, err := c.paging()
			if err != nil {
				return err
			}
			us, total, err := s.store.Users(c.r.Context(), p.offset, p.limit)
			if err != nil {
				return err
			}
			var es []object
			for _, u := range us {
				es = append(es, c.user(u))
			}
			return c.collection(p, total, es)
		},
		"POST": func(c *call) error {
			if err := c.allow("email", "password", "display_name", "is_server_owner"); err != nil {
				return err
			}
			n := store.NewUser{}
			n.Email, _ = c.str("email")
			n.Password, _ = c.str("password")
			n.DisplayName, _ = c.str("display_name")
			var err error
			if n.IsServerOwner, err = c.boolean("is_server_owner", false); err != nil {
				return err
			}
			u, err := s.store.CreateUser(c.r.Context(), n)
			switch {
			case errors.Is(err, store.ErrAddressExists):
				return badRequest("User already exists: " + n.Email)
			case errors.Is(err, store.ErrInvalidAddress):
				return invalid("email", "Invalid email address: "+n.Email)
			case err != nil:
				return err
			}
			return c.created("/users/" + c.idPath(u.UserID))
		},
	})
	s.handle("/users/find", methods{"GET": func(c *call) error {
		if err := c.allow("q"); err != nil {
			return err
		}
		q, err := c.need("q")
		if err != nil {
			return err
		}
		p, err := c.paging()
		if err != nil {
			return err
		}
		us, err := s.store.SearchUsers(c.r.Context(), q)
		if err != nil {
			return err
		}
		return c.users(p, us)
	}})
	s.handle("/owners", methods{"GET": func(c *call) error {
		p, err := c.paging()
		if err != nil {
			return err
		}
		us, err := s.store.ServerOwners(c.r.Context())
		if err != nil {
			return err
		}
		return c.users(p, us)
	}})
	patch := func(c *call) error {
		if err := c.allow("display_name", "cleartext_password", "is_server_owner"); err != nil {
			return err
		}
		u, err := s.userByPath(c)
		if err != nil {
			return err
		}
		var up store.UserUpdate
		if v, ok := c.str("display_name"); ok {
			up.DisplayName = &v
		}
		if v, ok := c.str("cleartext_password"); ok {
			up.Password = &v
		}
		if _, ok := c.str("is_server_owner"); ok {
			b, err := c.boolean("is_server_owner", false)
			if err != nil {
				return err
			}
			up.IsServerOwner = &b
		}
		if err := s.store.UpdateUser(c.r.Context(), u.UserID, up); err != nil {
			return err
		}
		return c.noContent()
	}
	s.handle("/users/{user}", methods{
		"GET": func(c *call) error {
			u, err := s.userByPath(c)
			if err != nil {
				return err
			}
			return c.ok(c.user(u))
		},
		"PATCH": patch, "PUT": patch,
		"DELETE": func(c *call) error {
			u, err := s.userByPath(c)
			if err != nil {
				return err
			}
			if err := s.store.DeleteUser(c.r.Context(), u.UserID); err != nil {
				return err
			}
			return c.noContent()
		},
	})
	s.handle("/users/{user}/addresses", methods{
		"GET": func(c *call) error {
			u, err := s.userByPath(c)
			if err != nil {
				return err
			}
			p, err := c.paging()
			if err != nil {
				return err
			}
			as, total, err := s.store.Addresses(c.r.Context(), u.UserID, p.offset, p.limit)
			if err != nil {
				return err
			}
			return c.addresses(p, total, as)
		},
		"POST": func(c *call) error {
			if err := c.allow("email", "display_name", "absorb_existing"); err != nil {
				return err
			}
			u, err := s.userByPath(c)
			if err != nil {
				return err
			}
			email, err := c.need("email")
			if err != nil {
				return err
			}
			name, _ := c.str("display_name")
			absorb, err := c.boolean("absorb_existing", false)
			if err != nil {
				return err
			}
			a, err := s.store.AddUserAddress(c.r.Context(), u.UserID, email, name, absorb)
			switch {
			case errors.Is(err, store.ErrAddressExists):
				return badRequest("Address belongs to other user")
			case errors.Is(err, store.ErrInvalidAddress):
				return invalid("email", "Invalid email address: "+email)
			case err != nil:
				return err
			}
			return c.created("/addresses/" + pathEscape(a.Email))
		},
	})
	s.handle("/users/{user}/preferred_address", methods{
		"GET": func(c *call) error {
			u, err := s.userByPath(c)
			if err != nil {
				return err
			}
			if u.PreferredAddress == "" {
				return notFound()
			}
			a, err := s.store.Address(c.r.Context(), u.PreferredAddress)
			if err != nil {
				return err
			}
			return c.ok(c.address(a))
		},
		"POST": func(c *call) error {
			if err := c.allow("email"); err != nil {
				return err
			}
			u, err := s.userByPath(c)
			if err != nil {
				return err
			}
			email, err := c.need("email")
			if err != nil {
				return err
			}
			err = s.store.SetPreferredAddress(c.r.Context(), u.UserID, email)
			switch {
			case errors.Is(err, store.ErrUnverified):
				return badRequest("Unverified address")
			case errors.Is(err, store.ErrAddressTaken), errors.Is(err, store.ErrNoSuchAddress):
				return badRequest("Address not owned by user")
			case err != nil:
				return err
			}
			return c.created("/addresses/" + pathEscape(strings.ToLower(email)))
		},
		"DELETE": func(c *call) error {
			u, err := s.userByPath(c)
			if err != nil {
				return err
			}
			if err := s.store.SetPreferredAddress(c.r.Context(), u.UserID, ""); err != nil {
				return err
			}
			return c.noContent()
		},
	})
	s.preferenceRoutes("/users/{user}/preferences", func(c *call) (string, error) {
		u, err := s.userByPath(c)
		if err != nil {
			return "", err
		}
		return store.UserPrefs(u.UserID), nil
	})
	s.handle("/users/{user}/login", methods{"POST": func(c *call) error {
		if err := c.allow("cleartext_password"); err != nil {
			return err
		}
		u, err := s.userByPath(c)
		if err != nil {
			return err
		}
		pw, err := c.need("cleartext_password")
		if err != nil {
			return err
		}
		ok, err := s.store.CheckUserPassword(c.r.Context(), u.UserID, pw)
		if err != nil {
			return err
		}
		if !ok {
			return errorBody(http.StatusForbidden, "")
		}
		return c.noContent()
	}})
	s.addressRoutes()
}

func (s *Server) addressRoutes() {
	s.handle("/addresses", methods{"GET": func(c *call) error {
		p, err := c.paging()
		if err != nil {
			return err
		}
		as, total, err := s.store.Addresses(c.r.Context(), "", p.offset, p.limit)
		if err != nil {
			return err
		}
		return c.addresses(p, total, as)
	}})
	one := func(c *call) (*store.Address, error) { return s.store.Address(c.r.Context(), c.r.PathValue("email")) }
	s.handle("/addresses/{email}", methods{
		"GET": func(c *call) error {
			a, err := one(c)
			if err != nil {
				return err
			}
			return c.ok(c.address(a))
		},
		"PATCH": func(c *call) error {
			if err := c.allow("display_name"); err != nil {
				return err
			}
			a, err := one(c)
			if err != nil {
				return err
			}
			name, err := c.need("display_name")
			if err != nil {
				return err
			}
			if err := s.store.SetAddressDisplayName(c.r.Context(), a.Email, name); err != nil {
				return err
			}
			return c.noContent()
		},
		"DELETE": func(c *call) error {
			if err := s.store.DeleteAddress(c.r.Context(), c.r.PathValue("email")); err != nil {
				return err
			}
			return c.noContent()
		},
	})
	verify := func(v bool) methods {
		return methods{"POST": func(c *call) error {
			if err := s.store.SetAddressVerified(c.r.Context(), c.r.PathValue("email"), v); err != nil {
				return err
			}
			return c.noContent()
		}}
	}
	s.handle("/addresses/{email}/verify", verify(true))
	s.handle("/addresses/{email}/unverify", verify(false))
	s.handle("/addresses/{email}/memberships", methods{"GET": func(c *call) error {
		a, err := one(c)
		if err != nil {
			return err
		}
		return s.findMembers(c, store.MemberQuery{Subscriber: a.Email})
	}})
	s.preferenceRoutes("/addresses/{email}/preferences", func(c *call) (string, error) {
		a, err := one(c)
		if err != nil {
			return "", err
		}
		return store.AddressPrefs(a.Email), nil
	})
	s.handle("/addresses/{email}/user", methods{
		"GET": func(c *call) error {
			a, err := one(c)
			if err != nil {
				return err
			}
			if a.UserID == "" {
				return notFound()
			}
			u, err := s.store.User(c.r.Context(), a.UserID)
			if err != nil {
				return err
			}
			return c.ok(c.user(u))
		},
		"DELETE": func(c *call) error {
			if err := s.store.UnlinkAddress(c.r.Context(), c.r.PathValue("email")); err != nil {
				return err
			}
			return c.noContent()
		},
	})
}
