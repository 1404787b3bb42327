package rest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mailman-go/mailman/store"
)

// call is one request being answered.
type call struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	version string
	// linkBase starts the links written: http://host:port/3.1.
	linkBase string
	// form holds the parameters, from the query string of a GET or the
	// body (form-encoded, or JSON kept in jsonBody too).
	form     url.Values
	jsonBody map[string]any
}

// maxBody bounds a request's body: a held message or an injected one is
// the largest thing a client sends.
const maxBody = 64 << 20

func (c *call) readParams() error {
	c.form = url.Values{}
	for k, v := range c.r.URL.Query() {
		c.form[k] = v
	}
	if c.r.Body == nil || c.r.Method == http.MethodGet {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody+1))
	if err != nil {
		return badRequest("could not read the request body: " + err.Error())
	}
	if len(body) > maxBody {
		return &apiError{status: http.StatusRequestEntityTooLarge, body: map[string]any{"title": "413 Payload Too Large"}}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	ct, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return badRequest("the body is not a JSON object: " + err.Error())
		}
		c.jsonBody = m
		for k, v := range m {
			switch v := v.(type) {
			case string:
				c.form[k] = []string{v}
			case bool:
				c.form[k] = []string{strconv.FormatBool(v)}
			case float64:
				c.form[k] = []string{strconv.FormatFloat(v, 'f', -1, 64)}
			case []any:
				vals := []string{}
				for _, e := range v {
					vals = append(vals, fmt.Sprint(e))
				}
				c.form[k] = vals
			case nil:
				c.form[k] = []string{""}
			default:
				return badRequest(fmt.Sprintf("Invalid Parameter %q: Cannot convert parameters: %s", k, k))
			}
		}
		return nil
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return badRequest("the body is not form-encoded: " + err.Error())
	}
	for k, v := range vals {
		c.form[k] = append(c.form[k], v...)
	}
	return nil
}

