package message

import (
	"bytes"
	"encoding/base64"
	"mime"
	"slices"
	"strings"
	"testing"
)

// footerSeeds are posts of each shape Decorate treats, and broken ones.
var footerSeeds = []string{
	"From: zoe@example.org\r\nTo: test@example.com\r\nSubject: Hi\r\n" +
		"Message-ID: <post@example.org>\r\n\r\nHello, list.\r\n",
	"From: zoe@example.org\nSubject: LF only\n\nHello,\nlist.",
	"From: zoe@example.org\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("Grüße\nno CR\n")) + "\r\n",
	"From: zoe@example.org\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"caf=C3=A9 soft =\r\nbreak and trailing space =20\r\n",
	"From: zoe@example.org\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xe9t\xe9\r\n",
	"From: zoe@example.org\r\nContent-Transfer-Encoding: base64\r\n\r\n!!! not base64\r\n",
	"From: zoe@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nHello\r\n--XX\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n--XX--\r\nepilogue\r\n",
	"From: zoe@example.org\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n\r\ntruncated, no closing boundary\r\n--X",
	"From: zoe@example.org\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX--  \r\n--XX--\r\n",
	"From: zoe@example.org\r\nContent-Type: multipart/mixed\r\n\r\n--XX\r\n\r\nno boundary parameter\r\n--XX--\r\n",
	"From: zoe@example.org\r\nContent-Type: multipart/alternative; boundary=\"XX\"\r\n\r\n--XX\r\n\r\nplain\r\n--XX--\r\n",
	"From: zoe@example.org\r\nContent-Type: multipart/signed; boundary=\"XX\"; protocol=\"application/pgp-signature\"\r\n\r\n--XX\r\n\r\nsigned\r\n--XX--\r\n",
	"From: zoe@example.org\r\nContent-Type: text/plain; charset=\r\n\r\nbroken parameter\r\n",
	"From: zoe@example.org\r\nSubject: all header, cut short",
	"From: zoe@example.org\r\n",
	"",
}

// FuzzDecorate: any message through the footer, and through a header and
// a footer. It must not panic; the decorated message must still parse and
// have the footer (and the header); a footer alone is only appended: a text/plain body keeps its header and the original text (or
// body bytes) before the footer, a multipart/mixed keeps its header and
// every byte around the added part, and any other message, wrapped, keeps
// its other fields in order and becomes a multipart/mixed whose first part
// is its Content-* fields and its body, byte for byte, and whose second is
// the footer.
func FuzzDecorate(f *testing.F) {
	for _, s := range footerSeeds {
		f.Add([]byte(s))
	}
	lastLine := footerLines[len(footerLines)-1]
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := Parse(raw)
		if err != nil {
			return
		}
		both, _ := Parse(raw)
		both.Decorate(headerLines, footerLines)
		checkHeaderAndFooter(t, both.Bytes(), lastLine)

		m, _ := Parse(raw)
		m.Decorate(nil, footerLines)
		out := m.Bytes()
		got, err := Parse(out)
		if err != nil {
			t.Fatalf("the decorated message does not parse: %v\n%q", err, out)
		}
		mt, params := "text/plain", map[string]string{}
		if ct := in.Get("Content-Type"); ct != "" {
			if mt, params, err = mime.ParseMediaType(ct); err != nil {
				mt = ""
			}
		}
		if got.Get("Content-Type") != in.Get("Content-Type") {
			checkWrapped(t, in, got, lastLine)
			return
		}
		if h, want := out[:len(out)-len(got.Body())], raw[:len(raw)-len(in.Body())]; !bytes.Equal(h, want) && len(in.Body()) > 0 {
			t.Fatalf("header changed: %q, want %q", h, want)
		}
		switch mt {
		case "text/plain":
			before, _ := in.FirstText()
			after, ok := got.FirstText()
			if !ok {
				t.Fatalf("the decorated text does not decode:\n%q", out)
			}
			if !strings.HasPrefix(toLF(after), toLF(before)) {
				t.Errorf("text %q does not start with the original %q", after, before)
			}
			if !strings.HasSuffix(strings.TrimRight(after, "\r\n"), lastLine) {
				t.Errorf("text %q does not end with the footer", after)
			}
			switch strings.ToLower(in.Get("Content-Transfer-Encoding")) {
			case "base64", "quoted-printable":
			default:
				if !bytes.HasPrefix(got.Body(), in.Body()) {
					t.Errorf("body %q does not start with the original %q", got.Body(), in.Body())
				}
			}
		case "multipart/mixed":
			body := in.Body()
			_, end := delimiters(body, params["boundary"])
			added := len(got.Body()) - len(body)
			if end < 0 || added <= 0 || !bytes.Equal(got.Body()[:end], body[:end]) || !bytes.Equal(got.Body()[end+added:], body[end:]) {
				t.Fatalf("body %q is not the original %q with a part added before its closing delimiter", got.Body(), body)
			}
			if !bytes.Contains(got.Body()[end:end+added], []byte(lastLine)) {
				t.Errorf("the added part %q has no footer", got.Body()[end:end+added])
			}
		default:
			t.Errorf("a %s message was decorated in place", mt)
		}
	})
}

