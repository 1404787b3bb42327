package message

import (
	"mime"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// footerLines is the footer of a list test@example.com, one string a line.
var footerLines = []string{
	"_______________________________________________",
	"Test mailing list -- test@example.com",
	"To unsubscribe send an email to test-leave@example.com",
}

// headerLines is a list's header.
var headerLines = []string{"Read the list's rules first."}

// asciiPart is the footer part Mailman adds for footerLines.
const asciiPart = "Content-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: 7bit\r\nContent-Disposition: inline\r\n\r\n" +
	"_______________________________________________\r\nTest mailing list -- test@example.com\r\nTo unsubscribe send an email to test-leave@example.com\r\n"

func TestDecorate(t *testing.T) {
	accented := slices.Clone(footerLines)
	accented[1] = "Tëst mailing list -- test@example.com"
	footer := strings.Join(footerLines, "\r\n") + "\r\n"
	lf := strings.ReplaceAll(footer, "\r\n", "\n")
	mixedHello := "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n--b--\r\n"
	// wrapped is a message wrapped with the ASCII footer, BOUNDARY standing
	// for the boundary it was given.
	wrapped := func(outer, inner, body string) string {
		return outer + "Content-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n--BOUNDARY\r\n" + inner + "\r\n" + body +
			"\r\n--BOUNDARY\r\n" + asciiPart + "\r\n--BOUNDARY--\r\n"
	}
	headerPart := "Content-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: 7bit\r\nContent-Disposition: inline\r\n\r\n" + headerLines[0] + "\r\n"
	tests := []struct {
		name   string
		header []string
		lines  []string
		raw    string
		want   string
	}{
		{"header and footer around the text", headerLines, footerLines, "Subject: x\r\n\r\nHello\r\n", "Subject: x\r\n\r\n" + headerLines[0] + "\r\nHello\r\n" + footer},
		{"header alone leaves the end as it was", headerLines, nil, "Subject: x\r\n\r\nHello", "Subject: x\r\n\r\n" + headerLines[0] + "\r\nHello"},
		{"neither changes nothing", nil, nil, "Content-Type: image/png\r\n\r\nPNG", "Content-Type: image/png\r\n\r\nPNG"},
		{"multipart/mixed with a header part first", headerLines, footerLines, mixedHello,
			strings.Replace(strings.Replace(mixedHello, "--b\r\n", "--b\r\n"+headerPart+"\r\n--b\r\n", 1), "--b--", "--b\r\n"+asciiPart+"\r\n--b--", 1)},
		{"wrapped between the header and the footer", headerLines, footerLines, "Content-Type: image/png\r\n\r\nPNG",
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n--BOUNDARY\r\n" + headerPart + "\r\n--BOUNDARY\r\nContent-Type: image/png\r\n\r\nPNG" +
				"\r\n--BOUNDARY\r\n" + asciiPart + "\r\n--BOUNDARY--\r\n"},
		{"no final newline gets one", nil, footerLines, "Subject: x\r\n\r\nHello", "Subject: x\r\n\r\nHello\r\n" + footer},
		{"LF line endings kept", nil, footerLines, "Subject: x\n\nHello\n", "Subject: x\n\nHello\n" + lf},
		{"empty body", nil, footerLines, "Subject: x\r\n\r\n", "Subject: x\r\n\r\n" + footer},
		{"quoted-printable", nil, footerLines,
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9\r\n",
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9\r\n" + footer},
		{"non-ASCII footer into UTF-8 text", nil, accented,
			"Content-Type: text/plain; charset=UTF-8\r\n\r\nHi\r\n",
			"Content-Type: text/plain; charset=UTF-8\r\n\r\nHi\r\n" + strings.Replace(footer, "Test mailing", "Tëst mailing", 1)},
		{"non-ASCII footer into ASCII text is wrapped, in UTF-8", nil, accented, "Subject: x\r\n\r\nHi\r\n",
			"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n--BOUNDARY\r\n\r\nHi\r\n\r\n--BOUNDARY\r\n" +
				"Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Disposition: inline\r\n\r\n" +
				strings.Replace(footer, "Test mailing", "T=C3=ABst mailing", 1) + "\r\n--BOUNDARY--\r\n"},
		{"undecodable body is wrapped", nil, footerLines, "MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n!!! not base64\r\n",
			wrapped("MIME-Version: 1.0\r\n", "Content-Transfer-Encoding: base64\r\n", "!!! not base64\r\n")},
		{"multipart/mixed", nil, footerLines, mixedHello, strings.Replace(mixedHello, "--b--", "--b\r\n"+asciiPart+"\r\n--b--", 1)},
		{"multipart/mixed cut short is wrapped", nil, footerLines, strings.TrimSuffix(mixedHello, "--b--\r\n"),
			wrapped("MIME-Version: 1.0\r\n", "Content-Type: multipart/mixed; boundary=\"b\"\r\n", "--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n")},
		{"multipart/alternative is wrapped", nil, footerLines, "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\nContent-Transfer-Encoding: 7bit\r\nSubject: x\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n--b--\r\n",
			wrapped("From: a@example.org\r\nMIME-Version: 1.0\r\nSubject: x\r\n", "Content-Type: multipart/alternative; boundary=\"b\"\r\nContent-Transfer-Encoding: 7bit\r\n", "--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n--b--\r\n")},
		{"a single image is wrapped", nil, footerLines, "Content-Type: image/png\r\n\r\nPNG",
			wrapped("MIME-Version: 1.0\r\n", "Content-Type: image/png\r\n", "PNG")},
		{"unreadable Content-Type is wrapped", nil, footerLines, "Content-Type: text/plain; charset\r\n\r\nHi",
			wrapped("MIME-Version: 1.0\r\n", "Content-Type: text/plain; charset\r\n", "Hi")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			m.Decorate(tt.header, tt.lines)
			got := string(m.Bytes())
			want := tt.want
			if _, params, err := mime.ParseMediaType(m.Get("Content-Type")); err == nil && params["boundary"] != "" {
				want = strings.ReplaceAll(want, "BOUNDARY", params["boundary"])
			}
			if got != want {
				t.Errorf("got:\n%q\nwant:\n%q", got, want)
			}
		})
	}
}

// TestDecorateRealMessages: posts from CPython's email test data
// (testdata/cpython), each of which Mailman 3.3.8 sends with the footer,
// get it here too, where Mailman puts it: in the text, in a part closing a
// multipart/mixed, or in a part after the whole message wrapped.
func TestDecorateRealMessages(t *testing.T) {
	tests := []struct {
		file, how string
	}{
		{"msg_01.txt", "in the text"},
		{"msg_36.txt", "closing part"}, // Multipart/Mixed, in capitals
		{"msg_16.txt", "wrapped"},      // multipart/report
		{"msg_28.txt", "wrapped"},      // multipart/digest
		{"msg_45.txt", "wrapped"},      // multipart/signed
		{"msg_40.txt", "wrapped"},      // text/html
		{"msg_46.txt", "wrapped"},      // message/rfc822
	}
	lastLine := footerLines[len(footerLines)-1]
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "cpython", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			in, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := Parse(raw)
			m.Decorate(nil, footerLines)
			out, err := Parse(m.Bytes())
			if err != nil {
				t.Fatalf("the decorated message does not parse: %v", err)
			}
			if tt.how == "in the text" {
				if text, _ := out.FirstText(); !strings.HasSuffix(strings.TrimRight(text, "\n"), lastLine) {
					t.Errorf("the text does not end with the footer:\n%s", text)
				}
				return
			}
			mt, params, err := mime.ParseMediaType(out.Get("Content-Type"))
			if err != nil || mt != "multipart/mixed" {
				t.Fatalf("Content-Type %q (%v), want multipart/mixed", out.Get("Content-Type"), err)
			}
			parts := splitParts(out.Body(), params["boundary"])
			if len(parts) == 0 || string(parts[len(parts)-1].data) != strings.ReplaceAll(asciiPart, "\r\n", "\n") {
				t.Fatalf("the last part is not the footer's:\n%s", out.Body())
			}
			if tt.how != "wrapped" {
				return
			}
			if len(parts) != 2 {
				t.Fatalf("%d parts, want the message and the footer", len(parts))
			}
			first, err := Parse(parts[0].data)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(first.Values("Content-Type"), in.Values("Content-Type")) || string(first.Body()) != string(in.Body()) {
				t.Errorf("the first part is not the original body with its Content-Type:\n%s", parts[0].data)
			}
			for _, f := range in.fields {
				if !strings.HasPrefix(strings.ToLower(f.name), "content-") && !slices.Contains(out.Values(f.name), f.value()) {
					t.Errorf("field %s: %q lost", f.name, f.value())
				}
			}
		})
	}
}
