package digest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/message"
)

// testdata/mailman-reference.sh made the references from Mailman 3.3.8:
// its two digests of the three posts, and the posts as its digester got
// them.
func referenceIssue(t testing.TB) Issue {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	is := Issue{
		DisplayName:    "Test",
		PostingAddress: "test@example.com",
		RequestAddress: "test-request@example.com",
		OwnerAddress:   "test-owner@example.com",
		SubjectPrefix:  "[Test] ",
		Volume:         1,
		Number:         1,
		Date:           time.Date(2026, 12, 4, 5, 18, 5, 0, time.UTC),
		MessageID:      "<digest@example.com>",
		Header:         string(read("digest-header.txt")),
		Footer:         string(read("digest-footer.txt")),
	}
	for i := 1; i <= 3; i++ {
		is.Posts = append(is.Posts, read(fmt.Sprintf("post-%d.eml", i)))
	}
	return is
}

func readReference(t *testing.T, name string) *mail.Message {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readMessage(t *testing.T, raw []byte) *mail.Message {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the digest is not a message: %v\n%s", err, raw)
	}
	return m
}

// unfoldTopics joins the topics' continuation lines: where Mailman wraps
// a subject depends on how many posts came before it (a quirk), so the
// topics are compared by what they say.
func unfoldTopics(s string) string { return strings.ReplaceAll(s, "\n      ", " ") }

func TestDigestFieldsLikeMailman(t *testing.T) {
	is := referenceIssue(t)
	mimeDigest, _ := is.MIME()
	plainDigest, _ := is.Plain()
	for _, tc := range []struct {
		ref  string
		ours []byte
	}{{"mailman-3.3.8-mime.eml", mimeDigest}, {"mailman-3.3.8-plain.eml", plainDigest}} {
		ref, ours := readReference(t, tc.ref), readMessage(t, tc.ours)
		for _, name := range []string{"From", "Subject", "To", "Reply-To", "MIME-Version"} {
			if got, want := ours.Header.Get(name), ref.Header.Get(name); got != want {
				t.Errorf("%s: %s: %q, Mailman writes %q", tc.ref, name, got, want)
			}
		}
		if got := ours.Header.Get("Message-ID"); got != is.MessageID {
			t.Errorf("%s: Message-ID %q, want %q", tc.ref, got, is.MessageID)
		}
		if _, err := ours.Header.Date(); err != nil {
			t.Errorf("%s: Date: %v", tc.ref, err)
		}
	}
}

// plainSections splits an RFC 1153 digest's text where the topics begin
// and where the posts begin.
func plainSections(t *testing.T, text string) (intro, topics, posts string) {
	t.Helper()
	i := strings.Index(text, topicsTitle)
	j := strings.Index(text, "\n"+separator70+"\n")
	if i < 0 || j < i {
		t.Fatalf("no topics and posts in\n%s", text)
	}
	return text[:i], text[i:j], text[j:]
}

func TestPlainLikeMailman(t *testing.T) {
	is := referenceIssue(t)
	raw, err := is.Plain()
	if err != nil {
		t.Fatal(err)
	}
	ours := readMessage(t, raw)
	if ct := ours.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
	refRaw, _ := os.ReadFile("testdata/mailman-3.3.8-plain.eml")
	ref, _ := message.Parse(refRaw)
	want, _, ok := ref.PlainText()
	if !ok {
		t.Fatal("the reference has no text")
	}
	body, _ := io.ReadAll(ours.Body)
	got := strings.ReplaceAll(string(body), "\r\n", "\n")

	gotIntro, gotTopics, gotPosts := plainSections(t, got)
	wantIntro, wantTopics, wantPosts := plainSections(t, want)
	// The masthead is in this project's words; what follows it, the
	// list's header, is the list's.
	if !strings.HasSuffix(gotIntro, is.Header+"\n\n") || !strings.HasSuffix(wantIntro, is.Header+"\n\n") {
		t.Errorf("the header and the blank lines after it differ:\n%q\nMailman:\n%q", gotIntro, wantIntro)
	}
	for _, addr := range []string{is.PostingAddress, is.RequestAddress, is.OwnerAddress} {
		if !strings.Contains(gotIntro, "\n\t"+addr+"\n") {
			t.Errorf("the masthead does not give %s:\n%s", addr, gotIntro)
		}
	}
	if unfoldTopics(gotTopics) != unfoldTopics(wantTopics) {
		t.Errorf("topics:\n%s\nMailman's:\n%s", gotTopics, wantTopics)
	}
	if strings.Contains(gotTopics, "\n   2. Café crème brûlée — a long subject about desserts that will have") {
		t.Errorf("a topic longer than 70 columns is not wrapped:\n%s", gotTopics)
	}
	if gotPosts != strings.Replace(wantPosts, "A message part incompatible with plain text digests has been removed ...",
		"A part that plain text digests cannot carry was removed.", 1) {
		t.Errorf("the posts and what follows them differ from Mailman's:\n%s\nMailman's:\n%s", gotPosts, wantPosts)
	}
}

