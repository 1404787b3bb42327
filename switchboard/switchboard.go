package switchboard

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailman-go/mailman/internal/atomicfile"
)

// MaxAttempts is how many times an entry may be found claimed by a runner
// that died before it is preserved in bad/ instead of being tried again.
const MaxAttempts = 3

// staleTemp is how old a .tmp file must be before Recover removes it. A live
// writer holds its .tmp file for milliseconds; an hour is far beyond that, so
// a file this old was left by a crash.
const staleTemp = time.Hour

// ErrGone is returned by Dequeue when the entry was claimed by another
// instance or removed before this one could claim it.
var ErrGone = errors.New("queue entry already claimed or removed")

const (
	extTemp      = ".tmp"
	extReady     = ".msg"
	extDeferred  = ".due"
	extClaimed   = ".bak"
	extPreserved = ".psv"
	extJournaled = ".new"
)

// BadQueue is the directory, beside the queues, where preserved entries go.
const BadQueue = "bad"

// Switchboard is one queue directory. It is safe for concurrent use by several
// goroutines and by several processes.
type Switchboard struct {
	name   string
	dir    string
	badDir string
	files  *atomicfile.Dir // the queue's folder, kept open to sync it after each rename
}

// Open returns the queue called name under root, creating its directory and
// the bad/ directory beside it when they do not exist.
func Open(root, name string) (*Switchboard, error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return nil, fmt.Errorf("open queue %q: not a queue name", name)
	}
	s := &Switchboard{
		name:   name,
		dir:    filepath.Join(root, name),
		badDir: filepath.Join(root, BadQueue),
	}
	for _, d := range []string{s.dir, s.badDir} {
		if err := os.MkdirAll(d, 0o770); err != nil {
			return nil, fmt.Errorf("open queue %s: %w", name, err)
		}
	}
	files, err := atomicfile.OpenDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", name, err)
	}
	s.files = files
	return s, nil
}

// Close releases the directory handle.
func (s *Switchboard) Close() error { return s.files.Close() }

// Name returns the queue's name.
func (s *Switchboard) Name() string { return s.name }

// Dir returns the queue's directory.
func (s *Switchboard) Dir() string { return s.dir }

// Enqueue durably adds a ready entry and returns its name. When it returns
// nil the entry survives a crash of the process or the machine; when it
// returns an error no entry was added.
func (s *Switchboard) Enqueue(msg []byte, md Msgdata) (string, error) {
	return s.EnqueueAt(time.Time{}, msg, md)
}

// EnqueueAt is Enqueue for an entry that must not be handed out before due.
// A due time that is zero or already past makes a ready entry.
func (s *Switchboard) EnqueueAt(due time.Time, msg []byte, md Msgdata) (string, error) {
	name, ext, data, err := s.newEntry(due, msg, md)
	if err != nil {
		return "", err
	}
	if err := s.writeEntry(name, ext, data); err != nil {
		return "", &WriteError{Queue: s.name, Err: err}
	}
	return name, nil
}

// WriteError is an entry that could not be written (a full disk, an I/O
// error): a failure of the queue, not of the message, so it is Temporary.
type WriteError struct {
	Queue string
	Err   error
}

func (e *WriteError) Error() string   { return "enqueue in " + e.Queue + ": " + e.Err.Error() }
func (e *WriteError) Unwrap() error   { return e.Err }
func (e *WriteError) Temporary() bool { return true }

// newEntry names and encodes an entry: its base name, the extension of the
// state it enters (ready or deferred) and the file's contents.
func (s *Switchboard) newEntry(due time.Time, msg []byte, md Msgdata) (name, ext string, data []byte, err error) {
	public := make(Msgdata, len(md))
	for k, v := range md {
		if !strings.HasPrefix(k, "_") {
			public[k] = v
		}
	}
	data, err = Encode(msg, public)
	if err != nil {
		return "", "", nil, fmt.Errorf("enqueue in %s: %w", s.name, err)
	}
	t, ext := nextTime(time.Now()), extReady
	if due.After(t) {
		t, ext = due, extDeferred
	}
	return formatTime(t) + "+" + entryHash(data, t), ext, data, nil
}

// writeEntry writes data to name+ext through name.tmp, with atomicfile's
// guarantees: when it returns nil the entry is whole and survives a crash;
// when it fails, no entry is there (a runner that claimed it in the moment
// before the folder's sync failed processes it anyway: a duplicate at
// worst, and the caller's 4xx stays honest).
func (s *Switchboard) writeEntry(name, ext string, data []byte) error {
	return s.files.WriteNew(name+extTemp, name+ext, data, 0o660)
}

// Ready lists the files of slice that may be dequeued at now, in the order
// they should be processed, and the earliest due time of the deferred entries
// that are not ready yet (zero when there are none).
func (s *Switchboard) Ready(slice Slice, now time.Time) (files []string, next time.Time, err error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("scan %s: %w", s.name, err)
	}
	for _, de := range des {
		n, ok := parseFileName(de.Name())
		if !ok || !slice.owns(n.hash) {
			continue
		}
		switch n.ext {
		case extReady:
			files = append(files, de.Name())
		case extDeferred:
			if !n.time.After(now) {
				files = append(files, de.Name())
			} else if next.IsZero() || n.time.Before(next) {
				next = n.time
			}
		}
	}
	return files, next, nil
}

