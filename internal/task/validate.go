package task

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
)

// Defaults of a create request (spec §4.1, §5).
const (
	defaultTemperature = 0.2
	// defaultMaxTokens is the default for pegasus1.2 and for pegasus1.5 in
	// general mode; defaultMaxTokensTBM for pegasus1.5 time_based_metadata.
	defaultMaxTokens    = 4096
	defaultMaxTokensTBM = 32768
)

// Minimum max_tokens per model and mode (V20–V22).
const (
	minMaxTokensP12        = 1
	minMaxTokensP15General = 512
	minMaxTokensP15TBM     = 2048
)

// Rules of the numeric windows (V23, V28, V41).
const (
	minSegmentDuration = 2.0 // seconds, min/max_segment_duration
	minWindow          = 4.0 // seconds, end_time − start_time
	minTimeRange       = 2.0 // seconds, one time_ranges entry
)

var (
	customIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	// placeholderPattern finds the <@name> references of a prompt_v2 text.
	placeholderPattern = regexp.MustCompile(`<@([^<>]*)>`)
)

var (
	fieldTypes     = []string{"string", "boolean", "number", "integer", "array", "timestamp"}
	itemTypes      = []string{"string", "number", "boolean", "integer"}
	timeFormats    = []string{"seconds", "hh:mm:ss", "hh:mm:ss.fff"}
	reservedFields = []string{"start_time", "end_time", "metadata"}
)

// fieldFormatParam is the Param of a format set on a non-timestamp segment
// field. The spec fixes it without indexes (SDK SegmentFieldFormat); the
// message names the indexed path.
const fieldFormatParam = "response_format.segment_definitions.fields.format"

// Interpretations (IMPL) where spec §5 leaves room:
//   - Unknown keys are checked first at each level and reported in sorted
//     order; only video.type is read before the unknown keys of video, so
//     the legacy video_id source gets a message about video.type.
//   - A key of another source type in video is refused when it is not null,
//     even if it is "" (exactly one source, V07).
//   - Required strings (ids, names, descriptions, prompts) that are empty or
//     only whitespace are parameter_invalid; absent or null ones are
//     parameter_not_provided.
//   - The prompt token limit (V15) applies to every model, using ApproxTokens.
//   - Empty fields, media_sources and time_ranges arrays mean absent; an
//     empty enum is refused, since no value could match it.
//   - enum is allowed on fields of type string and on arrays of strings only;
//     items is refused on any type but array.
//   - Placeholders (V18) are also checked in a segment definition's
//     description against that definition's media_sources. Media sources no
//     placeholder mentions are allowed; names containing '<' or '>' are
//     refused because no placeholder could name them.
//   - time_ranges start_time must not be negative.
//   - MediaSource.Base64 keeps the string as sent (it may carry a data URL
//     prefix); decode it with DecodeBase64.

// DecodeCreate parses and validates the JSON body of POST /analyze/tasks.
// It returns the normalized Spec (defaults applied) or a *ValidationError.
//
// Only checks that need no I/O are made here (spec §5 V01–V46, without the
// asset lookups of V09/V17 and the duration checks of V27/V41): the error is
// always 400, or 422 for an unsupported JSON schema keyword. JSON null is
// treated as an absent field everywhere. Checks run in a fixed order, so a
// body with several problems always reports the same one: top-level keys,
// model_name, analysis_mode, custom_id, video, prompts, temperature,
// max_tokens, response_format, segment durations, start/end time.
func DecodeCreate(body []byte, lim Limits) (*Spec, error) {
	spec, verr := decodeCreate(body, lim)
	if verr != nil {
		return nil, verr
	}
	return spec, nil
}

type createDecoder struct {
	lim  Limits
	spec *Spec
}

func (d *createDecoder) p15() bool { return d.spec.Model == Pegasus15 }
func (d *createDecoder) tbm() bool { return d.spec.Mode == ModeTimeBasedMetadata }

func decodeCreate(body []byte, lim Limits) (*Spec, *ValidationError) {
	top, verr := parseCreateBody(body)
	if verr != nil {
		return nil, verr
	}
	if verr := top.allowOnly("model_name", "custom_id", "video", "prompt", "prompt_v2", "analysis_mode",
		"temperature", "max_tokens", "response_format", "min_segment_duration", "max_segment_duration",
		"start_time", "end_time"); verr != nil {
		return nil, verr
	}
	d := &createDecoder{lim: lim, spec: &Spec{}}
	return d.spec, d.run(top,
		d.modelAndMode,
		d.customID,
		d.video,
		d.prompts,
		d.temperature,
		d.maxTokens,
		d.responseFormat,
		d.segmentDurations,
		d.window,
	)
}

