package command

import (
	"slices"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/message"
)

func TestConfirmToken(t *testing.T) {
	for _, tt := range []struct {
		to, token string
		ok        bool
	}{
		{"test-confirm+abc123@example.com", "abc123", true},
		{"<test-confirm+abc123@example.com>", "abc123", true},
		{"Test List <test-confirm+abc123@example.com>", "abc123", true},
		{"\"test-confirm+abc@example.com\"\r\n <test-confirm+abc@example.com>", "abc", true},
		{"  test-confirm+abc@example.com  ", "abc", true},
		{"test-confirm@example.com", "", false},
		{"test-confirm+@example.com", "", false},
		{"", "", false},
	} {
		token, ok := confirmToken(tt.to)
		if token != tt.token || ok != tt.ok {
			t.Errorf("confirmToken(%q) = %q, %v; want %q, %v", tt.to, token, ok, tt.token, tt.ok)
		}
	}
}

func TestFindScript(t *testing.T) {
	for _, tt := range []struct {
		name, raw       string
		lines           []string
		ignored         int
		partial, noText bool
	}{
		{"subject and body", "Subject: join\r\n\r\necho a\r\necho b\r\n", []string{"join", "echo a", "echo b"}, 0, false, false},
		{"blank subject skipped", "Subject:   \r\n\r\necho a\r\n", []string{"echo a"}, 0, false, false},
		{"non-ASCII dropped from the subject", "Subject: =?utf-8?b?5Zue5aSN?= confirm x\r\n\r\n", []string{" confirm x"}, 0, false, false},
		{"eleven lines", "\r\n1\r\n2\r\n3\r\n4\r\n5\r\n6\r\n7\r\n8\r\n9\r\n10\r\n11\r\n", []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}, 1, false, false},
		{"no final line break", "\r\necho a", []string{"echo a"}, 0, false, false},
		{"html only", "Subject: help\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n", []string{"help"}, 0, false, true},
		{"long lines clipped", "Subject: echo " + strings.Repeat("s", 300) + "\r\n\r\necho " + strings.Repeat("é", 150) + "\r\n",
			[]string{"echo " + strings.Repeat("s", 195) + " [...]", "echo " + strings.Repeat("é", 97) + " [...]"}, 0, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := message.Parse([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			s := findScript(msg)
			if !slices.Equal(s.lines, tt.lines) || s.ignored != tt.ignored || s.partial != tt.partial || s.noText != tt.noText {
				t.Errorf("findScript = %+v; want lines %q, ignored %d, partial %v, noText %v", s, tt.lines, tt.ignored, tt.partial, tt.noText)
			}
		})
	}
}

// FuzzScript reads commands from any message: never more than the Subject
// and ten body lines, none longer than the results may repeat, every word
// lower-case ASCII, and the token of any To header free of '@'.
func FuzzScript(f *testing.F) {
	f.Add([]byte("Subject: Re: confirm abc\r\nTo: x-confirm+abc@example.com\r\n\r\njoin digest=mime\r\n"))
	f.Add([]byte("Subject: =?utf-8?q?=E5=9B=9E_confirm?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=latin1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nleave=E9\r\n--b--\r\n"))
	f.Add([]byte("From: a@b\r\nContent-Transfer-Encoding: base64\r\n\r\nam9pbgo=\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		msg, err := message.Parse(raw)
		if err != nil {
			return
		}
		s := findScript(msg)
		if len(s.lines) > maxBodyLines+1 {
			t.Fatalf("%d lines read", len(s.lines))
		}
		if s.ignored > 0 && len(s.lines) < maxBodyLines {
			t.Fatalf("lines ignored with %d read", len(s.lines))
		}
		for _, l := range s.lines {
			if len(l) > maxEchoed+len(" [...]") {
				t.Fatalf("a line of %d bytes read", len(l))
			}
			for _, w := range words(asciiOnly(l)) {
				if w != strings.ToLower(w) || strings.ContainsFunc(w, func(r rune) bool { return r >= 0x7f || r <= ' ' }) {
					t.Fatalf("word %q", w)
				}
			}
		}
		if token, ok := confirmToken(msg.Get("To")); ok && (token == "" || strings.Contains(token, "@")) {
			t.Fatalf("token %q", token)
		}
	})
}