// mimeParts are a multipart body's parts: each one's header and bytes.
func mimeParts(t *testing.T, contentType string, body io.Reader) (headers []map[string]string, bodies [][]byte) {
	t.Helper()
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", contentType, err)
	}
	r := multipart.NewReader(body, params["boundary"])
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return headers, bodies
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		h := map[string]string{}
		for k := range p.Header {
			h[k] = p.Header.Get(k)
		}
		if h["Content-Transfer-Encoding"] == "base64" {
			var err error
			if b, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(b))); err != nil {
				t.Fatal(err)
			}
		}
		headers = append(headers, h)
		bodies = append(bodies, bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")))
	}
}

func TestMIMELikeMailman(t *testing.T) {
	is := referenceIssue(t)
	raw, err := is.MIME()
	if err != nil {
		t.Fatal(err)
	}
	ref, ours := readReference(t, "mailman-3.3.8-mime.eml"), readMessage(t, raw)
	refHeaders, refBodies := mimeParts(t, ref.Header.Get("Content-Type"), ref.Body)
	gotHeaders, gotBodies := mimeParts(t, ours.Header.Get("Content-Type"), ours.Body)
	if len(gotHeaders) != len(refHeaders) {
		t.Fatalf("%d parts, Mailman's digest has %d:\n%s", len(gotHeaders), len(refHeaders), raw)
	}
	for i := range refHeaders {
		gotType, _, _ := mime.ParseMediaType(gotHeaders[i]["Content-Type"])
		wantType, _, _ := mime.ParseMediaType(refHeaders[i]["Content-Type"])
		if gotType != wantType || gotHeaders[i]["Content-Description"] != refHeaders[i]["Content-Description"] {
			t.Errorf("part %d: %s %q, Mailman's: %s %q", i+1, gotType, gotHeaders[i]["Content-Description"],
				wantType, refHeaders[i]["Content-Description"])
		}
		switch {
		case i == 0: // the masthead, in this project's words
		case wantType == "multipart/digest":
			compareEnclosed(t, gotHeaders[i]["Content-Type"], gotBodies[i], refHeaders[i]["Content-Type"], refBodies[i])
		case unfoldTopics(string(gotBodies[i])) != unfoldTopics(string(refBodies[i])):
			t.Errorf("part %d (%s):\n%s\nMailman's:\n%s", i+1, refHeaders[i]["Content-Description"], gotBodies[i], refBodies[i])
		}
	}
	end := "End of Test Digest, Vol 1, Issue 1"
	if !bytes.HasSuffix(raw, []byte("--\r\n"+end+"\r\n")) {
		t.Errorf("the digest does not end with %q after its closing delimiter", end)
	}
}

// compareEnclosed checks that each post of the multipart/digest is the
// post whole, as Mailman encloses it, with its Message: N.
func compareEnclosed(t *testing.T, gotType string, got []byte, wantType string, want []byte) {
	t.Helper()
	gotHeaders, gotPosts := mimeParts(t, gotType, bytes.NewReader(got))
	_, wantPosts := mimeParts(t, wantType, bytes.NewReader(want))
	if len(gotPosts) != len(wantPosts) {
		t.Fatalf("%d posts in the multipart/digest, Mailman's has %d", len(gotPosts), len(wantPosts))
	}
	for i := range wantPosts {
		if ct := gotHeaders[i]["Content-Type"]; ct != "message/rfc822" {
			t.Errorf("post %d: Content-Type %q", i+1, ct)
		}
		g, w := readMessage(t, gotPosts[i]), readMessage(t, wantPosts[i])
		for _, name := range []string{"Message", "Message-ID", "From", "Subject", "Content-Type", "In-Reply-To"} {
			if g.Header.Get(name) != w.Header.Get(name) {
				t.Errorf("post %d: %s %q, Mailman's %q", i+1, name, g.Header.Get(name), w.Header.Get(name))
			}
		}
		gb, _ := io.ReadAll(g.Body)
		wb, _ := io.ReadAll(w.Body)
		if !bytes.Equal(bytes.TrimRight(gb, "\n"), bytes.TrimRight(wb, "\n")) {
			t.Errorf("post %d's body:\n%s\nMailman's:\n%s", i+1, gb, wb)
		}
	}
}