// run applies the checks in order and returns the first refusal.
func (d *createDecoder) run(top *jsonObject, steps ...func(*jsonObject) *ValidationError) *ValidationError {
	for _, step := range steps {
		if verr := step(top); verr != nil {
			return verr
		}
	}
	return nil
}

// modelAndMode resolves model_name (V04) and analysis_mode (V05), and
// checks that time_based_metadata runs on pegasus1.5 (V31).
func (d *createDecoder) modelAndMode(top *jsonObject) *ValidationError {
	d.spec.Model = d.lim.DefaultModel
	if d.spec.Model == "" {
		d.spec.Model = Pegasus12
	}
	model, ok, verr := top.str("model_name")
	if verr != nil {
		return verr
	}
	if ok {
		if model != Pegasus12 && model != Pegasus15 {
			return Invalid("model_name", "The model_name parameter must be %s or %s, but %q was given.", Pegasus12, Pegasus15, model)
		}
		d.spec.Model = model
	}
	d.spec.Mode = ModeGeneral
	mode, ok, verr := top.str("analysis_mode")
	if verr != nil {
		return verr
	}
	if ok {
		if mode != ModeGeneral && mode != ModeTimeBasedMetadata {
			return Invalid("analysis_mode", "The analysis_mode parameter must be %s or %s, but %q was given.", ModeGeneral, ModeTimeBasedMetadata, mode)
		}
		d.spec.Mode = mode
	}
	if d.tbm() && !d.p15() {
		return Invalid("analysis_mode", "The analysis_mode %s requires model_name %s, but the model is %s. Set model_name to %s or use analysis_mode %s.",
			ModeTimeBasedMetadata, Pegasus15, d.spec.Model, Pegasus15, ModeGeneral)
	}
	return nil
}

// customID checks custom_id (V03).
func (d *createDecoder) customID(top *jsonObject) *ValidationError {
	id, ok, verr := top.str("custom_id")
	if verr != nil || !ok {
		return verr
	}
	if !customIDPattern.MatchString(id) {
		return Invalid("custom_id", "The custom_id parameter must be 1 to 64 characters among letters, digits, '_' and '-', but %q was given. Omit it or send a matching value.", id)
	}
	d.spec.CustomID = id
	return nil
}

// video checks the video source (V06–V10). The type is read before the
// unknown-key check so that a legacy {"type":"video_id","video_id":…}
// gets the more helpful message about video.type.
func (d *createDecoder) video(top *jsonObject) *ValidationError {
	v, ok, verr := top.object("video")
	if verr != nil {
		return verr
	}
	if !ok {
		return &ValidationError{Status: 400, Code: "parameter_not_provided", Param: "video",
			Message: `The video parameter is required but was not provided. Send {"type":"url","url":…}, {"type":"asset_id","asset_id":…} or {"type":"base64_string","base64_string":…}.`}
	}
	typ, ok, verr := v.str("type")
	if verr != nil {
		return verr
	}
	if !ok {
		return &ValidationError{Status: 400, Code: "parameter_not_provided", Param: "video.type",
			Message: "The video.type parameter is required but was not provided. Set it to url, asset_id or base64_string."}
	}
	sources := []string{SourceURL, SourceAssetID, SourceBase64}
	if !slices.Contains(sources, typ) {
		return Invalid("video.type", "The video.type parameter must be url, asset_id or base64_string, but %q was given.", typ)
	}
	if verr := v.allowOnly("type", SourceURL, SourceAssetID, SourceBase64); verr != nil {
		return verr
	}
	for _, other := range sources {
		if other != typ && v.has(other) {
			return Invalid("video."+other, "The video.%s parameter is not allowed when video.type is %s: a video has exactly one source. Remove video.%s.", other, typ, other)
		}
	}
	val, verr := v.requiredStr(typ)
	if verr != nil {
		return verr
	}
	src := Source{Type: typ}
	switch typ {
	case SourceURL:
		if why := checkURL(val, "http", "https"); why != "" {
			return Invalid("video.url", "The video.url parameter %s. Send an absolute http or https URL of a video file.", why)
		}
		src.URL = val
	case SourceAssetID:
		src.AssetID = val
	case SourceBase64:
		data, verr := decodeBase64Param(val, "video.base64_string", d.lim.MaxBase64Bytes)
		if verr != nil {
			return verr
		}
		src.Data = data
	}
	d.spec.Source = src
	return nil
}

