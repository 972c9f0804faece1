package vlm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/segments"
)

// Schema is a user's json_schema prepared for a model: timestamp types
// become numbers of seconds (the model answers in seconds), the result is
// validated against that (JSON Schema 2020-12), then timestamps and
// start_time/end_time properties are converted as the spec says (§6).
type Schema struct {
	// ModelSchema is what is sent to the model: the user's schema with
	// timestamps as numbers and without the keywords some backend refuses
	// or silently drops (BACKENDS.md §3); the validator still holds the
	// answer to all of them.
	ModelSchema json.RawMessage
	validator   *jsonschema.Schema
	model       map[string]any // the rewritten schema (with every keyword), walked to coerce numbers
	// conv lists the properties to convert: path of property names from the
	// root ("*" stands for array items), and how.
	conv []conversion
}

type conversion struct {
	path   []string
	format string // a timestamp format, or "start_end:<type>"
}

// CompileSchema prepares a (validated at create) json_schema.
func CompileSchema(raw json.RawMessage) (*Schema, error) {
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil, err
	}
	s := &Schema{model: root}
	s.rewrite(root, nil)
	b, err := json.Marshal(root)
	if err != nil {
		return nil, err
	}
	if s.ModelSchema, err = json.Marshal(portable(root)); err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		return nil, err
	}
	if s.validator, err = c.Compile("schema.json"); err != nil {
		return nil, err
	}
	return s, nil
}

// rewrite walks properties (and array items) from the root, replacing
// timestamp types and recording conversions.
func (s *Schema) rewrite(node map[string]any, path []string) {
	props, _ := node["properties"].(map[string]any)
	for name, v := range props {
		p, ok := v.(map[string]any)
		if !ok {
			continue
		}
		here := append(append([]string{}, path...), name)
		switch t, _ := p["type"].(string); {
		case t == "timestamp":
			format, _ := p["format"].(string)
			delete(p, "format")
			p["type"] = "number"
			p["description"] = "absolute time in seconds"
			s.conv = append(s.conv, conversion{path: here, format: format})
		case name == "start_time" || name == "end_time":
			if t == "integer" || (t == "string" && p["format"] == nil) {
				// The model answers seconds; the conversion makes them the
				// declared type (V46).
				p["type"] = "number"
				s.conv = append(s.conv, conversion{path: here, format: "start_end:" + t})
			}
		}
		s.rewrite(p, here)
		if items, ok := p["items"].(map[string]any); ok {
			s.rewrite(items, append(here, "*"))
		}
	}
}

// Finish reads a model's answer (the JSON of it, out of fences or prose
// when unambiguous; see inference.ExtractJSON), accepts times as numbers,
// numeric strings and clock strings and other numbers as numeric strings,
// validates the result strictly and converts it; it returns the JSON text
// for result.data.
func (s *Schema) Finish(text string) (string, error) {
	doc, err := inference.ExtractJSON(text)
	if err != nil {
		return "", fmt.Errorf("not JSON: %w", err)
	}
	v, err := decodeOrdered([]byte(doc))
	if err != nil {
		return "", fmt.Errorf("not JSON: %w", err)
	}
	v = s.coerce(s.model, v, nil)
	coerced, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(coerced))
	if err != nil {
		return "", fmt.Errorf("not JSON: %w", err)
	}
	if err := s.validator.Validate(inst); err != nil {
		return "", fmt.Errorf("%v", err)
	}
	for _, c := range s.conv {
		convert(v, c.path, c.format)
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// coerce walks the value beside its schema (properties and items) and
// turns strings where the schema wants a number into that number: a
// decimal string anywhere, a clock string ("00:12.5") only where a time is
// wanted. Anything else is left for the validator to refuse.
func (s *Schema) coerce(schema map[string]any, v any, path []string) any {
	switch x := v.(type) {
	case string:
		t, _ := schema["type"].(string)
		if t != "number" && t != "integer" {
			return v
		}
		if s.isTime(path) {
			if sec, ok := segments.ParseTime(x); ok {
				return json.Number(strconv.FormatFloat(sec, 'f', -1, 64))
			}
			return v
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
		}
	case *object:
		props, _ := schema["properties"].(map[string]any)
		for i, k := range x.keys {
			if ps, ok := props[k].(map[string]any); ok {
				x.vals[i] = s.coerce(ps, x.vals[i], append(append([]string{}, path...), k))
			}
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, it := range x {
				x[i] = s.coerce(items, it, append(append([]string{}, path...), "*"))
			}
		}
	}
	return v
}

func (s *Schema) isTime(path []string) bool {
	for _, c := range s.conv {
		if slices.Equal(c.path, path) {
			return true
		}
	}
	return false
}

// unportable are the keywords that some backend refuses (vLLM with a
// forced xgrammar, OpenAI strict mode) or silently drops (llama.cpp and
// Ollama grammars: uniqueItems, contains, not, if/then/else,
// patternProperties; minimum and maximum except on integers). They are left
// out of what the model is sent, and enforced by validation afterwards.
var unportable = []string{"uniqueItems", "contains", "minContains", "maxContains", "not", "if", "then", "else",
	"patternProperties", "dependentSchemas", "dependentRequired", "unevaluatedProperties", "unevaluatedItems",
	"propertyNames", "$comment", "format", "pattern", "multipleOf", "exclusiveMinimum", "exclusiveMaximum"}

// portable returns a copy of a schema without the unportable keywords, and
// without minimum and maximum on numbers that are not integers.
func portable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if slices.Contains(unportable, k) {
				continue
			}
			if k == "properties" || k == "$defs" || k == "definitions" {
				if m, ok := val.(map[string]any); ok {
					props := make(map[string]any, len(m))
					for name, sub := range m {
						props[name] = portable(sub) // property names are not keywords
					}
					out[k] = props
					continue
				}
			}
			out[k] = portable(val)
		}
		if t, _ := out["type"].(string); t == "number" {
			delete(out, "minimum")
			delete(out, "maximum")
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = portable(val)
		}
		return out
	}
	return v
}

func convert(v any, path []string, format string) {
	if len(path) == 0 {
		return
	}
	switch x := v.(type) {
	case []any:
		if path[0] == "*" {
			for _, it := range x {
				convert(it, path[1:], format)
			}
		}
	case *object:
		i := x.index(path[0])
		if i < 0 {
			return
		}
		val := x.vals[i]
		if len(path) > 1 {
			convert(val, path[1:], format)
			return
		}
		sec, ok := segments.ParseTime(val)
		if !ok {
			return
		}
		switch format {
		case "start_end:integer":
			x.vals[i] = math.Round(sec)
		case "start_end:string":
			x.vals[i] = segments.FormatTime(sec, segments.FormatHMSms)
		default:
			x.vals[i] = segments.FormatTime(sec, format)
		}
	}
}

// object is a JSON object that keeps its keys in the order the model wrote
// them (the schema's order, under constrained decoding), so that
// result.data lists properties as declared, as upstream does.
type object struct {
	keys []string
	vals []any
}

func (o *object) index(key string) int {
	for i, k := range o.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// MarshalJSON writes the keys in order.
func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// decodeOrdered decodes one JSON document with objects as *object and
// numbers as json.Number; a repeated key keeps its last value, as
// encoding/json does.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				if i := o.index(key); i >= 0 {
					o.vals[i] = v
					continue
				}
				o.keys, o.vals = append(o.keys, key), append(o.vals, v)
			}
			_, err := dec.Token() // '}'
			return o, err
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token() // ']'
			return arr, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	}
	return tok, nil
}
