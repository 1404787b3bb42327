package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of domains callers branch on.
var (
	ErrNoSuchDomain = errors.New("no such domain")
	ErrDomainExists = errors.New("domain already exists")
)

// Domain is a mail host the site serves lists on.
type Domain struct {
	MailHost    string
	Description string
	AliasDomain string
	CreatedAt   time.Time
}

// ParseDomain checks and lower-cases a domain name.
func ParseDomain(s string) (string, error) {
	d := strings.ToLower(strings.TrimSpace(s))
	if !domainName.MatchString(d) || len(d) > 253 {
		return "", fmt.Errorf("%w: %q is not a domain name", ErrInvalidAddress, s)
	}
	return d, nil
}

// CreateDomain adds a domain.
func (s *Store) CreateDomain(ctx context.Context, d Domain) (*Domain, error) {
	host, err := ParseDomain(d.MailHost)
	if err != nil {
		return nil, err
	}
	if d.AliasDomain != "" {
		if d.AliasDomain, err = ParseDomain(d.AliasDomain); err != nil {
			return nil, err
		}
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO domains (mail_host, description, alias_domain, created_at) VALUES ($1, $2, $3, $4)`,
			host, d.Description, d.AliasDomain, time.Now().UnixNano())
		if isUniqueViolation(err) {
			return fmt.Errorf("%s: %w", host, ErrDomainExists)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Domain(ctx, host)
}

// ensureDomain adds the domain of a list made without one, as the
// command line makes lists.
func ensureDomain(ctx context.Context, tx *sql.Tx, host string, now int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO domains (mail_host, created_at) VALUES ($1, $2) ON CONFLICT (mail_host) DO NOTHING`, host, now)
	return err
}

func scanDomain(row interface{ Scan(...any) error }) (*Domain, error) {
	var d Domain
	var created int64
	if err := row.Scan(&d.MailHost, &d.Description, &d.AliasDomain, &created); err != nil {
		return nil, err
	}
	d.CreatedAt = fromNanos(created)
	return &d, nil
}

// Domain returns the domain host.
func (s *Store) Domain(ctx context.Context, host string) (*Domain, error) {
	d, err := scanDomain(s.db.QueryRowContext(ctx, `SELECT mail_host, description, alias_domain, created_at FROM domains WHERE mail_host = $1`,
		strings.ToLower(host)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", host, ErrNoSuchDomain)
	}
	return d, wrap(err)
}

// Domains returns every domain, by name.
func (s *Store) Domains(ctx context.Context) ([]*Domain, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT mail_host, description, alias_domain, created_at FROM domains ORDER BY mail_host`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var ds []*Domain
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, wrap(err)
		}
		ds = append(ds, d)
	}
	return ds, wrap(rows.Err())
}

// UpdateDomain changes a domain's description and alias domain.
func (s *Store) UpdateDomain(ctx context.Context, host, description, aliasDomain string) error {
	if aliasDomain != "" {
		var err error
		if aliasDomain, err = ParseDomain(aliasDomain); err != nil {
			return err
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE domains SET description = $1, alias_domain = $2 WHERE mail_host = $3`, description, aliasDomain, strings.ToLower(host))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s: %w", host, ErrNoSuchDomain)
		}
		return nil
	})
}

// DeleteDomain removes a domain and, as Mailman does, its lists.
func (s *Store) DeleteDomain(ctx context.Context, host string) error {
	host = strings.ToLower(host)
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM domains WHERE mail_host = $1`, host)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s: %w", host, ErrNoSuchDomain)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM lists WHERE mail_host = $1`, host)
		return err
	})
}

// DomainOwners returns the users who own a domain, in the order they were
// made.
func (s *Store) DomainOwners(ctx context.Context, host string) ([]*User, error) {
	if _, err := s.Domain(ctx, host); err != nil {
		return nil, err
	}
	return s.queryUsers(ctx, `SELECT `+prefixed("u.", userColumns)+` FROM users u
		JOIN domain_owners o ON o.user_id = u.user_id JOIN domains d ON d.id = o.domain_id
		WHERE d.mail_host = $1 ORDER BY u.created_at, u.user_id`, strings.ToLower(host))
}

// AddDomainOwner makes a user, named by id or address, an owner of a
// domain; an address no user holds gets a new user, as in Mailman.
func (s *Store) AddDomainOwner(ctx context.Context, host, owner string) error {
	u, err := s.FindUser(ctx, owner)
	if errors.Is(err, ErrNoSuchUser) && strings.Contains(owner, "@") {
		u, err = s.CreateUser(ctx, NewUser{Email: owner})
	}
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM domains WHERE mail_host = $1`, strings.ToLower(host)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s: %w", host, ErrNoSuchDomain)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO domain_owners (domain_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, u.UserID)
		return err
	})
}

// RemoveDomainOwners removes every owner of a domain.
func (s *Store) RemoveDomainOwners(ctx context.Context, host string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM domain_owners WHERE domain_id IN (SELECT id FROM domains WHERE mail_host = $1)`, strings.ToLower(host))
		if err != nil {
			return err
		}
		_, err = res.RowsAffected()
		return err
	})
}

// prefixed qualifies each of a comma-separated column list with p.
func prefixed(p, columns string) string {
	cs := strings.Split(columns, ",")
	for i, c := range cs {
		cs[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(cs, ", ")
}
