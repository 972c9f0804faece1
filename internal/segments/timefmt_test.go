package segments

import (
	"encoding/json"
	"math"
	"testing"
)

func TestFormatTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sec    float64
		format string
		want   any
	}{
		{12.5, "", 12.5},
		{12.5, "seconds", 12.5},
		{12.3456, "seconds", 12.346},
		{12.3454, "seconds", 12.345},
		{31, "seconds", 31.0},
		{-0.0001, "seconds", 0.0},
		{-3.25, "seconds", -3.25},
		{12.5, "unknown", 12.5},
		{12.5, "hh:mm:ss", "00:00:13"},
		{12.4, "hh:mm:ss", "00:00:12"},
		{59.5, "hh:mm:ss", "00:01:00"},
		{3725.25, "hh:mm:ss", "01:02:05"},
		{7200, "hh:mm:ss", "02:00:00"},
		{-4, "hh:mm:ss", "00:00:00"},
		{-0.4, "hh:mm:ss", "00:00:00"},
		{360000, "hh:mm:ss", "100:00:00"},
		{12.5, "hh:mm:ss.fff", "00:00:12.500"},
		{3725.25, "hh:mm:ss.fff", "01:02:05.250"},
		{0, "hh:mm:ss.fff", "00:00:00.000"},
		{59.9996, "hh:mm:ss.fff", "00:01:00.000"},
		{1.0014, "hh:mm:ss.fff", "00:00:01.001"},
		{-1, "hh:mm:ss.fff", "00:00:00.000"},
		{360000.5, "hh:mm:ss.fff", "100:00:00.500"},
		{math.NaN(), "seconds", nil},
		{math.Inf(1), "hh:mm:ss", nil},
		{math.Inf(-1), "hh:mm:ss.fff", nil},
		{2e15, "seconds", nil},
		{1.7e10, "hh:mm:ss.fff", nil},
		{9999999999.999, "hh:mm:ss.fff", "2777777:46:39.999"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			got := FormatTime(tt.sec, tt.format)
			if got != tt.want {
				t.Errorf("FormatTime(%v, %q) = %#v, want %#v", tt.sec, tt.format, got, tt.want)
			}
			if f, ok := got.(float64); ok && math.Signbit(f) && f == 0 {
				t.Errorf("FormatTime(%v, %q) = -0", tt.sec, tt.format)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want float64
		ok   bool
	}{
		{12.5, 12.5, true},
		{float32(1.5), 1.5, true},
		{7, 7, true},
		{int64(-3), -3, true},
		{uint8(9), 9, true},
		{json.Number("4.25"), 4.25, true},
		{"12.5", 12.5, true},
		{" 12 ", 12, true},
		{"-2", -2, true},
		{"1e2", 100, true},
		{".5", 0.5, true},
		{"00:00:12.500", 12.5, true},
		{"01:02:05.25", 3725.25, true},
		{"1:02:05", 3725, true},
		{"02:05", 125, true},
		{"75:30", 4530, true},
		{"100:00:00", 360000, true},
		{"4722222222:13:20.000", 17000000000000, true},
		{"00:00:00", 0, true},
		{"12s", 0, false},
		{"", 0, false},
		{"abc", 0, false},
		{"0x10", 0, false},
		{"inf", 0, false},
		{"NaN", 0, false},
		{"1e400", 0, false},
		{"00:61", 0, false},
		{"00:60:00", 0, false},
		{"1:2:3:4", 0, false},
		{"-00:00:05", 0, false},
		{"00:00:12.", 0, false},
		{"00::12", 0, false},
		{"00:00:1e1", 0, false},
		{"00:+1:00", 0, false},
		{math.NaN(), 0, false},
		{math.Inf(1), 0, false},
		{true, 0, false},
		{nil, 0, false},
		{[]any{1.0}, 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseTime(tt.in)
		if ok != tt.ok || (ok && math.Abs(got-tt.want) > 1e-12) {
			t.Errorf("ParseTime(%#v) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestParseFormatRoundTrip checks that formatted times parse back to the
// rounded value.
func TestParseFormatRoundTrip(t *testing.T) {
	t.Parallel()
	for _, sec := range []float64{0, 0.001, 1.5, 12.5, 59.999, 3599.5, 3725.25, 7200, 123456.789} {
		for _, f := range []string{FormatSeconds, FormatHMS, FormatHMSms} {
			v := FormatTime(sec, f)
			back, ok := ParseTime(v)
			if !ok {
				t.Fatalf("ParseTime(FormatTime(%v, %q) = %v) failed", sec, f, v)
			}
			if again := FormatTime(back, f); again != v {
				t.Errorf("%v %q: %v → %v → %v", sec, f, v, back, again)
			}
		}
	}
}
