// Package atomicfile writes files whole and durably: the queue entries of
// the switchboard, the Postfix maps, the master's pid and state files. It
// states one guarantee and keeps it for all of them:
//
//   - a reader sees the old file or the new one, never a part of either,
//     because the data goes to a temporary file in the same folder that is
//     renamed over the name only once it is complete;
//   - once a write returns nil, the new file survives a crash or a power
//     cut, because the temporary file is fsync'd before the rename and the
//     folder after it;
//   - a write that fails leaves no temporary file behind, unless the
//     process dies during it: callers that scan a folder (the switchboard)
//     recognise and remove what a crash left.
//
// It knows nothing of what the files hold.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Dir is a folder files are written into, kept open so that each write can
// sync it without opening it again.
type Dir struct {
	path string
	f    *os.File
	// BeforeRename, when set, is called between the sync of a temporary
	// file and its rename: crash tests kill the process there.
	BeforeRename func()
}

// OpenDir opens the folder at path, creating it (mode 0770) when missing.
func OpenDir(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o770); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &Dir{path: path, f: f}, nil
}

// Close closes the folder.
func (d *Dir) Close() error { return d.f.Close() }

// Sync makes the folder's entries durable: the renames and removals made
// in it so far survive a crash.
func (d *Dir) Sync() error { return d.f.Sync() }

// SyncFS makes everything written on the folder's file system durable, in
// one syncfs(2): cheaper than a sync of each of many files written at once.
func (d *Dir) SyncFS() error { return unix.Syncfs(int(d.f.Fd())) }

// FileSystem identifies the folder's file system, so that folders on the
// same one share a SyncFS.
func (d *Dir) FileSystem() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(d.f.Fd()), &st); err != nil {
		return 0, err
	}
	return st.Dev, nil
}

// Path is the folder's path.
func (d *Dir) Path() string { return d.path }

// Write makes the file name in d hold data with mode perm (less the
// umask), replacing any file there, through the temporary file tmp, which
// must not exist.
func (d *Dir) Write(tmp, name string, data []byte, perm os.FileMode) error {
	_, err := d.write(tmp, name, data, perm)
	return err
}

// WriteNew is Write for a name that no file has: when the folder cannot be
// synced after the rename, the new file is removed again, so that it is
// never there without its write having returned nil (the switchboard's
// queue entries, whose writers answer 4xx on an error, rely on it).
func (d *Dir) WriteNew(tmp, name string, data []byte, perm os.FileMode) error {
	renamed, err := d.write(tmp, name, data, perm)
	if err != nil && renamed {
		os.Remove(filepath.Join(d.path, name))
	}
	return err
}

func (d *Dir) write(tmp, name string, data []byte, perm os.FileMode) (renamed bool, err error) {
	tmpPath := filepath.Join(d.path, tmp)
	f, err := os.OpenFile(tmpPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return false, err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if d.BeforeRename != nil {
			d.BeforeRename()
		}
		err = os.Rename(tmpPath, filepath.Join(d.path, name))
	}
	if err != nil {
		os.Remove(tmpPath)
		return false, err
	}
	if err := d.f.Sync(); err != nil {
		return true, fmt.Errorf("sync directory %s: %w", d.path, err)
	}
	return true, nil
}

// WriteFile makes the file at path hold data with mode perm, as Write does,
// through a temporary file named after it (".NAME.RANDOM.tmp"), so that two
// processes writing the same file at once each write theirs whole and the
// last rename wins.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	d, err := OpenDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	for try := 0; ; try++ {
		tmp := fmt.Sprintf(".%s.%s.tmp", filepath.Base(path), randomSuffix())
		err := d.Write(tmp, filepath.Base(path), data, perm)
		if !errors.Is(err, os.ErrExist) || try == 10 {
			return err
		}
	}
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
