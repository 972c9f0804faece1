package inferencetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxDepth is how deep the filler fills every property; deeper, it fills
// only what the schema requires, so recursive schemas terminate.
const maxDepth = 8

// scope is the context a value is filled in: the whole request, or one
// colour run (an item of an array).
type scope struct{ run *run }

type filler struct {
	p    *percept
	root any
}

// fillSchema answers a json_schema request with a document valid against
// schema, filled from perception (see the package doc).
func (p *percept) fillSchema(raw json.RawMessage) (string, error) {
	var root any
	if err := json.Unmarshal(raw, &root); err != nil {
		return "", fmt.Errorf("schema is not JSON: %w", err)
	}
	f := &filler{p: p, root: root}
	v, err := f.fill(root, "", scope{}, 0)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func (f *filler) fill(schema any, name string, sc scope, depth int) (any, error) {
	if depth > 64 {
		return nil, errors.New("schema nests too deep")
	}
	switch s := schema.(type) {
	case bool:
		if !s {
			return nil, errors.New("schema false admits no value")
		}
		return f.summary(sc), nil
	case map[string]any:
		s, err := f.resolve(s)
		if err != nil {
			return nil, err
		}
		if c, ok := s["const"]; ok {
			return c, nil
		}
		if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
			return f.pickEnum(enum, sc), nil
		}
		for _, key := range []string{"anyOf", "oneOf"} {
			if branches, ok := s[key].([]any); ok && len(branches) > 0 {
				return f.fill(f.firstNonNull(branches), name, sc, depth+1)
			}
		}
		if branches, ok := s["allOf"].([]any); ok && len(branches) > 0 {
			merged, err := f.merge(s, branches)
			if err != nil {
				return nil, err
			}
			return f.fill(merged, name, sc, depth+1)
		}
		switch schemaType(s) {
		case "null":
			return nil, nil
		case "boolean":
			return true, nil
		case "integer":
			return f.number(s, name, sc, true), nil
		case "number":
			return f.number(s, name, sc, false), nil
		case "array":
			return f.array(s, name, sc, depth)
		case "object":
			return f.object(s, sc, depth)
		default:
			return f.str(s, name, sc), nil
		}
	default:
		return nil, fmt.Errorf("schema must be an object or a boolean, not %T", schema)
	}
}

// schemaType is the first non-null type, inferred when absent.
func schemaType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if x, ok := x.(string); ok && x != "null" {
				return x
			}
		}
		if len(t) > 0 {
			return "null"
		}
	}
	switch {
	case s["properties"] != nil || s["required"] != nil:
		return "object"
	case s["items"] != nil:
		return "array"
	}
	return "string"
}

// resolve follows $ref pointers into the root document.
func (f *filler) resolve(s map[string]any) (map[string]any, error) {
	for range 32 {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s, nil
		}
		target, err := f.pointer(ref)
		if err != nil {
			return nil, err
		}
		m, ok := target.(map[string]any)
		if !ok {
			if b, _ := target.(bool); b {
				return map[string]any{}, nil
			}
			return nil, fmt.Errorf("$ref %q does not point to a schema object", ref)
		}
		s = m
	}
	return nil, errors.New("$ref chain too long")
}

func (f *filler) pointer(ref string) (any, error) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only references within the schema (#/...) are supported", ref)
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, fmt.Errorf("$ref %q: %w", ref, err)
	}
	cur := f.root
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	return cur, nil
}

// firstNonNull picks the first branch that is not just {"type":"null"}.
func (f *filler) firstNonNull(branches []any) any {
	for _, b := range branches {
		m, ok := b.(map[string]any)
		if !ok {
			return b
		}
		if r, err := f.resolve(m); err == nil && r["type"] == "null" {
			continue
		}
		return b
	}
	return branches[0]
}

