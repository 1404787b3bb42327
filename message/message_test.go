package message

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for name, raw := range map[string]string{
		"crlf":             "From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n",
		"lf":               "From: a@example.com\nSubject: hi\n\nbody\n",
		"folded":           "Subject: a long\r\n\tsubject\r\nTo: x@example.com,\r\n  y@example.com\r\n\r\nbody",
		"8-bit and broken": "Subject: caf\xe9 \xff\xfe\r\n\r\n\x00\xff body \xc3\x28\r\n",
		"header only":      "Subject: nothing else\r\n",
		"empty body":       "Subject: x\r\n\r\n",
		"obsolete spacing": "Subject : x\r\nX-Tab\t: y\r\n\r\nbody\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			m, err := Parse([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(m.Bytes()); got != raw {
				t.Errorf("Bytes() = %q, want %q", got, raw)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, raw := range []string{" starts folded\r\n\r\n", "no colon here\r\n\r\n", "Bad Name: x\r\n\r\n", ": no name\r\n\r\n", "Bad Name : x\r\n\r\n", "\t: x\r\n\r\n"} {
		if _, err := Parse([]byte(raw)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q): %v, want ErrMalformed", raw, err)
		}
	}
}

func TestHeaders(t *testing.T) {
	m, err := Parse([]byte("Subject: =?utf-8?q?caf=C3=A9?= and\r\n =?iso-8859-1?q?na=EFve?=\r\nX-Two: one\r\nx-two:  two \r\nX-Bad: =?x-unknown?q?zz?=\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ got, want string }{
		{m.Get("subject"), "=?utf-8?q?caf=C3=A9?= and =?iso-8859-1?q?na=EFve?="},
		{m.Decoded("Subject"), "café and naïve"},
		{m.Get("X-Two"), "one"},
		{strings.Join(m.Values("X-TWO"), "|"), "one|two"},
		{m.Decoded("X-Bad"), "=?x-unknown?q?zz?="},
		{m.Get("Missing"), ""},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: %q, want %q", i, tt.got, tt.want)
		}
	}
	if !m.Has("x-bad") || m.Has("missing") {
		t.Error("Has")
	}
}

