package rest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequest sends arbitrary paths, queries and bodies (form-encoded or
// JSON) to the API: whatever comes, the answer is Mailman's JSON, never a
// 500 or a panic.
func FuzzRequest(f *testing.F) {
	for _, seed := range []struct{ method, path, ctype, body string }{
		{"GET", "/3.1/lists?count=2&page=1", "", ""},
		{"POST", "/3.1/members", "application/x-www-form-urlencoded", "list_id=ant.example.com&subscriber=a%40example.com&pre_verified=1"},
		{"POST", "/3.1/members/find", "application/json", `{"list_id":"ant.example.com","subscriber":"*a*","count":"x"}`},
		{"PATCH", "/3.1/lists/ant.example.com/config", "application/json", `{"acceptable_aliases":["^(x"],"advertised":[1]}`},
		{"PATCH", "/3.1/lists/ant@example.com/config", "application/x-www-form-urlencoded", "bounce_info_stale_after=1w2d3h&max_message_size=-1"},
		{"POST", "/3.1/lists/ant.example.com/header-matches", "application/x-www-form-urlencoded", "header=Subject&pattern=%5B&position=99999999999"},
		{"GET", "/3.0/members/340282366920938463463374607431768211455", "", ""},
		{"POST", "/3.1/queues/bad", "application/x-www-form-urlencoded", "list_id=ant.example.com&text=From%3A"},
		{"DELETE", "/3.1/lists/ant.example.com/bans/%5E.*", "", ""},
		{"PUT", "/3.1/users/anne@example.com", "application/json", `{"cleartext_password":null}`},
	} {
		f.Add(seed.method, seed.path, seed.ctype, seed.body)
	}
	s := newSite(f)
	s.setup()
	f.Fuzz(func(t *testing.T, method, path, ctype, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", ctype)
		req.SetBasicAuth("restadmin", "restpass")
		w := httptest.NewRecorder()
		s.srv.Config.Handler.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s (%s) %q: %d %s", method, path, ctype, body, w.Code, w.Body)
		}
	})
}
