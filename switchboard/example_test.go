package switchboard_test

import (
	"fmt"
	"os"
	"time"

	"github.com/mailman-go/mailman/switchboard"
)

// An entry's life: enqueued (durable when Enqueue returns), claimed by one
// runner with Dequeue, and removed with Finish once it has been dealt
// with. A runner that dies between Dequeue and Finish leaves the entry
// claimed, and the next one's Recover hands it out again.
func Example() {
	root, _ := os.MkdirTemp("", "switchboard-example-")
	defer os.RemoveAll(root)
	q, err := switchboard.Open(root, "incoming")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()

	md := switchboard.Msgdata{}
	md.Set("listid", "test.example.com")
	if _, err := q.Enqueue([]byte("Message-ID: <1@example.com>\n\nHello\n"), md); err != nil {
		fmt.Println(err)
		return
	}
	// Deferred: not handed out before it is due.
	if _, err := q.EnqueueAt(time.Now().Add(time.Hour), []byte("Message-ID: <2@example.com>\n\nLater\n"), nil); err != nil {
		fmt.Println(err)
		return
	}

	files, next, _ := q.Ready(switchboard.Whole, time.Now())
	fmt.Println(len(files), "ready; the next is due in about", time.Until(next).Round(time.Hour))
	e, _ := q.Dequeue(files[0])
	fmt.Println(e.MessageID(), e.Msgdata.String("listid"))
	c, _ := q.Count()
	fmt.Printf("%+v\n", c)
	q.Finish(e.Name)
	c, _ = q.Count()
	fmt.Printf("%+v\n", c)
	// Output:
	// 1 ready; the next is due in about 1h0m0s
	// <1@example.com> test.example.com
	// {Ready:0 Deferred:1 InFlight:1 Preserved:0}
	// {Ready:0 Deferred:1 InFlight:0 Preserved:0}
}

// A queue served by several runner instances is split into slices by the
// entries' hashes: each entry belongs to exactly one slice.
func ExampleSlice() {
	root, _ := os.MkdirTemp("", "switchboard-example-")
	defer os.RemoveAll(root)
	q, _ := switchboard.Open(root, "outgoing")
	defer q.Close()
	for i := range 16 {
		q.Enqueue(fmt.Appendf(nil, "Message-ID: <%d@example.com>\n\nHi\n", i), nil)
	}
	total := 0
	for i := range 4 {
		files, _, _ := q.Ready(switchboard.Slice{Index: i, Count: 4}, time.Now())
		total += len(files)
	}
	fmt.Println(total, "entries in 4 slices")
	// Output: 16 entries in 4 slices
}