// RFC 5322's obsolete syntax (§4.5) allows white space between a field's
// name and its colon; the field is the name's.
func TestObsoleteSpaceBeforeColon(t *testing.T) {
	m, err := Parse([]byte("Subject : hi there\r\nX-Tab\t \t: folded\r\n value\r\nMessage-ID:<a@b>\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"subject": "hi there", "X-Tab": "folded value", "Message-ID": "<a@b>"} {
		if got := m.Get(name); got != want {
			t.Errorf("Get(%q) = %q, want %q", name, got, want)
		}
	}
	if n := m.Del("Subject"); n != 1 {
		t.Errorf("Del(Subject) removed %d fields, want 1", n)
	}
}

func TestEditHeaders(t *testing.T) {
	raw := "From: a@example.com\r\nApproved: pw\r\nSubject: hi\r\nApproved: again\r\n\r\nbody\r\n"
	m, _ := Parse([]byte(raw))
	if n := m.Del("approved"); n != 2 {
		t.Errorf("Del removed %d, want 2", n)
	}
	m.Add("X-Added", "line\r\nbreak")
	m.Prepend("Received", "from here")
	m.Set("Subject", "café")
	want := "Received: from here\r\nFrom: a@example.com\r\nX-Added: line  break\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nbody\r\n"
	if got := string(m.Bytes()); got != want {
		t.Errorf("after edits:\n%q\nwant\n%q", got, want)
	}
	lf, _ := Parse([]byte("A: b\n\nbody\n"))
	lf.Add("C", "d")
	if got := string(lf.Bytes()); got != "A: b\nC: d\n\nbody\n" {
		t.Errorf("LF message after Add: %q", got)
	}
	raw8 := "From: a@example.com\nSubject: x\n\nbody\n"
	eight, _ := Parse([]byte(raw8))
	eight.AddRaw("X-MailFrom", "j\xf6rg@example.org\r\nEvil: yes")
	if got := string(eight.Bytes()); got != "From: a@example.com\nSubject: x\nX-MailFrom: j\xf6rg@example.org  Evil: yes\n\nbody\n" {
		t.Errorf("after AddRaw: %q", got)
	}
	bare, _ := Parse([]byte("A: b\r\n"))
	bare.SetBody([]byte("new"))
	if got := string(bare.Bytes()); got != "A: b\r\n\r\nnew" {
		t.Errorf("header-only message with a body: %q", got)
	}
}

func TestAddresses(t *testing.T) {
	m, _ := Parse([]byte("To: Anne <Anne@Example.com>, bob@example.org (Bob)\r\n" +
		"Cc: =?utf-8?q?Z=C3=B6e?= <zoe@example.net>, undisclosed-recipients:;, anne@example.com\r\n" +
		"Reply-To: not an address, <cris@example.com>\r\n\r\n"))
	tests := []struct {
		names []string
		want  []string
	}{
		{[]string{"To", "Cc"}, []string{"anne@example.com", "bob@example.org", "zoe@example.net"}},
		{[]string{"Reply-To"}, []string{"cris@example.com"}},
		{[]string{"Sender"}, nil},
	}
	for _, tt := range tests {
		if got := m.Addresses(tt.names...); !slices.Equal(got, tt.want) {
			t.Errorf("Addresses(%v) = %v, want %v", tt.names, got, tt.want)
		}
	}
}

const mixed = "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\npreamble\r\n" +
	"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" +
	"--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n" +
	"--inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nApproved: pw\r\nCaf=C3=A9 =\r\nsoft\r\n" +
	"--inner--\r\n" +
	"--outer\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n" +
	"--outer--\r\nepilogue\r\n"

func TestMailbox(t *testing.T) {
	tests := []struct {
		name, raw, addr, display string
		ok                       bool
	}{
		{"plain", "From: anne@example.org\r\n\r\n", "anne@example.org", "", true},
		{"named, case kept", "From: Anne Person <Anne@Example.org>\r\n\r\n", "Anne@Example.org", "Anne Person", true},
		{"encoded name", "From: =?utf-8?b?0JDQvdCw?= <anne@example.org>\r\n\r\n", "anne@example.org", "Ана", true},
		{"first of several", "From: a@example.org, b@example.org\r\n\r\n", "a@example.org", "", true},
		{"one bad, one good", "From: not an address, c@example.org\r\n\r\n", "c@example.org", "", true},
		{"none", "From: nobody\r\n\r\n", "", "", false},
		{"absent", "Subject: x\r\n\r\n", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			addr, display, ok := m.Mailbox("From")
			if addr != tt.addr || display != tt.display || ok != tt.ok {
				t.Errorf("Mailbox(From) = %q, %q, %v; want %q, %q, %v", addr, display, ok, tt.addr, tt.display, tt.ok)
			}
		})
	}
}

