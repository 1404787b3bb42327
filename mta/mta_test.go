package mta

import "testing"

func TestAddressForms(t *testing.T) {
	tests := []struct{ got, want string }{
		{Sub("test@example.com", Post), "test@example.com"},
		{Sub("test@example.com", Bounces), "test-bounces@example.com"},
		{Sub("my-list@lists.example.com", Leave), "my-list-leave@lists.example.com"},
		{SubPlus("test@example.com", Confirm, "abc123"), "test-confirm+abc123@example.com"},
		{SubPlus("test@example.com", Request, ""), "test-request@example.com"},
		{VERP("test-bounces@example.com", "anne@example.org"), "test-bounces+anne=example.org@example.com"},
		{VERP("test-bounces@example.com", "anne"), "test-bounces@example.com"},
		{VERP("bounces", "anne@example.org"), "bounces"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestIsListAddress(t *testing.T) {
	tests := []struct {
		address string
		want    bool
	}{
		{"test@example.com", true},
		{"TEST@Example.COM", true},
		{"test-bounces@example.com", true},
		{"test-bounces+anne=example.org@example.com", true},
		{"test-confirm+token@example.com", true},
		{"test-unsubscribe@example.com", true},
		{"test+anything@example.com", true},
		{"test-other@example.com", false},
		{"test@example.org", false},
		{"tester@example.com", false},
		{"anne@example.com", false},
		{"test", false},
	}
	for _, tt := range tests {
		if got := IsListAddress("test@example.com", tt.address); got != tt.want {
			t.Errorf("IsListAddress(test@example.com, %q) = %v, want %v", tt.address, got, tt.want)
		}
	}
}

func TestSMTPAddress(t *testing.T) {
	tests := []struct{ address, want string }{
		{"anne@example.com", "anne@example.com"},
		{"first.last+tag@example.com", "first.last+tag@example.com"},
		{"x>y@example.com", `"x>y"@example.com`},
		{"two words@example.com", `"two words"@example.com`},
		{`a"b\c@example.com`, `"a\"b\\c"@example.com`},
		{"dot.@example.com", `"dot."@example.com`},
		{"a..b@example.com", `"a..b"@example.com`},
		{`"already quoted"@example.com`, `"already quoted"@example.com`},
		{"ünïcode@example.com", "ünïcode@example.com"},
		{"postmaster", "postmaster"},
		{"a@b@example.com", `"a@b"@example.com`},
	}
	for _, tt := range tests {
		if got := SMTPAddress(tt.address); got != tt.want {
			t.Errorf("SMTPAddress(%q) = %q, want %q", tt.address, got, tt.want)
		}
	}
}

// TestFromVERP: the recipient named by a VERP address comes back, as
// VERP made it; anything else names no one.
func TestFromVERP(t *testing.T) {
	const list = "test@example.com"
	tests := []struct {
		address, want string
	}{
		{VERP("test-bounces@example.com", "anne@example.org"), "anne@example.org"},
		{"Test-Bounces+Anne=Example.org@EXAMPLE.com", "Anne@Example.org"},
		{"test-bounces+a+b=example.org@mx.example.com", "a+b@example.org"},
		{"test-bounces+a=b=example.org@example.com", "a=b@example.org"},
		{"test-bounces+0123456789abcdef0123456789abcdef01234567@example.com", ""},
		{"test-bounces@example.com", ""},
		{"test-confirm+anne=example.org@example.com", ""},
		{"other-bounces+anne=example.org@example.com", ""},
		{"test-bounces+=example.org@example.com", ""},
		{"test-bounces+anne=@example.com", ""},
		{"test-bounces+anne", ""},
	}
	for _, tt := range tests {
		got, ok := FromVERP(list, tt.address)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("FromVERP(%q) = %q, %v; want %q", tt.address, got, ok, tt.want)
		}
	}
	if d, ok := Detail(list, Bounces, "test-bounces+TOKEN@example.com"); d != "TOKEN" || !ok {
		t.Errorf("Detail = %q, %v", d, ok)
	}
}