// prompts checks prompt and prompt_v2 (V11–V18).
func (d *createDecoder) prompts(top *jsonObject) *ValidationError {
	hasPrompt, hasV2 := top.has("prompt"), top.has("prompt_v2")
	if d.tbm() {
		k := "prompt"
		switch {
		case hasV2 && !hasPrompt:
			k = "prompt_v2"
		case !hasPrompt:
			return nil
		}
		return Invalid(k, "The %s parameter is not allowed when analysis_mode is %s: segments are described by response_format.segment_definitions. Remove %s.", k, ModeTimeBasedMetadata, k)
	}
	switch {
	case hasPrompt && hasV2:
		return Invalid("prompt_v2", "The prompt and prompt_v2 parameters are mutually exclusive. Send only one of them.")
	case !hasPrompt && !hasV2:
		return &ValidationError{Status: 400, Code: "parameter_not_provided", Param: "prompt",
			Message: "The prompt parameter is required in analysis_mode general but was not provided. Send prompt (or prompt_v2 with pegasus1.5) saying what to analyze."}
	case hasPrompt:
		p, _, verr := top.str("prompt")
		if verr != nil {
			return verr
		}
		if verr := d.checkText(p, "prompt"); verr != nil {
			return verr
		}
		d.spec.Prompt = &p
		return nil
	}
	if !d.p15() {
		return Invalid("prompt_v2", "The prompt_v2 parameter requires model_name %s, but the model is %s. Set model_name to %s or use prompt.", Pegasus15, d.spec.Model, Pegasus15)
	}
	o, _, verr := top.object("prompt_v2")
	if verr != nil {
		return verr
	}
	if verr := o.allowOnly("input_text", "media_sources"); verr != nil {
		return verr
	}
	text, ok, verr := o.str("input_text")
	if verr != nil {
		return verr
	}
	if !ok {
		return notProvided("prompt_v2.input_text", "Add the text of the prompt; it may refer to media sources as <@name>.")
	}
	if verr := d.checkText(text, "prompt_v2.input_text"); verr != nil {
		return verr
	}
	sources, verr := d.mediaSources(o)
	if verr != nil {
		return verr
	}
	if verr := checkPlaceholders(text, "prompt_v2.input_text", sources, "prompt_v2.media_sources"); verr != nil {
		return verr
	}
	d.spec.PromptV2 = &PromptV2{InputText: text, MediaSources: sources}
	return nil
}

// checkText checks that a prompt is not blank and within the token limit (V15, V16).
func (d *createDecoder) checkText(s, param string) *ValidationError {
	if strings.TrimSpace(s) == "" {
		return Invalid(param, "The %s parameter must not be empty. Say what to analyze in the video.", param)
	}
	if n := ApproxTokens(s); n > d.lim.MaxPromptTokens {
		return Invalid(param, "The %s parameter is about %d tokens long, more than the limit of %d tokens. Shorten it.", param, n, d.lim.MaxPromptTokens)
	}
	return nil
}

