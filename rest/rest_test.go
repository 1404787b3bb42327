package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/internal/pgtest"
	"github.com/mailman-go/mailman/moderation"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/subscription"
	"github.com/mailman-go/mailman/switchboard"
)

// site is an API over a store of its own, in a temporary folder, served
// over a real loopback connection.
type site struct {
	t        testing.TB
	srv      *httptest.Server
	store    *store.Store
	pipeline *switchboard.Switchboard
	virgin   *switchboard.Switchboard
	base     string // http://127.0.0.1:PORT, for the paths of links
}

// cluster is the private PostgreSQL server the tests also run on; nil
// where PostgreSQL is not installed.
var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{}, &cluster)) }

// onBackends runs test on a site over SQLite, then over PostgreSQL.
func onBackends(t *testing.T, test func(t *testing.T, s *site)) {
	t.Run("sqlite", func(t *testing.T) { test(t, newSite(t)) })
	t.Run("postgres", func(t *testing.T) {
		pgtest.Need(t, cluster)
		test(t, newSiteOn(t, cluster.NewDatabase(t)))
	})
}

func newSite(t testing.TB) *site { return newSiteOn(t, "") }

// newSiteOn is a site whose store is at dbURL ("" for SQLite).
func newSiteOn(t testing.TB, dbURL string) *site { return newSiteWith(t, dbURL, nil) }

// newSiteWith is a site whose configuration tweak changes, when not nil.
func newSiteWith(t testing.TB, dbURL string, tweak func(*config.Config)) *site {
	t.Helper()
	cfg := config.Default()
	if tweak != nil {
		tweak(cfg)
	}
	cfg.Database.URL = dbURL
	cfg.PathSettings.VarDir = t.TempDir()
	// The maps a list's creation writes, without postmap.
	cfg.MTA.TransportFileType = "regex"
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL, cfg.VarDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	open := func(name string) *switchboard.Switchboard {
		q, err := switchboard.Open(cfg.Paths().Queues, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
	s := &site{t: t, store: st, pipeline: open("pipeline"), virgin: open("virgin")}
	log := slog.New(slog.DiscardHandler)
	if _, fuzzing := t.(*testing.F); !fuzzing {
		log = slog.New(slog.NewTextHandler(testLog{t}, nil))
	}
	m := &moderation.Moderator{Store: st, Pipeline: s.pipeline, Virgin: s.virgin}
	w := &subscription.Workflow{Store: st, Virgin: s.virgin, PendingLife: cfg.Mailman.PendingRequestLife.D(), ModeratorLife: cfg.Mailman.ModeratorRequestLife.D()}
	s.srv = httptest.NewServer(New(cfg, st, m, w, log))
	t.Cleanup(s.srv.Close)
	s.base = fmt.Sprintf("http://%s:%d", cfg.Webservice.Hostname, cfg.Webservice.Port)
	return s
}

// reply is an answer: its status, Location and JSON body.
type reply struct {
	status   int
	location string
	body     map[string]any
	raw      string
}

// do sends a request with params form-encoded (in the query for GET), as
// mailmanclient sends them, authenticated as the admin.
func (s *site) do(method, path string, params url.Values) reply {
	s.t.Helper()
	return s.send(method, path, params, "restadmin", "restpass")
}

func (s *site) send(method, path string, params url.Values, user, pass string) reply {
	s.t.Helper()
	u := s.srv.URL + path
	var body io.Reader
	if method == http.MethodGet && len(params) > 0 {
		u += "?" + params.Encode()
	} else if len(params) > 0 {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return s.roundTrip(req)
}

// doJSON sends a JSON body, as some scripts do.
func (s *site) doJSON(method, path string, v any) reply {
	s.t.Helper()
	b, _ := json.Marshal(v)
	req, _ := http.NewRequest(method, s.srv.URL+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("restadmin", "restpass")
	return s.roundTrip(req)
}

func (s *site) roundTrip(req *http.Request) reply {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, location: resp.Header.Get("Location"), raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			s.t.Fatalf("%s %s: body is not a JSON object: %q", req.Method, req.URL, raw)
		}
	}
	if r.status == http.StatusInternalServerError {
		s.t.Errorf("%s %s: 500 %s", req.Method, req.URL, raw)
	}
	return r
}

// must fails the test unless r has status want.
func (s *site) must(r reply, want int, what string) reply {
	s.t.Helper()
	if r.status != want {
		s.t.Fatalf("%s: status %d, want %d: %s", what, r.status, want, r.raw)
	}
	return r
}

// path is a link's path, as mailmanclient follows it.
func (s *site) path(link string) string {
	s.t.Helper()
	if !strings.HasPrefix(link, s.base) {
		s.t.Fatalf("link %q is not under %s", link, s.base)
	}
	return strings.TrimPrefix(link, s.base)
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// entries is a collection's entries.
func entries(r reply) []map[string]any {
	var out []map[string]any
	list, _ := r.body["entries"].([]any)
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}

// setup makes the domain example.com and its list ant@example.com.
func (s *site) setup() {
	s.t.Helper()
	s.must(s.do("POST", "/3.1/domains", form("mail_host", "example.com")), 201, "POST domains")
	s.must(s.do("POST", "/3.1/lists", form("fqdn_listname", "ant@example.com")), 201, "POST lists")
	s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "owner@example.com", "role", "owner")), 201, "POST owner")
}