func TestTopics(t *testing.T) {
	for _, tc := range []struct {
		name, post string
		number     int
		want       string
	}{
		{"prefix after Re", "From: Ann <ann@example.org>\nSubject: Re: [Test] lunch\n\nx\n", 1, "   1. Re: lunch (Ann)\n"},
		{"prefix in another case", "From: ann@example.org\nSubject: [TEST] lunch\n\nx\n", 1, "   1. lunch (ann@example.org)\n"},
		{"no subject", "From: ann@example.org\n\nx\n", 1, "   1. (no subject) (ann@example.org)\n"},
		{"no author", "Subject: lunch\n\nx\n", 1, "   1. lunch\n"},
		{"two digits", "From: Ann <ann@example.org>\nSubject: lunch\n\nx\n", 12, "  12. lunch (Ann)\n"},
		{"author on a line of its own", "From: Annabelle Longname-Person <ann@example.org>\nSubject: " + strings.Repeat("word ", 12) + "\n\nx\n", 1,
			"   1. " + strings.TrimSpace(strings.Repeat("word ", 12)) + "\n      (Annabelle Longname-Person)\n"},
		{"wrapped", "From: Ann <ann@example.org>\nSubject: " + strings.Repeat("word ", 16) + "\n\nx\n", 1,
			"   1. " + strings.TrimSpace(strings.Repeat("word ", 12)) + "\n      " + strings.TrimSpace(strings.Repeat("word ", 4)) + " (Ann)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := Issue{DisplayName: "Test", SubjectPrefix: "[Test] "}
			var posts []*message.Message
			for i := 0; i < tc.number; i++ {
				p, err := message.Parse([]byte(tc.post))
				if err != nil {
					t.Fatal(err)
				}
				posts = append(posts, p)
			}
			got := is.topics(posts)
			lines := strings.SplitAfter(got, "\n")
			last := ""
			for i := len(lines) - 1; i >= 0 && last == ""; i-- {
				if strings.HasPrefix(lines[i], fmt.Sprintf("%3d.", tc.number)) || strings.HasPrefix(lines[i], fmt.Sprintf("  %2d.", tc.number)) {
					last = strings.Join(lines[i:], "")
				}
			}
			if last != tc.want {
				t.Errorf("topics:\n%s\nwant the last:\n%s", got, tc.want)
			}
		})
	}
}

// A post that is not a message still goes out, as what it is, with the
// others.
func TestUnreadablePost(t *testing.T) {
	is := referenceIssue(t)
	is.Posts = append(is.Posts[:1], []byte("\x00 not a header\n"), is.Posts[1])
	for _, build := range []func(Issue) ([]byte, error){Issue.MIME, Issue.Plain} {
		raw, err := build(is)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		if !strings.Contains(text, "<post-1@example.org>") || !strings.Contains(text, "<post-2@example.org>") {
			t.Errorf("the readable posts are missing:\n%s", text)
		}
	}
}

func FuzzDigest(f *testing.F) {
	is := referenceIssue(f)
	for _, p := range is.Posts {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, post []byte) {
		is := Issue{DisplayName: "Test", PostingAddress: "test@example.com", SubjectPrefix: "[Test] ", Posts: [][]byte{post}}
		for _, build := range []func(Issue) ([]byte, error){Issue.MIME, Issue.Plain} {
			raw, err := build(is)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := mail.ReadMessage(bytes.NewReader(raw)); err != nil {
				t.Fatalf("not a message: %v", err)
			}
		}
	})
}
