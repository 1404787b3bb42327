package flock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTakeReleaseHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks", "x.lck")
	if held, err := Held(path); held || err != nil {
		t.Fatalf("Held before any lock: %v, %v", held, err)
	}
	l, err := Take(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if held, err := Held(path); !held || err != nil {
		t.Errorf("Held while locked: %v, %v", held, err)
	}
	// A second open file description conflicts, as another process's would.
	start := time.Now()
	if _, err := Take(path, 100*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Errorf("second Take: %v, want ErrBusy", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("second Take gave up after %s, before its wait", waited)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := TakeFile(f); !errors.Is(err, ErrBusy) {
		t.Errorf("TakeFile on a locked file: %v, want ErrBusy", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if held, _ := Held(path); held {
		t.Error("Held after Release")
	}
	if err := TakeFile(f); err != nil {
		t.Errorf("TakeFile after Release: %v", err)
	}
}

// TestTakeWaitsForARelease: a lock let go within the wait is taken.
func TestTakeWaitsForARelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lck")
	l, err := Take(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { l.Release() })
	l2, err := Take(path, 5*time.Second)
	if err != nil {
		t.Fatalf("Take while the holder lets go: %v", err)
	}
	l2.Release()
}
