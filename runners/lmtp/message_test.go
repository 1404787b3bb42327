package lmtp

import (
	"errors"
	"strings"
	"testing"
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
		want   string // the prepared message, with HASH for the hash of the id
		id     string
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
			in:   "Message-ID: <ant>\nMessage-ID-Hash: IGNOREME\nX-Message-ID-Hash: IGNOREME\nSubject: x\n\nbody\n",
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
		{name: "a line without a colon in the header", in: "From: a\r\nthis is not a header\r\n\r\nbody\r\n", defect: true},
		{name: "first line a continuation", in: " folded\r\nFrom: a\r\n\r\n", defect: true},
		{name: "empty message", in: "", defect: true},
		{name: "space before the colon name", in: "Bad Name: x\r\n\r\n", defect: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := prepare([]byte(c.in), "anne@example.org", "lists.example.com")
			if c.defect {
				if !errors.Is(err, errDefects) {
					t.Fatalf("prepare = %v, want errDefects", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(c.want, "HASH", messageIDHash(c.id))
			if string(p.message) != want {
				t.Errorf("prepared\n%q\nwant\n%q", p.message, want)
			}
			if p.messageID != c.id {
				t.Errorf("messageID = %q, want %q", p.messageID, c.id)
			}
		})
	}
}

func TestPrepareAddsMessageID(t *testing.T) {
	p, err := prepare([]byte("From: anne@example.com\r\nSubject: no id\r\n\r\nbody\r\n"), "anne@example.com", "lists.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.messageID, "<") || !strings.HasSuffix(p.messageID, "@lists.example.com>") {
		t.Errorf("generated Message-ID %q", p.messageID)
	}
	want := "Subject: no id\r\nMessage-ID: " + p.messageID + "\r\nMessage-ID-Hash: " + messageIDHash(p.messageID) + "\r\n"
	if !strings.Contains(string(p.message), want) {
		t.Errorf("prepared message:\n%s", p.message)
	}
}

func FuzzPrepare(f *testing.F) {
	f.Add([]byte("From: a\r\nMessage-ID: <x>\r\n\r\nbody\r\n"))
	f.Add([]byte("Subject: x\n folded\n\n"))
	f.Add([]byte(" bad\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		p, err := prepare(msg, "a@b", "h")
		if err != nil {
			return
		}
		// The body after the header block is kept exactly.
		if end, body := headerEnd(msg); end >= 0 && len(body) > 0 && !strings.HasSuffix(string(p.message), string(body)) {
			t.Fatalf("body changed: %q -> %q", msg, p.message)
		}
		if !strings.Contains(string(p.message), "X-Message-ID-Hash: "+messageIDHash(p.messageID)) {
			t.Fatal("no hash header")
		}
	})
}
