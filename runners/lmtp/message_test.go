package lmtp

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/message"
)

func TestMessageIDHashVectors(t *testing.T) {
	// The vectors of Mailman's own tests (spec §4).
	for id, want := range map[string]string{
		"<ant>":      "MS6QLWERIJLGCRF44J7USBFDELMNT2BW",
		"<badger>":   "JYMZWSQ4IC2JPKK7ZUONRFRVC4ZYJGKJ",
		"<dog>":      "4SKREUSPI62BHDMFBSOZ3BMXFETSQHNA",
		"<aardvark>": "75E2XSUXAFQGWANWEROVQ7JGYMNWHJBT",
		"<first>":    "4CMWUN6BHVCMHMDAOSJZ2Q72G5M32MWB",
		" <ant> ":    "MS6QLWERIJLGCRF44J7USBFDELMNT2BW",
	} {
		if got := messageIDHash(id); got != want {
			t.Errorf("messageIDHash(%q) = %s, want %s", id, got, want)
		}
	}
}

func TestPrepare(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		want   string // the prepared message, with HASH for the hash of the id and NEWID for a generated one
		id     string // "" for a generated one
		defect bool
	}{
		{
			name: "adds the hash headers and X-MailFrom at the end of the header",
			in:   "From: anne@example.com\r\nMessage-ID: <ant>\r\n\r\nbody\r\n",
			want: "From: anne@example.com\r\nMessage-ID: <ant>\r\nMessage-ID-Hash: MS6QLWERIJLGCRF44J7USBFDELMNT2BW\r\nX-Message-ID-Hash: MS6QLWERIJLGCRF44J7USBFDELMNT2BW\r\nX-MailFrom: anne@example.org\r\n\r\nbody\r\n",
			id:   "<ant>",
		},
		{
			name: "replaces existing hash headers",
			in:   "Message-ID: <ant>\nMessage-ID-Hash: IGNOREME\nx-message-id-hash: IGNOREME\nSubject: x\n\nbody\n",
			want: "Message-ID: <ant>\nSubject: x\nMessage-ID-Hash: MS6QLWERIJLGCRF44J7USBFDELMNT2BW\nX-Message-ID-Hash: MS6QLWERIJLGCRF44J7USBFDELMNT2BW\nX-MailFrom: anne@example.org\n\nbody\n",
			id:   "<ant>",
		},
		{
			name: "folded Message-ID",
			in:   "Message-ID:\r\n <badger>\r\n\r\n",
			want: "Message-ID:\r\n <badger>\r\nMessage-ID-Hash: JYMZWSQ4IC2JPKK7ZUONRFRVC4ZYJGKJ\r\nX-Message-ID-Hash: JYMZWSQ4IC2JPKK7ZUONRFRVC4ZYJGKJ\r\nX-MailFrom: anne@example.org\r\n\r\n",
			id:   "<badger>",
		},
		{
			name: "8-bit body bytes are kept",
			in:   "Message-ID: <alpha>\r\n\r\n\xa0\xff\x00 body\r\n",
			want: "Message-ID: <alpha>\r\nMessage-ID-Hash: HASH\r\nX-Message-ID-Hash: HASH\r\nX-MailFrom: anne@example.org\r\n\r\n\xa0\xff\x00 body\r\n",
			id:   "<alpha>",
		},
		{
			name: "no Message-ID",
			in:   "From: anne@example.com\r\nSubject: no id\r\n\r\nbody\r\n",
			want: "From: anne@example.com\r\nSubject: no id\r\nMessage-ID: NEWID\r\nMessage-ID-Hash: HASH\r\nX-Message-ID-Hash: HASH\r\nX-MailFrom: anne@example.org\r\n\r\nbody\r\n",
		},
		// The cases where the door's own parser and the runners' disagreed.
		{
			name: "space before the colon: RFC 5322's obsolete syntax",
			in:   "Subject : x\r\nMessage-ID\t: <ant>\r\n\r\nbody\r\n",
			want: "Subject : x\r\nMessage-ID\t: <ant>\r\nMessage-ID-Hash: MS6QLWERIJLGCRF44J7USBFDELMNT2BW\r\nX-Message-ID-Hash: MS6QLWERIJLGCRF44J7USBFDELMNT2BW\r\nX-MailFrom: anne@example.org\r\n\r\nbody\r\n",
			id:   "<ant>",
		},
		{
			name: "a blank Message-ID before a real one",
			in:   "Message-ID:\r\nMessage-ID: <ant>\r\n\r\nbody\r\n",
			want: "Message-ID: NEWID\r\nMessage-ID-Hash: HASH\r\nX-Message-ID-Hash: HASH\r\nX-MailFrom: anne@example.org\r\n\r\nbody\r\n",
		},
		{
			name: "a Message-ID folded before white space is unfolded, not collapsed",
			in:   "Message-ID: <a\r\n\tb>\r\n\r\n",
			want: "Message-ID: <a\r\n\tb>\r\nMessage-ID-Hash: HASH\r\nX-Message-ID-Hash: HASH\r\nX-MailFrom: anne@example.org\r\n\r\n",
			id:   "<a\tb>",
		},
		{
			name: "the header's last line without a line ending",
			in:   "Message-ID: <ant>",
			want: "Message-ID: <ant>\r\nMessage-ID-Hash: MS6QLWERIJLGCRF44J7USBFDELMNT2BW\r\nX-Message-ID-Hash: MS6QLWERIJLGCRF44J7USBFDELMNT2BW\r\nX-MailFrom: anne@example.org\r\n\r\n",
			id:   "<ant>",
		},
		{
			name: "the added fields in the first line's ending",
			in:   "Message-ID: <ant>\nSubject: x\r\n\r\nbody\r\n",
			want: "Message-ID: <ant>\nSubject: x\r\nMessage-ID-Hash: MS6QLWERIJLGCRF44J7USBFDELMNT2BW\nX-Message-ID-Hash: MS6QLWERIJLGCRF44J7USBFDELMNT2BW\nX-MailFrom: anne@example.org\n\r\nbody\r\n",
			id:   "<ant>",
		},
		{
			name: "empty message",
			in:   "",
			want: "Message-ID: NEWID\r\nMessage-ID-Hash: HASH\r\nX-Message-ID-Hash: HASH\r\nX-MailFrom: anne@example.org\r\n\r\n",
		},
		{
			name: "all body",
			in:   "\r\nno header\r\n",
			want: "Message-ID: NEWID\r\nMessage-ID-Hash: HASH\r\nX-Message-ID-Hash: HASH\r\nX-MailFrom: anne@example.org\r\n\r\nno header\r\n",
		},
		{name: "a line without a colon in the header", in: "From: a\r\nthis is not a header\r\n\r\nbody\r\n", defect: true},
		{name: "first line a continuation", in: " folded\r\nFrom: a\r\n\r\n", defect: true},
		{name: "space inside the name", in: "Bad Name: x\r\n\r\n", defect: true},
		{name: "no name", in: "Subject: x\r\n : y\r\n:z\r\n\r\n", defect: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := prepare([]byte(c.in), "anne@example.org", "lists.example.com")
			if c.defect {
				if !errors.Is(err, message.ErrMalformed) {
					t.Fatalf("prepare = %v, want message.ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id := c.id
			if id == "" {
				id = p.messageID
				if !regexp.MustCompile(`^<[0-9a-f]{32}@lists\.example\.com>$`).MatchString(id) {
					t.Fatalf("generated Message-ID %q", id)
				}
			}
			want := strings.NewReplacer("HASH", messageIDHash(id), "NEWID", id).Replace(c.want)
			if string(p.message) != want {
				t.Errorf("prepared\n%q\nwant\n%q", p.message, want)
			}
			if p.messageID != id {
				t.Errorf("messageID = %q, want %q", p.messageID, id)
			}
		})
	}
}

// FuzzPrepare is the door against the runners: whatever prepare accepts,
// message.Parse (which every later runner reads the entry with) parses,
// finding the Message-ID prepare logged and hashed, the hash fields once
// each, X-MailFrom, and the body as received; whatever message.Parse
// rejects, or finds a broken multipart (message.Defects), prepare refuses.
// Its seeds are the cases where the door's own
// parser once disagreed with message.Parse.
func FuzzPrepare(f *testing.F) {
	for _, s := range []string{
		"From: a\r\nMessage-ID: <x>\r\n\r\nbody\r\n",
		"Subject: x\n folded\n\n",
		" bad\r\n",
		"Subject : x\r\n\r\nbody\r\n",
		"Subject\t: x\r\nMessage-ID : <x>\r\n\r\n",
		"Message-ID:\r\nMessage-ID: <x>\r\n\r\n",
		"Message-ID: <a\r\n\tb>\r\n\r\n",
		"Message-ID: <a>  <b>\r\n\r\n",
		"Message-ID: <x>",
		"A: b\nMessage-ID: <x>\r\n\r\nbody",
		"",
		"\r\n",
		"\r",
		"Message-ID-Hash: x\r\nX-Message-ID-Hash: y\r\nmessage-id-hash: z\r\n\r\n",
		"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		const from = "a\xff@b"
		raw, rawErr := message.Parse(msg)
		p, err := prepare(msg, from, "h")
		if rawErr != nil {
			if err == nil {
				t.Fatalf("the door accepted %q, which the runners cannot parse: %v", msg, rawErr)
			}
			return
		}
		if defects := raw.Defects(); defects != nil {
			if err == nil {
				t.Fatalf("the door accepted %q, a broken multipart: %v", msg, defects)
			}
			return
		}
		if err != nil {
			t.Fatalf("the door refused %q, which the runners parse: %v", msg, err)
		}
		m, err := message.Parse(p.message)
		if err != nil {
			t.Fatalf("the runners cannot parse the queued %q: %v", p.message, err)
		}
		if got := m.Get("Message-ID"); got != p.messageID || got == "" {
			t.Fatalf("the runners read the Message-ID %q, the door %q, in %q", got, p.messageID, p.message)
		}
		hash := messageIDHash(p.messageID)
		for _, name := range []string{"Message-ID-Hash", "X-Message-ID-Hash"} {
			if got := m.Values(name); len(got) != 1 || got[0] != hash {
				t.Fatalf("%s: %q, want once %q, in %q", name, got, hash, p.message)
			}
		}
		if got := m.Values("X-MailFrom"); len(got) != 1 || got[0] != from {
			t.Fatalf("X-MailFrom: %q, want %q", got, from)
		}
		if !bytes.Equal(m.Body(), raw.Body()) {
			t.Fatalf("body %q, received %q", m.Body(), raw.Body())
		}
	})
}
