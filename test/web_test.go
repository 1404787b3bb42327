package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// webSite is Debian's Postorius and HyperKitty as one Django site
// (test/web/website), run by Django's runserver on a free loopback port: a
// private SQLite database, this site's REST API, the archiver key given,
// and a Django superuser "admin" (admin@example.com) with webAdminPass.
type webSite struct {
	t    *testing.T
	port int
	env  []string
	cmd  *exec.Cmd
	log  syncBuffer
}

// syncBuffer is runserver's output, written by the command's copying
// goroutine while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	debianPython = "/usr/bin/python3"
	webAdminPass = "admin-pass-for-tests"
)

// needWeb skips the test, or fails it where CI sets WEB_REQUIRED, unless
// the Python code named can be imported.
func needWeb(t *testing.T, pkg, modules string) {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import "+modules).Run(); err != nil {
		if os.Getenv("WEB_REQUIRED") != "" {
			t.Fatalf("%s is not installed: %v", pkg, err)
		}
		t.Skipf("%s is not installed (apt-get install %s): %v", pkg, pkg, err)
	}
}

func newWebSite(t *testing.T, key string) *webSite {
	t.Helper()
	needWeb(t, "python3-django-postorius python3-django-hyperkitty", "postorius, hyperkitty, django_mailman3")
	here, _ := filepath.Abs("web")
	data := t.TempDir()
	w := &webSite{t: t, port: mailmantest.FreePort(t), env: append(os.Environ(),
		"PYTHONPATH="+here, "DJANGO_SETTINGS_MODULE=website.settings", "WEB_DATA="+data, "MAILMAN_ARCHIVER_KEY="+key)}
	for _, args := range [][]string{
		{"migrate", "-v", "0"},
		{"collectstatic", "--noinput", "-v", "0"},
		{"createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com"},
	} {
		cmd := exec.Command(debianPython, append([]string{"-m", "django"}, args...)...)
		cmd.Env = append(w.env, "DJANGO_SUPERUSER_PASSWORD="+webAdminPass)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("django %s: %v\n%s", args[0], err, out)
		}
	}
	t.Cleanup(w.stop)
	return w
}

func (w *webSite) root() string { return fmt.Sprintf("http://127.0.0.1:%d/", w.port) }

// hyperKitty is the base_url of HyperKitty for [archiver.hyperkitty].
func (w *webSite) hyperKitty() string { return w.root() + "hyperkitty/" }

// start starts runserver, which asks the core at restPort about lists,
// and waits until it answers.
func (w *webSite) start(restPort int) {
	w.t.Helper()
	w.cmd = exec.Command(debianPython, "-m", "django", "runserver", fmt.Sprintf("127.0.0.1:%d", w.port), "--noreload", "--nostatic")
	w.cmd.Env = append(w.env, fmt.Sprintf("MAILMAN_REST_API_URL=http://127.0.0.1:%d", restPort), "POSTORIUS_TEMPLATE_BASE_URL="+w.root())
	w.cmd.Stdout, w.cmd.Stderr = &w.log, &w.log
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if resp, err := http.Get(w.hyperKitty()); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the web site is not answering at %s:\n%s", w.root(), w.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *webSite) stop() {
	if w.cmd == nil || w.cmd.Process == nil {
		return
	}
	syscall.Kill(-w.cmd.Process.Pid, syscall.SIGTERM)
	w.cmd.Wait()
	w.cmd = nil
}

