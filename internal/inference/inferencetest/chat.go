package inferencetest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/framewise/framewise/internal/inference"
)

// chatRequest is the subset of the chat-completions body the double reads.
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	MaxTokens           int  `json:"max_tokens"`
	MaxCompletionTokens int  `json:"max_completion_tokens"`
	Stream              bool `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	ResponseFormat *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

type contentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	defer s.begin()()
	call := Call{Kind: KindChat}
	defer func() { s.record(call) }()
	fail := func(e apiError) {
		call.Status = e.status
		s.writeError(w, e)
	}

	var req chatRequest
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		fail(errorf(http.StatusBadRequest, "request body is not valid JSON: %s", err))
		return
	}
	call.Model = req.Model
	call.MaxTokens = cmp(req.MaxTokens, req.MaxCompletionTokens)
	structured := req.ResponseFormat != nil && (req.ResponseFormat.Type == "json_schema" || req.ResponseFormat.Type == "json_object")
	if structured {
		call.Kind = KindStructured
	}
	if f := s.gate(r.Context(), r, req.Model); f != nil {
		fail(s.gateError(f, req.Model))
		return
	}
	s.mu.Lock()
	transient := s.transientNext > 0
	if transient {
		s.transientNext--
	}
	s.mu.Unlock()
	if transient {
		fail(s.transient())
		return
	}
	switch {
	case len(req.Messages) == 0:
		fail(errorf(http.StatusBadRequest, "messages must not be empty"))
		return
	case req.ResponseFormat != nil && req.ResponseFormat.Type == "json_schema" &&
		(req.ResponseFormat.JSONSchema == nil || len(req.ResponseFormat.JSONSchema.Schema) == 0):
		fail(errorf(http.StatusBadRequest, "response_format json_schema needs json_schema.schema"))
		return
	case s.pers.Name == nameVLLM && req.ResponseFormat != nil && req.ResponseFormat.Type == "json_schema" &&
		req.ResponseFormat.JSONSchema.Name == "":
		fail(errorf(http.StatusBadRequest, "1 validation error for ChatCompletionRequest\nresponse_format.json_schema.name\n  Field required [type=missing]"))
		return
	}

	parts, err := s.flatten(&req)
	if err != nil {
		fail(errorf(http.StatusBadRequest, "%s", err))
		return
	}
	for _, pt := range parts {
		if pt.image {
			call.Images++
		}
	}
	if n := s.pers.MaxImages; !s.friendly() && n > 0 && call.Images > n {
		fail(errorf(http.StatusBadRequest, "At most %d image(s) may be provided in one prompt.", n))
		return
	}
	acc := s.account(&req, parts, call.MaxTokens)
	call.PromptTokens, call.DroppedParts = acc.prompt, acc.dropped
	call.Overflow = acc.dropped > 0
	if acc.refuse != nil {
		call.Overflow = call.Overflow || acc.refuse.status == http.StatusBadRequest
		fail(*acc.refuse)
		return
	}

	p := perceive(parts, acc.keep)
	call.Frames = len(p.frames)
	first := 0.0
	if len(p.frames) > 0 {
		first = p.frames[0].t
		call.FirstFrame, call.LastFrame = first, p.frames[len(p.frames)-1].t
		if s.imprecise() {
			s.blurRuns(p.runs, first)
		}
	}

	var answer string
	switch {
	case req.ResponseFormat != nil && req.ResponseFormat.Type == "json_schema":
		doc, err := p.fillSchema(req.ResponseFormat.JSONSchema.Schema)
		if err != nil {
			fail(errorf(http.StatusBadRequest, "response_format json_schema: %s", err))
			return
		}
		answer = doc
	case structured:
		b, _ := json.Marshal(map[string]any{"summary": p.describe(), "colours": p.seenColours()})
		answer = string(b)
	default:
		answer = p.describe()
	}

	s.mu.Lock()
	malformed := structured && s.malformedNext > 0
	if malformed {
		s.malformedNext--
	}
	forced := s.truncate
	s.seq++
	id := s.seq
	s.mu.Unlock()

	loose := structured && !s.friendly() && !s.pers.Structured
	if loose {
		answer = s.loosen(answer, first)
	}
	if malformed {
		answer = answer[:len(answer)/2]
		call.Malformed = true
	}
	fenceKey := body
	if req.Stream {
		fenceKey = withoutStream(body)
	}
	if loose && s.fenceThis(fenceKey) {
		answer = fence(answer)
		call.Fenced = true
	}
	var reasoning string
	switch {
	case s.friendly() || s.pers.Reasoning == "":
	case s.pers.Reasoning == ReasoningInline:
		answer = thinkInline + answer
		call.Reasoning = true
	default:
		reasoning = thinking
		call.Reasoning = true
	}

	// The answer's budget: max_tokens, and the room the context leaves.
	// Thinking spends it first.
	finish := inference.FinishStop
	budget, byRoom := -1, false
	if call.MaxTokens > 0 {
		budget = call.MaxTokens
	}
	if acc.room >= 0 && (budget < 0 || acc.room < budget) {
		budget, byRoom = acc.room, true
	}
	thought := len(wordEnds(reasoning))
	words := wordEnds(answer)
	switch {
	case malformed:
	case forced && len(words) > 0:
		answer = answer[:words[(len(words)-1)/2]]
		finish, call.Truncated = inference.FinishLength, true
	case budget >= 0 && thought+len(words) > budget:
		if n := budget - thought; n > 0 {
			answer = answer[:words[n-1]]
		} else {
			answer = ""
		}
		finish, call.Truncated = inference.FinishLength, true
		call.Overflow = call.Overflow || byRoom
	}

	call.Status = http.StatusOK
	model := req.Model
	if model == "" {
		model = "inferencetest"
	}
	message := map[string]any{"role": "assistant", "content": answer}
	switch {
	case reasoning == "":
	case s.pers.Reasoning == ReasoningField:
		message["reasoning"] = reasoning
	default:
		message["reasoning_content"] = reasoning
	}
	completion := len(wordEnds(answer)) + thought
	usage := map[string]any{
		"prompt_tokens":     acc.prompt,
		"completion_tokens": completion,
		"total_tokens":      acc.prompt + completion,
	}
	if req.Stream {
		s.stream(w, r, &call, streamed{
			id: "chatcmpl-inferencetest-" + strconv.Itoa(id), model: model,
			content: answer, reasoning: reasoning, finish: finish, usage: usage,
			includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
		})
		return
	}
	// An answer sent whole takes as long to write as the same answer
	// streamed: its fragments, TokenDelay apart.
	s.mu.Lock()
	delay := s.tokenDelay
	s.mu.Unlock()
	if n := len(fragments(reasoning)) + len(fragments(answer)); delay > 0 && n > 1 {
		select {
		case <-r.Context().Done():
			call.Canceled = true
			return
		case <-time.After(delay * time.Duration(n-1)):
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      "chatcmpl-inferencetest-" + strconv.Itoa(id),
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       message,
			"finish_reason": finish,
			"logprobs":      nil,
		}},
		"usage": usage,
	})
}

// cmp returns the first non-zero value.
func cmp(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// frame is one image with what the double saw in it.
type frame struct {
	t      float64
	colour string
}

// run is a maximal sequence of consecutive timed frames of one colour.
type run struct {
	colour     string
	start, end float64
	frames     int
}

type reference struct{ name, colour string }

// percept is everything the double took from a request.
type percept struct {
	frames  []frame // timed, by time
	untimed []frame
	refs    []reference
	markers []string // <@name> markers in the prompt, in order, unique
	runs    []run
	images  int
}

var markerRE = regexp.MustCompile(`<@([^<>\s]+)>`)

// part is one content part of a request, images decoded.
type part struct {
	msg, idx int // message and part index
	role     string
	contentPart
	image  bool
	colour string // dominant colour of an image
	w, h   int    // size of an image
	detail string // image_url.detail
}

// flatten decodes the messages into their content parts, seeing every
// image.
func (s *Server) flatten(req *chatRequest) ([]part, error) {
	var parts []part
	for mi, m := range req.Messages {
		cps, err := decodeContent(m.Content)
		if err != nil {
			return nil, fmt.Errorf("messages[%d].content: %w", mi, err)
		}
		for pi, cp := range cps {
			pt := part{msg: mi, idx: pi, role: m.Role, contentPart: cp}
			switch cp.Type {
			case "text":
			case "image_url":
				pt.image = true
				pt.colour, pt.w, pt.h, pt.detail, err = s.seeImage(cp.ImageURL)
				if errors.Is(err, errOllamaImageURL) {
					return nil, err
				}
				if err != nil {
					return nil, fmt.Errorf("messages[%d].content[%d]: %w", mi, pi, err)
				}
			default:
				return nil, fmt.Errorf("messages[%d].content[%d]: part type %q is not supported by inferencetest", mi, pi, cp.Type)
			}
			parts = append(parts, pt)
		}
	}
	return parts, nil
}

// perceive reads the kept parts (all when keep is nil): every image with
// the label before it, and the prompt text.
func perceive(parts []part, keep []bool) *percept {
	p := &percept{}
	kept := func(i int) bool { return keep == nil || keep[i] }
	var text strings.Builder
	for i, pt := range parts {
		if !kept(i) {
			continue
		}
		if !pt.image {
			text.WriteString(pt.Text + "\n")
			for _, mm := range markerRE.FindAllStringSubmatch(pt.Text, -1) {
				if !slices.Contains(p.markers, mm[1]) {
					p.markers = append(p.markers, mm[1])
				}
			}
			continue
		}
		p.images++
		label := ""
		if i > 0 && kept(i-1) && parts[i-1].msg == pt.msg && parts[i-1].idx == pt.idx-1 && !parts[i-1].image {
			label = parts[i-1].Text
		}
		if t, ok := inference.ParseFrameTime(label); ok {
			p.frames = append(p.frames, frame{t: t, colour: pt.colour})
		} else if name, ok := inference.ParseReferenceImage(label); ok {
			p.refs = append(p.refs, reference{name: name, colour: pt.colour})
		} else {
			p.untimed = append(p.untimed, frame{colour: pt.colour})
		}
	}
	sort.SliceStable(p.frames, func(i, j int) bool { return p.frames[i].t < p.frames[j].t })
	p.runs = colourRuns(p.frames)
	if len(p.frames) == 0 {
		// A call without frames (a reduce step) is answered from the notes
		// of earlier calls that it quotes: "red from 0.0s to 10.0s".
		p.runs = runsFromNotes(text.String())
	}
	return p
}

var noteRunRE = regexp.MustCompile(`([a-z]+) from ([0-9]+(?:\.[0-9]+)?)s to ([0-9]+(?:\.[0-9]+)?)s`)

// runsFromNotes reads colour runs quoted in text and joins the ones of the
// same colour that overlap or touch (as notes of overlapping windows do).
func runsFromNotes(text string) []run {
	var runs []run
	for _, m := range noteRunRE.FindAllStringSubmatch(text, -1) {
		if _, ok := RGB(m[1]); !ok {
			continue
		}
		start, _ := strconv.ParseFloat(m[2], 64)
		end, _ := strconv.ParseFloat(m[3], 64)
		runs = append(runs, run{colour: m[1], start: start, end: end})
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].start < runs[j].start })
	var out []run
	for _, r := range runs {
		if n := len(out); n > 0 && out[n-1].colour == r.colour && r.start <= out[n-1].end+1e-9 {
			out[n-1].end = math.Max(out[n-1].end, r.end)
			continue
		}
		out = append(out, r)
	}
	return out
}

func decodeContent(raw json.RawMessage) ([]contentPart, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []contentPart{{Type: "text", Text: s}}, nil
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, errors.New("must be a string or an array of content parts")
	}
	return parts, nil
}

// errOllamaImageURL is Ollama's answer to an image that is not a base64
// data URL.
var errOllamaImageURL = errors.New("image URLs are not currently supported, please use base64 encoded data instead")

// seeImage decodes an image_url part (an object with url, or a bare string),
// names its dominant colour and measures it.
func (s *Server) seeImage(raw json.RawMessage) (colour string, w, h int, detail string, err error) {
	var u struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(raw, &u) != nil {
		_ = json.Unmarshal(raw, &u.URL)
	}
	rest, ok := strings.CutPrefix(u.URL, "data:")
	if !ok {
		if s.pers.Name == nameOllama {
			return "", 0, 0, "", errOllamaImageURL
		}
		return "", 0, 0, "", errors.New("image_url must be a data URL (inferencetest fetches nothing)")
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		if s.pers.Name == nameOllama {
			return "", 0, 0, "", errOllamaImageURL
		}
		return "", 0, 0, "", errors.New("image data URL must be base64 encoded")
	}
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", 0, 0, "", fmt.Errorf("image data URL: %w", err)
	}
	img, err := decodeImage(data)
	if err != nil {
		return "", 0, 0, "", fmt.Errorf("image could not be decoded: %w", err)
	}
	b := img.Bounds()
	return DominantColour(img), b.Dx(), b.Dy(), u.Detail, nil
}

// colourRuns groups timed frames into runs; see the package doc for the
// end of the last run.
func colourRuns(frames []frame) []run {
	if len(frames) == 0 {
		return nil
	}
	var runs []run
	for i, f := range frames {
		if i > 0 && f.colour == runs[len(runs)-1].colour {
			runs[len(runs)-1].frames++
			continue
		}
		if i > 0 {
			runs[len(runs)-1].end = f.t
		}
		runs = append(runs, run{colour: f.colour, start: f.t, frames: 1})
	}
	runs[len(runs)-1].end = frames[len(frames)-1].t + medianInterval(frames)
	return runs
}

func medianInterval(frames []frame) float64 {
	var d []float64
	for i := 1; i < len(frames); i++ {
		if gap := frames[i].t - frames[i-1].t; gap > 0 {
			d = append(d, gap)
		}
	}
	if len(d) == 0 {
		return 1
	}
	slices.Sort(d)
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

// describe is the plain-text answer.
func (p *percept) describe() string {
	var b strings.Builder
	switch {
	case len(p.runs) > 0:
		spans := make([]string, len(p.runs))
		for i, r := range p.runs {
			spans[i] = r.colour + " from " + secs(r.start) + " to " + secs(r.end)
		}
		b.WriteString("Seen colours: " + strings.Join(spans, "; ") + ".")
	case len(p.untimed) > 0:
		b.WriteString("Seen colours (untimed frames): " + strings.Join(countColours(p.untimed), ", ") + ".")
	default:
		b.WriteString("No frames received.")
	}
	if len(p.runs) > 0 && len(p.untimed) > 0 {
		b.WriteString(" Untimed frames: " + strings.Join(countColours(p.untimed), ", ") + ".")
	}
	for _, ref := range p.refs {
		fmt.Fprintf(&b, " Reference %q (%s) %s.", ref.name, ref.colour, p.spansOf(ref.colour))
	}
	for _, name := range p.markers {
		if !slices.ContainsFunc(p.refs, func(r reference) bool { return r.name == name }) {
			fmt.Fprintf(&b, " Reference <@%s>: no reference image received.", name)
		}
	}
	return b.String()
}

// spansOf says where colour is seen.
func (p *percept) spansOf(colour string) string {
	var spans []string
	for _, r := range p.runs {
		if r.colour == colour {
			spans = append(spans, "from "+secs(r.start)+" to "+secs(r.end))
		}
	}
	if len(spans) == 0 {
		return "is not seen"
	}
	return "matches " + colour + " " + strings.Join(spans, ", ")
}

func countColours(frames []frame) []string {
	var order []string
	n := map[string]int{}
	for _, f := range frames {
		if n[f.colour] == 0 {
			order = append(order, f.colour)
		}
		n[f.colour]++
	}
	out := make([]string, len(order))
	for i, c := range order {
		out[i] = fmt.Sprintf("%s ×%d", c, n[c])
	}
	return out
}

// seenColours lists the colours of all frames, most frequent first.
func (p *percept) seenColours() []string {
	n := map[string]int{}
	for _, f := range slices.Concat(p.frames, p.untimed) {
		n[f.colour]++
	}
	var out []string
	for _, name := range Colours() {
		if n[name] > 0 {
			out = append(out, name)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return n[b] - n[a] })
	return out
}

// dominant is the colour of most frames, "" when there are none.
func (p *percept) dominant() string {
	if c := p.seenColours(); len(c) > 0 {
		return c[0]
	}
	return ""
}

// secs renders seconds with at least one decimal: 5 → "5.0s", 12.25 → "12.25s".
func secs(v float64) string {
	t := strconv.FormatFloat(round3(v), 'f', -1, 64)
	if !strings.Contains(t, ".") {
		t += ".0"
	}
	return t + "s"
}

// wordEnds returns the byte offset just past each word of s, a word being a
// run of characters other than white space and JSON punctuation.
func wordEnds(s string) []int {
	var ends []int
	in := false
	for i, r := range s {
		sep := r == ' ' || r == '\n' || r == '\t' || r == '\r' || strings.ContainsRune(`{}[]":,`, r)
		if in && sep {
			ends = append(ends, i)
		}
		in = !sep
	}
	if in {
		ends = append(ends, len(s))
	}
	return ends
}
