package command

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkJoinConfirm is one subscription by email, as the runner does
// it: the join (a pending request and the confirmation queued), then the
// reply to the -confirm address (the member made and the welcome queued).
// Each iteration is a new address on the SQLite store, with every queue
// write fsync'd.
func BenchmarkJoinConfirm(b *testing.B) {
	f := newFixture(b)
	f.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	i := 0
	for b.Loop() {
		i++
		from := fmt.Sprintf("From: user%d@example.org\r\n", i)
		f.dispose(b, letter(from, ""), "join")
		_, token := confirmation(b, f.sent(b))
		f.dispose(b, letter(from+"To: test-confirm+"+token+"@example.com\r\n", ""), "confirm")
		if ss := f.sent(b); len(ss) != 1 {
			b.Fatalf("sent %q after confirming, want the welcome", subjects(ss))
		}
	}
}