// merge flattens allOf into one schema: properties merged, required united.
func (f *filler) merge(s map[string]any, branches []any) (map[string]any, error) {
	out := map[string]any{}
	props := map[string]any{}
	var required []any
	add := func(m map[string]any) {
		for k, v := range m {
			switch k {
			case "allOf":
			case "properties":
				if pm, ok := v.(map[string]any); ok {
					for pk, pv := range pm {
						props[pk] = pv
					}
				}
			case "required":
				if rl, ok := v.([]any); ok {
					required = append(required, rl...)
				}
			default:
				if _, set := out[k]; !set {
					out[k] = v
				}
			}
		}
	}
	add(s)
	for _, b := range branches {
		m, ok := b.(map[string]any)
		if !ok {
			continue
		}
		r, err := f.resolve(m)
		if err != nil {
			return nil, err
		}
		add(r)
	}
	if len(props) > 0 {
		out["properties"] = props
	}
	if len(required) > 0 {
		out["required"] = required
	}
	return out, nil
}

func (f *filler) object(s map[string]any, sc scope, depth int) (any, error) {
	props, _ := s["properties"].(map[string]any)
	required := map[string]bool{}
	if rl, ok := s["required"].([]any); ok {
		for _, r := range rl {
			if r, ok := r.(string); ok {
				required[r] = true
			}
		}
	}
	out := map[string]any{}
	for name, ps := range props {
		if depth > maxDepth && !required[name] {
			continue
		}
		v, err := f.fill(ps, name, sc, depth+1)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = v
	}
	for name := range required {
		if _, ok := out[name]; !ok {
			out[name] = f.summary(sc)
		}
	}
	return out, nil
}

func (f *filler) array(s map[string]any, name string, sc scope, depth int) (any, error) {
	items := s["items"]
	if items == nil {
		items = map[string]any{}
	}
	var runs []run
	if im, ok := items.(map[string]any); ok && f.isSegmentItem(im) {
		target := f.colourIn(str(s["description"]))
		if target == "" {
			r, _ := f.resolve(im)
			target = f.colourIn(str(r["description"]))
		}
		if target == "" {
			target = f.colourIn(strings.NewReplacer("_", " ", "-", " ").Replace(name))
		}
		for _, r := range f.p.runs {
			if target == "" || r.colour == target {
				runs = append(runs, r)
			}
		}
	} else if sc.run != nil {
		runs = []run{*sc.run} // nested inside an item: that item's run only
	} else {
		runs = f.p.runs
	}
	minItems, maxItems := intKey(s, "minItems", 0), intKey(s, "maxItems", math.MaxInt)
	if depth > maxDepth {
		runs = nil
	}
	scopes := make([]scope, 0, max(len(runs), minItems))
	for i := range runs {
		scopes = append(scopes, scope{run: &runs[i]})
	}
	for i := 0; len(scopes) < minItems; i++ {
		if len(runs) > 0 {
			scopes = append(scopes, scope{run: &runs[i%len(runs)]})
		} else {
			scopes = append(scopes, sc)
		}
	}
	out := []any{}
	seen := map[string]bool{}
	unique, _ := s["uniqueItems"].(bool)
	for _, isc := range scopes {
		if len(out) >= maxItems {
			break
		}
		v, err := f.fill(items, name, isc, depth+1)
		if err != nil {
			return nil, fmt.Errorf("items: %w", err)
		}
		if unique {
			key, _ := json.Marshal(v)
			if seen[string(key)] {
				continue
			}
			seen[string(key)] = true
		}
		out = append(out, v)
	}
	return out, nil
}

// isSegmentItem reports whether an item schema is a time segment: an
// object with start_time and end_time properties.
func (f *filler) isSegmentItem(items map[string]any) bool {
	r, err := f.resolve(items)
	if err != nil {
		return false
	}
	props, _ := r["properties"].(map[string]any)
	return props["start_time"] != nil && props["end_time"] != nil
}

var colourWordRE = regexp.MustCompile(`\b(red|green|blue|yellow|cyan|magenta|white|black|gray|grey|orange|purple|violet)\b`)

// colourIn finds the colour a description asks about: the colour of a
// <@name> reference it mentions, else its first palette word.
func (f *filler) colourIn(text string) string {
	for _, m := range markerRE.FindAllStringSubmatch(text, -1) {
		for _, ref := range f.p.refs {
			if ref.name == m[1] {
				return ref.colour
			}
		}
	}
	switch w := colourWordRE.FindString(strings.ToLower(text)); w {
	case "grey":
		return "gray"
	case "violet":
		return "purple"
	default:
		return w
	}
}

func (f *filler) contextColour(sc scope) string {
	if sc.run != nil {
		return sc.run.colour
	}
	return f.p.dominant()
}

