// Package versioncache keeps values that are costly to build from a
// database (a big roster's order, its encoded entries) under the version
// the database gave them, so that a reader who has just read the current
// version (one cheap query) can tell whether the copy kept is still right.
// It owns the bookkeeping only: one build at a time for a key and version,
// however many readers ask at once, and a bound on what is held, the least
// recently used dropped first. It knows nothing of what the values are or
// where versions come from.
package versioncache

import (
	"context"
	"errors"
	"sync"
)

// Cache holds values of type V by key, each with the version it was built
// at, within a budget of limit units (bytes, row ids: whatever size says).
type Cache[K comparable, V any] struct {
	limit int
	size  func(V) int

	mu      sync.Mutex
	entries map[K]*entry[V]
	held    int
	clock   uint64
}

type entry[V any] struct {
	version int64
	value   V
	err     error
	used    uint64
	ready   chan struct{} // closed once built
}

// New is a cache holding at most limit units of values as size measures
// them; a value bigger than limit alone is built for its readers and not
// kept. A limit of 0 keeps nothing.
func New[K comparable, V any](limit int, size func(V) int) *Cache[K, V] {
	return &Cache[K, V]{limit: limit, size: size, entries: map[K]*entry[V]{}}
}

// Get returns key's value at version, built by build when the copy kept
// is of another version (or none is). Readers asking for the same key and
// version while it is built wait for that one build. build runs with the
// first reader's call, and should not stop when that reader goes (use
// context.WithoutCancel); its error goes to every reader waiting, and
// nothing is kept.
//
// The caller reads version before build reads its data, so that a change
// in between leaves a newer value under an older version, which the next
// reader of the newer version builds again; an older value is never kept
// under a newer version.
func (c *Cache[K, V]) Get(ctx context.Context, key K, version int64, build func() (V, error)) (V, error) {
	c.mu.Lock()
	c.clock++
	e := c.entries[key]
	if e == nil || e.version != version {
		if e != nil && isClosed(e.ready) {
			c.held -= c.size(e.value)
		}
		e = &entry[V]{version: version, ready: make(chan struct{})}
		c.entries[key] = e
		c.mu.Unlock()
		c.fill(key, e, build)
		c.mu.Lock()
	}
	e.used = c.clock
	c.mu.Unlock()
	select {
	case <-e.ready:
		return e.value, e.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// fill builds e, then keeps it if it is still key's, is no error and
// fits; its readers are let go however build ends, a panic included.
func (c *Cache[K, V]) fill(key K, e *entry[V], build func() (V, error)) {
	done := false
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		defer close(e.ready)
		if c.entries[key] != e {
			return
		}
		n := c.size(e.value)
		if !done || e.err != nil || n > c.limit {
			delete(c.entries, key)
			if !done {
				e.err = errPanicked
			}
			return
		}
		c.held += n
		c.evict(key)
	}()
	e.value, e.err = build()
	done = true
}

var errPanicked = errors.New("versioncache: build panicked")

// Held is the units held, for tests and the bound's checks.
func (c *Cache[K, V]) Held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held
}

// evict drops the least recently used values but keep's until what is
// held fits the limit.
func (c *Cache[K, V]) evict(keep K) {
	for c.held > c.limit {
		var oldest K
		var found bool
		for k, e := range c.entries {
			if k == keep || !isClosed(e.ready) {
				continue
			}
			if !found || e.used < c.entries[oldest].used {
				oldest, found = k, true
			}
		}
		if !found {
			return
		}
		c.held -= c.size(c.entries[oldest].value)
		delete(c.entries, oldest)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
