package store

import (
	"errors"
	"strings"
	"testing"
)

func TestParseListAddress(t *testing.T) {
	valid := []struct {
		in                 string
		name, domain       string
		wantString, wantID string
	}{
		{in: "test@example.com", name: "test", domain: "example.com", wantString: "test@example.com", wantID: "test.example.com"},
		{in: "Test@Example.COM", name: "test", domain: "example.com", wantString: "test@example.com", wantID: "test.example.com"},
		{in: "  MY-List_2.x@Lists.Example.org\n", name: "my-list_2.x", domain: "lists.example.org", wantString: "my-list_2.x@lists.example.org", wantID: "my-list_2.x.lists.example.org"},
		{in: "a@b-c.example", name: "a", domain: "b-c.example", wantString: "a@b-c.example", wantID: "a.b-c.example"},
		{in: "0@1.2", name: "0", domain: "1.2", wantString: "0@1.2", wantID: "0.1.2"},
	}
	for _, c := range valid {
		t.Run("valid/"+c.in, func(t *testing.T) {
			a, err := ParseListAddress(c.in)
			if err != nil {
				t.Fatalf("ParseListAddress(%q): %v", c.in, err)
			}
			if a.Name != c.name || a.Domain != c.domain {
				t.Errorf("ParseListAddress(%q) = %+v, want {%s %s}", c.in, a, c.name, c.domain)
			}
			if a.String() != c.wantString || a.ListID() != c.wantID {
				t.Errorf("String() = %q, ListID() = %q; want %q, %q", a.String(), a.ListID(), c.wantString, c.wantID)
			}
		})
	}

	invalid := []string{
		"",
		"testexample.com",    // no @
		"@example.com",       // empty name
		"te st@example.com",  // space
		"te$t@example.com",   // bad character
		"tést@example.com",   // not ASCII
		"te+st@example.com",  // + is not a list name character
		"a..b@example.com",   // ..
		".test@example.com",  // leading dot
		"test.@example.com",  // trailing dot
		"..@example.com",     // only dots
		"a/b@x.com",          // slash
		"../x@example.com",   // traversal
		"..%2fx@example.com", // escaped traversal
		"a\\b@example.com",   // backslash
		"test@",              // empty domain
		"test@example",       // one label
		"test@-example.com",  // label starting with -
		"test@example-.com",  // label ending with -
		"test@example..com",  // empty label
		"test@.example.com",  // leading dot in domain
		"test@example.com.",  // trailing dot in domain
		"test@exa_mple.com",  // _ in domain
		"test@exa/mple.com",  // / in domain
		"test@b@example.com", // two @
		"test@[192.0.2.1]",   // address literal
		strings.Repeat("a", 250) + "@example.com", // too long
	}
	for _, in := range invalid {
		t.Run("invalid/"+in, func(t *testing.T) {
			a, err := ParseListAddress(in)
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("ParseListAddress(%q) = %+v, %v; want ErrInvalidAddress", in, a, err)
			}
			if a != (ListAddress{}) {
				t.Errorf("ParseListAddress(%q) returned %+v with its error", in, a)
			}
		})
	}
}

// TestParseListIdentifier: a list is named by its posting address or its
// list-id; anything else, and a list-id that could be a path, is refused.
func TestParseListIdentifier(t *testing.T) {
	cases := []struct {
		in, want string // want "": refused
	}{
		{"Test@Example.com", "test@example.com"},
		{" Test.Example.COM ", "test.example.com"},
		{"my-list_2.x.lists.example.org", "my-list_2.x.lists.example.org"},
		{"test", ""},
		{"test.", ""},
		{".test.example.com", ""},
		{"a..b.example.com", ""},
		{"../etc.passwd", ""},
		{"a/b.example.com", ""},
		{"te st.example.com", ""},
		{"tést.example.com", ""},
		{"a..b@example.com", ""},
		{strings.Repeat("a", 250) + ".example.com", ""},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseListIdentifier(c.in)
			if c.want == "" {
				if !errors.Is(err, ErrInvalidAddress) {
					t.Fatalf("ParseListIdentifier(%q) = %q, %v; want ErrInvalidAddress", c.in, got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseListIdentifier(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
		})
	}
}

func TestParseMemberAddress(t *testing.T) {
	valid := []struct {
		in, addr, name string
	}{
		{"Name <Addr@EXAMPLE.com>", "Addr@example.com", "Name"},
		{"Anne Person <anne@example.com>", "anne@example.com", "Anne Person"},
		{`"Person, Anne" <Anne.Person@Example.ORG>`, "Anne.Person@example.org", "Person, Anne"},
		{"bob@example.com", "bob@example.com", ""},
		{"Bob@Example.Com", "Bob@example.com", ""},
		{"  bob+tag@sub.example.com\t", "bob+tag@sub.example.com", ""},
		{"<carol@example.com>", "carol@example.com", ""},
		{"=?utf-8?q?Ren=C3=A9e?= <renee@example.com>", "renee@example.com", "Renée"},
	}
	for _, c := range valid {
		t.Run("valid/"+c.in, func(t *testing.T) {
			addr, name, err := ParseMemberAddress(c.in)
			if err != nil {
				t.Fatalf("ParseMemberAddress(%q): %v", c.in, err)
			}
			if addr != c.addr || name != c.name {
				t.Errorf("ParseMemberAddress(%q) = %q, %q; want %q, %q", c.in, addr, name, c.addr, c.name)
			}
		})
	}

	invalid := []string{
		"",
		"   ",
		"anne",
		"anne@",
		"@example.com",
		"anne@localhost",                    // not a domain name
		"anne@exa_mple.com",                 // bad domain
		"anne@example..com",                 // empty label
		"anne@[192.0.2.1]",                  // address literal
		"a/b@example.com",                   // slash
		`"a b"@example.com`,                 // space in the local part
		"Anne <anne@example.com",            // unclosed
		"anne@example.com, bob@example.com", // two addresses
		"anne@example.com\nBcc: x@example.com",
	}
	for _, in := range invalid {
		t.Run("invalid/"+in, func(t *testing.T) {
			addr, name, err := ParseMemberAddress(in)
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("ParseMemberAddress(%q) = %q, %q, %v; want ErrInvalidAddress", in, addr, name, err)
			}
			if addr != "" || name != "" {
				t.Errorf("ParseMemberAddress(%q) returned %q, %q with its error", in, addr, name)
			}
		})
	}
}
