package inferencetest_test

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// validate is a small JSON Schema checker, enough for the keywords the
// double claims to honour; it returns the first violation.
func validate(schemaJSON, docJSON string) error {
	var schema, doc any
	if err := json.Unmarshal([]byte(schemaJSON), &schema); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if err := json.Unmarshal([]byte(docJSON), &doc); err != nil {
		return fmt.Errorf("document is not JSON: %w", err)
	}
	v := validator{root: schema}
	return v.check(schema, doc, "$")
}

type validator struct{ root any }

func (v validator) check(schema, doc any, path string) error {
	switch s := schema.(type) {
	case bool:
		if !s {
			return fmt.Errorf("%s: schema false", path)
		}
		return nil
	case map[string]any:
		return v.checkObject(s, doc, path)
	}
	return fmt.Errorf("%s: bad schema %T", path, schema)
}

func (v validator) checkObject(s map[string]any, doc any, path string) error {
	if ref, ok := s["$ref"].(string); ok {
		cur := v.root
		for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[tok]
		}
		if err := v.check(cur, doc, path); err != nil {
			return err
		}
	}
	if t, ok := s["type"]; ok {
		types := []string{}
		switch t := t.(type) {
		case string:
			types = append(types, t)
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return hasType(doc, t) }) {
			return fmt.Errorf("%s: %v is not of type %v", path, doc, types)
		}
	}
	if c, ok := s["const"]; ok && !equal(c, doc) {
		return fmt.Errorf("%s: %v is not const %v", path, doc, c)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return equal(e, doc) }) {
		return fmt.Errorf("%s: %v is not in enum %v", path, doc, enum)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, b := range all {
			if err := v.check(b, doc, path); err != nil {
				return err
			}
		}
	}
	if anyOf, ok := s["anyOf"].([]any); ok {
		if !slices.ContainsFunc(anyOf, func(b any) bool { return v.check(b, doc, path) == nil }) {
			return fmt.Errorf("%s: %v matches no anyOf branch", path, doc)
		}
	}
	if oneOf, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, b := range oneOf {
			if v.check(b, doc, path) == nil {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: %v matches %d oneOf branches", path, doc, n)
		}
	}
	switch d := doc.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asSlice(s["required"]) {
			if _, ok := d[r.(string)]; !ok {
				return fmt.Errorf("%s: required %q missing", path, r)
			}
		}
		for k, val := range d {
			ps, ok := props[k]
			if !ok {
				if ap, ok := s["additionalProperties"].(bool); ok && !ap {
					return fmt.Errorf("%s: additional property %q", path, k)
				}
				continue
			}
			if err := v.check(ps, val, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if n, ok := s["minItems"].(float64); ok && float64(len(d)) < n {
			return fmt.Errorf("%s: %d items < minItems %v", path, len(d), n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(d)) > n {
			return fmt.Errorf("%s: %d items > maxItems %v", path, len(d), n)
		}
		if u, _ := s["uniqueItems"].(bool); u {
			for i := range d {
				for j := range i {
					if equal(d[i], d[j]) {
						return fmt.Errorf("%s: items %d and %d are equal", path, j, i)
					}
				}
			}
		}
		if items, ok := s["items"]; ok {
			for i, it := range d {
				if err := v.check(items, it, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	case float64:
		if m, ok := s["minimum"].(float64); ok && d < m {
			return fmt.Errorf("%s: %v < minimum %v", path, d, m)
		}
		if m, ok := s["maximum"].(float64); ok && d > m {
			return fmt.Errorf("%s: %v > maximum %v", path, d, m)
		}
		if m, ok := s["exclusiveMinimum"].(float64); ok && d <= m {
			return fmt.Errorf("%s: %v <= exclusiveMinimum %v", path, d, m)
		}
		if m, ok := s["exclusiveMaximum"].(float64); ok && d >= m {
			return fmt.Errorf("%s: %v >= exclusiveMaximum %v", path, d, m)
		}
		if m, ok := s["multipleOf"].(float64); ok && math.Abs(d/m-math.Round(d/m)) > 1e-9 {
			return fmt.Errorf("%s: %v is not a multiple of %v", path, d, m)
		}
	case string:
		if m, ok := s["minLength"].(float64); ok && float64(utf8.RuneCountInString(d)) < m {
			return fmt.Errorf("%s: %q shorter than %v", path, d, m)
		}
		if m, ok := s["maxLength"].(float64); ok && float64(utf8.RuneCountInString(d)) > m {
			return fmt.Errorf("%s: %q longer than %v", path, d, m)
		}
	}
	return nil
}

func hasType(doc any, t string) bool {
	switch d := doc.(type) {
	case nil:
		return t == "null"
	case bool:
		return t == "boolean"
	case string:
		return t == "string"
	case float64:
		return t == "number" || (t == "integer" && d == math.Trunc(d))
	case []any:
		return t == "array"
	case map[string]any:
		return t == "object"
	}
	return false
}

func equal(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func asSlice(v any) []any { s, _ := v.([]any); return s }
