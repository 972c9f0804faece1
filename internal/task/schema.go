package task

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The JSON Schema subset accepted in response_format.json_schema (spec §5
// V43–V46). The walker is strict: a keyword it does not know is refused
// rather than silently ignored, because the model would not honour it.
//
// Interpretations (IMPL) where the spec is silent:
//   - Every schema must be a JSON object; boolean schemas (true/false) are refused.
//   - A keyword that applies to one type (properties, required, items,
//     minItems, minimum…, pattern) is refused when the node declares a type
//     that excludes it; it is accepted on a node without "type". format is
//     refused unless the node's type is string or timestamp.
//   - "type" may be a list of type names, but timestamp must stand alone.
//   - $defs is allowed only at the root, and $ref only as "#/$defs/<name>"
//     naming one of those entries. Since a timestamp must sit directly under
//     the root's properties (V45), any timestamp inside $defs is refused.
//   - minItems accepts only 0 and 1; larger values are 400, not 422.
//   - A property named start_time or end_time must declare its type (V46).
const (
	maxSchemaDepth = 32
	maxSchemaNodes = 10000
)

var (
	schemaTypes      = []string{"array", "boolean", "integer", "null", "number", "object", "string", "timestamp"}
	stringFormats    = []string{"uuid", "date-time", "date", "time"}
	schemaAnnotation = []string{"title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly", "writeOnly"}
	// schemaKeywords are the keywords the walker checks.
	schemaKeywords = []string{"type", "properties", "required", "items", "minItems", "minimum", "maximum",
		"exclusiveMinimum", "exclusiveMaximum", "pattern", "format", "const", "enum", "anyOf", "$defs", "$ref"}
	// unsupportedKeywords are refused with 422 (V44).
	unsupportedKeywords = []string{"minLength", "maxLength", "additionalProperties", "uniqueItems", "maxItems"}
)

// ValidateJSONSchema checks that schema, the value of
// response_format.json_schema, stays within the supported JSON Schema
// subset for model (V43–V46). It returns nil or a *ValidationError whose
// Param is a dotted path under response_format.json_schema; the status is
// 422 for the unsupported keywords of V44 and 400 otherwise.
func ValidateJSONSchema(schema []byte, model string) error {
	if verr := validateSchema(schema, model, "response_format.json_schema"); verr != nil {
		return verr
	}
	return nil
}

type schemaWalker struct {
	model string
	base  string
	defs  map[string]any
	nodes int
}

func validateSchema(raw []byte, model, base string) *ValidationError {
	// The schema is stored and echoed byte for byte, so it must be valid
	// UTF-8 (encoding/json would otherwise pass invalid bytes through).
	if !utf8.Valid(raw) {
		return Invalid(base, "The %s parameter contains bytes that are not valid UTF-8. Send the schema as UTF-8 text.", base)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Invalid(base, "The %s parameter is not valid JSON: %v.", base, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Invalid(base, "The %s parameter is not valid JSON: it holds more than one value.", base)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return Invalid(base, "The %s parameter must be a JSON Schema object, but %s was given.", base, anyKind(v))
	}
	w := &schemaWalker{model: model, base: base}
	if d, ok := root["$defs"]; ok {
		defs, ok := d.(map[string]any)
		if !ok {
			return Invalid(base+".$defs", "The %s.$defs keyword must be an object of named schemas, but %s was given.", base, anyKind(d))
		}
		w.defs = defs
	}
	return w.node(root, base, nil, 1, false)
}

// node checks one schema. path is its dotted path; pos lists the keywords
// and names that lead to it from the root (for V45); timeProp is set when
// it is the schema of a property named start_time or end_time (V46).
func (w *schemaWalker) node(v any, path string, pos []string, depth int, timeProp bool) *ValidationError {
	w.nodes++
	if w.nodes > maxSchemaNodes {
		return Invalid(w.base, "The %s parameter has more than %d schemas. Simplify it.", w.base, maxSchemaNodes)
	}
	if depth > maxSchemaDepth {
		return Invalid(path, "The %s schema is nested more than %d levels deep. Flatten it.", path, maxSchemaDepth)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return Invalid(path, "The %s parameter must be a JSON Schema object, but %s was given.", path, anyKind(v))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case slices.Contains(schemaKeywords, k), slices.Contains(schemaAnnotation, k):
		case slices.Contains(unsupportedKeywords, k):
			return Unsupported(path+"."+k, "The JSON schema keyword %s (at %s) is not supported. Remove it; supported keywords are %s.", k, path+"."+k, strings.Join(schemaKeywords, ", "))
		default:
			return Invalid(path+"."+k, "The JSON schema keyword %s (at %s) is not supported. Remove it; supported keywords are %s, plus annotations such as title and description.", k, path+"."+k, strings.Join(schemaKeywords, ", "))
		}
	}

	types, verr := w.types(m, path)
	if verr != nil {
		return verr
	}
	has := func(t string) bool { return slices.Contains(types, t) }
	// needs checks that keyword kw is not set on a node whose declared
	// type excludes all of want.
	needs := func(kw string, want ...string) *ValidationError {
		if _, ok := m[kw]; !ok || len(types) == 0 || slices.ContainsFunc(want, has) {
			return nil
		}
		return Invalid(path+"."+kw, "The JSON schema keyword %s (at %s) applies only to type %s, but the type is %s. Remove %s or change the type.",
			kw, path, strings.Join(want, " or "), strings.Join(types, ", "), kw)
	}

	format, hasFormat := m["format"]
	if hasFormat {
		if _, ok := format.(string); !ok {
			return Invalid(path+".format", "The JSON schema keyword format (at %s) must be a string, but %s was given.", path, anyKind(format))
		}
	}
	if has("timestamp") {
		if !positionAllowsTimestamp(pos) {
			return Invalid(path+".type", "The timestamp type (at %s) is allowed only for a property of the root object (properties.<name>) or of the objects of a root array property (properties.<name>.items.properties.<name>), not inside anyOf, $defs or deeper. Move it or use another type.", path)
		}
		if !hasFormat {
			return Invalid(path+".format", "%s.format: a timestamp needs format seconds, hh:mm:ss or hh:mm:ss.fff. Add it.", path)
		}
		if !slices.Contains(timeFormats, format.(string)) {
			return Invalid(path+".format", "%s.format: a timestamp format must be seconds, hh:mm:ss or hh:mm:ss.fff, but %q was given.", path, format)
		}
	} else if hasFormat {
		switch {
		case has("string"):
			if !slices.Contains(stringFormats, format.(string)) {
				return Invalid(path+".format", "%s.format: a string format must be one of %s, but %q was given.", path, strings.Join(stringFormats, ", "), format)
			}
		default:
			return Invalid(path+".format", "%s.format: format applies only to type string or timestamp; declare one of them or remove format.", path)
		}
	}
	if timeProp {
		ok := len(types) > 0
		for _, t := range types {
			ok = ok && (t == "number" || t == "integer" || t == "string" || t == "timestamp")
		}
		if !ok || (has("string") && hasFormat) {
			got := "no type"
			if len(types) > 0 {
				got = "type " + strings.Join(types, ", ")
			}
			if has("string") && hasFormat {
				got += " with format"
			}
			return Invalid(path, "The property %s must be declared as number, integer, string without format, or timestamp with format, but it has %s. start_time and end_time are converted as video times.", path, got)
		}
	}

	for _, c := range []struct {
		kw   string
		want []string
	}{
		{"properties", []string{"object"}}, {"required", []string{"object"}},
		{"items", []string{"array"}}, {"minItems", []string{"array"}},
		{"minimum", []string{"integer", "number"}}, {"maximum", []string{"integer", "number"}},
		{"exclusiveMinimum", []string{"integer", "number"}}, {"exclusiveMaximum", []string{"integer", "number"}},
		{"pattern", []string{"string"}},
	} {
		if verr := needs(c.kw, c.want...); verr != nil {
			return verr
		}
	}

	if verr := w.bounds(m, path); verr != nil {
		return verr
	}
	if p, ok := m["pattern"]; ok {
		s, ok := p.(string)
		if !ok {
			return Invalid(path+".pattern", "The JSON schema keyword pattern (at %s) must be a string, but %s was given.", path, anyKind(p))
		}
		if _, err := regexp.Compile(s); err != nil {
			return Invalid(path+".pattern", "The JSON schema pattern %q (at %s) is not a valid regular expression: %v. Patterns use RE2 syntax, which has no lookaround or backreferences; rewrite it.", s, path, err)
		}
	}
	if mi, ok := m["minItems"]; ok {
		if n, isNum := mi.(json.Number); !isNum || !(numberIs(n, 0) || numberIs(n, 1)) {
			return Invalid(path+".minItems", "The JSON schema keyword minItems (at %s) supports only 0 or 1, but %s was given.", path, anyString(mi))
		}
	}
	if c, ok := m["const"]; ok && !isScalar(c) {
		return Invalid(path+".const", "The JSON schema keyword const (at %s) must be a string, number, boolean or null, but %s was given.", path, anyKind(c))
	}
	if e, ok := m["enum"]; ok {
		vals, ok := e.([]any)
		if !ok || len(vals) == 0 {
			return Invalid(path+".enum", "The JSON schema keyword enum (at %s) must be a non-empty array of strings, numbers, booleans or nulls.", path)
		}
		for i, val := range vals {
			if !isScalar(val) {
				return Invalid(fmt.Sprintf("%s.enum[%d]", path, i), "The JSON schema enum value %s.enum[%d] must be a string, number, boolean or null, but %s was given.", path, i, anyKind(val))
			}
		}
	}
	if r, ok := m["$ref"]; ok {
		if verr := w.ref(r, path); verr != nil {
			return verr
		}
	}

	// Children.
	if _, ok := m["$defs"]; ok {
		if len(pos) != 0 {
			return Invalid(path+".$defs", "The JSON schema keyword $defs (at %s) is allowed only at the root of the schema. Move the definitions there.", path)
		}
		for _, name := range sortedKeys(w.defs) {
			if verr := w.node(w.defs[name], path+".$defs."+name, []string{"$defs", name}, depth+1, false); verr != nil {
				return verr
			}
		}
	}
	var props map[string]any
	if p, ok := m["properties"]; ok {
		if props, ok = p.(map[string]any); !ok {
			return Invalid(path+".properties", "The JSON schema keyword properties (at %s) must be an object of named schemas, but %s was given.", path, anyKind(p))
		}
		for _, name := range sortedKeys(props) {
			child := append(slices.Clip(pos), "properties", name)
			if verr := w.node(props[name], path+".properties."+name, child, depth+1, name == "start_time" || name == "end_time"); verr != nil {
				return verr
			}
		}
	}
	if r, ok := m["required"]; ok {
		list, ok := r.([]any)
		if !ok {
			return Invalid(path+".required", "The JSON schema keyword required (at %s) must be an array of property names, but %s was given.", path, anyKind(r))
		}
		seen := map[string]bool{}
		for i, x := range list {
			name, ok := x.(string)
			if !ok {
				return Invalid(fmt.Sprintf("%s.required[%d]", path, i), "The JSON schema keyword required (at %s) must list property names (strings), but item %d is %s.", path, i, anyKind(x))
			}
			if _, declared := props[name]; !declared {
				return Invalid(fmt.Sprintf("%s.required[%d]", path, i), "The JSON schema keyword required (at %s) lists %q, which is not declared in properties. Declare it or remove it from required.", path, name)
			}
			if seen[name] {
				return Invalid(fmt.Sprintf("%s.required[%d]", path, i), "The JSON schema keyword required (at %s) lists %q twice.", path, name)
			}
			seen[name] = true
		}
	}
	if it, ok := m["items"]; ok {
		if _, isObj := it.(map[string]any); !isObj {
			return Invalid(path+".items", "The JSON schema keyword items (at %s) must be one schema object, but %s was given.", path, anyKind(it))
		}
		if verr := w.node(it, path+".items", append(slices.Clip(pos), "items"), depth+1, false); verr != nil {
			return verr
		}
	}
	if a, ok := m["anyOf"]; ok {
		list, ok := a.([]any)
		if !ok || len(list) == 0 {
			return Invalid(path+".anyOf", "The JSON schema keyword anyOf (at %s) must be a non-empty array of schemas.", path)
		}
		for i, s := range list {
			idx := strconv.Itoa(i)
			if verr := w.node(s, path+".anyOf["+idx+"]", append(slices.Clip(pos), "anyOf", idx), depth+1, false); verr != nil {
				return verr
			}
		}
	}
	return nil
}

// types reads the type keyword: a type name or a list of them.
func (w *schemaWalker) types(m map[string]any, path string) ([]string, *ValidationError) {
	t, ok := m["type"]
	if !ok {
		return nil, nil
	}
	var list []string
	switch t := t.(type) {
	case string:
		list = []string{t}
	case []any:
		if len(t) == 0 {
			return nil, Invalid(path+".type", "The JSON schema keyword type (at %s) must not be an empty list.", path)
		}
		for _, x := range t {
			s, ok := x.(string)
			if !ok {
				return nil, Invalid(path+".type", "The JSON schema keyword type (at %s) must be a type name or a list of type names, but the list holds %s.", path, anyKind(x))
			}
			if slices.Contains(list, s) {
				return nil, Invalid(path+".type", "The JSON schema keyword type (at %s) lists %q twice.", path, s)
			}
			list = append(list, s)
		}
		if slices.Contains(list, "timestamp") {
			return nil, Invalid(path+".type", "The JSON schema type timestamp (at %s) cannot be combined with other types in a list. Use \"type\": \"timestamp\" alone.", path)
		}
	default:
		return nil, Invalid(path+".type", "The JSON schema keyword type (at %s) must be a type name or a list of type names, but %s was given.", path, anyKind(t))
	}
	for _, s := range list {
		if !slices.Contains(schemaTypes, s) {
			return nil, Invalid(path+".type", "The JSON schema type %q (at %s) is not supported. Use one of %s.", s, path, strings.Join(schemaTypes, ", "))
		}
		if s == "timestamp" && w.model != Pegasus15 {
			return nil, Invalid(path+".type", "The JSON schema type timestamp (at %s) requires model_name %s. Use another type or change the model.", path, Pegasus15)
		}
	}
	return list, nil
}

// bounds checks minimum, maximum, exclusiveMinimum and exclusiveMaximum.
func (w *schemaWalker) bounds(m map[string]any, path string) *ValidationError {
	vals := map[string]float64{}
	for _, kw := range []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} {
		x, ok := m[kw]
		if !ok {
			continue
		}
		n, isNum := x.(json.Number)
		if !isNum {
			return Invalid(path+"."+kw, "The JSON schema keyword %s (at %s) must be a number, but %s was given.", kw, path, anyKind(x))
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return Invalid(path+"."+kw, "The JSON schema keyword %s (at %s) is out of range.", kw, path)
		}
		vals[kw] = f
	}
	lo, hasLo := vals["minimum"]
	hi, hasHi := vals["maximum"]
	if hasLo && hasHi && lo > hi {
		return Invalid(path+".minimum", "The JSON schema keyword minimum (at %s) is greater than maximum, so no value is valid. Fix the bounds.", path)
	}
	return nil
}

