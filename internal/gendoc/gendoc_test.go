package gendoc

import (
	"os"
	"path/filepath"
	"testing"
)

// The generated section replaces the last one and leaves the rest; a new
// file gets a heading.
func TestWriteSection(t *testing.T) {
	begin, end := Marks("bench")
	file := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := os.WriteFile(file, []byte("# Benchmarks\n\nWritten by people.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, section := range []string{"first\n", "second\n"} {
		if err := WriteSection(file, "bench", "Benchmarks", section); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(file)
	want := "# Benchmarks\n\n" + begin + "\nsecond\n" + end + "\n\nWritten by people.\n"
	if string(got) != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}

	fresh := filepath.Join(t.TempDir(), "reliability.md")
	if err := WriteSection(fresh, "reliability", "Reliability", "table\n"); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(fresh)
	begin, end = Marks("reliability")
	if want := "# Reliability\n\n" + begin + "\ntable\n" + end + "\n"; string(got) != want {
		t.Errorf("new file:\n%s\nwant:\n%s", got, want)
	}
}