// TestHyperKittyDownForAWhile: the real HyperKitty is down while posts
// come in; the members get them at once, with List-Archive and
// Archived-At, and the prototype archive has them; HyperKitty is started,
// `mailmanctl archive retry` sends the backlog, and every post is in
// HyperKitty once, at its Archived-At link.
func TestHyperKittyDownForAWhile(t *testing.T) {
	mailmantest.Binary(t)
	const key = "archiver-key-for-tests"
	hk := newWebSite(t, key)
	s := mailmantest.NewSite(t, fmt.Sprintf("[archiver.prototype]\nenable = true\n\n[archiver.hyperkitty]\nenable = true\nbase_url = %q\napi_key = %q\n", hk.hyperKitty(), key))
	s.MustCtl("lists", "create", "test@example.com", "--owner", "owen@example.com")
	s.MustCtl("members", "add", "test@example.com", "anne@example.com", "bart@example.com")
	sink := s.StartSink()
	s.Start()
	defer s.Stop()

	c := s.LMTP()
	const posts = 3
	for i := range posts {
		if err := sendPost(c, "anne@example.com", "test@example.com", fmt.Sprintf("<archived-%d@example.com>", i)); err != nil {
			t.Fatal(err)
		}
	}
	var links []string
	sink.Wait("the posts at bart's", 30*time.Second, func(ds []mailmantest.Delivery) bool {
		links = links[:0]
		for _, d := range delivered(ds, "bart@example.com", "[Test] Held post") {
			for _, line := range strings.Split(string(d.Data), "\r\n") {
				if l, ok := strings.CutPrefix(line, "Archived-At: <"); ok {
					links = append(links, strings.TrimSuffix(l, ">"))
				}
			}
		}
		return len(links) == posts
	})
	for _, l := range links {
		if !strings.HasPrefix(l, hk.hyperKitty()+"list/test@example.com/message/") {
			t.Errorf("Archived-At <%s>, not HyperKitty's", l)
		}
	}
	backlog := func() int {
		var counts map[string]int
		if err := json.Unmarshal([]byte(s.MustCtl("queues", "--json")), &counts); err != nil {
			t.Fatalf("queues --json: %v", err)
		}
		return counts["archive/hyperkitty"]
	}
	s.WaitFor("the posts kept for HyperKitty", 30*time.Second, func() bool { return backlog() == posts })
	maildir, _ := filepath.Glob(filepath.Join(s.Paths().Archives, "prototype", "test@example.com", "new", "*"))
	if len(maildir) != posts {
		t.Errorf("the prototype archive holds %d posts, want %d", len(maildir), posts)
	}
	if status := s.MustCtl("status"); !strings.Contains(status, "archiver hyperkitty: 3 posts waiting") {
		t.Errorf("status does not show the backlog:\n%s", status)
	}
	var status struct {
		Backlog map[string]int `json:"archive_backlog"`
	}
	if err := json.Unmarshal([]byte(s.MustCtl("status", "--json")), &status); err != nil || status.Backlog["hyperkitty"] != posts {
		t.Errorf("status --json: archive_backlog %v, %v", status.Backlog, err)
	}

	hk.start(s.RESTPort)
	if out := s.MustCtl("archive", "retry"); !strings.Contains(out, "3 posts to archive again now") {
		t.Errorf("archive retry: %s", out)
	}
	s.WaitFor("the backlog archived", 60*time.Second, func() bool { return backlog() == 0 })
	for _, l := range links {
		resp, err := http.Get(l)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", l, resp.StatusCode)
		}
	}
	if n := strings.Count(hk.log.String(), "Archived message <archived-"); n != posts {
		t.Errorf("HyperKitty archived %d posts, want each of the %d once:\n%s", n, posts, hk.log.String())
	}
	if strings.Contains(hk.log.String(), "Duplicate email") {
		t.Errorf("a post was sent to HyperKitty twice:\n%s", hk.log.String())
	}
}

