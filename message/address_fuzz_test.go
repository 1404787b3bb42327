package message

import (
	"slices"
	"strings"
	"testing"
)

// FuzzAddress: any To field through Addresses and Mailbox. They must not
// panic; Addresses gives each address once, lower-cased, with an "@"
// (what does not parse is skipped, never returned as written); and Mailbox
// finds an address exactly when Addresses does, the same first one.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{
		"anne@example.com",
		"Anne <Anne@Example.COM>, bart@example.com, anne@example.com",
		`"Doe, John" <john@example.com>, "quoted \" pair" <q@example.com>`,
		"=?utf-8?q?Ann=C3=A9?= <anne@example.com>",
		"=?iso-8859-1?q?caf=E9?= <cafe@example.com>, =?x-unknown?q?zz?= <z@example.com>",
		"=?utf-8?b?R3LDvMOfZQ==?= <gruss@example.com>",
		"undisclosed-recipients:;",
		"team: anne@example.com, bart@example.com;, cris@example.com",
		"anne@example.com (Anne in a comment)",
		"<anne@example.com>",
		"broken <anne@, bart@example.com",
		"anne@example.com, <unclosed, cris@example.com",
		"\xe9t\xe9 <ete@example.com>",
		"folded,\r\n bart@example.com",
		"@, <@>, a@, @b, <>",
		"anne@[127.0.0.1], \"odd local\"@example.com",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		m, err := Parse([]byte("To: " + value + "\r\n\r\nbody\r\n"))
		if err != nil {
			return
		}
		got := m.Addresses("To")
		seen := map[string]bool{}
		for _, a := range got {
			if a == "" || a != strings.ToLower(a) || !strings.Contains(a, "@") || seen[a] {
				t.Errorf("Addresses(%q) = %q: %q is empty, not lower-case, has no @ or came twice", value, got, a)
			}
			seen[a] = true
		}
		if twice := m.Addresses("To", "to"); !slices.Equal(twice, got) {
			t.Errorf("the field named twice: %q, want %q", twice, got)
		}
		addr, _, ok := m.Mailbox("To")
		if ok != (len(got) > 0) {
			t.Fatalf("Mailbox(%q) ok %v, but Addresses found %q", value, ok, got)
		}
		if ok && strings.ToLower(addr) != got[0] {
			t.Errorf("Mailbox(%q) = %q, but Addresses starts with %q", value, addr, got[0])
		}
	})
}