func (f *filler) summary(sc scope) string {
	if sc.run != nil {
		return sc.run.colour + " from " + secs(sc.run.start) + " to " + secs(sc.run.end)
	}
	return f.p.describe()
}

func (f *filler) pickEnum(enum []any, sc scope) any {
	targets := append([]string{f.contextColour(sc)}, f.p.seenColours()...)
	for _, t := range targets {
		if t == "" {
			continue
		}
		re := regexp.MustCompile(`\b` + t + `\b`)
		for _, v := range enum {
			if s, ok := v.(string); ok && re.MatchString(strings.ToLower(s)) {
				return v
			}
		}
	}
	return enum[0]
}

func (f *filler) str(s map[string]any, name string, sc scope) string {
	var v string
	switch format, _ := s["format"].(string); {
	case format == "date-time":
		v = "1970-01-01T00:00:00Z"
	case format == "date":
		v = "1970-01-01"
	case format == "uuid":
		v = "00000000-0000-0000-0000-000000000000"
	case strings.Contains(strings.ToLower(name), "colo"):
		if v = f.contextColour(sc); v == "" {
			v = "none"
		}
	default:
		v = f.summary(sc)
	}
	if n := intKey(s, "maxLength", -1); n >= 0 && utf8.RuneCountInString(v) > n {
		v = string([]rune(v)[:n])
	}
	if n := intKey(s, "minLength", 0); utf8.RuneCountInString(v) < n {
		v += strings.Repeat(".", n-utf8.RuneCountInString(v))
	}
	return v
}

func (f *filler) number(s map[string]any, name string, sc scope, integer bool) any {
	lname := strings.ToLower(name)
	var v float64
	switch {
	case sc.run != nil && strings.HasPrefix(lname, "start"):
		v = round3(sc.run.start)
	case sc.run != nil && strings.HasPrefix(lname, "end"):
		v = round3(sc.run.end)
	case sc.run != nil && isMoment(lname, str(s["description"])):
		v = round3(sc.run.start)
	case sc.run != nil:
		v = math.Round(sc.run.end - sc.run.start)
	default:
		v = float64(len(f.p.runs))
	}
	if integer {
		v = math.Round(v)
	}
	lo, hasLo := floatKey(s, "minimum")
	hi, hasHi := floatKey(s, "maximum")
	if x, ok := floatKey(s, "exclusiveMinimum"); ok {
		lo, hasLo = x+exclusiveStep(integer, x, hi, hasHi), true
	}
	if x, ok := floatKey(s, "exclusiveMaximum"); ok {
		hi, hasHi = x-exclusiveStep(integer, lo, x, hasLo), true
	}
	if integer {
		lo, hi = math.Ceil(lo), math.Floor(hi)
	}
	if hasLo && v < lo {
		v = lo
	}
	if hasHi && v > hi {
		v = hi
	}
	if m, ok := floatKey(s, "multipleOf"); ok && m > 0 {
		v = math.Ceil(v/m) * m
		if hasHi && v > hi {
			v -= m
		}
	}
	if integer {
		return int64(v)
	}
	return v
}

// isMoment reports whether a number names a point in time (peak_time,
// seen_at, a timestamp in absolute seconds): inside an item it is the run's
// start, which lies within the run.
func isMoment(lname, description string) bool {
	return strings.HasSuffix(lname, "time") || strings.HasSuffix(lname, "_at") ||
		strings.Contains(lname, "timestamp") || strings.Contains(strings.ToLower(description), "absolute")
}

// exclusiveStep is how far inside an exclusive bound a value goes: 1 for
// integers, else a tenth of the room (or 0.001 with no other bound).
func exclusiveStep(integer bool, lo, hi float64, bounded bool) float64 {
	if integer {
		return 1
	}
	if bounded && hi > lo {
		return (hi - lo) / 10
	}
	return 0.001
}

func str(v any) string { s, _ := v.(string); return s }

func floatKey(s map[string]any, key string) (float64, bool) {
	v, ok := s[key].(float64)
	return v, ok
}

func intKey(s map[string]any, key string, def int) int {
	if v, ok := s[key].(float64); ok {
		return int(v)
	}
	return def
}
