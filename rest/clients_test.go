package rest

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// queued is the messages in q, oldest first.
func queued(t *testing.T, q *switchboard.Switchboard) []string {
	t.Helper()
	files, err := q.Files()
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, f := range files {
		e, err := switchboard.ReadFile(q.Dir() + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, string(e.Message))
	}
	return msgs
}

// The calls Postorius 1.3 makes on its main pages (spec §1.7), in its
// order: index, list summary, subscribe (signed in and anonymous),
// members, settings, held messages, requests, bans and header matches.
func TestPostoriusCalls(t *testing.T) { onBackends(t, testPostoriusCalls) }

func testPostoriusCalls(t *testing.T, s *site) {
	s.setup()
	// The list index: anonymous, then by domain.
	r := s.must(s.do("GET", "/3.1/lists", form("advertised", "true", "count", "10", "page", "1")), 200, "index")
	if l := entries(r); len(l) != 1 || l[0]["list_id"] != "ant.example.com" || l[0]["member_count"] != 0.0 {
		t.Fatalf("index entries %v", l)
	}
	s.must(s.do("GET", "/3.1/domains", nil), 200, "domains")
	s.must(s.do("GET", "/3.1/domains/example.com/lists", form("advertised", "true")), 200, "domain lists")
	// Every list page: the list, the owner and moderator rosters (email
	// only), the held and request counts.
	r = s.must(s.do("GET", "/3.1/lists/ant@example.com", nil), 200, "list by address")
	if r.body["fqdn_listname"] != "ant@example.com" || s.path(r.body["self_link"].(string)) != "/3.1/lists/ant.example.com" {
		t.Errorf("list %s", r.raw)
	}
	r = s.must(s.do("GET", "/3.1/lists/ant.example.com/roster/owner", form("fields", "email")), 200, "owners")
	if o := entries(r); len(o) != 1 || len(o[0]) != 2 || o[0]["email"] != "owner@example.com" {
		t.Errorf("owner roster with fields=email: %v (email and http_etag only)", o)
	}
	s.must(s.do("GET", "/3.1/lists/ant.example.com/roster/moderator", form("fields", "email")), 200, "moderators")
	if r = s.must(s.do("GET", "/3.1/lists/ant.example.com/held/count", nil), 200, "held count"); r.body["count"] != 0.0 {
		t.Errorf("held/count %s", r.raw)
	}
	s.must(s.do("GET", "/3.1/lists/ant.example.com/requests/count", form("token_owner", "moderator")), 200, "requests count")
	// The summary: config, archivers, pending requests.
	s.must(s.do("GET", "/3.1/lists/ant.example.com/config", nil), 200, "config")
	s.must(s.do("GET", "/3.1/lists/ant.example.com/archivers", nil), 200, "archivers")
	s.must(s.do("GET", "/3.1/lists/ant.example.com/requests", nil), 200, "requests")

	// A signed-in user subscribes: django-mailman3 made the user at
	// login and verified the address.
	s.must(s.do("GET", "/3.1/users/anne@example.com", nil), 404, "no user yet")
	r = s.must(s.do("POST", "/3.1/users", form("email", "anne@example.com", "display_name", "Anne Person")), 201, "POST users")
	userPath := s.path(r.location)
	s.must(s.do("POST", "/3.1/addresses/anne@example.com/verify", nil), 204, "verify")
	s.must(s.do("POST", userPath+"/preferred_address", form("email", "anne@example.com")), 201, "preferred address")
	r = s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "anne@example.com", "pre_verified", "True", "pre_confirmed", "True")), 201, "signed-in subscribe")
	memberPath := s.path(r.location)
	// An anonymous visitor: the core mails the confirmation.
	r = s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "bob@example.com", "display_name", "Bob")), 202, "anonymous subscribe")
	if r.body["token_owner"] != "subscriber" || len(r.body["token"].(string)) != 40 {
		t.Errorf("202 body %s", r.raw)
	}
	if msgs := queued(t, s.virgin); len(msgs) != 2 || !strings.Contains(msgs[0], "Welcome to") || !strings.Contains(msgs[1], "confirm "+r.body["token"].(string)) {
		t.Errorf("the welcome to anne, then bob's confirmation with its token, are not queued: %q", msgs)
	}
	s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "bob@example.com")), 409, "already pending")

	// The user's pages: their memberships, by user id too.
	r = s.must(s.do("GET", userPath, nil), 200, "user")
	uid := r.body["user_id"].(string)
	r = s.must(s.do("GET", "/3.1/lists/find", form("subscriber", uid, "count", "9223372036854775807", "page", "1")), 200, "lists/find by user")
	if l := entries(r); len(l) != 1 || l[0]["list_id"] != "ant.example.com" || l[0]["member_count"] != 1.0 {
		t.Errorf("lists/find %v", l)
	}
	r = s.must(s.do("POST", "/3.1/members/find", form("subscriber", "anne@example.com")), 200, "members/find by address")
	if m := entries(r); len(m) != 1 || s.path(m[0]["user"].(string)) != userPath {
		t.Errorf("members/find %v", m)
	}
	s.must(s.do("GET", "/3.1/lists/ant.example.com/member/anne@example.com", nil), 200, "member by email")
	s.must(s.do("GET", memberPath+"/preferences", nil), 200, "member preferences")
	s.must(s.do("GET", userPath+"/preferences", nil), 200, "user preferences")
	s.must(s.do("GET", "/3.1/system/preferences", nil), 200, "system preferences")
	// The settings page's choices of pipeline, as Mailman 3.3.8 lists them.
	for path, want := range map[string]string{
		"/3.1/system/pipelines": `["default-owner-pipeline","default-posting-pipeline","virgin"]`,
		"/3.1/system/chains":    `["accept","default-owner-chain","default-posting-chain","discard","dmarc","header-match","hold","moderation","reject"]`,
	} {
		r := s.must(s.do("GET", path, nil), 200, path)
		var names any
		for k, v := range r.body {
			if k != "http_etag" {
				names = v
			}
		}
		if got, _ := json.Marshal(names); string(got) != want {
			t.Errorf("%s: %s, want %s", path, r.raw, want)
		}
	}

	// The members page: a page of 25, a search, mass removal.
	for _, a := range []string{"carl@example.com", "dave@example.org"} {
		s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", a, "pre_verified", "1", "pre_confirmed", "1", "pre_approved", "1")), 201, "add "+a)
	}
	r = s.must(s.do("GET", "/3.1/members/find", form("list_id", "ant.example.com", "role", "member", "count", "25", "page", "1")), 200, "members page")
	if r.body["total_size"] != 3.0 {
		t.Errorf("members page %s", r.raw)
	}
	r = s.must(s.do("GET", "/3.1/members/find", form("list_id", "ant.example.com", "role", "member", "subscriber", "*example.org*", "count", "25", "page", "1")), 200, "search")
	if m := entries(r); len(m) != 1 || m[0]["email"] != "dave@example.org" {
		t.Errorf("search %v", m)
	}
	r = s.must(s.do("DELETE", "/3.1/lists/ant.example.com/roster/member", form("emails", "carl@example.com", "emails", "nobody@example.com")), 200, "mass removal")
	if r.body["carl@example.com"] != true || r.body["nobody@example.com"] != false {
		t.Errorf("mass removal %s", r.raw)
	}

	// Settings: GET config, PATCH what changed.
	s.must(s.do("PATCH", "/3.1/lists/ant.example.com/config", form("display_name", "Ants", "subscription_policy", "moderate",
		"acceptable_aliases", "ants@example.com", "acceptable_aliases", "^ant-.*@example.com", "digest_size_threshold", "12.5", "archive_policy", "private")), 204, "PATCH config")
	r = s.must(s.do("GET", "/3.1/lists/ant.example.com/config", nil), 200, "config again")
	if r.body["display_name"] != "Ants" || r.body["subscription_policy"] != "moderate" || r.body["digest_size_threshold"] != 12.5 ||
		r.body["archive_policy"] != "private" || len(r.body["acceptable_aliases"].([]any)) != 2 {
		t.Errorf("config after PATCH: %s", r.raw)
	}
	// Under moderate, a subscription waits for a moderator, whose
	// request Postorius lists and accepts.
	r = s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "erin@example.com", "pre_verified", "1", "pre_confirmed", "1")), 202, "moderated subscribe")
	if r.body["token_owner"] != "moderator" {
		t.Errorf("202 body %s", r.raw)
	}
	token := r.body["token"].(string)
	r = s.must(s.do("GET", "/3.1/lists/ant.example.com/requests", form("token_owner", "moderator", "request_type", "subscription")), 200, "moderator requests")
	if q := entries(r); len(q) != 1 || q[0]["token"] != token || q[0]["email"] != "erin@example.com" {
		t.Errorf("requests %v", q)
	}
	s.must(s.do("POST", "/3.1/lists/ant.example.com/requests/"+token, form("action", "accept")), 204, "accept request")
	s.must(s.do("GET", "/3.1/lists/ant.example.com/member/erin@example.com", nil), 200, "accepted member")
	s.must(s.do("GET", "/3.1/lists/ant.example.com/requests/"+token, nil), 404, "the used token")

	// Bans and header matches: the matches are cleared and posted again.
	s.must(s.do("POST", "/3.1/lists/ant.example.com/bans", form("email", "spam@example.com")), 201, "ban")
	s.must(s.do("POST", "/3.1/lists/ant.example.com/bans", form("email", "spam@example.com")), 400, "ban again")
	s.must(s.do("POST", "/3.1/bans", form("email", "^.*@spam\\.example$")), 201, "site ban")
	s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "x@spam.example", "pre_verified", "1")), 400, "banned subscribe")
	s.must(s.do("DELETE", "/3.1/lists/ant.example.com/header-matches", nil), 204, "clear header matches")
	for _, p := range []string{"viagra", "lottery"} {
		s.must(s.do("POST", "/3.1/lists/ant.example.com/header-matches", form("header", "Subject", "pattern", p, "action", "discard")), 201, "header match")
	}
	r = s.must(s.do("GET", "/3.1/lists/ant.example.com/header-matches", nil), 200, "header matches")
	if hm := entries(r); len(hm) != 2 || hm[1]["pattern"] != "lottery" || hm[1]["position"] != 1.0 || hm[0]["header"] != "subject" {
		t.Errorf("header matches %v", hm)
	}
	s.must(s.do("DELETE", "/3.1/lists/ant.example.com/header-matches/0", nil), 204, "delete match 0")
	r = s.must(s.do("GET", "/3.1/lists/ant.example.com/header-matches/0", nil), 200, "match 0")
	if r.body["pattern"] != "lottery" {
		t.Errorf("after deleting 0, 0 is %s", r.raw)
	}

	// Templates: Postorius names its own template views.
	footer := "http://localhost/postorius/api/templates/list/ant.example.com/list:member:regular:footer"
	s.must(s.do("PATCH", "/3.1/lists/ant.example.com/uris", form("list:member:regular:footer", footer)), 204, "PATCH uris")
	r = s.must(s.do("GET", "/3.1/lists/ant.example.com/uris", nil), 200, "uris")
	if u := entries(r); len(u) != 1 || u[0]["uri"] != footer || u[0]["name"] != "list:member:regular:footer" {
		t.Errorf("uris %v", u)
	}
	s.must(s.do("GET", "/3.1/lists/ant.example.com/uris/list:member:regular:footer", nil), 200, "one uri")
	s.must(s.do("PATCH", "/3.1/lists/ant.example.com/uris", form("list:bogus", footer)), 400, "unknown template")
	s.must(s.do("GET", "/3.0/lists/ant.example.com/uris", nil), 404, "3.0 has no uris")
	s.must(s.do("PATCH", "/3.1/lists/ant.example.com/uris", form("list:member:regular:footer", "")), 204, "clear uri")
	if r = s.must(s.do("GET", "/3.1/lists/ant.example.com/uris", nil), 200, "uris"); r.body["total_size"] != 0.0 {
		t.Errorf("uris after clearing %s", r.raw)
	}
	s.must(s.do("PUT", "/3.1/uris/domain:admin:notice:new-list", form("uri", "https://example.com/new-list.txt")), 204, "site uri")
}

