package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Schedule is when a periodic job runs, written in the configuration as
// times of day, "12:00" or "06:00,18:00" (the host's local time, as a
// crontab's), as a Duration, "1h": that long after the last run began,
// or as "never". A cron line is not needed for any.
type Schedule struct {
	// Times are minutes after midnight, sorted; nil for an interval.
	Times []int
	// Every is the interval; 0 with no Times is never.
	Every Duration
}

// Never reports whether the schedule is "never".
func (s Schedule) Never() bool { return len(s.Times) == 0 && s.Every == 0 }

// Next is the first time the schedule names after after; the zero time
// for never. For an interval, after is when the last run began.
func (s Schedule) Next(after time.Time) time.Time {
	if s.Never() {
		return time.Time{}
	}
	if len(s.Times) == 0 {
		return after.Add(s.Every.D())
	}
	y, m, d := after.Date()
	for day := 0; ; day++ {
		for _, min := range s.Times {
			// time.Date normalises the day and the minutes, and places a
			// time a clock change skips at the hour after.
			t := time.Date(y, m, d+day, 0, min, 0, 0, after.Location())
			if t.After(after) {
				return t
			}
		}
	}
}

// IsInterval reports whether the schedule is a Duration rather than times
// of day: an interval's first run is due at once.
func (s Schedule) IsInterval() bool { return len(s.Times) == 0 && s.Every > 0 }

// String writes the schedule as the configuration does.
func (s Schedule) String() string {
	if s.Never() {
		return "never"
	}
	if s.IsInterval() {
		return s.Every.String()
	}
	times := make([]string, len(s.Times))
	for i, m := range s.Times {
		times[i] = fmt.Sprintf("%02d:%02d", m/60, m%60)
	}
	return strings.Join(times, ",")
}

// MarshalText writes s as String does.
func (s Schedule) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a schedule as the configuration writes it.
func (s *Schedule) UnmarshalText(text []byte) error {
	v, err := ParseSchedule(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSchedule reads "HH:MM[,HH:MM...]", a Duration or "never".
func ParseSchedule(text string) (Schedule, error) {
	text = strings.TrimSpace(text)
	if text == "never" {
		return Schedule{}, nil
	}
	if !strings.Contains(text, ":") {
		d, err := parseDuration(text)
		if err != nil {
			return Schedule{}, fmt.Errorf(`%w, or times of day such as "12:00" or "06:00,18:00", or "never"`, err)
		}
		if d <= 0 {
			return Schedule{}, fmt.Errorf("%q: a job cannot run every 0s", text)
		}
		return Schedule{Every: Duration(d)}, nil
	}
	var s Schedule
	for _, part := range strings.Split(text, ",") {
		var h, m int
		part = strings.TrimSpace(part)
		if n, err := fmt.Sscanf(part, "%d:%d", &h, &m); err != nil || n != 2 || len(part) < 4 || len(part) > 5 ||
			h < 0 || h > 23 || m < 0 || m > 59 || part[len(part)-3] != ':' {
			return Schedule{}, fmt.Errorf("%q is not a time of day; write HH:MM, from 00:00 to 23:59", part)
		}
		if !slices.Contains(s.Times, h*60+m) {
			s.Times = append(s.Times, h*60+m)
		}
	}
	slices.Sort(s.Times)
	return s, nil
}
