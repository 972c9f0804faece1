package segments

import (
	"math"
	"reflect"
	"strings"

	"github.com/framewise/framewise/internal/task"
)

// maxExactInt is the largest integer every float64 up to which is exact.
const maxExactInt = 1 << 53

// CoerceField converts a raw value (from a model's JSON or a measurement) to
// the type of field f and reports whether it fits. Values that do not fit
// are refused, never guessed. nil (JSON null) never fits. Per type:
//
//   - string: a Go string only (numbers and bools are refused). With an
//     enum, an exact match wins; otherwise a case-insensitive match of the
//     trimmed value maps to the enum's spelling when exactly one enum value
//     matches; anything else is refused.
//   - boolean: a bool, or the strings "true"/"false" (case-insensitive,
//     trimmed). Numbers such as 0/1 are refused.
//   - number: a finite Go number, json.Number or decimal string (see
//     ParseTime for the grammar) → float64.
//   - integer: the same inputs when the value is integral and within ±2^53
//     → int64. 2.0 and "2.0" fit; 2.5 does not.
//   - array: a Go slice or array whose every item fits the items type (with
//     the field's enum applied to string items) → []any. One bad item makes
//     the whole field invalid: dropping items would silently change what
//     the list says. An empty slice fits (→ []any{}); a nil slice does
//     not (it is JSON null); a scalar is not wrapped. An unknown or missing items type never fits.
//   - timestamp: anything ParseTime accepts, rendered by FormatTime with the
//     field's own format (never segment_time_format): float64 for
//     "seconds", a string for the clock formats (negatives clamp to zero).
//
// CoerceField is idempotent: coercing its own output again gives the same
// value, so Render may re-coerce values an engine already coerced.
func CoerceField(f task.SegmentField, v any) (any, bool) {
	if f.Type == "array" {
		return coerceArray(f, v)
	}
	return coerceScalar(f.Type, f.Enum, f.Format, v)
}

func coerceScalar(typ string, enum []string, format string, v any) (any, bool) {
	if v == nil {
		return nil, false
	}
	switch typ {
	case "string":
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		return matchEnum(enum, s)
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, true
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return true, true
			case "false":
				return false, true
			}
		}
		return nil, false
	case "number":
		return number(v)
	case "integer":
		f, ok := number(v)
		if !ok {
			return nil, false
		}
		x := f.(float64)
		if x != math.Trunc(x) || math.Abs(x) > maxExactInt {
			return nil, false
		}
		return int64(x), true
	case "timestamp":
		sec, ok := ParseTime(v)
		if !ok {
			return nil, false
		}
		t := FormatTime(sec, format)
		return t, t != nil
	}
	return nil, false
}

// number reads a finite float64 from a Go number, json.Number or decimal
// string.
func number(v any) (any, bool) {
	if f, ok := toFloat(v); ok {
		return f, true
	}
	if s, ok := v.(string); ok {
		if f, ok := parseDecimal(strings.TrimSpace(s)); ok {
			return f, true
		}
	}
	return nil, false
}

func matchEnum(enum []string, s string) (any, bool) {
	if len(enum) == 0 {
		return s, true
	}
	for _, e := range enum {
		if e == s {
			return e, true
		}
	}
	t := strings.TrimSpace(s)
	match, n := "", 0
	for _, e := range enum {
		if strings.EqualFold(e, t) {
			match = e
			n++
		}
	}
	if n == 1 {
		return match, true
	}
	return nil, false
}

func coerceArray(f task.SegmentField, v any) (any, bool) {
	switch f.ItemsType {
	case "string", "number", "boolean", "integer":
	default:
		return nil, false
	}
	if v == nil {
		return nil, false
	}
	var items []any
	switch x := v.(type) {
	case []any:
		if x == nil {
			return nil, false
		}
		items = x
	default:
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			return nil, false
		}
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, false
		}
		items = make([]any, rv.Len())
		for i := range items {
			items[i] = rv.Index(i).Interface()
		}
	}
	out := make([]any, 0, len(items))
	for _, it := range items {
		c, ok := coerceScalar(f.ItemsType, f.Enum, "", it)
		if !ok {
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}
