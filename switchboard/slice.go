package switchboard

import (
	"fmt"
	"math/bits"
	"strconv"
)

// Slice is the share of a queue that one runner instance serves: of Count
// instances (a power of two), the one numbered Index owns the entries whose
// hash starts with the log2(Count) bits that spell Index.
type Slice struct {
	Index, Count int
}

// Whole is the slice of a queue served by a single instance.
var Whole = Slice{Index: 0, Count: 1}

// Validate reports whether s is a usable slice.
func (s Slice) Validate() error {
	if s.Count < 1 || s.Count > 1<<16 || bits.OnesCount(uint(s.Count)) != 1 {
		return fmt.Errorf("slice count %d is not a power of 2 between 1 and 65536", s.Count)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("slice %d is not between 0 and %d", s.Index, s.Count-1)
	}
	return nil
}

// String formats s as Mailman does: SLICE:COUNT.
func (s Slice) String() string { return fmt.Sprintf("%d:%d", s.Index, s.Count) }

// owns reports whether the entry with the given hex hash belongs to s.
// Hashes shorter than four hex digits belong to slice 0.
func (s Slice) owns(hash string) bool {
	if s.Count <= 1 {
		return true
	}
	if len(hash) > 4 {
		hash = hash[:4]
	}
	top, err := strconv.ParseUint(hash, 16, 16)
	if err != nil || len(hash) < 4 {
		return s.Index == 0
	}
	shift := 16 - bits.TrailingZeros(uint(s.Count))
	return int(top>>shift) == s.Index
}