// A held post is listed, counted, shown whole and decided through the
// moderator the command line uses: accept sends it to the pipeline,
// reject bounces it to its sender with the comment.
func TestHeldMessages(t *testing.T) { onBackends(t, testHeldMessages) }

func testHeldMessages(t *testing.T, s *site) {
	s.setup()
	ctx := context.Background()
	hold := func(subject string) int64 {
		msg := "From: eve@example.org\r\nTo: ant@example.com\r\nSubject: " + subject + "\r\nMessage-ID: <" + subject + "@example.org>\r\n\r\nhello\r\n"
		md, _ := json.Marshal(map[string]any{"listid": "ant.example.com", "to_list": true, "moderation_sender": "eve@example.org"})
		id, _, err := s.store.Hold(ctx, &store.HeldMessage{ListID: "ant.example.com", Sender: "eve@example.org", Subject: subject,
			MessageID: "<" + subject + "@example.org>", Reasons: []string{"The message is not from a list member"}, Message: []byte(msg), Msgdata: md}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	first, second, third := hold("one"), hold("two"), hold("three")
	r := s.must(s.do("GET", "/3.1/lists/ant.example.com/held", form("count", "2", "page", "1")), 200, "held page")
	if h := entries(r); r.body["total_size"] != 3.0 || len(h) != 2 || h[0]["request_id"] != float64(first) || h[0]["subject"] != "one" ||
		!strings.Contains(h[0]["msg"].(string), "Subject: one") || h[0]["moderation_sender"] != "eve@example.org" {
		t.Errorf("held page %s", r.raw)
	}
	if r = s.must(s.do("GET", "/3.1/lists/ant.example.com/held/count", nil), 200, "count"); r.body["count"] != 3.0 {
		t.Errorf("count %s", r.raw)
	}
	s.must(s.do("POST", "/3.1/lists/ant.example.com/held/"+itoa(first), form("action", "bogus")), 400, "bad action")
	s.must(s.do("POST", "/3.1/lists/ant.example.com/held/"+itoa(first), form("action", "defer")), 204, "defer")
	s.must(s.do("POST", "/3.1/lists/ant.example.com/held/"+itoa(first), form("action", "accept")), 204, "accept")
	if p := queued(t, s.pipeline); len(p) != 1 || !strings.Contains(p[0], "Subject: one") {
		t.Errorf("pipeline after accept: %q", p)
	}
	s.must(s.do("POST", "/3.1/lists/ant.example.com/held/"+itoa(second), form("action", "reject", "comment", "Off topic here")), 204, "reject")
	if v := queued(t, s.virgin); len(v) != 1 || !strings.Contains(v[0], "Off topic here") || !strings.Contains(v[0], "eve@example.org") {
		t.Errorf("virgin after reject: %q", v)
	}
	s.must(s.do("POST", "/3.1/lists/ant.example.com/held/"+itoa(third), form("action", "discard")), 204, "discard")
	s.must(s.do("GET", "/3.1/lists/ant.example.com/held/"+itoa(third), nil), 404, "discarded")
	if r = s.must(s.do("GET", "/3.1/lists/ant.example.com/held", nil), 200, "held"); r.body["total_size"] != 0.0 {
		t.Errorf("held after deciding all: %s", r.raw)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// The calls HyperKitty 1.3 makes (spec §1.7): its sync of lists, their
// config and rosters; a sender's user; a visitor posting from the web,
// subscribed pre-verified and set to get no mail.
func TestHyperKittyCalls(t *testing.T) { onBackends(t, testHyperKittyCalls) }

func testHyperKittyCalls(t *testing.T, s *site) {
	s.setup()
	for page := 1; ; page++ {
		r := s.must(s.do("GET", "/3.1/lists", form("count", "10", "page", itoa(int64(page)))), 200, "lists page")
		if _, ok := r.body["entries"]; !ok {
			break
		}
		for _, l := range entries(r) {
			cfg := s.must(s.do("GET", s.path(l["self_link"].(string))+"/config", nil), 200, "config")
			for _, k := range []string{"display_name", "description", "subject_prefix", "archive_policy", "created_at", "archive_rendering_mode"} {
				if _, ok := cfg.body[k]; !ok {
					t.Errorf("config has no %s", k)
				}
			}
			s.must(s.do("GET", s.path(l["self_link"].(string))+"/roster/owner", nil), 200, "owners")
			s.must(s.do("GET", s.path(l["self_link"].(string))+"/roster/moderator", nil), 200, "moderators")
		}
	}
	r := s.must(s.do("GET", "/3.1/users/owner@example.com", nil), 200, "sender's user")
	s.must(s.do("GET", s.path(r.body["self_link"].(string))+"/addresses", nil), 200, "addresses")
	// Posting from the web, as a non-member.
	s.must(s.do("GET", "/3.1/lists/ant@example.com/member/visitor@example.net", nil), 404, "not a member")
	r = s.must(s.do("POST", "/3.1/members", form("list_id", "ant.example.com", "subscriber", "visitor@example.net", "pre_verified", "true", "pre_confirmed", "true")), 201, "web subscribe")
	member := s.path(r.location)
	s.must(s.do("PATCH", member+"/preferences", form("delivery_status", "by_user")), 204, "no mail")
	r = s.must(s.do("GET", member+"/all/preferences", nil), 200, "all preferences")
	if r.body["delivery_status"] != "by_user" || r.body["receive_own_postings"] != true {
		t.Errorf("effective preferences %s", r.raw)
	}
	m, err := s.store.Member(context.Background(), "ant.example.com", "visitor@example.net", store.Regular)
	if err != nil || m.DeliveryEnabled || m.DeliveryStatus != store.ByUser {
		t.Errorf("the member's delivery after by_user: %+v, %v", m, err)
	}
	r = s.must(s.do("GET", "/3.1/members/find", form("subscriber", "visitor@example.net")), 200, "subscriptions")
	if r.body["total_size"] != 1.0 {
		t.Errorf("members/find %s", r.raw)
	}
}

// Version 3.0 writes ids as integers and takes them in paths.
func TestVersion30IDs(t *testing.T) {
	s := newSite(t)
	s.setup()
	r := s.must(s.do("GET", "/3.0/lists/ant.example.com/roster/owner", nil), 200, "3.0 roster")
	m := entries(r)[0]
	if strings.HasPrefix(jsonString(m["member_id"]), `"`) {
		t.Fatalf("3.0 member_id %v is not a number", m["member_id"])
	}
	s.must(s.do("GET", s.path(m["self_link"].(string)), nil), 200, "3.0 member by integer id")
	var raw map[string]json.RawMessage
	json.Unmarshal([]byte(s.must(s.do("GET", s.path(m["user"].(string)), nil), 200, "3.0 user").raw), &raw)
	if strings.HasPrefix(string(raw["user_id"]), `"`) || len(raw["user_id"]) < 10 {
		t.Errorf("3.0 user_id %s", raw["user_id"])
	}
	if r := s.must(s.do("GET", "/3.1/lists/ant.example.com/roster/owner", nil), 200, "3.1 roster"); len(entries(r)[0]["member_id"].(string)) != 32 {
		t.Errorf("3.1 member_id %v", entries(r)[0]["member_id"])
	}
}

// /system/configuration shows the configuration, never admin_pass.
func TestConfigurationHidesSecrets(t *testing.T) {
	s := newSite(t)
	r := s.must(s.do("GET", "/3.1/system/configuration/webservice", nil), 200, "webservice")
	if r.body["admin_user"] != "restadmin" || r.body["port"] != "8001" {
		t.Errorf("webservice section %s", r.raw)
	}
	if strings.Contains(r.raw, "restpass") || r.body["admin_pass"] != nil {
		t.Errorf("the section shows the password: %s", r.raw)
	}
	r = s.must(s.do("GET", "/3.1/system/configuration/database", nil), 200, "database")
	if _, ok := r.body["url"]; ok {
		t.Errorf("the database URL (which may hold a password) is shown: %s", r.raw)
	}
}

// JSON bodies work as form bodies do.
func TestJSONBodies(t *testing.T) { onBackends(t, testJSONBodies) }

func testJSONBodies(t *testing.T, s *site) {
	s.setup()
	s.must(s.doJSON("PATCH", "/3.1/lists/ant.example.com/config", map[string]any{"advertised": false, "max_message_size": 100, "accept_these_nonmembers": []string{"a@example.com"}}), 204, "JSON PATCH")
	r := s.must(s.do("GET", "/3.1/lists/ant.example.com/config", nil), 200, "config")
	if r.body["advertised"] != false || r.body["max_message_size"] != 100.0 || len(r.body["accept_these_nonmembers"].([]any)) != 1 {
		t.Errorf("config after JSON PATCH %s", r.raw)
	}
	if r := s.must(s.do("GET", "/3.1/lists", form("advertised", "true")), 200, "advertised"); r.body["total_size"] != 0.0 {
		t.Errorf("an unadvertised list is listed: %s", r.raw)
	}
}

// The runner refuses to serve other machines with the default password.
func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		host, pass string
		ok         bool
	}{
		{"127.0.0.1", "restpass", true},
		{"localhost", "restpass", true},
		{"::1", "restpass", true},
		{"0.0.0.0", "restpass", false},
		{"192.0.2.1", "restpass", false},
		{"0.0.0.0", "a secret of our own", true},
	} {
		cfg := defaultWebservice()
		cfg.Hostname, cfg.AdminPass = tc.host, tc.pass
		err := CheckListen(cfg)
		if (err == nil) != tc.ok {
			t.Errorf("CheckListen(%s, %s) = %v", tc.host, tc.pass, err)
		}
		if err != nil && strings.Contains(err.Error(), tc.pass) {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