func TestFirstText(t *testing.T) {
	tests := []struct {
		name, raw, want string
		ok              bool
	}{
		{"no MIME", "Subject: x\r\n\r\nplain text\r\n", "plain text\r\n", true},
		{"text/plain base64", "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8g\r\nd29ybGQ=\r\n", "hello world", true},
		{"nested multipart", mixed, "Approved: pw\r\nCafé soft", true},
		{"no text part", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: image/png\r\n\r\nx\r\n--b--\r\n", "", false},
		{"html only", "Content-Type: text/html\r\n\r\n<p>x</p>\r\n", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := m.FirstText()
			if got != tt.want || ok != tt.ok {
				t.Errorf("FirstText() = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPlainText(t *testing.T) {
	tests := []struct {
		name, raw, want string
		only, ok        bool
	}{
		{"no MIME", "Subject: x\r\n\r\nconfirm abc\r\n", "confirm abc\r\n", true, true},
		{"utf-8 quoted-printable", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=D0=9A=D1=8A=D1=89=D0=B0\r\n", "Къща\r\n", true, true},
		{"latin-1", "Content-Type: text/plain; charset=\"ISO-8859-1\"\r\n\r\ncaf\xe9\r\n", "café\r\n", true, true},
		{"windows-1252", "Content-Type: text/plain; charset=windows-1252\r\n\r\n\x93hi\x94\r\n", "\u201chi\u201d\r\n", true, true},
		{"bad utf-8", "Content-Type: text/plain; charset=utf-8\r\n\r\nx\xffy\r\n", "x\uFFFDy\r\n", true, true},
		{"unknown charset keeps ASCII", "Content-Type: text/plain; charset=koi8-r\r\n\r\njoin \xeb\r\n", "join \uFFFD\r\n", true, true},
		{"in a multipart", mixed, "Approved: pw\r\nCafé soft", false, true},
		{"html only", "Content-Type: text/html\r\n\r\n<p>x</p>\r\n", "", false, false},
		{"broken base64", "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			got, only, ok := m.PlainText()
			if got != tt.want || only != tt.only || ok != tt.ok {
				t.Errorf("PlainText() = %q, %v, %v; want %q, %v, %v", got, only, ok, tt.want, tt.only, tt.ok)
			}
		})
	}
}

func TestSetFirstText(t *testing.T) {
	m, _ := Parse([]byte(mixed))
	if err := m.SetFirstText("Café only\r\n"); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.FirstText(); got != "Café only\r\n" {
		t.Errorf("after SetFirstText, FirstText() = %q", got)
	}
	out := string(m.Bytes())
	for _, keep := range []string{"preamble\r\n", "<p>html</p>\r\n--inner\r\n", "AAEC\r\n--outer--\r\nepilogue\r\n"} {
		if !strings.Contains(out, keep) {
			t.Errorf("SetFirstText changed %q:\n%s", keep, out)
		}
	}
	if strings.Contains(out, "Approved") {
		t.Errorf("old text kept:\n%s", out)
	}
	for _, raw := range []string{
		"Subject: x\r\n\r\nold\r\n",
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nb2xk\r\n",
	} {
		m, _ := Parse([]byte(raw))
		m.SetFirstText("new text")
		if got, _ := m.FirstText(); got != "new text" {
			t.Errorf("%q: FirstText after SetFirstText = %q", raw, got)
		}
	}
	img, _ := Parse([]byte("Content-Type: image/png\r\n\r\nx"))
	if err := img.SetFirstText("x"); err == nil {
		t.Error("SetFirstText without a text part did not fail")
	}
}

func TestEditTexts(t *testing.T) {
	m, _ := Parse([]byte(mixed))
	var seen []string
	m.EditTexts(func(mt, text string) (string, bool) {
		seen = append(seen, mt)
		return strings.ToUpper(text), true
	})
	if !slices.Equal(seen, []string{"text/plain", "text/html"}) {
		t.Errorf("visited %v, want the parts from the last", seen)
	}
	out := string(m.Bytes())
	for _, want := range []string{"<P>HTML</P>\r\n--inner\r\n", "APPROVED: PW", "AAEC\r\n--outer--"} {
		if !strings.Contains(out, want) {
			t.Errorf("after EditTexts, %q missing:\n%s", want, out)
		}
	}
	if got, _ := m.FirstText(); got != "APPROVED: PW\r\nCAFÉ SOFT" {
		t.Errorf("first text %q", got)
	}
}

func TestBuild(t *testing.T) {
	post := []byte("From: a@example.com\nSubject: the post\n\nhello\n")
	raw := NewMultipart([]Field{{"From", "list-owner@example.com"}, {"Subject", "Zoë's post"}, {"Message-ID", NewMessageID("example.com")}}, []Part{
		{ContentType: "text/plain; charset=\"utf-8\"", Body: []byte("why: naïve\n")},
		{ContentType: "message/rfc822", Body: post},
	})
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); s != "Zoë's post" {
		t.Errorf("Subject %q", s)
	}
	if id := m.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	r := multipart.NewReader(m.Body, params["boundary"])
	var bodies []string
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		bodies = append(bodies, string(b))
	}
	if len(bodies) != 2 || bodies[0] != "why: naïve\r\n" || bodies[1] != "From: a@example.com\r\nSubject: the post\r\n\r\nhello\r\n" {
		t.Errorf("parts %q", bodies)
	}
	own, err := Parse(raw)
	if err != nil || string(own.Bytes()) != string(raw) {
		t.Errorf("Parse of a built message: %v", err)
	}
	text := NewText([]Field{{"To", "zoe@example.org"}}, "line one\nline two\n")
	tm, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := tm.FirstText(); !ok || got != "line one\r\nline two\r\n" || tm.Get("Content-Transfer-Encoding") != "7bit" {
		t.Errorf("NewText: %q %v %q", got, ok, tm.Get("Content-Transfer-Encoding"))
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n"))
	f.Add([]byte(mixed))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n--b--\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Bytes(), raw) {
			t.Fatalf("round trip: %q, want %q", m.Bytes(), raw)
		}
		text, ok := m.FirstText()
		m.Addresses("From", "To")
		m.Decoded("Subject")
		if ok {
			if err := m.SetFirstText(text); err != nil {
				t.Fatalf("SetFirstText after FirstText found one: %v", err)
			}
		}
	})
}

func TestMerge(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"three spellings become one where the first was",
			"From: a@x\r\nCc: b@x\r\nTo: l@x\r\nCC: \"C, D\" <c@x>,\r\n d@x\r\ncc: e@x,\r\n\r\nbody\r\n",
			"From: a@x\r\nCc: b@x,\r\n \"C, D\" <c@x>,\r\n d@x,\r\n e@x\r\nTo: l@x\r\n\r\nbody\r\n"},
		{"blank ones dropped", "Cc:\r\nSubject: s\r\ncc: b@x\r\n\r\n", "Cc: b@x\r\nSubject: s\r\n\r\n"},
		{"all blank", "Cc:\r\nCC: \r\nSubject: s\r\n\r\n", "Subject: s\r\n\r\n"},
		{"one is left as written", "cc:  b@x ,\r\n\r\n", "cc:  b@x ,\r\n\r\n"},
		{"none", "Subject: s\r\n\r\n", "Subject: s\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			m.Merge("Cc")
			if got := string(m.Bytes()); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefects(t *testing.T) {
	const mixed = "Content-Type: multipart/mixed; boundary=b\r\n"
	tests := []struct{ name, raw, why string }{
		{"well formed", mixed + "\r\n--b\r\n\r\nhi\r\n--b--\r\n", ""},
		{"not multipart", "Content-Type: text/plain\r\n\r\n--b\r\n", ""},
		{"no Content-Type", "Subject: s\r\n\r\nhi\r\n", ""},
		{"no boundary", "Content-Type: multipart/alternative;\r\n\r\nBlah\r\n", "no boundary"},
		{"the boundary never starts a part", mixed + "\r\n--b--\r\n", "never starts a part"},
		{"no delimiter at all", mixed + "\r\nhi\r\n", "never starts a part"},
		{"cut short", mixed + "\r\n--b\r\n\r\nhi\r\n", "never closes it"},
		{"a multipart in base64", mixed + "Content-Transfer-Encoding: base64\r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n", "Content-Transfer-Encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			err = m.Defects()
			switch {
			case tt.why == "" && err != nil:
				t.Errorf("defects: %v", err)
			case tt.why != "" && (!errors.Is(err, ErrDefects) || !strings.Contains(err.Error(), tt.why)):
				t.Errorf("defects %v, want one saying %q", err, tt.why)
			}
		})
	}
}
