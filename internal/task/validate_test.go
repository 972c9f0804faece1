package task

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Request fragments for building test bodies.
const (
	vidURL   = `"video":{"type":"url","url":"https://example.com/v.mp4"}`
	p15      = `"model_name":"pegasus1.5"`
	modeTBM  = `"analysis_mode":"time_based_metadata"`
	prompt   = `"prompt":"Describe the video."`
	oneDef   = `{"id":"scene","description":"A scene change."}`
	img      = `{"name":"logo","media_type":"image","url":"https://example.com/logo.png"}`
	tinyB64  = "AAAAIGZ0eXBpc29t" // 12 bytes
	tbmStart = `"model_name":"pegasus1.5","analysis_mode":"time_based_metadata",` + vidURL
)

func obj(parts ...string) string { return "{" + strings.Join(parts, ",") + "}" }

// gen12 is a valid pegasus1.2 general request plus parts.
func gen12(parts ...string) string { return obj(append([]string{vidURL, prompt}, parts...)...) }

// gen15 is a valid pegasus1.5 general request plus parts.
func gen15(parts ...string) string { return obj(append([]string{p15, vidURL, prompt}, parts...)...) }

// tbm is a valid pegasus1.5 time_based_metadata request with the given
// segment definitions (a JSON array body without brackets) plus parts.
func tbm(defs string, parts ...string) string {
	return obj(append([]string{tbmStart, `"response_format":{"type":"segment_definitions","segment_definitions":[` + defs + `]}`}, parts...)...)
}

// tbmRF is a pegasus1.5 time_based_metadata request with a literal response_format.
func tbmRF(rf string, parts ...string) string {
	return obj(append([]string{tbmStart, `"response_format":` + rf}, parts...)...)
}

// field is a segment definition with one field (a JSON object body).
func field(f string) string { return `{"id":"scene","description":"d","fields":[` + f + `]}` }

// schema is a pegasus1.5 general request with the given json_schema.
func schema(s string) string {
	return gen15(`"response_format":{"type":"json_schema","json_schema":` + s + `}`)
}

// schema12 is a pegasus1.2 general request with the given json_schema.
func schema12(s string) string {
	return gen12(`"response_format":{"type":"json_schema","json_schema":` + s + `}`)
}

func repeat(s string, n int, sep string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strings.ReplaceAll(s, "%d", fmt.Sprint(i))
	}
	return strings.Join(parts, sep)
}

type wantErr struct {
	status int
	code   string
	param  string
	msg    string // substring of the message, when set
}

var (
	invalid  = func(param string) wantErr { return wantErr{400, "parameter_invalid", param, ""} }
	missing  = func(param string) wantErr { return wantErr{400, "parameter_not_provided", param, ""} }
	unknown  = func(param string) wantErr { return wantErr{400, "parameter_unknown", param, ""} }
	unsupp   = func(param string) wantErr { return wantErr{422, "json_schema_unsupported", param, ""} }
	withText = func(w wantErr, msg string) wantErr { w.msg = msg; return w }
)

func testLimits() Limits { return DefaultLimits() }

// smallLimits has a tiny base64 limit so the size rule is cheap to test.
func smallLimits() Limits {
	l := DefaultLimits()
	l.MaxBase64Bytes = 12
	return l
}

var longText = strings.Repeat("word ", 2001)