// mediaSources reads the optional media_sources of o (V16, V17, V40).
func (d *createDecoder) mediaSources(o *jsonObject) ([]MediaSource, *ValidationError) {
	elems, ok, verr := o.array("media_sources")
	if verr != nil || !ok || len(elems) == 0 {
		return nil, verr
	}
	param := o.param("media_sources")
	if len(elems) > d.lim.MaxMediaSources {
		return nil, Invalid(param, "The %s parameter lists %d media sources, more than the limit of %d. Remove some.", param, len(elems), d.lim.MaxMediaSources)
	}
	out := make([]MediaSource, 0, len(elems))
	for i, raw := range elems {
		p := indexPath(param, i)
		ms, verr := newObject(raw, p)
		if verr != nil {
			return nil, verr
		}
		if verr := ms.allowOnly("name", "media_type", "url", "asset_id", "base64_string"); verr != nil {
			return nil, verr
		}
		name, verr := ms.requiredStr("name")
		if verr != nil {
			return nil, verr
		}
		if strings.ContainsAny(name, "<>") {
			return nil, Invalid(ms.param("name"), "The %s parameter %q contains '<' or '>', so no <@name> placeholder can refer to it. Choose another name.", ms.param("name"), name)
		}
		for j := range out {
			if out[j].Name == name {
				return nil, Invalid(ms.param("name"), "The %s parameter %q is already used by %s. Media source names must be unique.", ms.param("name"), name, indexPath(param, j))
			}
		}
		mt, ok, verr := ms.str("media_type")
		if verr != nil {
			return nil, verr
		}
		if !ok {
			return nil, notProvided(ms.param("media_type"), "Set it to image.")
		}
		if mt != "image" {
			return nil, Invalid(ms.param("media_type"), "The %s parameter must be image, but %q was given.", ms.param("media_type"), mt)
		}
		var set []string
		for _, k := range []string{"url", "asset_id", "base64_string"} {
			if ms.has(k) {
				set = append(set, k)
			}
		}
		switch len(set) {
		case 0:
			return nil, &ValidationError{Status: 400, Code: "parameter_not_provided", Param: ms.param("url"),
				Message: fmt.Sprintf("The media source %s has no image: set exactly one of url, asset_id or base64_string.", p)}
		case 1:
		default:
			return nil, Invalid(ms.param(set[1]), "The media source %s sets both %s and %s. Set exactly one of url, asset_id or base64_string.", p, set[0], set[1])
		}
		val, verr := ms.requiredStr(set[0])
		if verr != nil {
			return nil, verr
		}
		src := MediaSource{Name: name, MediaType: mt}
		switch set[0] {
		case "url":
			if why := checkURL(val, "https"); why != "" {
				return nil, Invalid(ms.param("url"), "The %s parameter %s. Send a public https URL of an image.", ms.param("url"), why)
			}
			src.URL = val
		case "asset_id":
			src.AssetID = val
		case "base64_string":
			if _, verr := decodeBase64Param(val, ms.param("base64_string"), d.lim.MaxBase64Bytes); verr != nil {
				return nil, verr
			}
			src.Base64 = val
		}
		out = append(out, src)
	}
	return out, nil
}

// checkPlaceholders checks that every <@name> in text names one of sources
// (V18). Media sources that no placeholder mentions are allowed.
func checkPlaceholders(text, param string, sources []MediaSource, sourcesParam string) *ValidationError {
	for _, m := range placeholderPattern.FindAllStringSubmatch(text, -1) {
		if !slices.ContainsFunc(sources, func(s MediaSource) bool { return s.Name == m[1] }) {
			return Invalid(param, "The %s parameter refers to %s, but %s declares no media source named %q. Add it to %s or fix the placeholder.", param, m[0], sourcesParam, m[1], sourcesParam)
		}
	}
	return nil
}

// temperature checks temperature (V19).
func (d *createDecoder) temperature(top *jsonObject) *ValidationError {
	d.spec.Temperature = defaultTemperature
	t, ok, verr := top.number("temperature")
	if verr != nil || !ok {
		return verr
	}
	if t < 0 || t > 1 {
		return Invalid("temperature", "The temperature parameter must be between 0 and 1, but %s was given.", formatNumber(t))
	}
	d.spec.Temperature = t
	return nil
}

// maxTokens checks max_tokens and applies its default (V20–V22).
func (d *createDecoder) maxTokens(top *jsonObject) *ValidationError {
	lo, hi, def, what := minMaxTokensP12, d.lim.MaxTokensP12, defaultMaxTokens, Pegasus12
	if d.p15() {
		lo, hi, def, what = minMaxTokensP15General, d.lim.MaxTokensP15, defaultMaxTokens, Pegasus15+" in analysis_mode general"
		if d.tbm() {
			lo, def, what = minMaxTokensP15TBM, defaultMaxTokensTBM, Pegasus15+" in analysis_mode time_based_metadata"
		}
	}
	d.spec.MaxTokens = min(def, hi)
	n, ok, verr := top.number("max_tokens")
	if verr != nil || !ok {
		return verr
	}
	if n != math.Trunc(n) {
		return Invalid("max_tokens", "The max_tokens parameter must be an integer, but %s was given.", formatNumber(n))
	}
	if n < float64(lo) || n > float64(hi) {
		return Invalid("max_tokens", "The max_tokens parameter must be between %d and %d for %s, but %s was given.", lo, hi, what, formatNumber(n))
	}
	d.spec.MaxTokens = int(n)
	return nil
}

