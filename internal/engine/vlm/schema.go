package vlm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/framewise/framewise/internal/segments"
)

// Schema is a user's json_schema prepared for a model: timestamp types
// become numbers of seconds (the model answers in seconds), the result is
// validated against that (JSON Schema 2020-12), then timestamps and
// start_time/end_time properties are converted as the spec says (§6).
type Schema struct {
	ModelSchema json.RawMessage
	validator   *jsonschema.Schema
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
	s := &Schema{}
	s.rewrite(root, nil)
	b, err := json.Marshal(root)
	if err != nil {
		return nil, err
	}
	s.ModelSchema = b
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

// Finish validates a model's answer and converts it; it returns the JSON
// text for result.data.
func (s *Schema) Finish(text string) (string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("not JSON: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(text)))
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
	case map[string]any:
		val, ok := x[path[0]]
		if !ok {
			return
		}
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
			x[path[0]] = math.Round(sec)
		case "start_end:string":
			x[path[0]] = segments.FormatTime(sec, segments.FormatHMSms)
		default:
			x[path[0]] = segments.FormatTime(sec, format)
		}
	}
}
