package versioncache

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func TestGet(t *testing.T) {
	type step struct {
		key     string
		version int64
		fails   bool
		want    string // the value read
		built   bool   // whether this read built it
		held    int    // after the read
	}
	for _, tc := range []struct {
		name  string
		limit int
		steps []step
	}{
		{"kept while its version holds", 100, []step{
			{"a", 1, false, "a1", true, 2},
			{"a", 1, false, "a1", false, 2},
			{"a", 2, false, "a2", true, 2},
			{"a", 2, false, "a2", false, 2},
		}},
		{"an error is not kept", 100, []step{
			{"a", 1, true, "", true, 0},
			{"a", 1, false, "a1", true, 2},
		}},
		{"least recently used dropped first", 4, []step{
			{"a", 1, false, "a1", true, 2},
			{"b", 1, false, "b1", true, 4},
			{"a", 1, false, "a1", false, 4},
			{"c", 1, false, "c1", true, 4}, // b goes
			{"a", 1, false, "a1", false, 4},
			{"b", 1, false, "b1", true, 4}, // c goes
		}},
		{"too big is built, not kept", 1, []step{
			{"a", 1, false, "a1", true, 0},
			{"a", 1, false, "a1", true, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New[string, string](tc.limit, func(v string) int { return len(v) })
			for i, s := range tc.steps {
				built := false
				v, err := c.Get(context.Background(), s.key, s.version, func() (string, error) {
					built = true
					if s.fails {
						return "", errors.New("no database")
					}
					return s.key + string(rune('0'+s.version)), nil
				})
				if (err != nil) != s.fails || v != s.want || built != s.built || c.Held() != s.held {
					t.Errorf("step %d %+v: got %q, %v, built %v, held %d", i, s, v, err, built, c.Held())
				}
			}
		})
	}
}

// Readers of one key and version at once wait for one build.
func TestOneBuild(t *testing.T) {
	c := New[string, int](100, func(int) int { return 1 })
	var builds atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Get(context.Background(), "a", 7, func() (int, error) {
				builds.Add(1)
				<-release
				return 42, nil
			})
			if v != 42 || err != nil {
				t.Errorf("Get = %d, %v", v, err)
			}
		}()
	}
	// Let the readers reach their wait; any that come after the build
	// find its value kept, so only a reader that built again fails this.
	for range 100 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
}

// A build that panics lets its waiters go with an error and keeps
// nothing.
func TestBuildPanics(t *testing.T) {
	c := New[string, int](100, func(int) int { return 1 })
	func() {
		defer func() { recover() }()
		c.Get(context.Background(), "a", 1, func() (int, error) { panic("boom") })
	}()
	v, err := c.Get(context.Background(), "a", 1, func() (int, error) { return 3, nil })
	if v != 3 || err != nil || c.Held() != 1 {
		t.Errorf("after a panic: %d, %v, held %d", v, err, c.Held())
	}
}
