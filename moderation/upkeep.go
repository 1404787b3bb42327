package moderation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/subscription"
)

// DiscardExpired discards the held posts older than their list's
// max_days_to_hold (Mailman 3 keeps them until a moderator decides, and
// sites write scripts to clear them) and returns how many.
func (m *Moderator) DiscardExpired(ctx context.Context, now time.Time) (int, error) {
	ids, err := m.Store.HeldPastMaxDays(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		_, err := m.Discard(ctx, id)
		switch {
		case errors.Is(err, store.ErrNoSuchHeld):
			// A moderator decided meanwhile.
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}

// Waiting is what a list's moderators have to decide: its held posts and
// the subscriptions and unsubscriptions waiting for their approval.
type Waiting struct {
	Held            []*store.HeldMessage
	Subscriptions   []subscription.Request
	Unsubscriptions []subscription.Request
}

// Count is how many requests are waiting.
func (w Waiting) Count() int { return len(w.Held) + len(w.Subscriptions) + len(w.Unsubscriptions) }

// WaitingFor returns what the list's moderators have to decide.
func (m *Moderator) WaitingFor(ctx context.Context, list *store.List) (Waiting, error) {
	var w Waiting
	held, err := m.Store.HeldMessages(ctx, list.ListID)
	if err != nil {
		return w, err
	}
	w.Held = held
	ps, err := m.Store.ListPending(ctx, list.ListID, subscription.PendingSubscription, subscription.PendingUnsubscription)
	if err != nil {
		return w, err
	}
	for _, p := range ps {
		r, err := subscription.DecodeRequest(p)
		if err != nil || r.Stage != subscription.StageModerate {
			continue
		}
		if p.Type == subscription.PendingSubscription {
			w.Subscriptions = append(w.Subscriptions, r)
		} else {
			w.Unsubscriptions = append(w.Unsubscriptions, r)
		}
	}
	return w, nil
}

// RemindModerators sends the moderators of each list with requests
// waiting one notice of them all (Mailman's `mailman notify`,
// list:admin:notice:pending), and returns how many lists it reminded.
func (m *Moderator) RemindModerators(ctx context.Context, now time.Time) (int, error) {
	lists, err := m.Store.Lists(ctx)
	if err != nil {
		return 0, err
	}
	reminded := 0
	var errs []error
	for _, l := range lists {
		w, err := m.WaitingFor(ctx, l)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.ListID, err))
			continue
		}
		if w.Count() == 0 {
			continue
		}
		to, err := notice.Moderators(ctx, m.Store, l)
		if err != nil || len(to) == 0 {
			errs = append(errs, err)
			continue
		}
		owner := notice.Address(l, mta.Owner)
		msg := message.NewText(notice.Fields(l, owner, owner, PendingSubject(l, w.Count()), now), PendingText(l, w))
		if _, err := m.Virgin.Enqueue(msg, notice.Msgdata(l, to)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.ListID, err))
			continue
		}
		if m.Log != nil {
			m.Log.Info("moderators reminded", "list", l.ListID, "count", w.Count(), "recipients", len(to))
		}
		reminded++
	}
	return reminded, errors.Join(errs...)
}

// PendingSubject is the Subject of a reminder, as Mailman's notify writes
// it, so that the moderators' filters still find it.
func PendingSubject(l *store.List, count int) string {
	return fmt.Sprintf("%d %s moderator request(s) waiting", count, l.PostingAddress)
}

// PendingText is the text of a reminder: each request waiting, oldest
// first.
func PendingText(l *store.List, w Waiting) string {
	var b strings.Builder
	fmt.Fprintf(&b, "These requests to the %s mailing list are waiting for a moderator:\n", l.DisplayName)
	if len(w.Held) > 0 {
		b.WriteString("\nHeld posts:\n")
		for i, h := range w.Held {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "    From: %s, held %s\n    Subject: %s\n    Why: %s\n", h.Sender, h.HeldAt.UTC().Format("2 Jan 2006 15:04 MST"),
				h.Subject, strings.Join(h.Reasons, "; "))
		}
	}
	for _, rs := range []struct {
		title string
		reqs  []subscription.Request
	}{{"Subscriptions to approve", w.Subscriptions}, {"Unsubscriptions to approve", w.Unsubscriptions}} {
		if len(rs.reqs) == 0 {
			continue
		}
		b.WriteString("\n" + rs.title + ":\n")
		for _, r := range rs.reqs {
			b.WriteString("    " + subscription.Person(r.Address, r.DisplayName) + "\n")
		}
	}
	fmt.Fprintf(&b, "\nThey can be decided in Postorius, with `mailmanctl held`, or by replying to the notice each sent.\n")
	return b.String()
}
