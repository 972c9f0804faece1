package segments

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Time formats of segment_time_format and of timestamp fields.
const (
	FormatSeconds = "seconds"
	FormatHMS     = "hh:mm:ss"
	FormatHMSms   = "hh:mm:ss.fff"
)

// maxAbsSeconds bounds what FormatTime accepts: about 317 years, far beyond
// any video, and small enough that a clock string it writes parses back to
// the same millisecond (float64 keeps ~2 µs there).
const maxAbsSeconds = 1e10

// FormatTime formats sec per format:
//
//   - "seconds", "" or any unknown format → float64 rounded to millisecond
//     precision (half away from zero); the sign is kept, −0 becomes 0.
//   - "hh:mm:ss" → string "HH:MM:SS" rounded to the nearest second (half
//     away from zero: 12.5 → "00:00:13", 12.4 → "00:00:12").
//   - "hh:mm:ss.fff" → string "HH:MM:SS.fff" rounded to the nearest
//     millisecond (3725.25 → "01:02:05.250").
//
// Both string formats clamp negative values to zero. Hours have at least two
// digits and grow beyond 99 (360000 s → "100:00:00"). It returns nil for NaN,
// ±Inf and |sec| > 1e10.
func FormatTime(sec float64, format string) any {
	if math.IsNaN(sec) || math.Abs(sec) > maxAbsSeconds {
		return nil
	}
	switch format {
	case FormatHMS:
		s := int64(math.Round(max(sec, 0)))
		return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
	case FormatHMSms:
		ms := int64(math.Round(max(sec, 0) * 1000))
		return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
	}
	v := math.Round(sec*1000) / 1000
	if v == 0 {
		v = 0 // drop the sign of −0
	}
	return v
}

// ParseTime reads a time in seconds from a model output or measurement:
//
//   - a Go number (any int/uint/float kind) or json.Number;
//   - a decimal string ("12.5", "-3", "1e2"; surrounding spaces ignored);
//   - a clock string "HH:MM:SS", "MM:SS" or "H:MM:SS", each optionally with
//     a fraction of a second ("00:01:02.5", "01:02.250"). The leading
//     component may be any number of digits; later components must be < 60.
//     Clock strings carry no sign.
//
// Anything else (bool, nil, NaN, ±Inf, "12s", "1:2:3:4", "00:61") fails.
// Negative numbers are accepted; FormatTime decides how to render them.
func ParseTime(v any) (float64, bool) {
	if f, ok := toFloat(v); ok {
		return f, true
	}
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	s = strings.TrimSpace(s)
	if !strings.Contains(s, ":") {
		return parseDecimal(s)
	}
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return 0, false
	}
	var total float64
	for i, p := range parts {
		last := i == len(parts)-1
		var val float64
		if last {
			intPart, frac, hasFrac := strings.Cut(p, ".")
			if !allDigits(intPart) || (hasFrac && !allDigits(frac)) {
				return 0, false
			}
			f, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return 0, false
			}
			val = f
		} else {
			if !allDigits(p) {
				return 0, false
			}
			n, err := strconv.ParseUint(p, 10, 64)
			if err != nil {
				return 0, false
			}
			val = float64(n)
		}
		if i > 0 && val >= 60 {
			return 0, false
		}
		total = total*60 + val
	}
	return total, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDecimal parses a finite decimal number: [+-] digits [. digits]
// [e [+-] digits], with digits on at least one side of the point. Hex,
// underscores, "inf" and "nan" are refused.
func parseDecimal(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// toFloat converts a Go number or json.Number to a finite float64.
func toFloat(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int8:
		f = float64(x)
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		f = float64(x)
	case json.Number:
		return parseDecimal(string(x))
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