// responseFormat checks response_format (V30–V46) and how it fits the
// analysis mode (V31, V32).
func (d *createDecoder) responseFormat(top *jsonObject) *ValidationError {
	o, ok, verr := top.object("response_format")
	if verr != nil {
		return verr
	}
	if !ok {
		if d.tbm() {
			return &ValidationError{Status: 400, Code: "parameter_not_provided", Param: "response_format",
				Message: "The response_format parameter is required when analysis_mode is time_based_metadata. Send response_format with type segment_definitions."}
		}
		return nil
	}
	if verr := o.allowOnly("type", "json_schema", "segment_definitions", "segment_time_format"); verr != nil {
		return verr
	}
	typ, ok, verr := o.str("type")
	if verr != nil {
		return verr
	}
	if !ok {
		return &ValidationError{Status: 400, Code: "parameter_not_provided", Param: "response_format.type",
			Message: "The response_format.type parameter is required but was not provided. Set it to json_schema or segment_definitions."}
	}
	switch typ {
	case "json_schema":
		if d.tbm() {
			return Invalid("response_format.type", "The response_format.type json_schema is not allowed when analysis_mode is time_based_metadata. Use type segment_definitions, or analysis_mode general.")
		}
		return d.jsonSchemaFormat(o)
	case "segment_definitions":
		if !d.p15() {
			return Invalid("response_format.type", "The response_format.type segment_definitions requires model_name %s and analysis_mode %s, but the model is %s.", Pegasus15, ModeTimeBasedMetadata, d.spec.Model)
		}
		if !d.tbm() {
			return Invalid("response_format.type", "The response_format.type segment_definitions requires analysis_mode %s. Set analysis_mode to %s, or use type json_schema.", ModeTimeBasedMetadata, ModeTimeBasedMetadata)
		}
		return d.segmentFormat(o)
	}
	return Invalid("response_format.type", "The response_format.type parameter must be json_schema or segment_definitions, but %q was given.", typ)
}

func (d *createDecoder) jsonSchemaFormat(o *jsonObject) *ValidationError {
	for _, k := range []string{"segment_definitions", "segment_time_format"} {
		if o.has(k) {
			return Invalid(o.param(k), "The %s parameter is only allowed when response_format.type is segment_definitions. Remove it.", o.param(k))
		}
	}
	raw, ok := o.get("json_schema")
	if !ok {
		return &ValidationError{Status: 400, Code: "parameter_not_provided", Param: "response_format.json_schema",
			Message: "The response_format.json_schema parameter is required when response_format.type is json_schema. Send a JSON Schema object."}
	}
	if k := jsonKind(raw); k != "an object" {
		return Invalid("response_format.json_schema", "The response_format.json_schema parameter must be a JSON Schema object, but %s was given.", k)
	}
	if verr := validateSchema(raw, d.spec.Model, "response_format.json_schema"); verr != nil {
		return verr
	}
	if d.lim.MeasureOnly[d.spec.Model] {
		return Unsupported("response_format.type", "The response_format.type json_schema needs a vision-language model, but %s is served by this server's built-in engine, "+
			"which measures the video and cannot answer in JSON that follows a schema. Configure a model for %s (serve --vlm-url URL --vlm-model NAME, or models.%s in the config file), or use a model name that has one.",
			d.spec.Model, d.spec.Model, d.spec.Model)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return Invalid("response_format.json_schema", "The response_format.json_schema parameter is not valid JSON: %v.", err)
	}
	d.spec.ResponseFormat = &ResponseFormat{Type: "json_schema", JSONSchema: buf.Bytes()}
	return nil
}

func (d *createDecoder) segmentFormat(o *jsonObject) *ValidationError {
	if o.has("json_schema") {
		return Invalid("response_format.json_schema", "The response_format.json_schema parameter is only allowed when response_format.type is json_schema. Remove it.")
	}
	rf := &ResponseFormat{Type: "segment_definitions"}
	stf, ok, verr := o.str("segment_time_format")
	if verr != nil {
		return verr
	}
	if ok {
		if !slices.Contains(timeFormats, stf) {
			return Invalid("response_format.segment_time_format", "The response_format.segment_time_format parameter must be seconds, hh:mm:ss or hh:mm:ss.fff, but %q was given.", stf)
		}
		rf.SegmentTimeFormat = stf
	}
	elems, ok, verr := o.array("segment_definitions")
	if verr != nil {
		return verr
	}
	param := "response_format.segment_definitions"
	if !ok {
		return &ValidationError{Status: 400, Code: "parameter_not_provided", Param: param,
			Message: "The response_format.segment_definitions parameter is required when response_format.type is segment_definitions. Describe at least one kind of segment."}
	}
	if len(elems) == 0 || len(elems) > d.lim.MaxSegmentDefinitions {
		return Invalid(param, "The %s parameter must list 1 to %d segment definitions, but %d were given.", param, d.lim.MaxSegmentDefinitions, len(elems))
	}
	for i, raw := range elems {
		def, verr := d.segmentDefinition(raw, indexPath(param, i))
		if verr != nil {
			return verr
		}
		for j := range rf.SegmentDefinitions {
			if rf.SegmentDefinitions[j].ID == def.ID {
				p := indexPath(param, i) + ".id"
				return Invalid(p, "The %s parameter %q is already used by %s. Segment definition ids must be unique: they are the keys of the result.", p, def.ID, indexPath(param, j))
			}
		}
		rf.SegmentDefinitions = append(rf.SegmentDefinitions, def)
	}
	d.spec.ResponseFormat = rf
	return nil
}

