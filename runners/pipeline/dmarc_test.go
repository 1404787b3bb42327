package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/switchboard"
)

func TestDMARCStep(t *testing.T) {
	const headers = "To: test@example.com\r\nSubject: [Test] Hello\r\nDate: Mon, 06 Jan 2025 10:00:00 +0000\r\nMessage-ID: <orig@reject.example>\r\n" +
		"List-Id: <test.example.com>\r\nX-Mailman-Rule-Misses: dmarc-mitigation\r\nDKIM-Signature: v=1; d=reject.example\r\nReceived: from x\r\n"
	for _, tc := range []struct {
		name     string
		settings map[string]string
		from     string
		extra    string // more fields of the post
		flagged  bool
		want     map[string]string // fields of the result, decoded; "" for none
		wrapped  string            // the result's Content-Type when wrapped
	}{
		{"munge, Reply-To left alone", map[string]string{"dmarc_mitigate_action": "munge_from"}, "Ann Person <ann@reject.example>", "", true,
			map[string]string{"From": `"Ann Person via Test" <test@example.com>`, "Reply-To": `"Ann Person" <ann@reject.example>`, "Cc": "",
				"DKIM-Signature": "v=1; d=reject.example"}, ""},
		{"munge, replies to the list: Cc, kept", map[string]string{"dmarc_mitigate_action": "munge_from", "reply_goes_to_list": "point_to_list"},
			"Ann Person <ann@reject.example>", "Cc: bob@example.org\r\n", true,
			map[string]string{"From": `"Ann Person via Test" <test@example.com>`, "Cc": `<bob@example.org>, "Ann Person" <ann@reject.example>`}, ""},
		{"munge, the poster already in Reply-To", map[string]string{"dmarc_mitigate_action": "munge_from"}, "ann@reject.example",
			"Reply-To: Ann <ANN@reject.example>\r\n", true,
			map[string]string{"From": `"ann--- via Test" <test@example.com>`, "Reply-To": `"Ann" <ANN@reject.example>`}, ""},
		{"munge, the member's name", map[string]string{"dmarc_mitigate_action": "munge_from"}, "bart@example.com", "", true,
			map[string]string{"From": `"Bart via Test" <test@example.com>`, "Reply-To": `<bart@example.com>`}, ""},
		{"munge, not ASCII", map[string]string{"dmarc_mitigate_action": "munge_from"}, "=?utf-8?q?Zo=C3=AB?= <zoe@reject.example>", "", true,
			map[string]string{"From": `Zoë via Test <test@example.com>`}, ""},
		{"not flagged", map[string]string{"dmarc_mitigate_action": "munge_from"}, "Ann <ann@none.example>", "", false,
			map[string]string{"From": "Ann <ann@none.example>", "Reply-To": ""}, ""},
		{"unconditionally", map[string]string{"dmarc_mitigate_action": "munge_from", "dmarc_mitigate_unconditionally": "true"},
			"Ann <ann@none.example>", "", false, map[string]string{"From": `"Ann via Test" <test@example.com>`}, ""},
		{"anonymous list", map[string]string{"dmarc_mitigate_action": "munge_from", "anonymous_list": "true"}, "Ann <ann@reject.example>", "", true,
			map[string]string{"From": "Ann <ann@reject.example>"}, ""},
		{"reject, unconditionally: nothing here", map[string]string{"dmarc_mitigate_action": "reject", "dmarc_mitigate_unconditionally": "true"},
			"Ann <ann@reject.example>", "", false, map[string]string{"From": "Ann <ann@reject.example>"}, ""},
		{"wrap", map[string]string{"dmarc_mitigate_action": "wrap_message"}, "Ann <ann@reject.example>", "", true,
			map[string]string{"From": `"Ann via Test" <test@example.com>`, "Reply-To": `"Ann" <ann@reject.example>`, "Subject": "[Test] Hello",
				"To": "test@example.com", "List-Id": "<test.example.com>", "X-Mailman-Rule-Misses": "dmarc-mitigation",
				"Date": "Mon, 06 Jan 2025 10:00:00 +0000", "DKIM-Signature": "", "Received": "", "MIME-Version": "1.0"}, "message/rfc822"},
		{"wrap, with a text", map[string]string{"dmarc_mitigate_action": "wrap_message", "dmarc_wrapped_message_text": "The post is attached."},
			"Ann <ann@reject.example>", "", true, map[string]string{"From": `"Ann via Test" <test@example.com>`}, "multipart/mixed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			for k, v := range tc.settings {
				if err := f.st.SetListSetting(ctx, f.a, k, v); err != nil {
					t.Fatal(err)
				}
			}
			md := switchboard.Msgdata{}
			if tc.flagged {
				md.Set(msgdata.DMARC, true)
			}
			raw := "From: " + tc.from + "\r\n" + headers + tc.extra + "\r\nThe post.\r\n"
			p := f.newPost(t, raw, md)
			if err := dmarcStep(ctx, p); err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.want {
				if got := strings.Join(p.msg.DecodedValues(name), " | "); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			if tc.wrapped == "" {
				if string(p.msg.Body()) != "The post.\r\n" {
					t.Errorf("body %q", p.msg.Body())
				}
				return
			}
			if ct := p.msg.Get("Content-Type"); !strings.HasPrefix(ct, tc.wrapped) {
				t.Fatalf("Content-Type %q, want %s", ct, tc.wrapped)
			}
			if p.msg.Get("Message-ID") == "<orig@reject.example>" {
				t.Error("the wrapper kept the post's Message-ID")
			}
			// The post is inside, whole.
			var inner []byte
			for _, l := range p.msg.Leaves() {
				if l.MediaType == "message/rfc822" {
					inner = l.Content
				}
			}
			if tc.wrapped == "message/rfc822" {
				inner = p.msg.Body()
			}
			if !strings.Contains(string(inner), raw) {
				t.Errorf("the post is not inside whole:\n%s", p.msg.Bytes())
			}
			if tc.wrapped == "multipart/mixed" {
				if text, ok := p.msg.FirstText(); !ok || !strings.Contains(text, "The post is attached.") {
					t.Errorf("the wrapped text is not first:\n%s", p.msg.Bytes())
				}
			}
			if _, err := message.Parse(p.msg.Bytes()); err != nil {
				t.Error(err)
			}
		})
	}
}
