package task

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/framewise/framewise/api"
)

// specToWire converts an accepted Spec back to the wire form a client
// would send, for the round-trip property of FuzzDecodeCreate.
func specToWire(t testing.TB, s *Spec) []byte {
	t.Helper()
	req := api.CreateTaskRequest{
		ModelName:          api.String(s.Model),
		AnalysisMode:       api.String(s.Mode),
		Prompt:             s.Prompt,
		Temperature:        api.Float(s.Temperature),
		MaxTokens:          api.Int(s.MaxTokens),
		MinSegmentDuration: s.MinSegmentDuration,
		MaxSegmentDuration: s.MaxSegmentDuration,
		StartTime:          s.StartTime,
		EndTime:            s.EndTime,
		Video:              &api.VideoContext{Type: s.Source.Type, URL: s.Source.URL, AssetID: s.Source.AssetID},
	}
	if s.CustomID != "" {
		req.CustomID = api.String(s.CustomID)
	}
	if s.Source.Type == SourceBase64 {
		req.Video.Base64String = base64.StdEncoding.EncodeToString(s.Source.Data)
	}
	media := func(in []MediaSource) []api.MediaSource {
		var out []api.MediaSource
		for _, m := range in {
			out = append(out, api.MediaSource{Name: m.Name, MediaType: m.MediaType, URL: m.URL, AssetID: m.AssetID, Base64String: m.Base64})
		}
		return out
	}
	if p := s.PromptV2; p != nil {
		req.PromptV2 = &api.PromptV2{InputText: p.InputText, MediaSources: media(p.MediaSources)}
	}
	if rf := s.ResponseFormat; rf != nil {
		w := &api.ResponseFormat{Type: rf.Type, JSONSchema: rf.JSONSchema}
		if rf.SegmentTimeFormat != "" {
			w.SegmentTimeFormat = api.String(rf.SegmentTimeFormat)
		}
		for _, d := range rf.SegmentDefinitions {
			wd := api.SegmentDefinition{ID: d.ID, Description: d.Description, MediaSources: media(d.MediaSources)}
			for _, f := range d.Fields {
				wf := api.SegmentField{Name: f.Name, Type: f.Type, Description: f.Description, Format: f.Format, Enum: f.Enum}
				if f.ItemsType != "" {
					wf.Items = &api.FieldItems{Type: f.ItemsType}
				}
				wd.Fields = append(wd.Fields, wf)
			}
			for _, r := range d.TimeRanges {
				wd.TimeRanges = append(wd.TimeRanges, api.TimeRange{StartTime: r.StartTime, EndTime: r.EndTime})
			}
			w.SegmentDefinitions = append(w.SegmentDefinitions, wd)
		}
		req.ResponseFormat = w
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep json_schema bytes as they are
	if err := enc.Encode(req); err != nil {
		t.Fatalf("encode wire request: %v", err)
	}
	return buf.Bytes()
}

var knownCodes = []string{"parameter_invalid", "parameter_not_provided", "parameter_unknown", "json_schema_unsupported"}

// checkDecodeResult asserts the contract of DecodeCreate for any body.
func checkDecodeResult(t *testing.T, body []byte, lim Limits) {
	checkAnalyzeResult(t, body, lim)
	spec, err := DecodeCreate(body, lim)
	if err != nil {
		if spec != nil {
			t.Fatalf("spec and error both returned: %v", err)
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %T %v, want *ValidationError", err, err)
		}
		if ve.Status != 400 && ve.Status != 422 {
			t.Fatalf("status %d: %v", ve.Status, ve)
		}
		if (ve.Status == 422) != (ve.Code == "json_schema_unsupported") || !slices.Contains(knownCodes, ve.Code) {
			t.Fatalf("status %d with code %q", ve.Status, ve.Code)
		}
		if ve.Message == "" {
			t.Fatalf("empty message for code %s param %q", ve.Code, ve.Param)
		}
		return
	}
	if spec == nil {
		t.Fatal("nil spec and nil error")
	}
	if spec.Model == "" || spec.Mode == "" || spec.Source.Type == "" || spec.MaxTokens <= 0 {
		t.Fatalf("spec not normalized: %+v", spec)
	}
	wire := specToWire(t, spec)
	again, err := DecodeCreate(wire, lim)
	if err != nil {
		t.Fatalf("accepted spec fails re-validation: %v\nbody: %s\nwire: %s", err, body, wire)
	}
	if !reflect.DeepEqual(spec, again) {
		t.Fatalf("round trip changed the spec\n first %+v\nsecond %+v\nwire: %s", spec, again, wire)
	}
}

// checkAnalyzeResult checks DecodeAnalyze (POST /analyze) on body: a
// refusal is a 400 or 422 with a known code and a message; what it accepts
// is general mode, and the same body without stream is a task request
// that DecodeCreate accepts with the same spec (a synchronous request is a
// subset of a task's).
func checkAnalyzeResult(t *testing.T, body []byte, lim Limits) {
	req, err := DecodeAnalyze(body, lim)
	if err != nil {
		var ve *ValidationError
		if req != nil || !errors.As(err, &ve) || (ve.Status != 400 && ve.Status != 422) || !slices.Contains(knownCodes, ve.Code) || ve.Message == "" {
			t.Fatalf("DecodeAnalyze: %v (%T), request %+v", err, err, req)
		}
		return
	}
	if req.Spec.Mode != ModeGeneral || (req.Spec.ResponseFormat != nil && req.Spec.ResponseFormat.Type != "json_schema") {
		t.Fatalf("DecodeAnalyze accepted a request outside general mode: %+v", req.Spec)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("DecodeAnalyze accepted a body that is not an object: %v", err)
	}
	delete(fields, "stream")
	asTask, _ := json.Marshal(fields)
	spec, err := DecodeCreate(asTask, lim)
	if err != nil {
		t.Fatalf("DecodeAnalyze accepted what DecodeCreate refuses: %v\nbody: %s", err, body)
	}
	if !reflect.DeepEqual(*spec, req.Spec) {
		t.Fatalf("DecodeAnalyze and DecodeCreate differ\n sync %+v\n task %+v", req.Spec, *spec)
	}
}

func FuzzDecodeCreate(f *testing.F) {
	seeds := []string{
		gen12(),
		gen12(`"custom_id":"abc"`, `"temperature":0.5`, `"max_tokens":100`),
		obj(`"video":{"type":"base64_string","base64_string":"`+tinyB64+`"}`, prompt),
		obj(`"video":{"type":"asset_id","asset_id":"a1"}`, prompt),
		obj(p15, vidURL, `"prompt_v2":{"input_text":"Find <@logo>","media_sources":[`+img+`,{"name":"b","media_type":"image","base64_string":"`+tinyB64+`"}]}`, `"start_time":1`, `"end_time":9`),
		schema(`{"type":"object","properties":{"start_time":{"type":"number"},"at":{"type":"timestamp","format":"seconds"},"l":{"type":"array","items":{"type":"object","properties":{"u":{"type":"timestamp","format":"hh:mm:ss"}}}}},"required":["at"],"$defs":{"d":{"anyOf":[{"type":"string","pattern":"^x"},{"type":"null"}]}}}`),
		schema12(`{"type":"object","properties":{"a":{"$ref":"#/$defs/d"}},"$defs":{"d":{"enum":["a",1]}}}`),
		tbm(oneDef),
		tbm(`{"id":"goal","description":"A goal by <@logo>","media_sources":[`+img+`],"fields":[{"name":"who","type":"string","enum":["a"]},{"name":"k","type":"timestamp","format":"seconds"},{"name":"l","type":"array","items":{"type":"integer"}}],"time_ranges":[{"start_time":0,"end_time":10}]}`,
			`"max_tokens":4096`),
		tbmRF(`{"type":"segment_definitions","segment_time_format":"hh:mm:ss","segment_definitions":[`+oneDef+`]}`, `"min_segment_duration":3`, `"max_segment_duration":10`),
		// invalid
		`{`, `[]`, `null`, gen12(`"x":1`), gen12(`"temperature":"hot"`), gen12(`"max_tokens":2.5`),
		tbm(`{"id":"a","description":"d","colour":1}`),
		schema(`{"additionalProperties":false}`),
		schema(`{"properties":{"t":{"type":"timestamp"}}}`),
		tbm(field(`{"name":"a","type":"string","format":"seconds"}`)),
		// POST /analyze bodies
		gen12(`"stream":false`), gen12(`"stream":true`), gen12(`"stream":"yes"`),
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecodeResult(t, body, lim)
	})
}

