package config

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestDurationParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"500ms", 500 * time.Millisecond},
		{"1s", time.Second},
		{"15m", 15 * time.Minute},
		{"3d", 72 * time.Hour},
		{"1w", 168 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{"0.3s", 300 * time.Millisecond},
		{".5s", 500 * time.Millisecond},
		{"1.5d", 36 * time.Hour},
		{"0s", 0},
		{"1ns", 1},
		{"1us", time.Microsecond},
		{"1µs", time.Microsecond},
		{"1μs", time.Microsecond},
		{"1w2d3h4m5s6ms7us8ns", week + 2*day + 3*time.Hour + 4*time.Minute + 5*time.Second + 6*time.Millisecond + 7*time.Microsecond + 8},
		{"15250w1d23h47m16.854775807s", math.MaxInt64},
	} {
		var d Duration
		if err := d.UnmarshalText([]byte(tc.in)); err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if d.D() != tc.want {
			t.Errorf("%q = %v, want %v", tc.in, d.D(), tc.want)
		}
	}
}

func TestDurationParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "not a duration"},
		{"5", `durations need a unit, e.g. "1s"`},
		{"0", "durations need a unit"},
		{"1.5", "durations need a unit"},
		{"1h30", "durations need a unit after every number"},
		{"-1s", "cannot be negative"},
		{"-0s", "cannot be negative"},
		{"+1s", "not a duration"},
		{" 1s", "not a duration"},
		{"abc", "not a duration"},
		{"1x", `unknown unit "x"`},
		{"1S", `unknown unit "S"`},
		{"1s ", `unknown unit "s "`},
		{"1e3s", `unknown unit "e"`},
		{"1.2.3s", `"1.2.3" is not a number`},
		{".s", `"." is not a number`},
		{"15251w", "longer than the longest duration"},
		{"9999999999999999999999ns", "longer than the longest duration"},
	} {
		var d Duration
		err := d.UnmarshalText([]byte(tc.in))
		if err == nil {
			t.Errorf("%q: parsed as %v, want an error", tc.in, d.D())
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %q does not say %q", tc.in, err, tc.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{1, "1ns"},
		{500 * time.Millisecond, "500ms"},
		{1500 * time.Millisecond, "1.5s"},
		{time.Second, "1s"},
		{61 * time.Second, "1m1s"},
		{90 * time.Minute, "1h30m"},
		{36 * time.Hour, "1d12h"},
		{3 * day, "3d"},
		{week, "1w"},
		{2 * week, "2w"},
		{8 * day, "8d"},
		{10 * day, "10d"},
		{week + 12*time.Hour, "1w12h"},
		{day + time.Nanosecond, "1d1ns"},
		{math.MaxInt64, "106751d23h47m16.854775807s"},
	} {
		d := Duration(tc.d)
		if got := d.String(); got != tc.want {
			t.Errorf("%v: String() = %q, want %q", tc.d, got, tc.want)
		}
		text, err := d.MarshalText()
		if err != nil || string(text) != tc.want {
			t.Errorf("%v: MarshalText() = %q, %v; want %q", tc.d, text, err, tc.want)
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Errorf("%v: %q reads back as %v, %v", tc.d, text, back.D(), err)
		}
	}
}
