package runners

import (
	"errors"
	"fmt"
	"time"

	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/switchboard"
)

// DefaultWhichq is where an entry goes back to when it does not say which
// queue it was shunted from, as in Mailman.
const DefaultWhichq = "incoming"

// Unshunted says what Unshunt did with one entry.
type Unshunted struct {
	Entry     string // its name in the shunt queue
	Queue     string // where it went back to; empty when discarded or failed
	NewEntry  string // its name there
	MessageID string
	Err       error // why it stayed in shunt
}

// Unshunt puts every entry of the shunt queue back into the queue it was
// shunted from, or removes them all when discard is set. An entry that cannot
// be moved stays in shunt and is reported with the reason. open returns the
// queue of a name, and fails for names that are not queues a runner serves.
func Unshunt(shunt *switchboard.Switchboard, open func(queue string) (*switchboard.Switchboard, error), discard bool) ([]Unshunted, error) {
	// Entries left claimed by an unshunt that was interrupted come back first.
	if _, err := shunt.Recover(switchboard.Whole); err != nil {
		return nil, err
	}
	files, _, err := shunt.Ready(switchboard.Whole, time.Now())
	if err != nil {
		return nil, err
	}
	var out []Unshunted
	for _, f := range files {
		e, err := shunt.Dequeue(f)
		if errors.Is(err, switchboard.ErrGone) {
			continue
		}
		if err != nil {
			out = append(out, Unshunted{Entry: f, Err: err})
			continue
		}
		u := Unshunted{Entry: e.Name, MessageID: e.MessageID()}
		if !discard {
			u.Queue, u.NewEntry, u.Err = requeue(e, open)
			if u.Err != nil {
				u.Queue = ""
				if err := shunt.Release(e.Name); err != nil {
					u.Err = errors.Join(u.Err, err)
				}
				out = append(out, u)
				continue
			}
		}
		if err := shunt.Finish(e.Name); err != nil {
			u.Err = err
		}
		out = append(out, u)
	}
	return out, nil
}

func requeue(e *switchboard.Entry, open func(string) (*switchboard.Switchboard, error)) (queue, name string, err error) {
	queue = e.Msgdata.String(msgdata.WhichQ)
	if queue == "" {
		queue = DefaultWhichq
	}
	q, err := open(queue)
	if err != nil {
		return "", "", fmt.Errorf("whichq %q: %w", queue, err)
	}
	defer q.Close()
	md := e.Msgdata.Clone()
	delete(md, msgdata.WhichQ)
	delete(md, msgdata.Error)
	name, err = q.Enqueue(e.Message, md)
	return queue, name, err
}