// TestPostoriusAndHyperKittyInABrowser is Debian's Postorius and
// HyperKitty on this core, driven by a headless Chromium as people use
// them: the site admin makes a list and changes a setting; a visitor
// subscribes and confirms by mail; a nonmember's post is held and the
// admin accepts it; the post and a reply are one thread in HyperKitty, at
// the post's Archived-At link.
func TestPostoriusAndHyperKittyInABrowser(t *testing.T) {
	mailmantest.Binary(t)
	const key = "archiver-key-for-tests"
	web := newWebSite(t, key)
	s := mailmantest.NewSite(t, fmt.Sprintf("[archiver.hyperkitty]\nenable = true\nbase_url = %q\napi_key = %q\n", web.hyperKitty(), key))
	s.MustCtl("domains", "create", "example.com")
	sink := s.StartSink()
	s.Start()
	defer s.Stop()
	web.start(s.RESTPort)
	defer func() {
		if t.Failed() {
			t.Logf("the web site's log:\n%s", web.log.String())
		}
	}()
	shots := newScreenshots(t)
	admin := newBrowser(t, "admin", shots)
	visitor := newBrowser(t, "visitor", shots)
	postorius := web.root() + "postorius/lists/web.example.com/"

	// The site admin signs in, makes the list and changes its prefix.
	admin.get(web.root() + "accounts/login/")
	admin.fill("input[name=login]", "admin")
	admin.fill("input[name=password]", webAdminPass)
	admin.submit("form.login button[type=submit]")
	admin.see("signed-in", "admin", "Lists")
	admin.get(web.root() + "postorius/lists/new/")
	admin.fill("input[name=listname]", "web")
	admin.choose("select[name=mail_host]", "example.com")
	admin.choose("select[name=list_style]", "legacy-default")
	admin.fill("input[name=description]", "Talk about the web")
	admin.follow("button", "Create list")
	admin.see("list-created", "List created", "web@example.com", "Talk about the web")
	admin.get(postorius + "settings/")
	admin.fill("input[name=subject_prefix]", "[Web talk] ")
	admin.follow("button", "Save changes")
	admin.see("setting-changed", "The settings have been updated.")
	if show := s.MustCtl("lists", "show", "web@example.com"); !strings.Contains(show, `"[Web talk] "`) {
		t.Errorf("lists show does not have the prefix set in Postorius:\n%s", show)
	}
	// A setting on each of the other pages, each form sent as Postorius
	// sends it (what changed, by PATCH), none of them changing what the
	// steps below need.
	for _, c := range []struct {
		section, field, kind, value, shown string
	}{
		{"automatic_responses", "autorespond_owner", "radio", "respond_and_continue", "respond_and_continue"},
		{"alter_messages", "reply_goes_to_list", "select", "point_to_list", "point_to_list"},
		{"dmarc_mitigations", "dmarc_mitigate_action", "select", "munge_from", "munge_from"},
		{"digest", "digest_size_threshold", "text", "45", "45"},
		{"message_acceptance", "max_num_recipients", "text", "20", "20"},
		{"archiving", "archive_rendering_mode", "radio", "markdown", "markdown"},
		{"subscription_policy", "unsubscription_policy", "select", "open", "open"},
		{"bounce_processing", "bounce_score_threshold", "text", "7", "7"},
	} {
		admin.get(postorius + "settings/" + c.section)
		switch css := "[name=" + c.field + "]"; c.kind {
		case "radio":
			admin.tap(css + "[value=" + c.value + "]")
		case "select":
			admin.choose(css, c.value)
		default:
			admin.fill(css, c.value)
		}
		admin.follow("button", "Save changes")
		admin.see("setting-"+c.section, "The settings have been updated.")
		show := s.MustCtl("lists", "show", "web@example.com")
		if !regexp.MustCompile(`(?m)^` + c.field + ` +` + regexp.QuoteMeta(c.shown) + `$`).MatchString(show) {
			t.Errorf("%s: lists show does not have %s %s:\n%s", c.section, c.field, c.shown, show)
		}
	}

	// A visitor subscribes on the list's page and confirms by mail.
	visitor.get(postorius)
	visitor.fill("input[name=email]", "vera@example.org")
	visitor.fill("input[name=display_name]", "Vera Visitor")
	visitor.follow("button", "Subscribe")
	visitor.see("subscribed", "Please check your inbox for further instructions")
	confirmation := firstDelivered(sink, "vera@example.org", "Your confirmation is needed to join the web@example.com mailing list.")
	m := regexp.MustCompile(`(?m)^From: (web-confirm\+[0-9a-f]+@example\.com)\r?$`).FindStringSubmatch(string(confirmation.Data))
	if m == nil {
		t.Fatalf("a confirmation without a -confirm+TOKEN From:\n%s", confirmation.Data)
	}
	c := s.LMTP()
	defer c.Close()
	sendMail(t, c, "vera@example.org", m[1], "Subject: Re: Your confirmation is needed\r\n", "> Someone, perhaps you, asked\r\n")
	admin.seeSoon("member-shown", postorius+"members/member/", 30*time.Second, "vera@example.org")

	// Dora reads the list as a MIME digest.
	s.MustCtl("members", "add", "web@example.com", "dora@example.org")
	s.MustCtl("members", "set", "web@example.com", "dora@example.org", "delivery_mode", "mime_digests")

	// A nonmember's post is held; the admin reads it and accepts it.
	sendMail(t, c, "nora@example.net", "web@example.com", "Subject: A question from outside\r\nMessage-ID: <question@example.net>\r\n", "Does the web still need lists?\r\n")
	admin.seeSoon("held", postorius+"held_messages", 30*time.Second, "A question from outside", "nora@example.net")
	admin.tapOn("a", "A question from outside")
	admin.see("held-message", "Does the web still need lists?")
	admin.submit("#held-messages-modal input[name=accept]")
	admin.see("accepted", "accepted")
	post := firstDelivered(sink, "vera@example.org", "[Web talk] A question from outside")
	archivedAt := regexp.MustCompile(`(?m)^Archived-At: <([^>]+)>\r?$`).FindSubmatch(post.Data)
	if archivedAt == nil {
		t.Fatalf("the post has no Archived-At:\n%s", post.Data)
	}

	// Vera answers; HyperKitty shows the two as one thread, and the
	// post's Archived-At link opens it.
	sendMail(t, c, "vera@example.org", "web@example.com", "Subject: Re: [Web talk] A question from outside\r\nMessage-ID: <answer@example.org>\r\nIn-Reply-To: <question@example.net>\r\nReferences: <question@example.net>\r\n", "It does.\r\n")
	visitor.seeSoon("archive", web.hyperKitty()+"list/web@example.com/latest", 60*time.Second, "A question from outside", "2 participants")
	visitor.follow("a", "A question from outside")
	visitor.see("thread", "Does the web still need lists?", "It does.", "1 comments", "2 participants")
	visitor.get(string(archivedAt[1]))
	visitor.see("archived-at", "A question from outside", "Does the web still need lists?")

	// The admin writes the list's digest header on Postorius's Templates
	// page; the core fetches it from Postorius when it builds the digest
	// of the two posts, which a member who takes the MIME digest gets.
	admin.get(postorius + "templates/new")
	admin.choose("select[name=name]", "list:member:digest:header")
	admin.fill("textarea[name=data]", "The digest of $display_name, its header written in Postorius.")
	admin.follow("button", "Save")
	admin.see("template-saved", "list:member:digest:header")
	if out := s.MustCtl("digests", "--list", "web@example.com", "--send"); !strings.Contains(out, "(2 posts)") {
		t.Errorf("digests --send:\n%s", out)
	}
	var digest mailmantest.Delivery
	sink.Wait("the digest at dora@example.org", 30*time.Second, func(ds []mailmantest.Delivery) bool {
		for _, d := range ds {
			if slices.Contains(d.To, "dora@example.org") && strings.Contains(string(d.Data), "Digest, Vol 1, Issue 1") {
				digest = d
				return true
			}
		}
		return false
	})
	text := decodedText(t, digest.Data)
	for _, want := range []string{"its header written in Postorius.", "Does the web still need lists?", "It does."} {
		if !strings.Contains(text, want) {
			t.Errorf("the digest lacks %q:\n%s", want, text)
		}
	}

	// Every other page the admin can reach renders without an error.
	for _, page := range []string{
		"postorius/lists/", "postorius/domains/", "postorius/domains/example.com/", "postorius/domains/new/",
		"postorius/system/", "postorius/bans/", "postorius/users", "postorius/accounts/subscriptions/",
		"postorius/accounts/mailmansettings/", "postorius/accounts/per-address-preferences/",
		"postorius/accounts/per-subscription-preferences/",
		"postorius/lists/web.example.com/members/owner/", "postorius/lists/web.example.com/members/moderator/",
		"postorius/lists/web.example.com/members/nonmember/",
		"postorius/lists/web.example.com/subscription_requests", "postorius/lists/web.example.com/unsubscription_requests",
		"postorius/lists/web.example.com/pending_confirmation", "postorius/lists/web.example.com/bans/",
		"postorius/lists/web.example.com/header-matches/", "postorius/lists/web.example.com/templates",
		"postorius/lists/web.example.com/mass_subscribe/", "postorius/lists/web.example.com/mass_removal/",
		"postorius/lists/web.example.com/delete", "postorius/lists/web.example.com/members/options/vera@example.org",
		"hyperkitty/", "hyperkitty/list/web@example.com/",
	} {
		admin.get(web.root() + page)
		text := admin.text()
		for _, bad := range []string{"Traceback", "Something went wrong", "REST API not available", "Server Error", "Page not found", "An error occurred"} {
			if strings.Contains(text, bad) {
				admin.shot("error")
				t.Errorf("%s shows %q:\n%s", page, bad, text)
			}
		}
	}
	// Nor did any request of the pages' scripts fail.
	if failed := regexp.MustCompile(`(?m)^.*(Traceback|HTTP/1\.1" 5\d\d ).*$`).FindAllString(web.log.String(), -1); len(failed) > 0 {
		t.Errorf("the web site failed requests: %q", failed)
	}
}
