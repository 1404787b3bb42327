package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportImportJSON: a site exported and restored into a new one has
// the same lists and members, and exports the same JSON; the one-click
// keys go with it; a site that is not new refuses the restore; export
// does not overwrite a file.
func TestExportImportJSON(t *testing.T) {
	a := newCtl(t)
	pck := filepath.Join("..", "..", "migrate", "testdata", "config-features.pck")
	a.check("", []string{"import21", "test@example.com", pck}, exitOK, "members             6")
	a.check("", []string{"lists", "create", "empty@example.org"}, exitOK, "Created mailing list")
	a.check("", []string{"unsubscribe", "rotate-key"}, exitOK, "holds")
	file := filepath.Join(t.TempDir(), "site.json")
	a.check("", []string{"export", "-o", file}, exitOK, "")
	a.check("", []string{"export", "-o", file}, exitError, "file exists")
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the dump: %v, mode %v", err, info.Mode())
	}
	_, want, _ := a.run("", "export")

	b := newCtl(t)
	b.check("", []string{"import", "json", file}, exitOK, "Restored 2 list(s)")
	b.check("", []string{"members", "list", "test@example.com"}, exitOK, "Dora Digest")
	_, got, _ := b.run("", "export")
	if got != want {
		t.Errorf("the restored site exports otherwise (%d bytes, was %d)", len(got), len(want))
	}
	keysA, _ := os.ReadFile(filepath.Join(a.dir, "var", "oneclick-keys"))
	keysB, _ := os.ReadFile(filepath.Join(b.dir, "var", "oneclick-keys"))
	if len(keysA) == 0 || string(keysA) != string(keysB) {
		t.Errorf("one-click keys not carried: %q, %q", keysA, keysB)
	}
	b.check("", []string{"import", "json", file}, exitError, "the site is not empty")
	b.check("", []string{"import", "json"}, exitUsage, "need the file mailmanctl export wrote")
	if !strings.Contains(want, `"format":"mailman-go site"`) {
		t.Errorf("export's JSON: %.200s", want)
	}
}
