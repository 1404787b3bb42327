package config

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// Duration is a length of time, written in the configuration as a string with
// units such as "500ms", "15m", "3d" or "1d12h". TOML has no duration type,
// and Mailman's own configuration counts sleeps and retries in days and
// weeks, which time.ParseDuration does not know.
type Duration time.Duration

const (
	day  = 24 * time.Hour
	week = 7 * day
)

// durationUnits holds time.ParseDuration's units, both spellings of micro
// included, plus days and weeks.
var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond,
	"us": time.Microsecond,
	"µs": time.Microsecond, // U+00B5, as time.Duration.String writes it
	"μs": time.Microsecond, // U+03BC
	"ms": time.Millisecond,
	"s":  time.Second,
	"m":  time.Minute,
	"h":  time.Hour,
	"d":  day,
	"w":  week,
}

// D returns d for the standard library.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String spells d the way a person would write it in the configuration:
// largest units first, zero parts left out, and weeks only for a whole number
// of weeks' worth of days, since "10d" is shorter than "1w3d".
func (d Duration) String() string {
	if d <= 0 {
		// Zero, or a negative value that only Go code can make.
		return time.Duration(d).String()
	}
	var b strings.Builder
	rest := time.Duration(d)
	if days := rest / day; days > 0 {
		rest -= days * day
		if days%7 == 0 {
			fmt.Fprintf(&b, "%dw", days/7)
		} else {
			fmt.Fprintf(&b, "%dd", days)
		}
	}
	if h := rest / time.Hour; h > 0 {
		rest -= h * time.Hour
		fmt.Fprintf(&b, "%dh", h)
	}
	if m := rest / time.Minute; m > 0 {
		rest -= m * time.Minute
		fmt.Fprintf(&b, "%dm", m)
	}
	if rest > 0 {
		// Under a minute, the standard form is already the shortest: "1.5s", "500ms".
		b.WriteString(rest.String())
	}
	return b.String()
}

// MarshalText writes d as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration as the configuration writes it.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := parseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// parseDuration accepts what time.ParseDuration does, plus the units d and w,
// minus signs and bare numbers: a negative sleep is meaningless, and a bare
// number is a unit forgotten, not seconds or nanoseconds meant.
func parseDuration(s string) (time.Duration, error) {
	const notDuration = `%q is not a duration; durations look like "500ms", "15m" or "1d12h"`
	isNumber := func(r rune) bool { return r >= '0' && r <= '9' || r == '.' }
	switch {
	case s == "":
		return 0, fmt.Errorf(notDuration, s)
	case strings.HasPrefix(s, "-"):
		return 0, fmt.Errorf("%q: durations cannot be negative", s)
	case strings.TrimFunc(s, isNumber) == "":
		return 0, fmt.Errorf(`%q: durations need a unit, e.g. "1s"`, s)
	}
	// Exact rational arithmetic, so that "0.3s" is 300ms to the nanosecond
	// and an overflow is seen rather than wrapped.
	total := new(big.Rat)
	for rest := s; rest != ""; {
		n := strings.IndexFunc(rest, func(r rune) bool { return !isNumber(r) })
		if n == 0 {
			return 0, fmt.Errorf(notDuration, s)
		}
		if n < 0 {
			return 0, fmt.Errorf(`%q: durations need a unit after every number, e.g. "1h30m"`, s)
		}
		u := strings.IndexFunc(rest[n:], isNumber)
		if u < 0 {
			u = len(rest) - n
		}
		unit := rest[n : n+u]
		scale, ok := durationUnits[unit]
		if !ok {
			return 0, fmt.Errorf("%q: unknown unit %q; the units are ns, us, ms, s, m, h, d and w", s, unit)
		}
		num, ok := new(big.Rat).SetString(rest[:n])
		if !ok {
			return 0, fmt.Errorf("%q: %q is not a number", s, rest[:n])
		}
		total.Add(total, num.Mul(num, new(big.Rat).SetInt64(int64(scale))))
		rest = rest[n+u:]
	}
	ns := new(big.Int).Quo(total.Num(), total.Denom())
	if !ns.IsInt64() {
		return 0, fmt.Errorf("%q is longer than the longest duration, %s", s, Duration(math.MaxInt64))
	}
	return time.Duration(ns.Int64()), nil
}
