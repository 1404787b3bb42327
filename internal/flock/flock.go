// Package flock takes the advisory locks (flock(2)) that make one process
// the only master of a var_dir, the only server of a runner slice, or the
// only writer of the LMTP journal. The kernel drops a lock when its holder
// dies, so a crash never leaves a stale lock to remove by hand.
package flock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrBusy is a lock another process holds.
var ErrBusy = errors.New("locked by another process")

// Lock is a lock held on a file.
type Lock struct{ f *os.File }

// Take locks the file at path (creating it and its folder when missing)
// exclusively. A lock that is busy is tried again for up to wait, since
// the holder may be a process killed a moment ago whose last threads are
// still exiting; after that Take returns an error wrapping ErrBusy.
func Take(path string, wait time.Duration) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o770); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o660)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ErrBusy)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TakeFile locks f, an open file, exclusively, without waiting: for a file
// that is its own lock (the journal).
func TakeFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("lock %s: %w", f.Name(), ErrBusy)
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return nil
}

// Release drops the lock.
func (l *Lock) Release() error { return l.f.Close() }

// Held reports whether some process holds the lock on the file at path,
// without taking it; a missing file is a lock nobody holds.
func Held(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false, nil
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	return false, fmt.Errorf("lock %s: %w", path, err)
}