// createErrorCases cover every rule of spec §5 V01–V46 that DecodeCreate
// checks (see TestRuleCoverage).
var createErrorCases = []struct {
	rule, name string
	body       string
	lim        *Limits
	want       wantErr
}{
	// V01 body
	{"V01", "malformed", `{"video":`, nil, invalid("")},
	{"V01", "empty body", ``, nil, invalid("")},
	{"V01", "array body", `[]`, nil, withText(invalid(""), "must be a JSON object, but it is an array")},
	{"V01", "string body", `"x"`, nil, invalid("")},
	{"V01", "null body", `null`, nil, invalid("")},
	{"V01", "number body", `12`, nil, invalid("")},
	{"V01", "trailing data", gen12() + ` {}`, nil, invalid("")},

	// V02 unknown keys at every level
	{"V02", "top level", gen12(`"colour":"red"`), nil, unknown("colour")},
	{"V02", "unknown even when null", gen12(`"colour":null`), nil, unknown("colour")},
	{"V02", "video", obj(`"video":{"type":"url","url":"https://e.com/v","fps":3}`, prompt), nil, unknown("video.fps")},
	{"V02", "prompt_v2", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","lang":"en"}`), nil, unknown("prompt_v2.lang")},
	{"V02", "prompt_v2 media source", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"name":"a","media_type":"image","url":"https://e.com/a.png","w":1}]}`), nil, unknown("prompt_v2.media_sources[0].w")},
	{"V02", "response_format", gen15(`"response_format":{"type":"json_schema","json_schema":{},"strict":true}`), nil, unknown("response_format.strict")},
	{"V02", "segment definition", tbm(`{"id":"a","description":"d","colour":"red"}`), nil, unknown("response_format.segment_definitions[0].colour")},
	{"V02", "field", tbm(field(`{"name":"n","type":"string","required":true}`)), nil, unknown("response_format.segment_definitions[0].fields[0].required")},
	{"V02", "items", tbm(field(`{"name":"n","type":"array","items":{"type":"string","enum":["a"]}}`)), nil, unknown("response_format.segment_definitions[0].fields[0].items.enum")},
	{"V02", "time range", tbm(`{"id":"a","description":"d","time_ranges":[{"start_time":0,"end_time":5,"label":"x"}]}`), nil, unknown("response_format.segment_definitions[0].time_ranges[0].label")},
	{"V02", "definition media source", tbm(`{"id":"a","description":"d","media_sources":[{"name":"a","media_type":"image","asset_id":"x","alt":"t"}]}`), nil, unknown("response_format.segment_definitions[0].media_sources[0].alt")},

	// V03 custom_id
	{"V03", "empty", gen12(`"custom_id":""`), nil, invalid("custom_id")},
	{"V03", "space", gen12(`"custom_id":"a b"`), nil, invalid("custom_id")},
	{"V03", "65 chars", gen12(`"custom_id":"` + strings.Repeat("a", 65) + `"`), nil, invalid("custom_id")},
	{"V03", "not a string", gen12(`"custom_id":7`), nil, withText(invalid("custom_id"), "must be a string, but a number was given")},

	// V04, V05
	{"V04", "unknown model", gen12(`"model_name":"pegasus2"`), nil, invalid("model_name")},
	{"V04", "empty model", gen12(`"model_name":""`), nil, invalid("model_name")},
	{"V04", "model not a string", gen12(`"model_name":1.5`), nil, invalid("model_name")},
	{"V05", "unknown mode", gen12(`"analysis_mode":"summary"`), nil, invalid("analysis_mode")},

	// V06 video
	{"V06", "no video", obj(prompt), nil, missing("video")},
	{"V06", "null video", obj(`"video":null`, prompt), nil, missing("video")},
	{"V06", "video not object", obj(`"video":"https://e.com/v.mp4"`, prompt), nil, invalid("video")},
	{"V06", "no type", obj(`"video":{"url":"https://e.com/v.mp4"}`, prompt), nil, missing("video.type")},
	{"V06", "bad type", obj(`"video":{"type":"file","url":"https://e.com/v.mp4"}`, prompt), nil, invalid("video.type")},
	{"V06", "legacy video_id", obj(`"video":{"type":"video_id","video_id":"abc"}`, prompt), nil, withText(invalid("video.type"), "url, asset_id or base64_string")},
	{"V06", "url missing", obj(`"video":{"type":"url"}`, prompt), nil, missing("video.url")},
	{"V06", "url null", obj(`"video":{"type":"url","url":null}`, prompt), nil, missing("video.url")},
	{"V06", "url empty", obj(`"video":{"type":"url","url":""}`, prompt), nil, invalid("video.url")},
	{"V06", "asset_id missing", obj(`"video":{"type":"asset_id"}`, prompt), nil, missing("video.asset_id")},
	{"V06", "base64 empty", obj(`"video":{"type":"base64_string","base64_string":""}`, prompt), nil, invalid("video.base64_string")},

	// V07 exactly one source
	{"V07", "url with asset_id", obj(`"video":{"type":"url","url":"https://e.com/v.mp4","asset_id":"a"}`, prompt), nil, invalid("video.asset_id")},
	{"V07", "asset with base64", obj(`"video":{"type":"asset_id","asset_id":"a","base64_string":"AAAA"}`, prompt), nil, invalid("video.base64_string")},

	// V08 url
	{"V08", "ftp", obj(`"video":{"type":"url","url":"ftp://e.com/v.mp4"}`, prompt), nil, invalid("video.url")},
	{"V08", "relative", obj(`"video":{"type":"url","url":"/v.mp4"}`, prompt), nil, invalid("video.url")},
	{"V08", "no host", obj(`"video":{"type":"url","url":"https:///v.mp4"}`, prompt), nil, invalid("video.url")},
	{"V08", "opaque", obj(`"video":{"type":"url","url":"https:v.mp4"}`, prompt), nil, invalid("video.url")},
	{"V08", "unparsable", obj(`"video":{"type":"url","url":"http://[::1"}`, prompt), nil, invalid("video.url")},

	// V10 base64
	{"V10", "not base64", obj(`"video":{"type":"base64_string","base64_string":"!!!!"}`, prompt), nil, invalid("video.base64_string")},
	{"V10", "only padding", obj(`"video":{"type":"base64_string","base64_string":"===="}`, prompt), nil, invalid("video.base64_string")},
	{"V10", "data URL not base64", obj(`"video":{"type":"base64_string","base64_string":"data:video/mp4,AAAA"}`, prompt), nil, invalid("video.base64_string")},
	{"V10", "too large", obj(`"video":{"type":"base64_string","base64_string":"`+tinyB64+`AAAA"}`, prompt), ptr(smallLimits()), withText(invalid("video.base64_string"), "decodes to about 15 bytes, more than the limit of 12 bytes")},

	// V11–V18 prompts
	{"V11", "both prompts", obj(p15, vidURL, prompt, `"prompt_v2":{"input_text":"x"}`), nil, invalid("prompt_v2")},
	{"V12", "no prompt", obj(vidURL), nil, missing("prompt")},
	{"V12", "null prompt", obj(vidURL, `"prompt":null`), nil, missing("prompt")},
	{"V12", "empty prompt", obj(vidURL, `"prompt":""`), nil, invalid("prompt")},
	{"V12", "blank prompt", obj(vidURL, `"prompt":" \n\t"`), nil, invalid("prompt")},
	{"V12", "prompt not string", obj(vidURL, `"prompt":["a"]`), nil, invalid("prompt")},
	{"V13", "tbm with prompt", tbm(oneDef, prompt), nil, invalid("prompt")},
	{"V13", "tbm with empty prompt", tbm(oneDef, `"prompt":""`), nil, invalid("prompt")},
	{"V13", "tbm with prompt_v2", tbm(oneDef, `"prompt_v2":{"input_text":"x"}`), nil, invalid("prompt_v2")},
	{"V14", "prompt_v2 on 1.2", obj(vidURL, `"prompt_v2":{"input_text":"x"}`), nil, invalid("prompt_v2")},
	{"V15", "prompt too long", obj(vidURL, `"prompt":"`+longText+`"`), nil, withText(invalid("prompt"), "about 2502 tokens long, more than the limit of 2000")},
	{"V15", "input_text too long", obj(p15, vidURL, `"prompt_v2":{"input_text":"`+longText+`"}`), nil, invalid("prompt_v2.input_text")},
	{"V16", "input_text missing", obj(p15, vidURL, `"prompt_v2":{"media_sources":[`+img+`]}`), nil, missing("prompt_v2.input_text")},
	{"V16", "input_text empty", obj(p15, vidURL, `"prompt_v2":{"input_text":""}`), nil, invalid("prompt_v2.input_text")},
	{"V16", "prompt_v2 not object", obj(p15, vidURL, `"prompt_v2":"x"`), nil, invalid("prompt_v2")},
	{"V16", "five media sources", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[`+repeat(`{"name":"n%d","media_type":"image","asset_id":"a"}`, 5, ",")+`]}`), nil, invalid("prompt_v2.media_sources")},
	{"V16", "media_sources not array", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":{}}`), nil, invalid("prompt_v2.media_sources")},
	{"V17", "null media source", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[null]}`), nil, invalid("prompt_v2.media_sources[0]")},
	{"V17", "name missing", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"media_type":"image","asset_id":"a"}]}`), nil, missing("prompt_v2.media_sources[0].name")},
	{"V17", "name blank", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"name":" ","media_type":"image","asset_id":"a"}]}`), nil, invalid("prompt_v2.media_sources[0].name")},
	{"V17", "name with bracket", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"name":"a>b","media_type":"image","asset_id":"a"}]}`), nil, invalid("prompt_v2.media_sources[0].name")},
	{"V17", "media_type missing", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"name":"a","asset_id":"a"}]}`), nil, missing("prompt_v2.media_sources[0].media_type")},
	{"V17", "media_type video", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"name":"a","media_type":"video","asset_id":"a"}]}`), nil, invalid("prompt_v2.media_sources[0].media_type")},
	{"V17", "no source", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"name":"a","media_type":"image"}]}`), nil, missing("prompt_v2.media_sources[0].url")},
	{"V17", "two sources", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"name":"a","media_type":"image","url":"https://e.com/a.png","asset_id":"a"}]}`), nil, invalid("prompt_v2.media_sources[0].asset_id")},
	{"V17", "http url", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"name":"a","media_type":"image","url":"http://e.com/a.png"}]}`), nil, invalid("prompt_v2.media_sources[0].url")},
	{"V17", "empty asset_id", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"name":"a","media_type":"image","asset_id":""}]}`), nil, invalid("prompt_v2.media_sources[0].asset_id")},
	{"V17", "bad base64", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"name":"a","media_type":"image","base64_string":"a*b"}]}`), nil, invalid("prompt_v2.media_sources[0].base64_string")},
	{"V17", "base64 too large", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[{"name":"a","media_type":"image","base64_string":"`+tinyB64+`AAAA"}]}`), ptr(smallLimits()), invalid("prompt_v2.media_sources[0].base64_string")},
	{"V18", "undeclared placeholder", obj(p15, vidURL, `"prompt_v2":{"input_text":"Find <@logo> and <@cup>","media_sources":[`+img+`]}`), nil, withText(invalid("prompt_v2.input_text"), `no media source named "cup"`)},
	{"V18", "placeholder without sources", obj(p15, vidURL, `"prompt_v2":{"input_text":"Find <@logo>"}`), nil, invalid("prompt_v2.input_text")},
	{"V18", "duplicate names", obj(p15, vidURL, `"prompt_v2":{"input_text":"x","media_sources":[`+img+`,`+img+`]}`), nil, invalid("prompt_v2.media_sources[1].name")},

	// V19–V22 numbers
	{"V19", "temperature above 1", gen12(`"temperature":1.5`), nil, invalid("temperature")},
	{"V19", "negative temperature", gen12(`"temperature":-0.1`), nil, invalid("temperature")},
	{"V19", "temperature string", gen12(`"temperature":"hot"`), nil, withText(invalid("temperature"), "must be a number, but a string was given")},
	{"V19", "temperature huge", gen12(`"temperature":1e400`), nil, invalid("temperature")},
	{"V20", "fractional", gen12(`"max_tokens":2.5`), nil, withText(invalid("max_tokens"), "must be an integer")},
	{"V20", "zero", gen12(`"max_tokens":0`), nil, invalid("max_tokens")},
	{"V20", "above P1.2 max", gen12(`"max_tokens":4097`), nil, invalid("max_tokens")},
	{"V20", "string", gen12(`"max_tokens":"100"`), nil, invalid("max_tokens")},
	{"V20", "huge", gen12(`"max_tokens":1e30`), nil, invalid("max_tokens")},
	{"V21", "P1.5 general below min", gen15(`"max_tokens":511`), nil, invalid("max_tokens")},
	{"V21", "P1.5 general above max", gen15(`"max_tokens":65537`), nil, invalid("max_tokens")},
	{"V22", "P1.5 tbm below min", tbm(oneDef, `"max_tokens":2047`), nil, withText(invalid("max_tokens"), "between 2048 and 65536 for pegasus1.5 in analysis_mode time_based_metadata")},
	{"V22", "P1.5 tbm above max", tbm(oneDef, `"max_tokens":65537`), nil, invalid("max_tokens")},

	// V23–V25 segment durations
	{"V23", "min below 2", tbm(oneDef, `"min_segment_duration":1.5`), nil, invalid("min_segment_duration")},
	{"V23", "max below 2", tbm(oneDef, `"max_segment_duration":1`), nil, invalid("max_segment_duration")},
	{"V23", "max below min", tbm(oneDef, `"min_segment_duration":10`, `"max_segment_duration":5`), nil, invalid("max_segment_duration")},
	{"V23", "not a number", tbm(oneDef, `"min_segment_duration":"5"`), nil, invalid("min_segment_duration")},
	{"V24", "general P1.5", gen15(`"min_segment_duration":5`), nil, invalid("min_segment_duration")},
	{"V24", "general P1.2", gen12(`"max_segment_duration":5`), nil, invalid("max_segment_duration")},
	{"V25", "with time_ranges", tbm(`{"id":"a","description":"d","time_ranges":[{"start_time":0,"end_time":5}]}`, `"min_segment_duration":3`), nil, invalid("min_segment_duration")},

	// V26–V29 window
	{"V26", "start_time on P1.2", gen12(`"start_time":5`), nil, invalid("start_time")},
	{"V26", "end_time on P1.2", gen12(`"end_time":50`), nil, invalid("end_time")},
	{"V27", "negative start", gen15(`"start_time":-1`), nil, invalid("start_time")},
	{"V27", "end before start", gen15(`"start_time":10`, `"end_time":5`), nil, invalid("end_time")},
	{"V27", "end equals start", gen15(`"start_time":10`, `"end_time":10`), nil, invalid("end_time")},
	{"V28", "window 3 s", gen15(`"start_time":10`, `"end_time":13`), nil, withText(invalid("end_time"), "shorter than the minimum of 4 s")},
	{"V28", "only end below 4", gen15(`"end_time":3.5`), nil, invalid("end_time")},
	{"V28", "only end negative", gen15(`"end_time":-10`), nil, invalid("end_time")},
	{"V29", "start with time_ranges", tbm(`{"id":"a","description":"d","time_ranges":[{"start_time":0,"end_time":5}]}`, `"start_time":0`), nil, invalid("start_time")},
	{"V29", "end with time_ranges", tbm(`{"id":"a","description":"d","time_ranges":[{"start_time":0,"end_time":5}]}`, `"end_time":60`), nil, invalid("end_time")},

	// V30–V32 response format
	{"V30", "no type", gen15(`"response_format":{"json_schema":{}}`), nil, missing("response_format.type")},
	{"V30", "bad type", gen15(`"response_format":{"type":"text"}`), nil, invalid("response_format.type")},
	{"V30", "not an object", gen15(`"response_format":"json"`), nil, invalid("response_format")},
	{"V31", "tbm on P1.2", obj(modeTBM, vidURL, `"response_format":{"type":"segment_definitions","segment_definitions":[`+oneDef+`]}`), nil, invalid("analysis_mode")},
	{"V31", "tbm without response_format", obj(tbmStart), nil, missing("response_format")},
	{"V31", "tbm with json_schema", tbmRF(`{"type":"json_schema","json_schema":{}}`), nil, invalid("response_format.type")},
	{"V32", "segment_definitions in general", gen15(`"response_format":{"type":"segment_definitions","segment_definitions":[` + oneDef + `]}`), nil, invalid("response_format.type")},
	{"V32", "segment_definitions on P1.2", gen12(`"response_format":{"type":"segment_definitions","segment_definitions":[` + oneDef + `]}`), nil, invalid("response_format.type")},

	// V33–V35 segment definitions and fields
	{"V33", "missing", tbmRF(`{"type":"segment_definitions"}`), nil, missing("response_format.segment_definitions")},
	{"V33", "empty", tbm(``), nil, invalid("response_format.segment_definitions")},
	{"V33", "eleven", tbm(repeat(`{"id":"s%d","description":"d"}`, 11, ",")), nil, withText(invalid("response_format.segment_definitions"), "1 to 10 segment definitions, but 11")},
	{"V33", "json_schema with segment type", tbmRF(`{"type":"segment_definitions","segment_definitions":[` + oneDef + `],"json_schema":{}}`), nil, invalid("response_format.json_schema")},
	{"V34", "id missing", tbm(`{"description":"d"}`), nil, missing("response_format.segment_definitions[0].id")},
	{"V34", "id empty", tbm(`{"id":"","description":"d"}`), nil, invalid("response_format.segment_definitions[0].id")},
	{"V34", "description missing", tbm(`{"id":"a"}`), nil, missing("response_format.segment_definitions[0].description")},
	{"V34", "description blank", tbm(`{"id":"a","description":"  "}`), nil, invalid("response_format.segment_definitions[0].description")},
	{"V34", "duplicate id", tbm(oneDef + "," + oneDef), nil, invalid("response_format.segment_definitions[1].id")},
	{"V34", "definition not object", tbm(`"scene"`), nil, invalid("response_format.segment_definitions[0]")},
	{"V35", "21 fields", tbm(field(repeat(`{"name":"f%d","type":"string"}`, 21, ","))), nil, invalid("response_format.segment_definitions[0].fields")},
	{"V35", "name missing", tbm(field(`{"type":"string"}`)), nil, missing("response_format.segment_definitions[0].fields[0].name")},
	{"V35", "duplicate name", tbm(field(`{"name":"a","type":"string"},{"name":"a","type":"number"}`)), nil, invalid("response_format.segment_definitions[0].fields[1].name")},

	// V36–V39 field types
	{"V36", "type missing", tbm(field(`{"name":"a"}`)), nil, missing("response_format.segment_definitions[0].fields[0].type")},
	{"V36", "bad type", tbm(field(`{"name":"a","type":"object"}`)), nil, invalid("response_format.segment_definitions[0].fields[0].type")},
	{"V37", "array without items", tbm(field(`{"name":"a","type":"array"}`)), nil, missing("response_format.segment_definitions[0].fields[0].items")},
	{"V37", "items type missing", tbm(field(`{"name":"a","type":"array","items":{}}`)), nil, missing("response_format.segment_definitions[0].fields[0].items.type")},
	{"V37", "items type object", tbm(field(`{"name":"a","type":"array","items":{"type":"object"}}`)), nil, invalid("response_format.segment_definitions[0].fields[0].items.type")},
	{"V37", "items on string", tbm(field(`{"name":"a","type":"string","items":{"type":"string"}}`)), nil, invalid("response_format.segment_definitions[0].fields[0].items")},
	{"V38", "51 enum values", tbm(field(`{"name":"a","type":"string","enum":[` + repeat(`"v%d"`, 51, ",") + `]}`)), nil, invalid("response_format.segment_definitions[0].fields[0].enum")},
	{"V38", "empty enum", tbm(field(`{"name":"a","type":"string","enum":[]}`)), nil, invalid("response_format.segment_definitions[0].fields[0].enum")},
	{"V38", "enum number value", tbm(field(`{"name":"a","type":"string","enum":["a",1]}`)), nil, invalid("response_format.segment_definitions[0].fields[0].enum[1]")},
	{"V38", "enum on number", tbm(field(`{"name":"a","type":"number","enum":["1"]}`)), nil, invalid("response_format.segment_definitions[0].fields[0].enum")},
	{"V38", "enum on array of integer", tbm(field(`{"name":"a","type":"array","items":{"type":"integer"},"enum":["1"]}`)), nil, invalid("response_format.segment_definitions[0].fields[0].enum")},
	{"V38", "enum on timestamp", tbm(field(`{"name":"a","type":"timestamp","format":"seconds","enum":["1"]}`)), nil, invalid("response_format.segment_definitions[0].fields[0].enum")},
	{"V38", "items on timestamp", tbm(field(`{"name":"a","type":"timestamp","format":"seconds","items":{"type":"string"}}`)), nil, invalid("response_format.segment_definitions[0].fields[0].items")},
	{"V39", "timestamp without format", tbm(field(`{"name":"a","type":"timestamp"}`)), nil, missing("response_format.segment_definitions[0].fields[0].format")},
	{"V39", "timestamp bad format", tbm(field(`{"name":"a","type":"timestamp","format":"ms"}`)), nil, invalid("response_format.segment_definitions[0].fields[0].format")},
	{"V39", "format on string", tbm(`{"id":"a","description":"d","fields":[{"name":"x","type":"string"},{"name":"a","type":"string","format":"seconds"}]}`), nil,
		withText(invalid("response_format.segment_definitions.fields.format"), "response_format.segment_definitions.fields.format: format is only allowed on fields of type timestamp; response_format.segment_definitions[0].fields[1].format is set on a field of type string")},
	{"V39", "reserved name", tbm(field(`{"name":"end_time","type":"timestamp","format":"seconds"}`)), nil, invalid("response_format.segment_definitions[0].fields[0].name")},
	{"V39", "reserved metadata", tbm(field(`{"name":"metadata","type":"timestamp","format":"hh:mm:ss"}`)), nil, invalid("response_format.segment_definitions[0].fields[0].name")},

	// V40 definition media sources
	{"V40", "five media sources", tbm(`{"id":"a","description":"d","media_sources":[` + repeat(`{"name":"n%d","media_type":"image","asset_id":"a"}`, 5, ",") + `]}`), nil, invalid("response_format.segment_definitions[0].media_sources")},
	{"V40", "http url", tbm(`{"id":"a","description":"d","media_sources":[{"name":"a","media_type":"image","url":"http://e.com/a.png"}]}`), nil, invalid("response_format.segment_definitions[0].media_sources[0].url")},
	{"V40", "undeclared placeholder", tbm(`{"id":"a","description":"Shots of <@car>","media_sources":[` + img + `]}`), nil, invalid("response_format.segment_definitions[0].description")},

	// V41 time ranges
	{"V41", "end before start", tbm(`{"id":"a","description":"d","time_ranges":[{"start_time":5,"end_time":4}]}`), nil, invalid("response_format.segment_definitions[0].time_ranges[0].end_time")},
	{"V41", "shorter than 2", tbm(`{"id":"a","description":"d","time_ranges":[{"start_time":5,"end_time":6.5}]}`), nil, invalid("response_format.segment_definitions[0].time_ranges[0]")},
	{"V41", "negative start", tbm(`{"id":"a","description":"d","time_ranges":[{"start_time":-1,"end_time":6.5}]}`), nil, invalid("response_format.segment_definitions[0].time_ranges[0].start_time")},
	{"V41", "start missing", tbm(`{"id":"a","description":"d","time_ranges":[{"end_time":6}]}`), nil, missing("response_format.segment_definitions[0].time_ranges[0].start_time")},
	{"V41", "overlap", tbm(`{"id":"a","description":"d","time_ranges":[{"start_time":20,"end_time":30},{"start_time":0,"end_time":10},{"start_time":9,"end_time":15}]}`), nil,
		withText(invalid("response_format.segment_definitions[0].time_ranges[2]"), "time_ranges[2] (9–15 s) overlaps response_format.segment_definitions[0].time_ranges[1] (0–10 s)")},

	// V42 segment_time_format
	{"V42", "with json_schema", gen15(`"response_format":{"type":"json_schema","json_schema":{},"segment_time_format":"seconds"}`), nil, invalid("response_format.segment_time_format")},
	{"V42", "bad value", tbmRF(`{"type":"segment_definitions","segment_definitions":[` + oneDef + `],"segment_time_format":"ms"}`), nil, invalid("response_format.segment_time_format")},
	{"V42", "segment_definitions with json_schema", gen15(`"response_format":{"type":"json_schema","json_schema":{},"segment_definitions":[]}`), nil, invalid("response_format.segment_definitions")},

	// V43–V46 json schema (more in schema_test.go)
	{"V43", "json_schema missing", gen15(`"response_format":{"type":"json_schema"}`), nil, missing("response_format.json_schema")},
	{"V43", "json_schema null", gen15(`"response_format":{"type":"json_schema","json_schema":null}`), nil, missing("response_format.json_schema")},
	{"V43", "json_schema not object", gen15(`"response_format":{"type":"json_schema","json_schema":"{}"}`), nil, invalid("response_format.json_schema")},
	{"V43", "timestamp on P1.2", schema12(`{"type":"object","properties":{"t":{"type":"timestamp","format":"seconds"}}}`), nil, invalid("response_format.json_schema.properties.t.type")},
	{"V43", "oneOf", schema(`{"oneOf":[{"type":"string"}]}`), nil, invalid("response_format.json_schema.oneOf")},
	{"V44", "additionalProperties", schema(`{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`), nil, unsupp("response_format.json_schema.additionalProperties")},
	{"V44", "maxLength nested", schema(`{"type":"object","properties":{"a":{"type":"string","maxLength":3}}}`), nil, unsupp("response_format.json_schema.properties.a.maxLength")},
	{"V45", "timestamp without format", schema(`{"type":"object","properties":{"at":{"type":"timestamp"}}}`), nil, withText(invalid("response_format.json_schema.properties.at.format"), "response_format.json_schema.properties.at.format: a timestamp needs format")},
	{"V45", "timestamp in anyOf", schema(`{"type":"object","properties":{"at":{"anyOf":[{"type":"timestamp","format":"seconds"},{"type":"null"}]}}}`), nil, invalid("response_format.json_schema.properties.at.anyOf[0].type")},
	{"V46", "start_time boolean", schema(`{"type":"object","properties":{"start_time":{"type":"boolean"}}}`), nil, invalid("response_format.json_schema.properties.start_time")},
	{"V46", "end_time string with format", schema(`{"type":"object","properties":{"end_time":{"type":"string","format":"time"}}}`), nil, invalid("response_format.json_schema.properties.end_time")},
}

