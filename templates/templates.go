// Package templates owns the texts of a list's mail that a site may
// replace: Mailman's named templates (list:member:digest:header, ...),
// found by the URI the list, then its domain, then the site registered
// for the name (REST /uris, where Postorius puts the templates it edits),
// fetched over HTTP(S) or from a file, kept in the store for when the URI
// cannot be reached, and their $placeholders filled in as Mailman does.
// It does not know which mail uses which template; a caller with no
// template for a name writes its own default.
package templates

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/store"
)

// maxSize bounds a template's text: a header or a footer, not a page.
const maxSize = 1 << 20

// Loader finds and fetches templates.
type Loader struct {
	Store *store.Store
	// Client fetches http and https URIs; a client with a 10-second
	// timeout when nil.
	Client *http.Client
	// SiteEmail is what $site_email says.
	SiteEmail string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Fresh, when set, is how long a text fetched stays good without being
	// fetched again: for mail sent many times a minute, where a fetch for
	// each message would load the site that serves the templates.
	Fresh time.Duration
	Log   *slog.Logger
}

// Text returns the named template for list with its placeholders filled
// in from list and extra; ok is false when no URI is registered for it
// (the caller's default applies). The text is fetched each time (or
// once in Fresh), so that an edit in Postorius shows at once; when the URI cannot be read, the
// text last fetched is used and the failure logged, and with none the
// error is returned.
func (l *Loader) Text(ctx context.Context, list *store.List, name string, extra map[string]string) (text string, ok bool, err error) {
	raw, ok, err := l.Raw(ctx, list, name)
	if !ok || err != nil {
		return "", ok, err
	}
	return Expand(raw, Values(list, l.SiteEmail, extra)), true, nil
}

// Raw is Text without its placeholders filled in, for a caller that fills
// them for each of many recipients.
func (l *Loader) Raw(ctx context.Context, list *store.List, name string) (text string, ok bool, err error) {
	if l == nil {
		return "", false, nil
	}
	t, err := l.Store.FindTemplate(ctx, []string{store.ListTemplates(list.ListID), store.DomainTemplates(list.Address.Domain), ""}, name)
	if errors.Is(err, store.ErrNoSuchTemplate) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if l.Fresh > 0 && !t.FetchedAt.IsZero() && l.now().Sub(t.FetchedAt) < l.Fresh {
		return t.Content, true, nil
	}
	raw, ok, err := l.fetch(ctx, t)
	switch {
	case err == nil && !ok:
		return "", false, nil
	case err == nil:
		if serr := l.Store.SetTemplateContent(ctx, t, raw, l.now()); serr != nil && l.Log != nil {
			l.Log.Warn("template not kept", "template", name, "list", list.ListID, "error", serr)
		}
	case !t.FetchedAt.IsZero():
		if l.Log != nil {
			l.Log.Warn("template fetch failed, the text last fetched used", "template", name, "list", list.ListID, "error", err)
		}
		raw = t.Content
	default:
		return "", false, fmt.Errorf("template %s of %s: %w", name, list.ListID, err)
	}
	return raw, true, nil
}

func (l *Loader) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// fetch reads a template's URI: http and https (with its username and
// password, if any), and file. Mailman's mailman: URIs name its own
// defaults, which are the callers' here: ok is false.
func (l *Loader) fetch(ctx context.Context, t *store.Template) (string, bool, error) {
	u, err := url.Parse(t.URI)
	if err != nil {
		return "", false, fmt.Errorf("uri %q: %w", t.URI, err)
	}
	switch u.Scheme {
	case "mailman":
		return "", false, nil
	case "file":
		b, err := readAtMost(os.Open(u.Path))
		return string(b), err == nil, err
	case "http", "https":
	default:
		return "", false, fmt.Errorf("uri %q: the scheme must be http, https, file or mailman", t.URI)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URI, nil)
	if err != nil {
		return "", false, err
	}
	if t.Username != "" {
		req.SetBasicAuth(t.Username, t.Password)
	}
	client := l.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", false, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return "", false, fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	b, err := readAtMost(resp.Body, nil)
	return string(b), err == nil, err
}

// readAtMost reads r, which it closes, up to maxSize.
func readAtMost(r io.ReadCloser, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err == nil && len(b) > maxSize {
		err = fmt.Errorf("longer than %d bytes", maxSize)
	}
	return b, err
}

// Values are the placeholders every list template may use, as Mailman
// names them, with extra's added.
func Values(list *store.List, siteEmail string, extra map[string]string) map[string]string {
	v := map[string]string{
		"listname":       list.PostingAddress,
		"list_id":        list.ListID,
		"display_name":   list.DisplayName,
		"short_listname": list.Address.Name,
		"domain":         list.Address.Domain,
		"description":    list.Description,
		"request_email":  mta.Sub(list.PostingAddress, mta.Request),
		"owner_email":    mta.Sub(list.PostingAddress, mta.Owner),
		"site_email":     siteEmail,
		"language":       "en",
		// The names Mailman's headers and footers use for the same.
		"fqdn_listname":   list.PostingAddress,
		"list_name":       list.Address.Name,
		"mail_host":       list.Address.Domain,
		"request_address": mta.Sub(list.PostingAddress, mta.Request),
	}
	for k, x := range extra {
		v[k] = x
	}
	return v
}

// Expand fills in $name and ${name} from values, as Mailman's templates
// are written; $$ is a dollar sign, and a name values lacks is left as
// written.
func Expand(text string, values map[string]string) string {
	return expand(text, func(name string) (string, bool) {
		v, ok := values[name]
		return v, ok
	})
}

// Uses reports whether text has a placeholder for any of names.
func Uses(text string, names ...string) bool {
	used := false
	expand(text, func(name string) (string, bool) {
		if slices.Contains(names, name) {
			used = true
		}
		return "", false
	})
	return used
}

// expand is Expand with each placeholder's value from lookup.
func expand(text string, lookup func(name string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(text); {
		if text[i] != '$' || i+1 == len(text) {
			b.WriteByte(text[i])
			i++
			continue
		}
		if text[i+1] == '$' {
			b.WriteByte('$')
			i += 2
			continue
		}
		name, end := "", i+1
		if text[i+1] == '{' {
			if j := strings.IndexByte(text[i+2:], '}'); j >= 0 {
				name, end = text[i+2:i+2+j], i+3+j
			}
		} else {
			for end < len(text) && (text[end] == '_' || 'a' <= text[end] && text[end] <= 'z' || 'A' <= text[end] && text[end] <= 'Z' || '0' <= text[end] && text[end] <= '9') {
				end++
			}
			name = text[i+1 : end]
		}
		if name == "" {
			b.WriteByte('$')
			i++
			continue
		}
		v, ok := lookup(name)
		if !ok {
			b.WriteByte('$')
			i++
			continue
		}
		b.WriteString(v)
		i = end
	}
	return b.String()
}
