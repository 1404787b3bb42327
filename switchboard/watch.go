package switchboard

import (
	"fmt"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// Watcher signals C when a ready or deferred entry of its slice appears in
// the queue. A signal is a hint to rescan, not a promise of work; several
// arrivals may share one signal.
type Watcher struct {
	C  <-chan struct{}
	fw *fsnotify.Watcher
}

// Watch starts watching the queue directory for entries of slice. Watcher
// errors, including a kernel event queue overflow that loses events, are
// passed to onError (which may be nil) and also signal C, because after
// losing events only a rescan can tell what is there.
func (s *Switchboard) Watch(slice Slice, onError func(error)) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", s.name, err)
	}
	if err := fw.Add(s.dir); err != nil {
		fw.Close()
		return nil, fmt.Errorf("watch %s: %w", s.name, err)
	}
	c := make(chan struct{}, 1)
	kick := func() {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	go func() {
		for {
			select {
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				// An entry appears by rename into place, which inotify
				// reports as a Create of the new name.
				if !ev.Has(fsnotify.Create) {
					continue
				}
				n, ok := parseFileName(filepath.Base(ev.Name))
				if ok && (n.ext == extReady || n.ext == extDeferred) && slice.owns(n.hash) {
					kick()
				}
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				if onError != nil {
					onError(fmt.Errorf("watch %s: %w", s.name, err))
				}
				kick()
			}
		}
	}()
	return &Watcher{C: c, fw: fw}, nil
}

// Close stops watching.
func (w *Watcher) Close() error { return w.fw.Close() }
