package runners_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// A queue runner is a Handler that says what to do with one message; the
// Loop does the rest. Here a handler fails on one message, which is
// shunted with the reason, and defers another for later.
func ExampleLoop() {
	root, _ := os.MkdirTemp("", "runners-example-")
	defer os.RemoveAll(root)
	queue, _ := switchboard.Open(root, "incoming")
	defer queue.Close()
	shunt, _ := switchboard.Open(root, "shunt")
	defer shunt.Close()
	for _, id := range []string{"<ok@example.com>", "<bad@example.com>", "<later@example.com>"} {
		queue.Enqueue([]byte("Message-ID: "+id+"\n\nHi\n"), nil)
	}

	handler := runners.HandlerFunc(func(_ context.Context, e *switchboard.Entry, log *slog.Logger) (runners.Outcome, error) {
		switch e.MessageID() {
		case "<bad@example.com>":
			return runners.Done, errors.New("this message cannot be handled")
		case "<later@example.com>":
			return runners.Outcome{KeepUntil: time.Now().Add(time.Hour)}, nil
		}
		fmt.Println("handled", e.MessageID())
		return runners.Done, nil
	})
	loop := &runners.Loop{
		Queue: queue, Shunt: shunt, Slice: switchboard.Whole, Handler: handler,
		SleepTime: time.Second, Logger: slog.New(slog.DiscardHandler),
	}
	fmt.Println(loop.Drain(context.Background()), "processed")

	c, _ := queue.Count()
	fmt.Println("incoming:", c.Total(), "deferred")
	files, _, _ := shunt.Ready(switchboard.Whole, time.Now())
	e, _ := shunt.Dequeue(files[0])
	fmt.Println("shunt:", e.MessageID(), "from", e.Msgdata.String("whichq")+":", e.Msgdata.String("error"))
	// Output:
	// handled <ok@example.com>
	// 3 processed
	// incoming: 1 deferred
	// shunt: <bad@example.com> from incoming: this message cannot be handled
}

// A temporary failure (a database that is down, a full disk) puts the
// message back where it was and pauses the loop, instead of shunting it.
// Handlers return errors as they are: the store's and the switchboard's
// say themselves that they are temporary, wrapped or not.
func ExampleIsTemporary() {
	down := fmt.Errorf("look up list test.example.com: %w", store.ErrUnavailable)
	fmt.Println(runners.IsTemporary(down), runners.IsTemporary(errors.New("no header")))
	// Output: true false
}