// ref checks that $ref names an entry of the root $defs.
func (w *schemaWalker) ref(r any, path string) *ValidationError {
	s, ok := r.(string)
	if !ok {
		return Invalid(path+".$ref", "The JSON schema keyword $ref (at %s) must be a string, but %s was given.", path, anyKind(r))
	}
	name, ok := strings.CutPrefix(s, "#/$defs/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return Invalid(path+".$ref", "The JSON schema $ref %q (at %s) is not supported: only internal references of the form #/$defs/<name> are. Move the schema to $defs.", s, path)
	}
	name = strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
	if _, ok := w.defs[name]; !ok {
		return Invalid(path+".$ref", "The JSON schema $ref %q (at %s) does not resolve: $defs has no entry %q.", s, path, name)
	}
	return nil
}

// positionAllowsTimestamp reports whether pos is properties.<f> or
// properties.<arr>.items.properties.<f> from the root (V45).
func positionAllowsTimestamp(pos []string) bool {
	switch len(pos) {
	case 2:
		return pos[0] == "properties"
	case 5:
		return pos[0] == "properties" && pos[2] == "items" && pos[3] == "properties"
	}
	return false
}

func numberIs(n json.Number, want float64) bool {
	f, err := n.Float64()
	return err == nil && f == want
}

func isScalar(v any) bool {
	switch v.(type) {
	case nil, bool, string, json.Number:
		return true
	}
	return false
}

func anyKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func anyString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return anyKind(v)
	}
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
