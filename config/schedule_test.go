package config

import (
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	at := func(s string, loc *time.Location) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		text, written string
		after         time.Time
		want          time.Time
	}{
		{"12:00", "12:00", at("2026-12-04 09:00", time.UTC), at("2026-12-04 12:00", time.UTC)},
		{"12:00", "12:00", at("2026-12-04 12:00", time.UTC), at("2026-12-05 12:00", time.UTC)},
		{"18:00, 06:00", "06:00,18:00", at("2026-12-04 12:00", time.UTC), at("2026-12-04 18:00", time.UTC)},
		{"06:00,18:00,06:00", "06:00,18:00", at("2026-12-04 19:00", time.UTC), at("2026-12-05 06:00", time.UTC)},
		{"00:00", "00:00", at("2026-12-31 23:59", time.UTC), at("2027-01-01 00:00", time.UTC)},
		// Local time, as a crontab's: the spring change skips 02:30.
		{"02:30", "02:30", at("2026-03-29 01:00", paris), at("2026-03-29 03:30", paris)},
		{"1h", "1h", at("2026-12-04 09:10", time.UTC), at("2026-12-04 10:10", time.UTC)},
		{"1d12h", "1d12h", at("2026-12-04 09:00", time.UTC), at("2026-12-05 21:00", time.UTC)},
		{"never", "never", at("2026-12-04 09:00", time.UTC), time.Time{}},
	} {
		s, err := ParseSchedule(tc.text)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tc.text, err)
			continue
		}
		if got := s.String(); got != tc.written {
			t.Errorf("ParseSchedule(%q).String() = %q, want %q", tc.text, got, tc.written)
		}
		if got := s.Next(tc.after); !got.Equal(tc.want) {
			t.Errorf("%q after %v: %v, want %v", tc.text, tc.after, got, tc.want)
		}
	}
	for _, bad := range []string{"", "24:00", "12:60", "12", "12:5", "x:00", "12:00,", "-1h", "0s", "12:00:00"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) took it", bad)
		}
	}
}