// Every request is authenticated, the root and unknown paths included,
// with Mailman's 401.
func TestAuthentication(t *testing.T) {
	s := newSite(t)
	for _, tc := range []struct {
		name, user, pass, path string
		want                   int
	}{
		{"none", "", "", "/3.1/system/versions", 401},
		{"wrong password", "restadmin", "nope", "/3.1/system/versions", 401},
		{"wrong user", "admin", "restpass", "/3.1/system/versions", 401},
		{"unknown path unauthenticated", "", "", "/nowhere", 401},
		{"right", "restadmin", "restpass", "/3.1/system/versions", 200},
		{"root", "restadmin", "restpass", "/", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.srv.URL+tc.path, nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 401 {
				if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="mailman3-rest",charset="utf-8"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if string(body) != `{"description":"REST API authorization failed","title":"401 Unauthorized"}` {
					t.Errorf("401 body = %s", body)
				}
			}
		})
	}
}

// Bad requests get Mailman's bodies, never a 500.
func TestErrors(t *testing.T) { onBackends(t, testErrors) }

func testErrors(t *testing.T, s *site) {
	s.setup()
	s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "anne@example.com", "pre_verified", "true", "pre_confirmed", "yes")), 201, "subscribe anne")
	for _, tc := range []struct {
		name, method, path string
		params             url.Values
		status             int
		body               map[string]any
	}{
		{"unknown path", "GET", "/3.1/nothing", nil, 404, map[string]any{"title": "404 Not Found"}},
		{"unknown version", "GET", "/3.2/system/versions", nil, 404, map[string]any{"title": "404 Not Found"}},
		{"missing list", "GET", "/3.1/lists/bee.example.com", nil, 404, map[string]any{"title": "404 Not Found", "description": "404 Not Found"}},
		{"a list name that is no list's", "GET", "/3.1/lists/nodots", nil, 404, map[string]any{"title": "404 Not Found", "description": "404 Not Found"}},
		{"missing member", "GET", "/3.1/members/00000000000000000000000000000099", nil, 404, map[string]any{"title": "404 Not Found", "description": "404 Not Found"}},
		{"a member id that is not one", "GET", "/3.1/members/xyz", nil, 404, map[string]any{"title": "404 Not Found", "description": "404 Not Found"}},
		{"method", "PUT", "/3.1/lists", nil, 405, map[string]any{"title": "405 Method Not Allowed"}},
		{"unexpected parameters", "POST", "/3.1/lists", form("fqdn_listname", "bee@example.com", "b", "1", "a", "2"), 400,
			map[string]any{"title": "400 Bad Request", "description": "Unexpected parameters: a, b"}},
		{"missing parameter", "POST", "/3.1/lists", nil, 400, map[string]any{"title": "400 Bad Request", "description": "Missing Parameter: fqdn_listname"}},
		{"list exists", "POST", "/3.1/lists", form("fqdn_listname", "ant@example.com"), 400, map[string]any{"title": "400 Bad Request", "description": "Mailing list exists"}},
		{"no domain", "POST", "/3.1/lists", form("fqdn_listname", "ant@example.org"), 400, map[string]any{"title": "400 Bad Request", "description": "Domain does not exist: example.org"}},
		{"bad posting address", "POST", "/3.1/lists", form("fqdn_listname", "not an address"), 400,
			map[string]any{"title": "400 Bad Request", "description": "Invalid list posting address: not an address"}},
		{"duplicate domain", "POST", "/3.1/domains", form("mail_host", "example.com"), 400,
			map[string]any{"title": "400 Bad Request", "description": "Duplicate email host: example.com"}},
		{"bad enum", "PATCH", "/3.1/lists/ant.example.com/config", form("subscription_policy", "bogus"), 400,
			map[string]any{"title": "400 Bad Request", "description": `Invalid Parameter "subscription_policy": Accepted Values are: open, confirm, moderate, confirm_then_moderate.`}},
		{"bad boolean", "PATCH", "/3.1/lists/ant.example.com/config", form("advertised", "maybe"), 400,
			map[string]any{"title": "400 Bad Request", "description": `Invalid Parameter "advertised": Invalid boolean value: maybe.`}},
		{"bad number", "PATCH", "/3.1/lists/ant.example.com/config", form("max_days_to_hold", "x"), 400,
			map[string]any{"title": "400 Bad Request", "description": `Invalid Parameter "max_days_to_hold": invalid literal for int() with base 10: 'x'.`}},
		{"unknown attribute", "PATCH", "/3.1/lists/ant.example.com/config", form("bogus", "1"), 400,
			map[string]any{"title": "400 Bad Request", "description": "Unknown attribute: bogus"}},
		{"read-only attribute", "PATCH", "/3.1/lists/ant.example.com/config", form("list_name", "bee"), 400,
			map[string]any{"title": "400 Bad Request", "description": "Read-only attribute: list_name"}},
		{"PUT without every key", "PUT", "/3.1/lists/ant.example.com/config", form("display_name", "Ant"), 400,
			map[string]any{"title": "400 Bad Request", "description": "Missing Parameter: accept_these_nonmembers"}},
		{"unknown config attribute", "GET", "/3.1/lists/ant.example.com/config/bogus", nil, 404, map[string]any{"title": "404 Not Found", "description": "404 Not Found"}},
		{"page 0", "GET", "/3.1/lists", form("count", "2", "page", "0"), 400,
			map[string]any{"title": "Invalid parameter", "description": `The "page" parameter is invalid. count and page should be positive integers`}},
		{"count not a number", "GET", "/3.1/lists", form("count", "x", "page", "1"), 400,
			map[string]any{"title": "Invalid parameter", "description": `The "count" parameter is invalid. count and page should be positive integers`}},
		{"already subscribed", "POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "anne@example.com"), 409,
			map[string]any{"title": "409 Conflict", "description": "Member already subscribed"}},
		{"already an owner", "POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "owner@example.com", "role", "owner"), 400,
			map[string]any{"title": "400 Bad Request", "description": "owner@example.com is already an owner of ant@example.com"}},
		{"bad role", "POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "x@example.com", "role", "king"), 400,
			map[string]any{"title": "400 Bad Request", "description": `Invalid Parameter "role": Accepted Values are: member, owner, moderator, nonmember.`}},
		{"the list's own address", "POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "ant-request@example.com", "pre_verified", "1"), 400,
			map[string]any{"title": "400 Bad Request", "description": "List posting address cannot subscribe"}},
		{"no preferred address", "POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "0123456789abcdef0123456789abcdef"), 400,
			map[string]any{"title": "400 Bad Request", "description": "No such user: 0123456789abcdef0123456789abcdef"}},
		{"lists/find finds nothing", "GET", "/3.1/lists/find", form("subscriber", "nobody@example.com"), 404,
			map[string]any{"title": "404 Not Found", "description": "404 Not Found"}},
		{"bad password", "POST", "/3.1/users/anne@example.com/login", form("cleartext_password", "x"), 403, map[string]any{"title": "403 Forbidden"}},
		{"digest: send and periodic", "POST", "/3.1/lists/ant.example.com/digest", form("send", "true", "periodic", "true"), 400,
			map[string]any{"title": "400 Bad Request", "description": "send and periodic options are mutually exclusive"}},
		{"digest: send what", "POST", "/3.1/lists/ant.example.com/digest", form("send", "maybe"), 400, nil},
		{"digest: an unknown option", "POST", "/3.1/lists/ant.example.com/digest", form("bump", "true", "now", "true"), 400, nil},
		{"a regex that is not one", "POST", "/3.1/lists/ant.example.com/header-matches", form("header", "Subject", "pattern", "("), 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, tc.params)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.body == nil {
				if r.body["title"] != "400 Bad Request" || r.body["description"] == "" {
					t.Errorf("body %s, want a 400 with a description", r.raw)
				}
				return
			}
			want, _ := json.Marshal(tc.body)
			got, _ := json.Marshal(r.body)
			if string(got) != string(want) {
				t.Errorf("body\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// Paging takes the slice Mailman takes; entries is left out of an empty
// page, which clients test for.
func TestPaging(t *testing.T) { onBackends(t, testPaging) }

func testPaging(t *testing.T, s *site) {
	s.must(s.do("POST", "/3.1/domains", form("mail_host", "example.com")), 201, "domain")
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		s.must(s.do("POST", "/3.1/lists", form("fqdn_listname", n+"@example.com")), 201, "list "+n)
	}
	for _, tc := range []struct {
		count, page string
		start, n    int
	}{
		{"2", "1", 0, 2}, {"2", "2", 2, 2}, {"2", "3", 4, 1}, {"2", "4", 6, 0},
		{"0", "1", 0, 0},
		{"9223372036854775807", "1", 0, 5},
		{"9223372036854775807", "9223372036854775807", 0, 0},
		{"", "", 0, 5},
	} {
		t.Run(tc.count+"/"+tc.page, func(t *testing.T) {
			p := url.Values{}
			if tc.count != "" {
				p = form("count", tc.count, "page", tc.page)
			}
			r := s.must(s.do("GET", "/3.1/lists", p), 200, "GET lists")
			if r.body["total_size"] != 5.0 || len(entries(r)) != tc.n {
				t.Errorf("total_size %v, %d entries; want 5, %d: %s", r.body["total_size"], len(entries(r)), tc.n, r.raw)
			}
			if _, has := r.body["entries"]; has == (tc.n == 0) {
				t.Errorf("entries present = %v with %d entries", has, tc.n)
			}
			if tc.n > 0 && int(r.body["start"].(float64)) != tc.start {
				t.Errorf("start %v, want %d", r.body["start"], tc.start)
			}
		})
	}
}

func defaultWebservice() config.Webservice { return config.Default().Webservice }

// testLog writes the server's log lines to the test's.
type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
