package test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

var listUnsubscribe = regexp.MustCompile(`(?m)^List-Unsubscribe: <(http://[^>]+)>, <mailto:test-leave@example\.com>\r?$`)

// TestOneClickUnsubscribe: with [unsubscribe] base_url set, each copy of
// a post is sent alone and carries its member's own one-click link
// (RFC 8058); POSTed as a mailbox provider does, Anne's removes Anne and
// no one else; a GET of Bart's shows a page and removes no one; Bart's
// link with its token altered, or with Anne's token, removes no one; a
// new key leaves the links sent before good.
func TestOneClickUnsubscribe(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	base := fmt.Sprintf("http://127.0.0.1:%d/", s.UnsubscribePort)
	s.Set("unsubscribe", "base_url", fmt.Sprintf("%q", base))
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "anne@example.org", "bart@example.org")
	sink := s.StartSink()
	s.Start("lmtp", "incoming", "pipeline", "outgoing", "virgin", "retry", "unsubscribe")
	defer s.Stop()
	c := s.LMTP()
	defer c.Close()
	sendMail(t, c, "anne@example.org", "test@example.com", "Subject: Hello\r\nMessage-ID: <oneclick@example.org>\r\n", "Hi.\r\n")

	links := map[string]string{}
	for _, rcpt := range []string{"anne@example.org", "bart@example.org"} {
		d := firstDelivered(sink, rcpt, "[Test] Hello")
		m := listUnsubscribe.FindSubmatch(d.Data)
		if m == nil || !strings.HasPrefix(string(m[1]), base+"test.example.com/") {
			t.Fatalf("%s's copy has no one-click link under %s:\n%s", rcpt, base, d.Data)
		}
		if !strings.Contains(string(d.Data), "\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") {
			t.Errorf("%s's copy lacks List-Unsubscribe-Post", rcpt)
		}
		links[rcpt] = string(m[1])
	}
	if links["anne@example.org"] == links["bart@example.org"] {
		t.Fatal("both members got one link")
	}
	do := func(method, url, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// A new key: the links already sent stay good.
	if out := s.MustCtl("unsubscribe", "rotate-key"); !strings.Contains(out, "holds 2 keys") {
		t.Errorf("unsubscribe rotate-key: %s", out)
	}
	members := func() string { return s.MustCtl("members", "list", "test@example.com") }
	anne, bart := links["anne@example.org"], links["bart@example.org"]
	bartToken := bart[strings.LastIndexByte(bart, '/'):]
	altered := bart[:len(bart)-3] + map[bool]string{true: "AAA", false: "BBB"}[!strings.HasSuffix(bart, "AAA")]
	for _, tc := range []struct {
		name, method, url string
		status            int
		anne, bart        bool
	}{
		{"a GET of Bart's link", "GET", bart, 200, true, true},
		{"Bart's link altered", "POST", altered, 400, true, true},
		{"Anne's address with Bart's token", "POST", anne[:strings.LastIndexByte(anne, '/')] + bartToken, 400, true, true},
		{"Anne's link, one click", "POST", anne, 200, false, true},
		{"Anne's link again", "POST", anne, 200, false, true},
	} {
		status, body := do(tc.method, tc.url, "List-Unsubscribe=One-Click")
		if status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
		ms := members()
		if strings.Contains(ms, "anne@example.org") != tc.anne || strings.Contains(ms, "bart@example.org") != tc.bart {
			t.Errorf("%s: members now\n%s", tc.name, ms)
		}
	}
}

// TestPersonalFooter: a footer template Postorius registers for a list
// (REST /uris) names each member in the copy sent to them: their address,
// their name and their own one-click link; the header template opens the
// post.
func TestPersonalFooter(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	base := fmt.Sprintf("http://127.0.0.1:%d/", s.UnsubscribePort)
	s.Set("unsubscribe", "base_url", fmt.Sprintf("%q", base))
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "Anne Person <anne@example.org>", "bart@example.org")
	s.MustCtl("lists", "set", "test@example.com", "personalize", "individual")
	dir := t.TempDir()
	for name, text := range map[string]string{
		"footer": "-- \nSent to $user_address ($user_name_or_address) by $display_name.\nLeave: $user_unsubscribe_url\n",
		"header": "From the $display_name list:\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sink := s.StartSink()
	s.Start("lmtp", "incoming", "pipeline", "outgoing", "virgin", "retry", "unsubscribe", "rest")
	defer s.Stop()
	rest := fmt.Sprintf("http://127.0.0.1:%d/3.1/lists/test.example.com/uris/", s.RESTPort)
	for _, name := range []string{"footer", "header"} {
		body := "uri=file://" + filepath.Join(dir, name)
		var status int
		s.WaitFor("the REST API", 10*time.Second, func() bool {
			req, _ := http.NewRequest("PUT", rest+"list:member:regular:"+name, strings.NewReader(body))
			req.SetBasicAuth("restadmin", "restpass")
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			status = resp.StatusCode
			return true
		})
		if status != http.StatusNoContent {
			t.Fatalf("PUT %s: %d", name, status)
		}
	}
	c := s.LMTP()
	defer c.Close()
	sendMail(t, c, "anne@example.org", "test@example.com", "Subject: Hello\r\nMessage-ID: <footer@example.org>\r\n", "Hi.\r\n")
	for rcpt, name := range map[string]string{"anne@example.org": "Anne Person", "bart@example.org": "bart@example.org"} {
		d := firstDelivered(sink, rcpt, "[Test] Hello")
		m := listUnsubscribe.FindSubmatch(d.Data)
		if m == nil {
			t.Fatalf("%s's copy has no one-click link:\n%s", rcpt, d.Data)
		}
		want := "\r\n\r\nFrom the Test list:\r\nHi.\r\n--\r\nSent to " + rcpt + " (" + name + ") by Test.\r\nLeave: " + string(m[1]) + "\r\n"
		if !strings.HasSuffix(string(d.Data), want) {
			t.Errorf("%s's copy does not end with\n%q:\n%s", rcpt, want, d.Data)
		}
	}
}