// segmentDefinition checks one segment definition (V34, V35, V40, V41).
func (d *createDecoder) segmentDefinition(raw json.RawMessage, path string) (SegmentDefinition, *ValidationError) {
	var def SegmentDefinition
	o, verr := newObject(raw, path)
	if verr != nil {
		return def, verr
	}
	if verr := o.allowOnly("id", "description", "fields", "media_sources", "time_ranges"); verr != nil {
		return def, verr
	}
	if def.ID, verr = o.requiredStr("id"); verr != nil {
		return def, verr
	}
	if def.Description, verr = o.requiredStr("description"); verr != nil {
		return def, verr
	}
	if def.Fields, verr = d.fields(o); verr != nil {
		return def, verr
	}
	if def.MediaSources, verr = d.mediaSources(o); verr != nil {
		return def, verr
	}
	if verr := checkPlaceholders(def.Description, o.param("description"), def.MediaSources, o.param("media_sources")); verr != nil {
		return def, verr
	}
	if def.TimeRanges, verr = timeRanges(o); verr != nil {
		return def, verr
	}
	return def, nil
}

// fields checks the fields of a segment definition (V35–V39).
func (d *createDecoder) fields(def *jsonObject) ([]SegmentField, *ValidationError) {
	elems, ok, verr := def.array("fields")
	if verr != nil || !ok || len(elems) == 0 {
		return nil, verr
	}
	param := def.param("fields")
	if len(elems) > d.lim.MaxFields {
		return nil, Invalid(param, "The %s parameter lists %d fields, more than the limit of %d. Remove some.", param, len(elems), d.lim.MaxFields)
	}
	out := make([]SegmentField, 0, len(elems))
	for i, raw := range elems {
		f, verr := d.field(raw, indexPath(param, i))
		if verr != nil {
			return nil, verr
		}
		for j := range out {
			if out[j].Name == f.Name {
				p := indexPath(param, i) + ".name"
				return nil, Invalid(p, "The %s parameter %q is already used by %s. Field names must be unique within a segment definition.", p, f.Name, indexPath(param, j))
			}
		}
		out = append(out, f)
	}
	return out, nil
}