// checkWrapped fails t unless got is in wrapped with the footer.
func checkWrapped(t *testing.T, in, got *Message, lastLine string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(got.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("wrapped as %q (%v), not multipart/mixed", got.Get("Content-Type"), err)
	}
	var inner []byte
	var others []string
	for _, f := range in.fields {
		if strings.HasPrefix(strings.ToLower(f.name), "content-") {
			inner = append(inner, f.raw...)
		} else {
			others = append(others, f.name+": "+f.value())
		}
	}
	var kept []string
	for _, f := range got.fields {
		if !strings.EqualFold(f.name, "Content-Type") && (!strings.EqualFold(f.name, "MIME-Version") || in.Has("MIME-Version")) {
			kept = append(kept, f.name+": "+f.value())
		}
	}
	if !slices.Equal(kept, others) {
		t.Errorf("the wrapped message's fields are %q, want %q", kept, others)
	}
	parts := splitParts(got.Body(), params["boundary"])
	if len(parts) != 2 {
		t.Fatalf("%d parts, want 2:\n%q", len(parts), got.Body())
	}
	if len(inner) > 0 && !bytes.HasSuffix(inner, []byte("\n")) {
		inner = append(inner, in.nl...)
	}
	if first, want := parts[0].data, slices.Concat(inner, []byte(in.nl), in.Body()); !bytes.Equal(first, want) {
		t.Errorf("the first part is %q, want %q", first, want)
	}
	if !bytes.Contains(parts[1].data, []byte(lastLine)) || !bytes.Contains(parts[1].data, []byte("Content-Disposition: inline")) {
		t.Errorf("the second part %q is not the footer", parts[1].data)
	}
}

// toLF is s with its line endings made LF: quoted-printable writes CRLF
// for each.
func toLF(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// checkHeaderAndFooter fails t unless out parses and has the header line
// before the footer's last line, in its text or in its parts.
func checkHeaderAndFooter(t *testing.T, out []byte, lastLine string) {
	t.Helper()
	got, err := Parse(out)
	if err != nil {
		t.Fatalf("the message with a header and a footer does not parse: %v\n%q", err, out)
	}
	text := string(got.Body())
	if mt, _, err := mime.ParseMediaType(got.Get("Content-Type")); got.Get("Content-Type") == "" || err == nil && mt == "text/plain" {
		text, _ = got.FirstText()
	}
	h, f := strings.Index(text, headerLines[0]), strings.LastIndex(text, lastLine)
	if h < 0 || f < 0 || h > f {
		t.Fatalf("no header before the footer in %q", out)
	}
}
