package pipeline

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// fuzzSeeds are posts of the shapes the pipeline meets, and broken ones.
var fuzzSeeds = []string{
	"From: anne@example.com\r\nTo: test@example.com\r\nSubject: Hi\r\nMessage-ID: <a@example.com>\r\n\r\nHello.\r\n",
	"From: Anne <anne@example.com>\nTo: test@example.com, Bart <bart@example.com>\nCc: cris@example.com\nSubject: Re: AW: [Test] Hi\n\nLF only.\n",
	"From: =?utf-8?q?Ann=C3=A9?= <anne@example.com>\r\nSubject: =?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte("Grüße")) + "?=\r\n" +
		"Approved: secret\r\nReply-To: anne@example.com\r\nList-Id: <forged.example.com>\r\n\r\nx\r\n",
	"From: anne@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =\r\nsoft\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--XX--\r\n",
	"From: anne@example.com\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nno closing boundary\r\n--X",
	"From: anne@example.com\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n\r\n----\r\n",
	"From: anne@example.com\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64\r\n",
	"From: anne@example.com\r\nSubject: \xe9t\xe9 8-bit\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xe9t\xe9\r\n",
	"Subject: folded\r\n  over\r\n\tlines\r\nFrom: <>\r\nTo: undisclosed-recipients:;\r\n\r\n",
	"From: anne@example.com",
	"From: anne@example.com\r\nSubject: [Test 41] %d\r\n\r\n",
	"",
}

// FuzzPipeline runs any message through the posting pipeline, as the
// pipeline runner does. It must not panic. A message that does not parse
// is an error (the runner shunts it); one that parses must come out in
// the outgoing queue, still parsing, with the list's headers and its body
// as it was.
func FuzzPipeline(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	site := runnertest.New(f, map[store.Role][]string{
		store.Owner:   {"owen@example.com"},
		store.Regular: {"anne@example.com", "Bart <BART@example.com>", "cris@example.com"},
	})
	out := site.Queue("outgoing")
	h := &Handler{Store: site.Store, Outgoing: out}
	f.Fuzz(func(t *testing.T, raw []byte) {
		md := switchboard.Msgdata{}
		md.Set(msgdata.ListID, "test.example.com")
		_, err := h.Dispose(context.Background(), &switchboard.Entry{Name: "fuzz", Message: raw, Msgdata: md}, discardLog)
		queued := runnertest.Take(t, out)
		in, parseErr := message.Parse(raw)
		if parseErr != nil {
			if err == nil || len(queued) != 0 {
				t.Fatalf("an unparsable message: error %v, %d queued; want an error and none", err, len(queued))
			}
			return
		}
		if err != nil {
			t.Fatalf("a message that parses: %v", err)
		}
		if len(queued) != 1 {
			t.Fatalf("%d entries in outgoing, want 1", len(queued))
		}
		got, err := message.Parse(queued[0].Message)
		if err != nil {
			t.Fatalf("the outgoing message does not parse: %v\n%q", err, queued[0].Message)
		}
		if v := got.Values("X-BeenThere"); len(v) != 1 || v[0] != "test@example.com" {
			t.Errorf("X-BeenThere %q\n%q", v, queued[0].Message)
		}
		if v := got.Values("List-Id"); len(v) != 1 || v[0] != "Test <test.example.com>" {
			t.Errorf("List-Id %q\n%q", v, queued[0].Message)
		}
		if v := got.Values("Subject"); len(v) != 1 || !strings.HasPrefix(got.Decoded("Subject"), "[Test] ") {
			t.Errorf("Subject %q\n%q", v, queued[0].Message)
		}
		for _, name := range []string{"From", "To", "Cc", "Message-ID"} {
			if g, w := got.Values(name), in.Values(name); !slices.Equal(g, w) {
				t.Errorf("%s %q, want %q as it came\n%q", name, g, w, queued[0].Message)
			}
		}
		if !bytes.Equal(got.Body(), in.Body()) {
			t.Errorf("body changed: %q, want %q", got.Body(), in.Body())
		}
	})
}
