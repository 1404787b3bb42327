package digest

import (
	"testing"
	"time"

	"github.com/mailman-go/mailman/store"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

// TestNumbers: an issue starts a new volume, numbered 1, when a new period
// has begun since the last was sent; quarters are three months.
func TestNumbers(t *testing.T) {
	for _, c := range []struct {
		name       string
		frequency  string
		last, now  time.Time
		wantVolume int
		wantNumber int
	}{
		{"never sent", "monthly", time.Time{}, day(2026, 12, 4), 2, 5},
		{"same month", "monthly", day(2026, 12, 1), day(2026, 12, 31), 2, 5},
		{"next month", "monthly", day(2026, 11, 30), day(2026, 12, 1), 3, 1},
		{"same month a year on", "monthly", day(2025, 12, 4), day(2026, 12, 4), 3, 1},
		{"same year", "yearly", day(2026, 1, 1), day(2026, 12, 31), 2, 5},
		{"next year", "yearly", day(2026, 12, 31), day(2027, 1, 1), 3, 1},
		{"same quarter", "quarterly", day(2026, 1, 1), day(2026, 3, 31), 2, 5},
		{"next quarter", "quarterly", day(2026, 3, 31), day(2026, 4, 1), 3, 1},
		{"Mailman's four-month block, here two quarters", "quarterly", day(2026, 3, 1), day(2026, 4, 30), 3, 1},
		{"same ISO week", "weekly", day(2026, 11, 30), day(2026, 12, 6), 2, 5},
		{"next ISO week", "weekly", day(2026, 12, 6), day(2026, 12, 7), 3, 1},
		{"ISO week across the year", "weekly", day(2026, 12, 29), day(2027, 1, 1), 2, 5},
		{"same day", "daily", day(2026, 12, 4), day(2026, 12, 4).Add(11 * time.Hour), 2, 5},
		{"next day", "daily", day(2026, 12, 4), day(2026, 12, 5), 3, 1},
		{"the same day a year on", "daily", day(2025, 12, 4), day(2026, 12, 4), 3, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, n := Numbers(c.frequency, store.DigestNumbers{Volume: 2, Number: 5, LastSentAt: c.last}, c.now)
			if v != c.wantVolume || n != c.wantNumber {
				t.Errorf("Numbers = vol %d, no %d; want vol %d, no %d", v, n, c.wantVolume, c.wantNumber)
			}
		})
	}
}
