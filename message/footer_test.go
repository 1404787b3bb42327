package message

import (
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

func TestAddFooter(t *testing.T) {
	accented := slices.Clone(footerLines)
	accented[1] = "Tëst mailing list -- test@example.com"
	footer := strings.Join(footerLines, "\r\n") + "\r\n"
	lf := strings.ReplaceAll(footer, "\r\n", "\n")
	mixedHello := "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n--b--\r\n"
	tests := []struct {
		name  string
		lines []string
		raw   string
		want  string // "" when it is left alone
		why   string // what the error says when it is
	}{
		{"no final newline gets one", footerLines, "Subject: x\r\n\r\nHello", "Subject: x\r\n\r\nHello\r\n" + footer, ""},
		{"LF line endings kept", footerLines, "Subject: x\n\nHello\n", "Subject: x\n\nHello\n" + lf, ""},
		{"empty body", footerLines, "Subject: x\r\n\r\n", "Subject: x\r\n\r\n" + footer, ""},
		{"quoted-printable", footerLines,
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9\r\n",
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9\r\n" + footer, ""},
		{"non-ASCII footer into UTF-8 text", accented,
			"Content-Type: text/plain; charset=UTF-8\r\n\r\nHi\r\n",
			"Content-Type: text/plain; charset=UTF-8\r\n\r\nHi\r\n" + strings.Replace(footer, "Test mailing", "Tëst mailing", 1), ""},
		{"non-ASCII footer into ASCII text", accented, "Subject: x\r\n\r\nHi\r\n", "", "not ASCII"},
		{"undecodable body", footerLines, "Content-Transfer-Encoding: base64\r\n\r\n!!! not base64\r\n", "", "cannot be decoded"},
		{"multipart/mixed", footerLines, mixedHello, strings.Replace(mixedHello, "--b--",
			"--b\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"+footer+"\r\n--b--", 1), ""},
		{"multipart/mixed cut short", footerLines, strings.TrimSuffix(mixedHello, "--b--\r\n"), "", "no closing boundary"},
		{"multipart/mixed without a boundary", footerLines, strings.Replace(mixedHello, `; boundary="b"`, "", 1), "", "no boundary"},
		{"multipart/alternative", footerLines, strings.Replace(mixedHello, "mixed", "alternative", 1), "", "a multipart/alternative message"},
		{"a single image", footerLines, "Content-Type: image/png\r\n\r\nPNG", "", "a image/png message"},
		{"unreadable Content-Type", footerLines, "Content-Type: text/plain; charset\r\n\r\nHi", "", "unreadable Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			err = m.AddFooter(tt.lines)
			got := string(m.Bytes())
			switch {
			case tt.want == "" && err == nil:
				t.Errorf("decorated:\n%s", got)
			case tt.want == "" && !strings.Contains(err.Error(), tt.why):
				t.Errorf("error %q, want one saying %q", err, tt.why)
			case tt.want == "" && got != tt.raw:
				t.Errorf("refused (%v) but changed:\n%q", err, got)
			case tt.want != "" && err != nil:
				t.Errorf("error %v", err)
			case tt.want != "" && got != tt.want:
				t.Errorf("got:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}