// Dequeue claims the ready or deferred entry file (a name from Ready) and
// returns it. It returns ErrGone when another instance claimed it first. A
// file that cannot be decoded is preserved in bad/ and the error, which wraps
// ErrCorrupt, says so.
func (s *Switchboard) Dequeue(file string) (*Entry, error) {
	n, ok := parseFileName(file)
	if !ok || (n.ext != extReady && n.ext != extDeferred) {
		return nil, fmt.Errorf("dequeue %s from %s: not a queue entry file name", file, s.name)
	}
	claimed := filepath.Join(s.dir, n.base+extClaimed)
	if err := os.Rename(filepath.Join(s.dir, file), claimed); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrGone
		}
		return nil, fmt.Errorf("dequeue %s from %s: %w", n.base, s.name, err)
	}
	data, err := os.ReadFile(claimed)
	if err != nil {
		if rerr := s.Release(n.base); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, fmt.Errorf("dequeue %s from %s: %w", n.base, s.name, err)
	}
	msg, md, err := Decode(data)
	if err != nil {
		if perr := s.Preserve(n.base); perr != nil {
			return nil, fmt.Errorf("dequeue %s from %s: %w (and could not preserve it: %v)", n.base, s.name, err, perr)
		}
		return nil, fmt.Errorf("dequeue %s from %s: %w; preserved as %s", n.base, s.name, err,
			filepath.Join(BadQueue, n.base+extPreserved))
	}
	return &Entry{Name: n.base, Msgdata: md, Message: msg}, nil
}

// Finish removes a claimed entry once it has been dealt with.
func (s *Switchboard) Finish(name string) error {
	if err := os.Remove(filepath.Join(s.dir, name+extClaimed)); err != nil {
		return fmt.Errorf("finish %s in %s: %w", name, s.name, err)
	}
	return nil
}

// Release gives a claimed entry back to the queue, unchanged, for another try.
func (s *Switchboard) Release(name string) error {
	if err := os.Rename(filepath.Join(s.dir, name+extClaimed), filepath.Join(s.dir, name+extReady)); err != nil {
		return fmt.Errorf("release %s in %s: %w", name, s.name, err)
	}
	return nil
}

// Preserve moves an entry, claimed or not, to bad/ where nothing will process
// it again but a person can look at it.
func (s *Switchboard) Preserve(name string) error {
	dst := filepath.Join(s.badDir, name+extPreserved)
	var err error
	for _, ext := range []string{extClaimed, extReady, extDeferred} {
		err = os.Rename(filepath.Join(s.dir, name+ext), dst)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("preserve %s from %s: %w", name, s.name, err)
	}
	return nil
}

// Recovered says what Recover did with one claimed entry.
type Recovered struct {
	Name      string
	Attempts  int   // how many times it has now been found claimed
	Preserved error // why it went to bad/ instead of back to the queue; nil if requeued
}

// Recover puts back the claimed (.bak) entries of slice that a dead runner
// left behind, counting the attempt in each; an entry found claimed for the
// MaxAttempts-th time, or one that cannot be decoded, is preserved in bad/. It
// also removes temporary files left by writers that crashed. Only one process
// per slice may call it, when it starts: it takes back every claim of the slice.
func (s *Switchboard) Recover(slice Slice) ([]Recovered, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("recover %s: %w", s.name, err)
	}
	var out []Recovered
	var errs []error
	requeued := false
	for _, de := range des {
		n, ok := parseFileName(de.Name())
		if !ok || !slice.owns(n.hash) {
			continue
		}
		switch n.ext {
		case extTemp:
			if info, err := de.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
				os.Remove(filepath.Join(s.dir, de.Name()))
			}
		case extClaimed:
			r, err := s.recoverOne(n.base)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			requeued = requeued || r.Preserved == nil
			out = append(out, r)
		}
	}
	if requeued {
		if err := s.files.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("recover %s: sync directory: %w", s.name, err))
		}
	}
	return out, errors.Join(errs...)
}

