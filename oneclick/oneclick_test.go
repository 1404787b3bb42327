package oneclick

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	k, err := LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v, %v", fi, err)
	}
	tok := k.Token("test.example.com", "Anne@Example.org")
	for _, tc := range []struct {
		name, list, addr, token string
		ok                      bool
	}{
		{"as made", "test.example.com", "anne@example.org", tok, true},
		{"the address in another case", "test.example.com", "ANNE@example.org", tok, true},
		{"another address", "test.example.com", "bart@example.org", tok, false},
		{"another list", "other.example.com", "anne@example.org", tok, false},
		{"a changed MAC", "test.example.com", "anne@example.org", tok[:len(tok)-2] + "AA", false},
		{"cut short", "test.example.com", "anne@example.org", tok[:len(tok)-4], false},
		{"no key id", "test.example.com", "anne@example.org", strings.SplitN(tok, ".", 2)[1], false},
		{"an unknown key", "test.example.com", "anne@example.org", "k9." + strings.SplitN(tok, ".", 2)[1], false},
		{"empty", "test.example.com", "anne@example.org", "", false},
	} {
		if err := k.Check(tc.list, tc.addr, tc.token); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadToken)) {
			t.Errorf("%s: Check = %v, want ok %v", tc.name, err, tc.ok)
		}
	}

	// Rotated: the new key signs, the old links still work, and a process
	// that read the file before checks the new links too.
	before, err := LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	newTok := k.Token("test.example.com", "anne@example.org")
	if newTok == tok || !strings.HasPrefix(newTok, "k2.") {
		t.Errorf("after rotating, token %q", newTok)
	}
	for _, keys := range []*Keys{k, before} {
		for _, tk := range []string{tok, newTok} {
			if err := keys.Check("test.example.com", "anne@example.org", tk); err != nil {
				t.Errorf("%s: %v", tk, err)
			}
		}
	}
	again, err := LoadKeys(path)
	if err != nil || again.Count() != 2 || again.Token("test.example.com", "anne@example.org") != newTok {
		t.Errorf("reloaded: %d keys, %v", again.Count(), err)
	}
}

// TestFirstKeyOnce: processes starting at once on a site with no keys
// agree on one.
func TestFirstKeyOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	tokens := make([]string, 8)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() {
			k, err := LoadKeys(path)
			if err != nil {
				t.Error(err)
				return
			}
			tokens[i] = k.Token("l", "a@b")
		})
	}
	wg.Wait()
	for _, tk := range tokens[1:] {
		if tk != tokens[0] {
			t.Fatalf("tokens differ: %q", tokens)
		}
	}
}

func TestBadKeysFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(path, []byte("# keys\nk1 0123\n"), 0o600)
	if _, err := LoadKeys(path); err == nil || !strings.Contains(err.Error(), "keys:2:") {
		t.Errorf("a short key: %v", err)
	}
	os.WriteFile(path, []byte("# nothing\n"), 0o600)
	if _, err := LoadKeys(path); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("no key: %v", err)
	}
}

func TestLinks(t *testing.T) {
	k, err := LoadKeys(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	link := k.Link("https://lists.example.com/unsubscribe/", "test.example.com", "Anne+lists@example.org")
	rest, ok := strings.CutPrefix(link, "https://lists.example.com/unsubscribe/test.example.com/")
	if !ok {
		t.Fatalf("link %s", link)
	}
	list, addr, tok, err := ParsePath("/test.example.com/" + rest)
	if err != nil || list != "test.example.com" || addr != "anne+lists@example.org" || k.Check(list, addr, tok) != nil {
		t.Errorf("ParsePath = %q, %q, %q, %v", list, addr, tok, err)
	}
	for _, bad := range []string{"", "/", "/a/b", "/a/b/c/d", "/l/not-base64!/t", "/l/" + "bm9hdA" + "/t"} {
		if _, _, _, err := ParsePath(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("ParsePath(%q) = %v", bad, err)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	f.Add("/test.example.com/YW5uZUBleGFtcGxlLm9yZw/k1.AAAA")
	f.Fuzz(func(t *testing.T, path string) {
		list, addr, _, err := ParsePath(path)
		if err == nil && (strings.Contains(list, "/") || !strings.Contains(addr, "@")) {
			t.Errorf("ParsePath(%q) = %q, %q", path, list, addr)
		}
	})
}