// TestDecodeCreateRoundTrip runs the fuzz property over the valid cases of
// the table tests, so that it is checked on every go test run.
func TestDecodeCreateRoundTrip(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		gen12(), tbm(oneDef), schema(`{"type":"object","properties":{"x<y":{"type":"string"}}}`),
		obj(p15, vidURL, `"prompt_v2":{"input_text":"Find <@logo>","media_sources":[`+img+`]}`, `"end_time":9`),
		obj(`"video":{"type":"base64_string","base64_string":"data:video/mp4;base64,`+tinyB64+`"}`, prompt),
		tbm(`{"id":"goal","description":"d","fields":[{"name":"l","type":"array","items":{"type":"string"},"enum":["a"]}],"time_ranges":[{"start_time":0,"end_time":10}]}`),
	} {
		spec, err := DecodeCreate([]byte(body), testLimits())
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		checkDecodeResult(t, specToWire(t, spec), testLimits())
	}
}

// FuzzDecodeCreateFields builds well-formed bodies from fuzzed field values,
// so that the fuzzer reaches the rules behind the JSON syntax quickly.
func FuzzDecodeCreateFields(f *testing.F) {
	f.Add("pegasus1.5", "general", "Describe <@a>", 0.2, 4096.0, 0.0, 10.0, "id_1", `{"type":"object","properties":{"a":{"type":"string"}}}`, "string", "", "a", "https://e.com/a.png")
	f.Add("pegasus1.5", "time_based_metadata", "", 1.0, 2048.0, -1.0, 3.0, "", `{}`, "timestamp", "seconds", "start_time", "aGVsbG8=")
	f.Add("pegasus1.2", "general", "hi", 0.0, 1.0, 0.0, 0.0, "x", ``, "array", "hh:mm:ss", "n", "")
	f.Fuzz(func(t *testing.T, model, mode, text string, temp, maxTokens, start, end float64, customID, schemaJSON, fieldType, format, name, source string) {
		body := map[string]any{
			"model_name":    model,
			"analysis_mode": mode,
			"video":         map[string]any{"type": "url", "url": "https://example.com/v.mp4"},
			"temperature":   temp,
			"max_tokens":    maxTokens,
		}
		if customID != "" {
			body["custom_id"] = customID
		}
		if start >= 0 {
			body["start_time"] = start
		}
		if end != 0 {
			body["end_time"] = end
		}
		ms := map[string]any{"name": name, "media_type": "image"}
		if len(source) > 0 && source[0] == 'h' {
			ms["url"] = source
		} else {
			ms["base64_string"] = source
		}
		if mode == ModeTimeBasedMetadata {
			field := map[string]any{"name": name, "type": fieldType}
			if format != "" {
				field["format"] = format
			}
			if fieldType == "array" {
				field["items"] = map[string]any{"type": format}
			}
			body["response_format"] = map[string]any{"type": "segment_definitions", "segment_definitions": []any{
				map[string]any{"id": name, "description": text, "fields": []any{field}, "media_sources": []any{ms},
					"time_ranges": []any{map[string]any{"start_time": start, "end_time": end}}},
			}}
		} else {
			body["prompt_v2"] = map[string]any{"input_text": text, "media_sources": []any{ms}}
			if json.Valid([]byte(schemaJSON)) {
				body["response_format"] = map[string]any{"type": "json_schema", "json_schema": json.RawMessage(schemaJSON)}
			}
		}
		raw, err := json.Marshal(body)
		if err != nil {
			t.Skip() // NaN or ±Inf cannot be sent as JSON
		}
		checkDecodeResult(t, raw, DefaultLimits())
	})
}

func TestDecodeBase64(t *testing.T) {
	t.Parallel()
	data := []byte{0xfb, 0xff, 0xfe, 0x00, 0x10}
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(data),
		base64.RawStdEncoding.EncodeToString(data),
		base64.URLEncoding.EncodeToString(data),
		base64.RawURLEncoding.EncodeToString(data),
		"data:image/png;base64," + base64.StdEncoding.EncodeToString(data),
		"DATA:video/mp4;codecs=avc1;BASE64," + base64.StdEncoding.EncodeToString(data),
		"+//+\r\nABA=",
	} {
		got, err := DecodeBase64(s)
		if err != nil || string(got) != string(data) {
			t.Errorf("DecodeBase64(%q) = %x, %v; want %x", s, got, err, data)
		}
	}
	for _, s := range []string{"", "=", "a", "ab$c", "+/-_", "data:", "data:,AAAA", "AB=C", "AA AA"} {
		if got, err := DecodeBase64(s); err == nil {
			t.Errorf("DecodeBase64(%q) = %x, want an error", s, got)
		}
	}
}