func TestRuleCoverage(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{
		"V09": true, // asset existence is checked by the Service; the id is carried (TestDecodeCreateValid)
	}
	for _, tc := range createErrorCases {
		covered[tc.rule] = true
	}
	for i := 1; i <= 46; i++ {
		if r := fmt.Sprintf("V%02d", i); !covered[r] {
			t.Errorf("rule %s has no test case", r)
		}
	}
}

func TestDecodeCreateErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range createErrorCases {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			lim := testLimits()
			if tc.lim != nil {
				lim = *tc.lim
			}
			spec, err := DecodeCreate([]byte(tc.body), lim)
			if err == nil {
				t.Fatalf("accepted, want %+v\nbody: %s\nspec: %+v", tc.want, tc.body, spec)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T %v, want *ValidationError", err, err)
			}
			if spec != nil {
				t.Errorf("spec %+v returned with an error", spec)
			}
			if ve.Status != tc.want.status || ve.Code != tc.want.code || ve.Param != tc.want.param {
				t.Errorf("got %d %s %q (%s)\nwant %d %s %q", ve.Status, ve.Code, ve.Param, ve.Message, tc.want.status, tc.want.code, tc.want.param)
			}
			if ve.Message == "" || !strings.Contains(ve.Message, tc.want.msg) {
				t.Errorf("message %q does not contain %q", ve.Message, tc.want.msg)
			}
			if tc.want.param != "" && tc.want.code != "parameter_unknown" && !strings.Contains(ve.Message, firstSegment(tc.want.param)) {
				t.Errorf("message %q does not name the parameter %q", ve.Message, tc.want.param)
			}
		})
	}
}