// allow refuses any parameter but those named (and the paging ones).
func (c *call) allow(names ...string) error {
	var bad []string
	for k := range c.form {
		if !slices.Contains(names, k) && k != "count" && k != "page" {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return badRequest("Unexpected parameters: " + strings.Join(bad, ", "))
	}
	return nil
}

// str is a parameter's value, and whether it was given.
func (c *call) str(name string) (string, bool) {
	v, ok := c.form[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// need is a parameter that must be there.
func (c *call) need(name string) (string, error) {
	v, ok := c.str(name)
	if !ok {
		return "", badRequest("Missing Parameter: " + name)
	}
	return v, nil
}

// boolean is a boolean parameter: def when not given.
func (c *call) boolean(name string, def bool) (bool, error) {
	v, ok := c.str(name)
	if !ok {
		return def, nil
	}
	b, err := store.ParseBool(v)
	if err != nil {
		return false, invalid(name, "Invalid boolean value: "+v)
	}
	return b, nil
}

// enum is a parameter that is one of values, "" when not given.
func (c *call) enum(name string, values ...string) (string, error) {
	v, ok := c.str(name)
	if !ok {
		return "", nil
	}
	if !slices.Contains(values, v) {
		return "", invalid(name, "Accepted Values are: "+strings.Join(values, ", "))
	}
	return v, nil
}

// apiError is an answer other than success.
type apiError struct {
	status int
	body   map[string]any
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %v", e.status, e.body) }

func errorBody(status int, description string) *apiError {
	b := map[string]any{"title": fmt.Sprintf("%d %s", status, http.StatusText(status))}
	if description != "" {
		b["description"] = description
	}
	return &apiError{status: status, body: b}
}

func badRequest(description string) *apiError { return errorBody(http.StatusBadRequest, description) }
func notFound() *apiError                     { return errorBody(http.StatusNotFound, "404 Not Found") }
func conflict(description string) *apiError   { return errorBody(http.StatusConflict, description) }

// invalid is Mailman's message for a parameter of the wrong form.
func invalid(name, why string) *apiError {
	return badRequest(fmt.Sprintf("Invalid Parameter %q: %s.", name, why))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"title":"500 Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// object is one resource as JSON; etag adds its http_etag.
type object map[string]any

// etag sets o's http_etag: a SHA-1 of its content, as Mailman's.
func (o object) etag() object {
	delete(o, "http_etag")
	b, _ := json.Marshal(o)
	sum := sha1.Sum(b)
	o["http_etag"] = `"` + hex.EncodeToString(sum[:]) + `"`
	return o
}

// ok answers 200 with o.
func (c *call) ok(o object) error {
	writeJSON(c.w, http.StatusOK, o.etag())
	return nil
}

// created answers 201 with the new resource's link.
func (c *call) created(path string) error {
	c.w.Header().Set("Location", c.link(path))
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

// noContent answers 204.
func (c *call) noContent() error {
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// accepted answers 202 with a workflow's token.
func (c *call) accepted(o object) error {
	writeJSON(c.w, http.StatusAccepted, o)
	return nil
}

// link is the URL of path (from the version on), as Mailman writes
// self_link: from [webservice] hostname and port, whatever the request's
// Host said.
func (c *call) link(path string) string { return c.linkBase + path }

// appendLink appends, as a JSON string, the link to the resource path
// prefix+segment (segment already escaped).
func (c *call) appendLink(b []byte, prefix, segment string) []byte {
	start := len(b)
	b = append(b, '"')
	b = append(b, c.linkBase...)
	b = append(b, prefix...)
	b = append(b, segment...)
	if link := b[start+1:]; needsEscape(link) {
		return appendString(b[:start], string(link))
	}
	return append(b, '"')
}

// appendString appends s as a JSON string, as encoding/json writes it.
func appendString(b []byte, s string) []byte {
	if needsEscape(s) {
		e, _ := json.Marshal(s)
		return append(b, e...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// needsEscape is whether encoding/json would write s other than as it is.
func needsEscape[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return true
		}
	}
	return false
}

// page is the slice of a collection a request asks for.
type page struct {
	offset, limit int // limit < 0: all
	start         int
}

// paging reads count and page: with neither, everything.
func (c *call) paging() (page, error) {
	cs, hasCount := c.str("count")
	ps, hasPage := c.str("page")
	if !hasCount && !hasPage {
		return page{limit: -1}, nil
	}
	bad := func(name string) error {
		return &apiError{status: http.StatusBadRequest, body: map[string]any{
			"title": "Invalid parameter", "description": fmt.Sprintf("The %q parameter is invalid. count and page should be positive integers", name)}}
	}
	count, pg := -1, 1
	if hasCount {
		n, err := strconv.ParseInt(cs, 10, 64)
		if err != nil || n < 0 {
			return page{}, bad("count")
		}
		// A count past any roster (clients send sys.maxsize) is all.
		count = int(min(n, 1<<31))
	}
	if hasPage {
		n, err := strconv.ParseInt(ps, 10, 64)
		if err != nil || n < 1 {
			return page{}, bad("page")
		}
		pg = int(min(n, 1<<31))
	}
	if count < 0 {
		return page{limit: -1}, nil
	}
	offset := int(min(int64(pg-1)*int64(count), 1<<40))
	return page{offset: offset, limit: count, start: offset}, nil
}

// collection answers a page of entries out of total.
func (c *call) collection(p page, total int, entries []object) error {
	es := make([]any, len(entries))
	for i, e := range entries {
		es[i] = e
	}
	return c.writeCollection(p, total, es)
}

// writeCollection answers a page of entries (objects, or structs that
// marshal to one).
func (c *call) writeCollection(p page, total int, entries []any) error {
	body, err := encodeObjects(p, total, entries)
	if err != nil {
		return err
	}
	return c.writeBody(body)
}

// encodeObjects is encodeCollection of entries that encoding/json
// marshals.
func encodeObjects(p page, total int, entries []any) ([]byte, error) {
	return encodeCollection(p, total, len(entries), func(b []byte, i int) ([]byte, error) {
		e, err := json.Marshal(entries[i])
		return append(b, e...), err
	})
}

// encodeCollection is the body answering a page of n entries, encode
// appending the i-th's object to b (and safe to call from several
// goroutines): each entry is encoded once, its http_etag the SHA-1 of
// that, and the collection's the SHA-1 of theirs, so that a roster of
// 100,000 members is one pass, in parts at once, one a core.
func encodeCollection(p page, total, n int, encode func(b []byte, i int) ([]byte, error)) ([]byte, error) {
	parts := 1
	if n >= 10000 {
		parts = runtime.GOMAXPROCS(0)
	}
	bodies := make([][]byte, parts)
	sums := make([][sha1.Size]byte, n)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for k := range parts {
		wg.Go(func() { bodies[k], errs[k] = encodeEntries(k*n/parts, (k+1)*n/parts, sums, encode) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	size := 128
	for _, body := range bodies {
		size += len(body)
	}
	b := make([]byte, 0, size)
	whole := sha1.New()
	b = fmt.Appendf(b, `{"start":%d,"total_size":%d`, p.start, total)
	fmt.Fprintf(whole, "%d %d", p.start, total)
	if n > 0 {
		b = append(b, `,"entries":[`...)
		for k, body := range bodies {
			if k > 0 && len(body) > 0 {
				b = append(b, ',')
			}
			b = append(b, body...)
		}
		b = append(b, ']')
		for i := range sums {
			whole.Write(sums[i][:])
		}
	}
	b = append(b, `,"http_etag":"\"`...)
	b = hex.AppendEncode(b, whole.Sum(nil))
	return append(b, `\""}`...), nil
}

// encodeEntries encodes entries from to to, comma-separated, each with its
// http_etag, whose SHA-1 it puts in sums.
func encodeEntries(from, to int, sums [][sha1.Size]byte, encode func(b []byte, i int) ([]byte, error)) ([]byte, error) {
	b := make([]byte, 0, (to-from)*600)
	for i := from; i < to; i++ {
		if i > from {
			b = append(b, ',')
		}
		start := len(b)
		var err error
		b, err = encode(b, i)
		if err != nil || len(b)-start < 2 || b[len(b)-1] != '}' {
			return nil, fmt.Errorf("encoding entry %d: %v", i, err)
		}
		sums[i] = sha1.Sum(b[start:])
		empty := len(b)-start == 2
		b = b[:len(b)-1]
		if !empty {
			b = append(b, ',')
		}
		b = append(b, `"http_etag":"\"`...)
		b = hex.AppendEncode(b, sums[i][:])
		b = append(b, `\""}`...)
	}
	return b, nil
}

// writeBody answers 200 with a JSON body already encoded.
func (c *call) writeBody(body []byte) error {
	c.w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(http.StatusOK)
	_, err := c.w.Write(body)
	return err
}

// slice is the part of n entries a page takes, for collections not paged
// by the store.
func (p page) slice(n int) (from, to int) {
	if p.limit < 0 {
		return 0, n
	}
	from = min(p.offset, n)
	return from, min(from+p.limit, n)
}

// fields keeps only the keys the request's fields parameters name.
func (c *call) fields(o object) object {
	fs := c.form["fields"]
	if len(fs) == 0 {
		return o
	}
	out := object{}
	for _, f := range fs {
		if v, ok := o[f]; ok {
			out[f] = v
		}
	}
	return out
}

// id is a 32-hex-digit id as this version writes it: 3.0 a (128-bit)
// integer, 3.1 the hex.
func (c *call) id(hexID string) any {
	if c.version == "3.0" {
		n, ok := new(big.Int).SetString(hexID, 16)
		if ok {
			return json.Number(n.String())
		}
	}
	return hexID
}

// idPath is the path segment of an id.
func (c *call) idPath(hexID string) string { return fmt.Sprint(c.id(hexID)) }

// parseID reads an id from a path in either version's form.
func (c *call) parseID(s string) (string, bool) {
	if c.version == "3.0" {
		n, ok := new(big.Int).SetString(s, 10)
		if !ok || n.Sign() < 0 || n.BitLen() > 128 {
			return "", false
		}
		return fmt.Sprintf("%032x", n), true
	}
	s = strings.ToLower(strings.ReplaceAll(s, "-", ""))
	if len(s) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}