func (d *createDecoder) field(raw json.RawMessage, path string) (SegmentField, *ValidationError) {
	var f SegmentField
	o, verr := newObject(raw, path)
	if verr != nil {
		return f, verr
	}
	if verr := o.allowOnly("name", "type", "description", "format", "enum", "items"); verr != nil {
		return f, verr
	}
	if f.Name, verr = o.requiredStr("name"); verr != nil {
		return f, verr
	}
	typ, ok, verr := o.str("type")
	if verr != nil {
		return f, verr
	}
	if !ok {
		return f, notProvided(o.param("type"), "Set it to one of "+strings.Join(fieldTypes, ", ")+".")
	}
	if !slices.Contains(fieldTypes, typ) {
		return f, Invalid(o.param("type"), "The %s parameter must be one of %s, but %q was given.", o.param("type"), strings.Join(fieldTypes, ", "), typ)
	}
	if typ == "timestamp" && !d.p15() {
		return f, Invalid(o.param("type"), "The %s parameter timestamp requires model_name %s.", o.param("type"), Pegasus15)
	}
	f.Type = typ
	desc, _, verr := o.str("description")
	if verr != nil {
		return f, verr
	}
	f.Description = desc

	// format: required iff timestamp (V39).
	format, hasFormat, verr := o.str("format")
	if verr != nil {
		return f, verr
	}
	switch {
	case typ == "timestamp" && !hasFormat:
		return f, &ValidationError{Status: 400, Code: "parameter_not_provided", Param: o.param("format"),
			Message: fmt.Sprintf("The %s parameter is required for a timestamp field. Set it to seconds, hh:mm:ss or hh:mm:ss.fff.", o.param("format"))}
	case typ == "timestamp" && !slices.Contains(timeFormats, format):
		return f, Invalid(o.param("format"), "The %s parameter must be seconds, hh:mm:ss or hh:mm:ss.fff, but %q was given.", o.param("format"), format)
	case typ != "timestamp" && hasFormat:
		return f, Invalid(fieldFormatParam, "%s: format is only allowed on fields of type timestamp; %s is set on a field of type %s. Remove format or change the type to timestamp.", fieldFormatParam, o.param("format"), typ)
	}
	f.Format = format
	if typ == "timestamp" && slices.Contains(reservedFields, f.Name) {
		return f, Invalid(o.param("name"), "The %s parameter %q is reserved for a timestamp field (start_time, end_time and metadata are the keys of each segment). Choose another name.", o.param("name"), f.Name)
	}

	// items: required iff array (V37, V38).
	items, hasItems, verr := o.object("items")
	if verr != nil {
		return f, verr
	}
	switch {
	case typ == "array" && !hasItems:
		return f, &ValidationError{Status: 400, Code: "parameter_not_provided", Param: o.param("items"),
			Message: fmt.Sprintf("The %s parameter is required for a field of type array. Set it to {\"type\": one of %s}.", o.param("items"), strings.Join(itemTypes, ", "))}
	case typ != "array" && hasItems:
		return f, Invalid(o.param("items"), "The %s parameter is only allowed on fields of type array, but the field type is %s. Remove items.", o.param("items"), typ)
	case hasItems:
		if verr := items.allowOnly("type"); verr != nil {
			return f, verr
		}
		it, ok, verr := items.str("type")
		if verr != nil {
			return f, verr
		}
		if !ok {
			return f, notProvided(items.param("type"), "Set it to one of "+strings.Join(itemTypes, ", ")+".")
		}
		if !slices.Contains(itemTypes, it) {
			return f, Invalid(items.param("type"), "The %s parameter must be one of %s, but %q was given.", items.param("type"), strings.Join(itemTypes, ", "), it)
		}
		f.ItemsType = it
	}

	// enum: string values, only where the value is a string (V38).
	elems, hasEnum, verr := o.array("enum")
	if verr != nil || !hasEnum {
		return f, verr
	}
	p := o.param("enum")
	if typ != "string" && (typ != "array" || f.ItemsType != "string") {
		return f, Invalid(p, "The %s parameter is only allowed on fields of type string, or array with items of type string, but the field type is %s. Remove enum.", p, describeFieldType(f))
	}
	if len(elems) == 0 || len(elems) > d.lim.MaxEnumValues {
		return f, Invalid(p, "The %s parameter must list 1 to %d values, but %d were given.", p, d.lim.MaxEnumValues, len(elems))
	}
	f.Enum = make([]string, len(elems))
	for i, raw := range elems {
		if f.Enum[i], verr = asString(raw, indexPath(p, i)); verr != nil {
			return f, verr
		}
	}
	return f, nil
}

func describeFieldType(f SegmentField) string {
	if f.Type == "array" {
		return "array of " + f.ItemsType
	}
	return f.Type
}

// timeRanges checks the time_ranges of a segment definition (V41; the
// duration part is checked once the video is probed).
func timeRanges(def *jsonObject) ([]TimeRange, *ValidationError) {
	elems, ok, verr := def.array("time_ranges")
	if verr != nil || !ok || len(elems) == 0 {
		return nil, verr
	}
	param := def.param("time_ranges")
	out := make([]TimeRange, 0, len(elems))
	for i, raw := range elems {
		p := indexPath(param, i)
		o, verr := newObject(raw, p)
		if verr != nil {
			return nil, verr
		}
		if verr := o.allowOnly("start_time", "end_time"); verr != nil {
			return nil, verr
		}
		var r TimeRange
		for _, k := range []struct {
			key string
			dst *float64
		}{{"start_time", &r.StartTime}, {"end_time", &r.EndTime}} {
			v, ok, verr := o.number(k.key)
			if verr != nil {
				return nil, verr
			}
			if !ok {
				return nil, notProvided(o.param(k.key), "A time range needs both start_time and end_time, in seconds.")
			}
			*k.dst = v
		}
		if r.StartTime < 0 {
			return nil, Invalid(o.param("start_time"), "The %s parameter must not be negative, but %s was given.", o.param("start_time"), formatNumber(r.StartTime))
		}
		if r.EndTime <= r.StartTime {
			return nil, Invalid(o.param("end_time"), "The %s parameter (%s) must be greater than start_time (%s).", o.param("end_time"), formatNumber(r.EndTime), formatNumber(r.StartTime))
		}
		if r.EndTime-r.StartTime < minTimeRange {
			return nil, Invalid(p, "The time range %s is %s s long, shorter than the minimum of %s s. Widen it.", p, formatNumber(r.EndTime-r.StartTime), formatNumber(minTimeRange))
		}
		out = append(out, r)
	}
	// Ranges must not overlap; touching ends are fine.
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case out[a].StartTime < out[b].StartTime:
			return -1
		case out[a].StartTime > out[b].StartTime:
			return 1
		}
		return 0
	})
	for k := 1; k < len(order); k++ {
		prev, cur := order[k-1], order[k]
		if out[cur].StartTime < out[prev].EndTime {
			a, b := min(prev, cur), max(prev, cur)
			return nil, Invalid(indexPath(param, b), "The time range %s (%s–%s s) overlaps %s (%s–%s s). Time ranges of one segment definition must not overlap.",
				indexPath(param, b), formatNumber(out[b].StartTime), formatNumber(out[b].EndTime),
				indexPath(param, a), formatNumber(out[a].StartTime), formatNumber(out[a].EndTime))
		}
	}
	return out, nil
}

