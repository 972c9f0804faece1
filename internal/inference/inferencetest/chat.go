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
	ResponseFormat      *struct {
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
	fail := func(status int, msg string) {
		call.Status = status
		writeError(w, status, msg)
	}

	var req chatRequest
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		fail(http.StatusBadRequest, "request body is not valid JSON: "+err.Error())
		return
	}
	call.Model = req.Model
	call.MaxTokens = cmp(req.MaxTokens, req.MaxCompletionTokens)
	structured := req.ResponseFormat != nil && (req.ResponseFormat.Type == "json_schema" || req.ResponseFormat.Type == "json_object")
	if structured {
		call.Kind = KindStructured
	}
	if f := s.gate(r.Context(), r, req.Model); f != nil {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		fail(f.status, f.message)
		return
	}
	switch {
	case req.Stream:
		fail(http.StatusBadRequest, "stream is not supported by inferencetest")
		return
	case len(req.Messages) == 0:
		fail(http.StatusBadRequest, "messages must not be empty")
		return
	case req.ResponseFormat != nil && req.ResponseFormat.Type == "json_schema" &&
		(req.ResponseFormat.JSONSchema == nil || len(req.ResponseFormat.JSONSchema.Schema) == 0):
		fail(http.StatusBadRequest, "response_format json_schema needs json_schema.schema")
		return
	}

	p, err := perceive(&req)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	call.Images = p.images
	call.Frames = len(p.frames)
	if len(p.frames) > 0 {
		call.FirstFrame, call.LastFrame = p.frames[0].t, p.frames[len(p.frames)-1].t
	}

	var answer string
	switch {
	case req.ResponseFormat != nil && req.ResponseFormat.Type == "json_schema":
		doc, err := p.fillSchema(req.ResponseFormat.JSONSchema.Schema)
		if err != nil {
			fail(http.StatusBadRequest, "response_format json_schema: "+err.Error())
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

	finish := inference.FinishStop
	words := wordEnds(answer)
	switch {
	case malformed:
		answer = answer[:len(answer)/2]
		call.Malformed = true
	case forced && len(words) > 0:
		answer = answer[:words[(len(words)-1)/2]]
		finish, call.Truncated = inference.FinishLength, true
	case call.MaxTokens > 0 && len(words) > call.MaxTokens:
		answer = answer[:words[call.MaxTokens-1]]
		finish, call.Truncated = inference.FinishLength, true
	}

	call.Status = http.StatusOK
	model := req.Model
	if model == "" {
		model = "inferencetest"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      "chatcmpl-inferencetest-" + strconv.Itoa(id),
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": answer},
			"finish_reason": finish,
			"logprobs":      nil,
		}},
		"usage": map[string]any{
			"prompt_tokens":     p.promptTokens,
			"completion_tokens": len(wordEnds(answer)),
			"total_tokens":      p.promptTokens + len(wordEnds(answer)),
		},
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
	frames       []frame // timed, by time
	untimed      []frame
	refs         []reference
	markers      []string // <@name> markers in the prompt, in order, unique
	runs         []run
	images       int
	promptTokens int
}

var markerRE = regexp.MustCompile(`<@([^<>\s]+)>`)

// perceive decodes the messages: every image with the label before it, and
// the prompt text.
func perceive(req *chatRequest) (*percept, error) {
	p := &percept{}
	var chars int
	var text strings.Builder
	for mi, m := range req.Messages {
		parts, err := decodeContent(m.Content)
		if err != nil {
			return nil, fmt.Errorf("messages[%d].content: %w", mi, err)
		}
		for pi, part := range parts {
			switch part.Type {
			case "text":
				chars += len(part.Text)
				text.WriteString(part.Text + "\n")
				for _, mm := range markerRE.FindAllStringSubmatch(part.Text, -1) {
					if !slices.Contains(p.markers, mm[1]) {
						p.markers = append(p.markers, mm[1])
					}
				}
			case "image_url":
				p.images++
				colour, err := seeImage(part.ImageURL)
				if err != nil {
					return nil, fmt.Errorf("messages[%d].content[%d]: %w", mi, pi, err)
				}
				label := ""
				if pi > 0 && parts[pi-1].Type == "text" {
					label = parts[pi-1].Text
				}
				if t, ok := inference.ParseFrameTime(label); ok {
					p.frames = append(p.frames, frame{t: t, colour: colour})
				} else if name, ok := inference.ParseReferenceImage(label); ok {
					p.refs = append(p.refs, reference{name: name, colour: colour})
				} else {
					p.untimed = append(p.untimed, frame{colour: colour})
				}
			default:
				return nil, fmt.Errorf("messages[%d].content[%d]: part type %q is not supported by inferencetest", mi, pi, part.Type)
			}
		}
	}
	p.promptTokens = (chars+3)/4 + 85*p.images
	sort.SliceStable(p.frames, func(i, j int) bool { return p.frames[i].t < p.frames[j].t })
	p.runs = colourRuns(p.frames)
	if len(p.frames) == 0 {
		// A call without frames (a reduce step) is answered from the notes
		// of earlier calls that it quotes: "red from 0.0s to 10.0s".
		p.runs = runsFromNotes(text.String())
	}
	return p, nil
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

// seeImage decodes an image_url part (an object with url, or a bare string)
// and names its dominant colour.
func seeImage(raw json.RawMessage) (string, error) {
	var u struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(raw, &u) != nil {
		_ = json.Unmarshal(raw, &u.URL)
	}
	rest, ok := strings.CutPrefix(u.URL, "data:")
	if !ok {
		return "", errors.New("image_url must be a data URL (inferencetest fetches nothing)")
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return "", errors.New("image data URL must be base64 encoded")
	}
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", fmt.Errorf("image data URL: %w", err)
	}
	img, err := decodeImage(data)
	if err != nil {
		return "", fmt.Errorf("image could not be decoded: %w", err)
	}
	return DominantColour(img), nil
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
