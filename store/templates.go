package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TemplateNames are the templates a site, a domain or a list may name a
// URI for, as Mailman names them.
var TemplateNames = []string{
	"domain:admin:notice:new-list",
	"list:admin:action:post", "list:admin:action:subscribe", "list:admin:action:unsubscribe",
	"list:admin:notice:disable", "list:admin:notice:increment", "list:admin:notice:pending", "list:admin:notice:removal",
	"list:admin:notice:subscribe", "list:admin:notice:unrecognized", "list:admin:notice:unsubscribe",
	"list:member:digest:footer", "list:member:digest:header", "list:member:digest:masthead",
	"list:member:generic:footer", "list:member:regular:footer", "list:member:regular:header",
	"list:user:action:invite", "list:user:action:subscribe", "list:user:action:unsubscribe",
	"list:user:notice:goodbye", "list:user:notice:hold", "list:user:notice:no-more-today", "list:user:notice:post",
	"list:user:notice:probe", "list:user:notice:refuse", "list:user:notice:rejected", "list:user:notice:warning",
	"list:user:notice:welcome",
}

// ErrUnknownTemplate is a template name not in TemplateNames.
var ErrUnknownTemplate = errors.New("unknown template")

// Template is the URI a scope names for a template: the site's (scope
// ""), a domain's ("domain:HOST") or a list's ("list:LIST_ID"); with the
// text last fetched from it and when (zero: never), as FindTemplate
// reads them.
type Template struct {
	Name, URI, Username, Password string
	Scope                         string
	Content                       string
	FetchedAt                     time.Time
}

// ErrNoSuchTemplate is FindTemplate's answer when no scope names a URI
// for the template.
var ErrNoSuchTemplate = errors.New("no such template")

// FindTemplate returns the template name as the first of scopes that
// names a URI for it has it, in one query: outgoing asks for each post.
func (s *Store) FindTemplate(ctx context.Context, scopes []string, name string) (*Template, error) {
	if len(scopes) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrNoSuchTemplate)
	}
	args := []any{name}
	var marks, order []string
	for i, scope := range scopes {
		args = append(args, scope)
		n := "$" + strconv.Itoa(len(args))
		marks = append(marks, n)
		order = append(order, "WHEN "+n+" THEN "+strconv.Itoa(i))
	}
	t := Template{Name: name}
	var fetched int64
	err := s.db.QueryRowContext(ctx, `SELECT scope, uri, username, password, content, fetched_at FROM templates
		WHERE name = $1 AND scope IN (`+strings.Join(marks, ", ")+`) ORDER BY CASE scope `+strings.Join(order, " ")+` END LIMIT 1`,
		args...).Scan(&t.Scope, &t.URI, &t.Username, &t.Password, &t.Content, &fetched)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", name, ErrNoSuchTemplate)
	}
	if err != nil {
		return nil, wrap(err)
	}
	t.FetchedAt = fromNanos(fetched)
	return &t, nil
}

// SetTemplateContent keeps the text fetched at at from a template's URI,
// unless the URI has changed since.
func (s *Store) SetTemplateContent(ctx context.Context, t *Template, content string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE templates SET content = $1, fetched_at = $2 WHERE scope = $3 AND name = $4 AND uri = $5`,
		content, at.UnixNano(), t.Scope, t.Name, t.URI)
	return wrap(err)
}

// DomainTemplates and ListTemplates are the scopes of a domain's and a
// list's templates.
func DomainTemplates(host string) string { return "domain:" + host }
func ListTemplates(listID string) string { return "list:" + listID }

// Templates returns the templates a scope names, by name.
func (s *Store) Templates(ctx context.Context, scope string) ([]Template, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, uri, username, password FROM templates WHERE scope = $1 ORDER BY name`, scope)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var ts []Template
	for rows.Next() {
		var t Template
		if err := rows.Scan(&t.Name, &t.URI, &t.Username, &t.Password); err != nil {
			return nil, wrap(err)
		}
		ts = append(ts, t)
	}
	return ts, wrap(rows.Err())
}

// SetTemplates names URIs for templates of a scope, in one transaction;
// an empty URI removes the template. replace removes the others first,
// as a PUT.
func (s *Store) SetTemplates(ctx context.Context, scope string, ts []Template, replace bool) error {
	for _, t := range ts {
		if !slices.Contains(TemplateNames, t.Name) {
			return fmt.Errorf("%w: %s", ErrUnknownTemplate, t.Name)
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if replace {
			if _, err := tx.ExecContext(ctx, `DELETE FROM templates WHERE scope = $1`, scope); err != nil {
				return err
			}
		}
		for _, t := range ts {
			var err error
			if t.URI == "" {
				_, err = tx.ExecContext(ctx, `DELETE FROM templates WHERE scope = $1 AND name = $2`, scope, t.Name)
			} else {
				// A new URI's text is not fetched yet: content and
				// fetched_at start again.
				_, err = tx.ExecContext(ctx, `INSERT INTO templates (scope, name, uri, username, password) VALUES ($1, $2, $3, $4, $5)
					ON CONFLICT (scope, name) DO UPDATE SET uri = excluded.uri, username = excluded.username, password = excluded.password,
					content = CASE WHEN templates.uri = excluded.uri THEN templates.content ELSE '' END,
					fetched_at = CASE WHEN templates.uri = excluded.uri THEN templates.fetched_at ELSE 0 END`,
					scope, t.Name, t.URI, t.Username, t.Password)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