// hasTimeRanges reports whether any segment definition sets time_ranges.
func (d *createDecoder) hasTimeRanges() bool {
	rf := d.spec.ResponseFormat
	return rf != nil && slices.ContainsFunc(rf.SegmentDefinitions, func(s SegmentDefinition) bool { return len(s.TimeRanges) > 0 })
}

// segmentDurations checks min/max_segment_duration (V23–V25).
func (d *createDecoder) segmentDurations(top *jsonObject) *ValidationError {
	var vals [2]*float64
	for i, k := range []string{"min_segment_duration", "max_segment_duration"} {
		v, ok, verr := top.number(k)
		if verr != nil {
			return verr
		}
		if !ok {
			continue
		}
		if !d.p15() || !d.tbm() {
			return Invalid(k, "The %s parameter requires model_name %s and analysis_mode %s. Remove it or change the model and mode.", k, Pegasus15, ModeTimeBasedMetadata)
		}
		if v < minSegmentDuration {
			return Invalid(k, "The %s parameter must be at least %s seconds, but %s was given.", k, formatNumber(minSegmentDuration), formatNumber(v))
		}
		if d.hasTimeRanges() {
			return Invalid(k, "The %s parameter cannot be combined with time_ranges in response_format.segment_definitions. Remove one of them.", k)
		}
		vals[i] = &v
	}
	if vals[0] != nil && vals[1] != nil && *vals[1] < *vals[0] {
		return Invalid("max_segment_duration", "The max_segment_duration parameter (%s) must be at least min_segment_duration (%s).", formatNumber(*vals[1]), formatNumber(*vals[0]))
	}
	d.spec.MinSegmentDuration, d.spec.MaxSegmentDuration = vals[0], vals[1]
	return nil
}

// window checks start_time and end_time as far as possible without the
// video duration (V26–V29).
func (d *createDecoder) window(top *jsonObject) *ValidationError {
	var vals [2]*float64
	for i, k := range []string{"start_time", "end_time"} {
		v, ok, verr := top.number(k)
		if verr != nil {
			return verr
		}
		if !ok {
			continue
		}
		if !d.p15() {
			return Invalid(k, "The %s parameter requires model_name %s, but the model is %s. Remove it or set model_name to %s.", k, Pegasus15, d.spec.Model, Pegasus15)
		}
		if d.hasTimeRanges() {
			return Invalid(k, "The %s parameter cannot be combined with time_ranges in response_format.segment_definitions. Remove one of them.", k)
		}
		vals[i] = &v
	}
	start, end := vals[0], vals[1]
	if start != nil && *start < 0 {
		return Invalid("start_time", "The start_time parameter must not be negative, but %s was given.", formatNumber(*start))
	}
	switch {
	case start != nil && end != nil && *end <= *start:
		return Invalid("end_time", "The end_time parameter (%s) must be greater than start_time (%s).", formatNumber(*end), formatNumber(*start))
	case start != nil && end != nil && *end-*start < minWindow:
		return Invalid("end_time", "The window from start_time %s to end_time %s is %s s long, shorter than the minimum of %s s. Widen it.", formatNumber(*start), formatNumber(*end), formatNumber(*end-*start), formatNumber(minWindow))
	case start == nil && end != nil && *end < minWindow:
		return Invalid("end_time", "The end_time parameter must be at least %s seconds (the window starts at 0 and must be at least %s s long), but %s was given.", formatNumber(minWindow), formatNumber(minWindow), formatNumber(*end))
	}
	d.spec.StartTime, d.spec.EndTime = start, end
	return nil
}