// firstSegment is the part of a dotted path a message must at least name.
func firstSegment(p string) string {
	if i := strings.IndexAny(p, ".["); i > 0 {
		return p[:i]
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func TestDecodeCreateMessages(t *testing.T) {
	t.Parallel()
	cases := []struct{ body, want string }{
		{gen12(`"temperature":"hot"`), "The temperature parameter must be a number, but a string was given."},
		{gen12(`"max_tokens":2.5`), "The max_tokens parameter must be an integer, but 2.5 was given."},
		{gen15(`"max_tokens":100`), "The max_tokens parameter must be between 512 and 65536 for pegasus1.5 in analysis_mode general, but 100 was given."},
		{tbm(`{"id":"a","description":"d","colour":"red"}`), "The response_format.segment_definitions[0].colour parameter is not recognized. Remove it; the parameters allowed in response_format.segment_definitions[0] are: id, description, fields, media_sources, time_ranges."},
		{obj(`"video":{"type":"video_id","video_id":"abc"}`, prompt), `The video.type parameter must be url, asset_id or base64_string, but "video_id" was given.`},
		{obj(vidURL), "The prompt parameter is required in analysis_mode general but was not provided. Send prompt (or prompt_v2 with pegasus1.5) saying what to analyze."},
		{obj(`"video":{"type":"url"}`, prompt), "The video.url parameter is required but was not provided. Add it as a non-empty string."},
		{schema(`{"type":"object","properties":{"a":{"type":"array","items":{"type":"string"},"uniqueItems":true}}}`),
			"The JSON schema keyword uniqueItems (at response_format.json_schema.properties.a.uniqueItems) is not supported. Remove it; supported keywords are type, properties, required, items, minItems, minimum, maximum, exclusiveMinimum, exclusiveMaximum, pattern, format, const, enum, anyOf, $defs, $ref."},
	}
	for _, tc := range cases {
		t.Run(tc.want[:30], func(t *testing.T) {
			t.Parallel()
			_, err := DecodeCreate([]byte(tc.body), testLimits())
			if err == nil || err.Error() != tc.want {
				t.Errorf("message\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestDecodeCreateValid(t *testing.T) {
	t.Parallel()
	videoBytes := []byte("\x00\x00\x00\x20ftypisom fake video")
	b64 := base64.StdEncoding.EncodeToString(videoBytes)
	cases := []struct {
		name string
		body string
		want Spec
	}{
		{"P1.2 defaults", gen12(), Spec{Model: Pegasus12, Mode: ModeGeneral, Source: Source{Type: SourceURL, URL: "https://example.com/v.mp4"},
			Prompt: ptr("Describe the video."), Temperature: 0.2, MaxTokens: 4096}},
		{"nulls are absent", gen12(`"model_name":null`, `"custom_id":null`, `"analysis_mode":null`, `"temperature":null`, `"max_tokens":null`, `"response_format":null`, `"prompt_v2":null`, `"start_time":null`, `"end_time":null`, `"min_segment_duration":null`, `"max_segment_duration":null`),
			Spec{Model: Pegasus12, Mode: ModeGeneral, Source: Source{Type: SourceURL, URL: "https://example.com/v.mp4"},
				Prompt: ptr("Describe the video."), Temperature: 0.2, MaxTokens: 4096}},
		{"P1.2 explicit values", obj(`"model_name":"pegasus1.2"`, `"custom_id":"job_42-a"`, `"video":{"type":"asset_id","asset_id":"64f8d2c7e4a1b37f8a9c5d12","url":null}`, `"prompt":"Summarize"`, `"analysis_mode":"general"`, `"temperature":0`, `"max_tokens":1`),
			Spec{Model: Pegasus12, CustomID: "job_42-a", Mode: ModeGeneral, Source: Source{Type: SourceAssetID, AssetID: "64f8d2c7e4a1b37f8a9c5d12"},
				Prompt: ptr("Summarize"), Temperature: 0, MaxTokens: 1}},
		{"max_tokens 2.0 and 1e3", gen12(`"max_tokens":1e3`, `"temperature":1`), Spec{Model: Pegasus12, Mode: ModeGeneral, Source: Source{Type: SourceURL, URL: "https://example.com/v.mp4"},
			Prompt: ptr("Describe the video."), Temperature: 1, MaxTokens: 1000}},
		{"base64 video", obj(`"video":{"type":"base64_string","base64_string":"`+b64+`"}`, prompt),
			Spec{Model: Pegasus12, Mode: ModeGeneral, Source: Source{Type: SourceBase64, Data: videoBytes}, Prompt: ptr("Describe the video."), Temperature: 0.2, MaxTokens: 4096}},
		{"base64 data URL, unpadded, url-safe", obj(`"video":{"type":"base64_string","base64_string":"data:video/mp4;base64,`+base64.RawURLEncoding.EncodeToString(videoBytes)+`"}`, prompt),
			Spec{Model: Pegasus12, Mode: ModeGeneral, Source: Source{Type: SourceBase64, Data: videoBytes}, Prompt: ptr("Describe the video."), Temperature: 0.2, MaxTokens: 4096}},
		{"P1.5 general prompt_v2", obj(p15, `"video":{"type":"url","url":"HTTP://Example.com/v.mp4"}`,
			`"prompt_v2":{"input_text":"Is <@logo> next to <@cup>? <@logo>","media_sources":[`+img+`,{"name":"cup","media_type":"image","base64_string":"`+tinyB64+`"},{"name":"unused","media_type":"image","asset_id":"a1"}]}`,
			`"start_time":2.5`, `"end_time":6.5`),
			Spec{Model: Pegasus15, Mode: ModeGeneral, Source: Source{Type: SourceURL, URL: "HTTP://Example.com/v.mp4"},
				PromptV2: &PromptV2{InputText: "Is <@logo> next to <@cup>? <@logo>", MediaSources: []MediaSource{
					{Name: "logo", MediaType: "image", URL: "https://example.com/logo.png"},
					{Name: "cup", MediaType: "image", Base64: tinyB64},
					{Name: "unused", MediaType: "image", AssetID: "a1"},
				}},
				Temperature: 0.2, MaxTokens: 4096, StartTime: ptr(2.5), EndTime: ptr(6.5)}},
		{"P1.5 only end_time 4", gen15(`"end_time":4`, `"max_tokens":512`), Spec{Model: Pegasus15, Mode: ModeGeneral, Source: Source{Type: SourceURL, URL: "https://example.com/v.mp4"},
			Prompt: ptr("Describe the video."), Temperature: 0.2, MaxTokens: 512, EndTime: ptr(4.0)}},
		{"P1.5 json_schema compacted", gen15(`"response_format":{"type":"json_schema","segment_definitions":null,"json_schema":{ "type" : "object",
			"properties": {"start_time": {"type":"number"}, "at": {"type":"timestamp","format":"hh:mm:ss"}, "x<y": {"type": ["string","null"], "pattern": "^a+$"}},
			"required": ["at"] }}`),
			Spec{Model: Pegasus15, Mode: ModeGeneral, Source: Source{Type: SourceURL, URL: "https://example.com/v.mp4"},
				Prompt: ptr("Describe the video."), Temperature: 0.2, MaxTokens: 4096, ResponseFormat: &ResponseFormat{Type: "json_schema",
					JSONSchema: json.RawMessage(`{"type":"object","properties":{"start_time":{"type":"number"},"at":{"type":"timestamp","format":"hh:mm:ss"},"x<y":{"type":["string","null"],"pattern":"^a+$"}},"required":["at"]}`)}}},
		{"P1.2 json_schema", schema12(`{"type":"object","properties":{"n":{"type":"integer","minimum":0}}}`),
			Spec{Model: Pegasus12, Mode: ModeGeneral, Source: Source{Type: SourceURL, URL: "https://example.com/v.mp4"},
				Prompt: ptr("Describe the video."), Temperature: 0.2, MaxTokens: 4096, ResponseFormat: &ResponseFormat{Type: "json_schema",
					JSONSchema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer","minimum":0}}}`)}}},
		{"P1.5 tbm defaults", tbm(oneDef), Spec{Model: Pegasus15, Mode: ModeTimeBasedMetadata, Source: Source{Type: SourceURL, URL: "https://example.com/v.mp4"},
			Temperature: 0.2, MaxTokens: 32768, ResponseFormat: &ResponseFormat{Type: "segment_definitions", SegmentDefinitions: []SegmentDefinition{{ID: "scene", Description: "A scene change."}}}}},
		{"P1.5 tbm full", tbmRF(`{"type":"segment_definitions","segment_time_format":"hh:mm:ss.fff","json_schema":null,"segment_definitions":[
			{"id":"goal","description":"A goal by <@logo>","media_sources":[`+img+`],"fields":[
				{"name":"scorer","type":"string","description":"who","enum":["home","away"]},
				{"name":"tags","type":"array","items":{"type":"string"},"enum":["a","b"]},
				{"name":"scores","type":"array","items":{"type":"integer"}},
				{"name":"kick","type":"timestamp","format":"seconds","enum":null,"items":null},
				{"name":"start_time","type":"number"},
				{"name":"ok","type":"boolean","description":null}],
			 "time_ranges":[{"start_time":10,"end_time":20},{"start_time":0,"end_time":10},{"start_time":20,"end_time":22}]},
			{"id":"crowd","description":"Crowd shots","fields":[],"media_sources":[],"time_ranges":[]}]}`,
			`"temperature":0.7`, `"max_tokens":2048`, `"custom_id":"x"`),
			Spec{Model: Pegasus15, CustomID: "x", Mode: ModeTimeBasedMetadata, Source: Source{Type: SourceURL, URL: "https://example.com/v.mp4"},
				Temperature: 0.7, MaxTokens: 2048, ResponseFormat: &ResponseFormat{Type: "segment_definitions", SegmentTimeFormat: "hh:mm:ss.fff", SegmentDefinitions: []SegmentDefinition{
					{ID: "goal", Description: "A goal by <@logo>", MediaSources: []MediaSource{{Name: "logo", MediaType: "image", URL: "https://example.com/logo.png"}},
						Fields: []SegmentField{
							{Name: "scorer", Type: "string", Description: "who", Enum: []string{"home", "away"}},
							{Name: "tags", Type: "array", ItemsType: "string", Enum: []string{"a", "b"}},
							{Name: "scores", Type: "array", ItemsType: "integer"},
							{Name: "kick", Type: "timestamp", Format: "seconds"},
							{Name: "start_time", Type: "number"},
							{Name: "ok", Type: "boolean"},
						},
						TimeRanges: []TimeRange{{10, 20}, {0, 10}, {20, 22}}},
					{ID: "crowd", Description: "Crowd shots"},
				}}}},
		{"P1.5 tbm durations", tbm(oneDef, `"min_segment_duration":2`, `"max_segment_duration":2`, `"start_time":0`, `"end_time":4`),
			Spec{Model: Pegasus15, Mode: ModeTimeBasedMetadata, Source: Source{Type: SourceURL, URL: "https://example.com/v.mp4"},
				Temperature: 0.2, MaxTokens: 32768, ResponseFormat: &ResponseFormat{Type: "segment_definitions", SegmentDefinitions: []SegmentDefinition{{ID: "scene", Description: "A scene change."}}},
				MinSegmentDuration: ptr(2.0), MaxSegmentDuration: ptr(2.0), StartTime: ptr(0.0), EndTime: ptr(4.0)}},
		{"custom_id 64 chars", gen12(`"custom_id":"` + strings.Repeat("Z", 64) + `"`), Spec{Model: Pegasus12, CustomID: strings.Repeat("Z", 64), Mode: ModeGeneral,
			Source: Source{Type: SourceURL, URL: "https://example.com/v.mp4"}, Prompt: ptr("Describe the video."), Temperature: 0.2, MaxTokens: 4096}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeCreate([]byte(tc.body), testLimits())
			if err != nil {
				t.Fatalf("rejected: %v (%+v)\nbody: %s", err, err, tc.body)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(tc.want, "", " ")
				t.Errorf("spec\n got %s\nwant %s", g, w)
				if string(got.Source.Data) != string(tc.want.Source.Data) {
					t.Errorf("source data %q, want %q", got.Source.Data, tc.want.Source.Data)
				}
			}
		})
	}
}

func TestDecodeCreateDefaultModelFromLimits(t *testing.T) {
	t.Parallel()
	lim := testLimits()
	lim.DefaultModel = Pegasus15
	got, err := DecodeCreate([]byte(tbm(oneDef)), lim)
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != Pegasus15 || got.MaxTokens != 32768 {
		t.Errorf("model %s max_tokens %d, want pegasus1.5 32768", got.Model, got.MaxTokens)
	}
	lim = testLimits()
	lim.MaxSegmentDefinitions = 20
	if _, err := DecodeCreate([]byte(tbm(repeat(`{"id":"s%d","description":"d"}`, 20, ","))), lim); err != nil {
		t.Errorf("20 definitions with limit 20: %v", err)
	}
}

// TestJSONSchemaOnMeasureOnlyModel: a json_schema request for a model name
// the built-in engine serves is refused at create with 422, saying what to
// configure; the same request for a model with a VLM passes, and so does a
// plain prompt for the measure-only model.
func TestJSONSchemaOnMeasureOnlyModel(t *testing.T) {
	t.Parallel()
	lim := testLimits()
	lim.MeasureOnly = map[string]bool{Pegasus12: true, Pegasus15: false}
	body := func(model string) string {
		return `{"model_name":"` + model + `","video":{"type":"url","url":"https://example.com/v.mp4"},"prompt":"p",` +
			`"response_format":{"type":"json_schema","json_schema":{"type":"object","properties":{"a":{"type":"string"}}}}}`
	}
	_, err := DecodeCreate([]byte(body(Pegasus12)), lim)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Status != 422 || ve.Code != "json_schema_unsupported" || ve.Param != "response_format.type" ||
		!strings.Contains(ve.Message, "--vlm-url") || !strings.Contains(ve.Message, "pegasus1.2") {
		t.Errorf("json_schema on the built-in engine: %v", err)
	}
	if _, err := DecodeCreate([]byte(body(Pegasus15)), lim); err != nil {
		t.Errorf("json_schema with a model: %v", err)
	}
	if _, err := DecodeCreate([]byte(`{"model_name":"pegasus1.2","video":{"type":"url","url":"https://example.com/v.mp4"},"prompt":"p"}`), lim); err != nil {
		t.Errorf("plain prompt on the built-in engine: %v", err)
	}
}
