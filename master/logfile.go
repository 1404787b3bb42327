package master

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// LogFile is an append-only log file that can be reopened, so that after
// logrotate renames it the next line goes to a new file at the same path.
type LogFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenLog opens (creating it and its folder if needed) the log at path.
func OpenLog(path string) (*LogFile, error) {
	l := &LogFile{path: path}
	if err := os.MkdirAll(filepath.Dir(path), 0o770); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if err := l.Reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

// Write appends p. O_APPEND makes each write land whole at the end even when
// another process appends to the same file.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen closes the file and opens the path again.
func (l *LogFile) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o660)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// File returns the open file, for a process's standard error.
func (l *LogFile) File() *os.File {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f
}

// Close closes the file.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
