package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/framewise/framewise/api"
)

// timeLayout is how every command shows a point in time: local time to the
// second, e.g. "2026-03-01 13:00:00". The JSON output (--json) keeps the
// server's RFC 3339 form.
const timeLayout = time.DateTime

// formatTime shows t in local time with timeLayout, or "-" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(timeLayout)
}

// clip shortens s to at most n characters (runes), ending it with "…" when
// it was cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// maxCell is the widest a value of a segment table gets.
const maxCell = 40

// writeResult prints the result of a ready task: the segments of a
// time_based_metadata task as one table per segment definition, a JSON
// answer (json_schema) indented, anything else, or a result that does not
// parse as its kind, as the server sent it.
func writeResult(w io.Writer, t *api.Task) error {
	data := t.Result.Data
	rp := t.RequestParams
	switch {
	case rp != nil && rp.AnalysisMode == api.ModeTimeBasedMetadata:
		var defs []api.SegmentDefinition
		if rp.ResponseFormat != nil {
			defs = rp.ResponseFormat.SegmentDefinitions
		}
		if out, err := segmentTables(data, defs); err == nil {
			_, err := io.WriteString(w, out)
			return err
		}
	case rp != nil && rp.ResponseFormat != nil && rp.ResponseFormat.Type == "json_schema",
		rp == nil && strings.HasPrefix(strings.TrimSpace(data), "{"): // pegasus1.2 tasks echo no request_params
		var buf bytes.Buffer
		if json.Indent(&buf, []byte(data), "", "  ") == nil {
			buf.WriteByte('\n')
			_, err := w.Write(buf.Bytes())
			return err
		}
	}
	if !strings.HasSuffix(data, "\n") {
		data += "\n"
	}
	_, err := io.WriteString(w, data)
	return err
}

// segmentTables renders the result.data of a time_based_metadata task,
//
//	{"<id>":[{"start_time":…,"end_time":…,"metadata":{…}}, …], …}
//
// as one section per definition id, in the document's order: a title line,
// then start, end and the custom fields as aligned columns. The fields come
// in the order of the definition (defs, from request_params), then any
// other metadata key in the order first seen. It fails when data does not
// have that shape, e.g. a result cut at max_tokens.
func segmentTables(data string, defs []api.SegmentDefinition) (string, error) {
	ids, byID, err := orderedObject([]byte(data))
	if err != nil {
		return "", err
	}
	fieldsOf := map[string][]string{}
	for _, d := range defs {
		if _, ok := fieldsOf[d.ID]; ok {
			continue
		}
		names := []string{}
		for _, f := range d.Fields {
			names = append(names, f.Name)
		}
		fieldsOf[d.ID] = names
	}
	type segment struct {
		start, end string
		meta       map[string]json.RawMessage
	}
	var b strings.Builder
	for i, id := range ids {
		var raws []struct {
			Start    json.RawMessage `json:"start_time"`
			End      json.RawMessage `json:"end_time"`
			Metadata json.RawMessage `json:"metadata"`
		}
		if err := json.Unmarshal(byID[id], &raws); err != nil {
			return "", fmt.Errorf("segments of %q: %w", id, err)
		}
		cols := append([]string(nil), fieldsOf[id]...)
		known := map[string]bool{}
		for _, c := range cols {
			known[c] = true
		}
		segs := make([]segment, len(raws))
		for j, r := range raws {
			segs[j] = segment{start: cell(r.Start), end: cell(r.End), meta: map[string]json.RawMessage{}}
			if len(r.Metadata) == 0 || string(r.Metadata) == "null" {
				continue
			}
			keys, m, err := orderedObject(r.Metadata)
			if err != nil {
				return "", fmt.Errorf("metadata of %q: %w", id, err)
			}
			segs[j].meta = m
			for _, k := range keys {
				if !known[k] {
					known[k] = true
					cols = append(cols, k)
				}
			}
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		if len(segs) == 0 {
			fmt.Fprintf(&b, "%s: no segments\n", id)
			continue
		}
		fmt.Fprintf(&b, "%s: %d %s\n", id, len(segs), plural(len(segs), "segment"))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprint(tw, "  start\tend")
		for _, c := range cols {
			fmt.Fprint(tw, "\t"+clip(oneLine(c), maxCell))
		}
		fmt.Fprintln(tw)
		for _, s := range segs {
			fmt.Fprintf(tw, "  %s\t%s", s.start, s.end)
			for _, c := range cols {
				v, ok := s.meta[c]
				if !ok {
					fmt.Fprint(tw, "\t-")
					continue
				}
				fmt.Fprint(tw, "\t"+cell(v))
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	if len(ids) == 0 {
		b.WriteString("no segments\n")
	}
	return b.String(), nil
}

// cell shows a JSON value in a table: a string without its quotes on one
// line, an array as its items joined by ", ", null as "-", anything else as
// compact JSON; clipped to maxCell characters.
func cell(raw json.RawMessage) string {
	var s string
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "?"
	}
	switch x := v.(type) {
	case nil:
		s = "-"
	case string:
		s = x
	case []any:
		var items []json.RawMessage
		_ = json.Unmarshal(raw, &items)
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = cell(it)
		}
		s = strings.Join(parts, ", ")
	default:
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			s = buf.String()
		} else {
			s = string(raw)
		}
	}
	if s = oneLine(s); s == "" {
		s = `""`
	}
	return clip(s, maxCell)
}

// orderedObject decodes a JSON object into its values by key, with the keys
// in the order they appear.
func orderedObject(data []byte) (keys []string, values map[string]json.RawMessage, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("not a JSON object")
	}
	values = map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		if _, dup := values[k]; !dup {
			keys = append(keys, k)
		}
		values[k] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("data after the JSON object")
	}
	return keys, values, nil
}