func (s *Switchboard) recoverOne(name string) (Recovered, error) {
	r := Recovered{Name: name}
	claimed := filepath.Join(s.dir, name+extClaimed)
	data, err := os.ReadFile(claimed)
	if err != nil {
		return r, fmt.Errorf("recover %s in %s: %w", name, s.name, err)
	}
	msg, md, err := Decode(data)
	if err == nil {
		r.Attempts = md.Int("_bak_count") + 1
		if r.Attempts >= MaxAttempts {
			err = fmt.Errorf("claimed %d times by runners that did not finish it", r.Attempts)
		}
	}
	if err != nil {
		r.Preserved = err
		if perr := s.Preserve(name); perr != nil {
			return r, fmt.Errorf("recover %s in %s: %w", name, s.name, perr)
		}
		return r, nil
	}
	md.Set("_bak_count", r.Attempts)
	if data, err = Encode(msg, md); err == nil {
		// The same name is reused: if we crash before the .bak is removed,
		// the next recovery rewrites this .msg rather than duplicating it,
		// and the .tmp such a crash may leave is ours to replace.
		os.Remove(filepath.Join(s.dir, name+extTemp))
		err = s.writeEntry(name, extReady, data)
	}
	if err == nil {
		err = os.Remove(claimed)
	}
	if err != nil {
		return r, fmt.Errorf("recover %s in %s: %w", name, s.name, err)
	}
	return r, nil
}

// Counts is how many entries a queue holds in each state.
type Counts struct {
	Ready, Deferred, InFlight, Preserved int
}

// Total is every entry the queue holds.
func (c Counts) Total() int { return c.Ready + c.Deferred + c.InFlight + c.Preserved }

// Count counts the entries of every slice.
func (s *Switchboard) Count() (Counts, error) {
	var c Counts
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return c, fmt.Errorf("count %s: %w", s.name, err)
	}
	for _, de := range des {
		n, ok := parseFileName(de.Name())
		if !ok {
			continue
		}
		switch n.ext {
		case extReady:
			c.Ready++
		case extDeferred:
			c.Deferred++
		case extClaimed:
			c.InFlight++
		case extPreserved:
			c.Preserved++
		}
	}
	return c, nil
}

// ReadFile decodes the entry file at path, in any state, without claiming it:
// for people and tools that look into queues.
func ReadFile(path string) (*Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	msg, md, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	name := filepath.Base(path)
	if n, ok := parseFileName(name); ok {
		name = n.base
	}
	return &Entry{Name: name, Msgdata: md, Message: msg}, nil
}

// fileName is a parsed entry file name.
type fileName struct {
	base, hash, ext string
	time            time.Time
}

// parseFileName parses <seconds>.<nanoseconds>+<40 hex>.<ext>; anything else
// in a queue directory is not ours and is left alone.
func parseFileName(file string) (fileName, bool) {
	dot := strings.LastIndexByte(file, '.')
	plus := strings.IndexByte(file, '+')
	if dot < 0 || plus < 0 || plus > dot {
		return fileName{}, false
	}
	n := fileName{base: file[:dot], hash: file[plus+1 : dot], ext: file[dot:]}
	switch n.ext {
	case extTemp, extReady, extDeferred, extClaimed, extPreserved, extJournaled:
	default:
		return fileName{}, false
	}
	if len(n.hash) != 2*sha1.Size || strings.Trim(n.hash, "0123456789abcdef") != "" {
		return fileName{}, false
	}
	secs, nanos, ok := strings.Cut(file[:plus], ".")
	if !ok || len(secs) != 10 || len(nanos) != 9 {
		return fileName{}, false
	}
	s, err1 := strconv.ParseInt(secs, 10, 64)
	ns, err2 := strconv.ParseInt(nanos, 10, 64)
	if err1 != nil || err2 != nil || s < 0 || ns < 0 {
		return fileName{}, false
	}
	n.time = time.Unix(s, ns)
	return n, true
}

func formatTime(t time.Time) string {
	ns := t.UnixNano()
	return fmt.Sprintf("%010d.%09d", ns/1e9, ns%1e9)
}

// lastNano makes the times this process puts in names strictly increasing, so
// that two entries enqueued in a row keep their order even within one clock tick.
var lastNano atomic.Int64

func nextTime(now time.Time) time.Time {
	for {
		last := lastNano.Load()
		n := now.UnixNano()
		if n <= last {
			n = last + 1
		}
		if lastNano.CompareAndSwap(last, n) {
			return time.Unix(0, n)
		}
	}
}

// entryHash makes the H part of a name. The nonce keeps names unique even
// when two processes enqueue the same bytes in the same nanosecond; without
// it the second rename would replace the first entry.
func entryHash(data []byte, t time.Time) string {
	var nonce [16]byte
	rand.Read(nonce[:])
	h := sha1.New()
	h.Write(data)
	h.Write([]byte(formatTime(t)))
	h.Write(nonce[:])
	return hex.EncodeToString(h.Sum(nil))
}

// Deferred lists the entry files that are not due yet, by name.
func (s *Switchboard) Deferred() ([]string, error) {
	files, err := s.Files()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(files, func(f string) bool { return !strings.HasSuffix(f, extDeferred) }), nil
}

// Files lists the queue's entry files in every state but those being
// written, by name (so in the order they were queued): for people and
// tools that look into queues.
func (s *Switchboard) Files() ([]string, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.name, err)
	}
	var files []string
	for _, de := range des {
		if n, ok := parseFileName(de.Name()); ok && n.ext != extTemp && n.ext != extJournaled {
			files = append(files, de.Name())
		}
	}
	slices.Sort(files)
	return files, nil
}
