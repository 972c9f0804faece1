package segments

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/framewise/framewise/internal/task"
)

func TestCoerceField(t *testing.T) {
	t.Parallel()
	str := task.SegmentField{Name: "f", Type: "string"}
	enum := task.SegmentField{Name: "f", Type: "string", Enum: []string{"Indoor", "outdoor", "MIXED"}}
	ambiguous := task.SegmentField{Name: "f", Type: "string", Enum: []string{"Yes", "YES"}}
	boolean := task.SegmentField{Name: "f", Type: "boolean"}
	number := task.SegmentField{Name: "f", Type: "number"}
	integer := task.SegmentField{Name: "f", Type: "integer"}
	strs := task.SegmentField{Name: "f", Type: "array", ItemsType: "string"}
	enumStrs := task.SegmentField{Name: "f", Type: "array", ItemsType: "string", Enum: []string{"cat", "dog"}}
	ints := task.SegmentField{Name: "f", Type: "array", ItemsType: "integer"}
	nums := task.SegmentField{Name: "f", Type: "array", ItemsType: "number"}
	bools := task.SegmentField{Name: "f", Type: "array", ItemsType: "boolean"}
	noItems := task.SegmentField{Name: "f", Type: "array"}
	tsSec := task.SegmentField{Name: "f", Type: "timestamp", Format: "seconds"}
	tsHMS := task.SegmentField{Name: "f", Type: "timestamp", Format: "hh:mm:ss"}
	tsMS := task.SegmentField{Name: "f", Type: "timestamp", Format: "hh:mm:ss.fff"}
	unknown := task.SegmentField{Name: "f", Type: "object"}

	tests := []struct {
		name string
		f    task.SegmentField
		in   any
		want any
		ok   bool
	}{
		{"string", str, "hello", "hello", true},
		{"string keeps spaces", str, " hi ", " hi ", true},
		{"string empty", str, "", "", true},
		{"string refuses number", str, 5.0, nil, false},
		{"string refuses bool", str, true, nil, false},
		{"string refuses nil", str, nil, nil, false},
		{"enum exact", enum, "outdoor", "outdoor", true},
		{"enum case-insensitive maps to spelling", enum, "indoor", "Indoor", true},
		{"enum case-insensitive trimmed", enum, " mixed ", "MIXED", true},
		{"enum no match", enum, "underwater", nil, false},
		{"enum ambiguous case match", ambiguous, "yes", nil, false},
		{"enum exact wins over ambiguity", ambiguous, "YES", "YES", true},
		{"boolean", boolean, false, false, true},
		{"boolean string", boolean, "TRUE", true, true},
		{"boolean string false", boolean, " false", false, true},
		{"boolean refuses yes", boolean, "yes", nil, false},
		{"boolean refuses 1", boolean, 1.0, nil, false},
		{"number", number, 2.5, 2.5, true},
		{"number int", number, 3, 3.0, true},
		{"number json.Number", number, json.Number("1e3"), 1000.0, true},
		{"number string", number, " -4.5 ", -4.5, true},
		{"number refuses junk", number, "4.5 apples", nil, false},
		{"number refuses NaN", number, math.NaN(), nil, false},
		{"number refuses inf string", number, "Inf", nil, false},
		{"number refuses hex", number, "0x1p3", nil, false},
		{"number refuses bool", number, true, nil, false},
		{"integer", integer, 2.0, int64(2), true},
		{"integer int", integer, 7, int64(7), true},
		{"integer int64", integer, int64(-7), int64(-7), true},
		{"integer string", integer, "42", int64(42), true},
		{"integer string 2.0", integer, "2.0", int64(2), true},
		{"integer exponent", integer, "1e3", int64(1000), true},
		{"integer refuses 2.5", integer, 2.5, nil, false},
		{"integer refuses string 2.5", integer, "2.5", nil, false},
		{"integer refuses beyond 2^53", integer, 1e20, nil, false},
		{"array of strings", strs, []any{"a", "b"}, []any{"a", "b"}, true},
		{"array typed slice", strs, []string{"a"}, []any{"a"}, true},
		{"array empty", strs, []any{}, []any{}, true},
		{"array nil slice", strs, []any(nil), nil, false},
		{"array refuses scalar", strs, "a", nil, false},
		{"array one bad item invalidates", strs, []any{"a", 1.0}, nil, false},
		{"array enum mapped", enumStrs, []any{"Cat", "dog"}, []any{"cat", "dog"}, true},
		{"array enum bad item", enumStrs, []any{"cat", "cow"}, nil, false},
		{"array of integers", ints, []any{1.0, "2", 3}, []any{int64(1), int64(2), int64(3)}, true},
		{"array of integers refuses 1.5", ints, []any{1.0, 1.5}, nil, false},
		{"array of numbers", nums, []float64{1.5, 2}, []any{1.5, 2.0}, true},
		{"array of booleans", bools, []any{true, "false"}, []any{true, false}, true},
		{"array without items type", noItems, []any{"a"}, nil, false},
		{"array refuses nil", strs, nil, nil, false},
		{"timestamp seconds from number", tsSec, 12.3456, 12.346, true},
		{"timestamp seconds from clock", tsSec, "00:01:02.5", 62.5, true},
		{"timestamp hh:mm:ss rounds", tsHMS, 12.5, "00:00:13", true},
		{"timestamp hh:mm:ss from ms clock", tsHMS, "00:00:12.400", "00:00:12", true},
		{"timestamp hh:mm:ss clamps negative", tsHMS, -5.0, "00:00:00", true},
		{"timestamp hh:mm:ss.fff", tsMS, 3725.25, "01:02:05.250", true},
		{"timestamp hh:mm:ss.fff from MM:SS", tsMS, "02:05", "00:02:05.000", true},
		{"timestamp refuses junk", tsMS, "soon", nil, false},
		{"timestamp refuses bool", tsSec, true, nil, false},
		{"unknown type", unknown, "x", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := CoerceField(tt.f, tt.in)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("CoerceField(%+v, %#v) = %#v, %v, want %#v, %v", tt.f, tt.in, got, ok, tt.want, tt.ok)
			}
			if !ok {
				return
			}
			again, ok := CoerceField(tt.f, got)
			if !ok || !reflect.DeepEqual(again, got) {
				t.Errorf("not idempotent: %#v → %#v, %v", got, again, ok)
			}
		})
	}
}
