package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name    string
		before  string // the file's content before, "" for none
		tmp     string // a file already at the temporary name, "" for none
		new     bool   // WriteNew instead of Write
		want    string
		wantErr error
	}{
		{name: "new file", want: "new"},
		{name: "replace", before: "old", want: "new"},
		{name: "new with WriteNew", new: true, want: "new"},
		{name: "temporary name taken", before: "old", tmp: "someone else's", want: "old", wantErr: os.ErrExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := OpenDir(filepath.Join(t.TempDir(), "sub"))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			path := filepath.Join(d.Path(), "f")
			if tt.before != "" {
				os.WriteFile(path, []byte(tt.before), 0o600)
			}
			if tt.tmp != "" {
				os.WriteFile(filepath.Join(d.Path(), "f.tmp"), []byte(tt.tmp), 0o600)
			}
			write := d.Write
			if tt.new {
				write = d.WriteNew
			}
			err = write("f.tmp", "f", []byte("new"), 0o640)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("write: %v, want %v", err, tt.wantErr)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.want {
				t.Errorf("file holds %q, want %q", got, tt.want)
			}
			if err == nil {
				if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
					t.Errorf("mode %v, want 0640", info.Mode().Perm())
				}
				if _, err := os.Stat(filepath.Join(d.Path(), "f.tmp")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("temporary file left: %v", err)
				}
			}
		})
	}
}

// TestWriteFileConcurrently has writers replace one file at once: each
// reader sees one writer's data whole, and no temporary file is left.
func TestWriteFileConcurrently(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "map")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				data := strings.Repeat(fmt.Sprintf("%d-%d\n", i, j), 1000)
				if err := WriteFile(path, []byte(data), 0o644); err != nil {
					t.Error(err)
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Error(err)
					return
				}
				first, _, _ := strings.Cut(string(got), "\n")
				if string(got) != strings.Repeat(first+"\n", 1000) {
					t.Errorf("read a file that is not one writer's whole: %d bytes", len(got))
				}
			}
		}()
	}
	wg.Wait()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d files, want the map alone", len(entries))
	}
}

// TestCrashBeforeRename kills a real process between the write of the
// temporary file and its rename: the file keeps its old content.
func TestCrashBeforeRename(t *testing.T) {
	if dir := os.Getenv("ATOMICFILE_CRASH_DIR"); dir != "" {
		d, err := OpenDir(dir)
		if err != nil {
			os.Exit(2)
		}
		d.BeforeRename = func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
		d.Write("f.tmp", "f", []byte("new"), 0o644)
		os.Exit(3) // not reached: the hook kills the process
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("old"), 0o644)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashBeforeRename$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_CRASH_DIR="+dir)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper process: %v, want killed by SIGKILL", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "old" {
		t.Errorf("after the crash the file holds %q, want the old content", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f.tmp")); string(got) != "new" {
		t.Errorf("the temporary file holds %q, want the whole new content for the caller's recovery to remove", got)
	}
}
