package inferencetest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/inference"
	"github.com/framewise/framewise/internal/inference/inferencetest"
)

func solid(c color.RGBA, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 75}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decode(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestDominantColourPalette(t *testing.T) {
	t.Parallel()
	for _, name := range inferencetest.Colours() {
		data, err := inferencetest.SolidJPEG(name, 64, 36)
		if err != nil {
			t.Fatal(err)
		}
		if got := inferencetest.DominantColour(decode(t, data)); got != name {
			t.Errorf("solid %s JPEG seen as %s", name, got)
		}
	}
}

func TestDominantColour(t *testing.T) {
	t.Parallel()
	noisy := solid(color.RGBA{255, 0, 0, 255}, 320, 180)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(noisy.Pix); i += 4 {
		if rng.IntN(10) < 3 { // 30% of pixels random
			noisy.Pix[i], noisy.Pix[i+1], noisy.Pix[i+2] = uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256))
		}
	}
	half := solid(color.RGBA{0, 0, 255, 255}, 100, 100)
	for y := range 40 { // 40% yellow band, 60% blue
		for x := range 100 {
			half.Set(x, y, color.RGBA{255, 255, 0, 255})
		}
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, solid(color.RGBA{250, 160, 10, 255}, 640, 360)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		img  image.Image
		want string
	}{
		{"lime is green", solid(color.RGBA{0, 255, 0, 255}, 8, 8), "green"},
		{"dark red", solid(color.RGBA{190, 20, 20, 255}, 8, 8), "red"},
		{"near black", solid(color.RGBA{20, 20, 20, 255}, 8, 8), "black"},
		{"light gray", solid(color.RGBA{150, 150, 150, 255}, 8, 8), "gray"},
		{"noisy red JPEG", decode(t, encodeJPEG(t, noisy)), "red"},
		{"majority wins", half, "blue"},
		{"big orange PNG", decode(t, pngBuf.Bytes()), "orange"},
		{"one pixel", solid(color.RGBA{128, 0, 128, 255}, 1, 1), "purple"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := inferencetest.DominantColour(tt.img); got != tt.want {
				t.Errorf("DominantColour = %s, want %s", got, tt.want)
			}
		})
	}
}

// chat builds OpenAI chat request bodies by hand, as a server would get them.
type chat struct {
	t     *testing.T
	parts []any
	extra map[string]any
}

func newChat(t *testing.T) *chat { return &chat{t: t, extra: map[string]any{"model": "test-vlm"}} }

func (c *chat) text(s string) *chat {
	c.parts = append(c.parts, map[string]any{"type": "text", "text": s})
	return c
}

func (c *chat) image(colour string) *chat {
	data, err := inferencetest.SolidJPEG(colour, 32, 18)
	if err != nil {
		c.t.Fatal(err)
	}
	c.parts = append(c.parts, map[string]any{"type": "image_url", "image_url": map[string]any{
		"url": "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(data)}})
	return c
}

// frames adds one frame per second from start, colours in order.
func (c *chat) frames(start float64, colours ...string) *chat {
	for i, col := range colours {
		c.text(inference.FrameTimeText(start + float64(i))).image(col)
	}
	return c
}

func (c *chat) schema(s string) *chat {
	c.extra["response_format"] = map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "r", "schema": json.RawMessage(s), "strict": true}}
	return c
}

type answer struct {
	status  int
	header  http.Header
	content string
	finish  string
	usage   struct{ PromptTokens, CompletionTokens int }
	errMsg  string
}

func (c *chat) post(s *inferencetest.Server, path string) answer {
	c.t.Helper()
	body := map[string]any{"messages": []any{map[string]any{"role": "user", "content": c.parts}}}
	for k, v := range c.extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	res, err := http.Post(strings.TrimSuffix(s.URL(), "/v1")+path, "application/json", bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out struct {
		Choices []struct {
			Message      struct{ Content string }
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		}
		Error struct{ Message string }
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("answer is not JSON: %v: %s", err, raw)
	}
	a := answer{status: res.StatusCode, header: res.Header, errMsg: out.Error.Message}
	a.usage.PromptTokens, a.usage.CompletionTokens = out.Usage.PromptTokens, out.Usage.CompletionTokens
	if len(out.Choices) > 0 {
		a.content, a.finish = out.Choices[0].Message.Content, out.Choices[0].FinishReason
	}
	return a
}

func red5blue7(t *testing.T) *chat {
	return newChat(t).text("Describe the video.").frames(0, "red", "red", "red", "red", "red", "blue", "blue", "blue", "blue", "blue", "blue", "blue")
}

func TestPlainPrompt(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	a := red5blue7(t).post(s, "/v1/chat/completions")
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.errMsg)
	}
	if want := "Seen colours: red from 0.0s to 5.0s; blue from 5.0s to 12.0s."; a.content != want {
		t.Errorf("content = %q, want %q", a.content, want)
	}
	if a.finish != "stop" {
		t.Errorf("finish = %q", a.finish)
	}
	// 12 images × 85 plus a little text; the answer has 12 words.
	if a.usage.PromptTokens < 12*85 || a.usage.PromptTokens > 12*85+40 || a.usage.CompletionTokens != 12 {
		t.Errorf("usage = %+v", a.usage)
	}
	if w := s.Windows(); len(w) != 1 || w[0] != (inferencetest.Window{First: 0, Last: 11}) {
		t.Errorf("windows = %+v", w)
	}
}

func TestTimestampForms(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	// No /v1 prefix; labels in the other accepted forms, out of order, and
	// a label on the last line of a longer text part.
	a := newChat(t).
		text("[2.5s]").image("green").
		text("Frames follow.\n0.5s").image("yellow").
		text("t=1.500s").image("yellow").
		text("no label").image("white").
		post(s, "/chat/completions")
	want := "Seen colours: yellow from 0.5s to 2.5s; green from 2.5s to 3.5s. Untimed frames: white ×1."
	if a.content != want {
		t.Errorf("content = %q, want %q", a.content, want)
	}
}

func TestReferences(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	a := red5blue7(t).
		text("Where does <@car> appear? And <@dog>? And <@boat>?").
		text(inference.ReferenceImageText("car")).image("blue").
		text(inference.ReferenceImageText("boat")).image("green").
		post(s, "/v1/chat/completions")
	for _, want := range []string{
		`Reference "car" (blue) matches blue from 5.0s to 12.0s.`,
		`Reference "boat" (green) is not seen.`,
		`Reference <@dog>: no reference image received.`,
	} {
		if !strings.Contains(a.content, want) {
			t.Errorf("content %q lacks %q", a.content, want)
		}
	}
	if st := s.Stats(); st.Images != 14 {
		t.Errorf("images = %d, want 14", st.Images)
	}
	// References are not frames: the window is still 0..11.
	if w := s.Windows(); len(w) != 1 || w[0].Last != 11 {
		t.Errorf("windows = %+v", w)
	}
}

const segmentSchema = `{
  "type": "object",
  "properties": {
    "red_screens": {
      "type": "array",
      "description": "scenes where the screen is red",
      "items": {
        "type": "object",
        "properties": {
          "start_time": {"type": "number"},
          "end_time": {"type": "number"},
          "color": {"type": "string"},
          "seconds": {"type": "integer"},
          "mood": {"type": "string", "enum": ["calm", "angry red", "sad blue"]},
          "note": {"type": "string"},
          "peak_time": {"type": "number", "description": "when it peaks (absolute seconds)"}
        },
        "required": ["start_time", "end_time", "color", "seconds", "mood", "note", "peak_time"],
        "additionalProperties": false
      }
    },
    "sky": {
      "type": "array",
      "description": "Spans where <@sky> is visible",
      "items": {"$ref": "#/$defs/segment"}
    },
    "grey_frames": {
      "type": "array",
      "items": {"$ref": "#/$defs/segment"}
    },
    "any_scene": {
      "type": "array",
      "description": "every scene",
      "items": {"$ref": "#/$defs/segment"}
    }
  },
  "required": ["red_screens", "sky", "grey_frames", "any_scene"],
  "additionalProperties": false,
  "$defs": {
    "segment": {
      "type": "object",
      "properties": {"start_time": {"type": "number"}, "end_time": {"type": "number"}},
      "required": ["start_time", "end_time"],
      "additionalProperties": false
    }
  }
}`

func TestSegmentContract(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	// red 0-2, blue 2-4, red 4-5.5 (frames every 0.5 s from t=0).
	c := newChat(t).text("Find the segments.")
	for i, col := range []string{"red", "red", "red", "red", "blue", "blue", "blue", "blue", "red", "red", "red"} {
		c.text(inference.FrameTimeText(float64(i) * 0.5)).image(col)
	}
	a := c.text(inference.ReferenceImageText("sky")).image("blue").schema(segmentSchema).post(s, "/v1/chat/completions")
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.errMsg)
	}
	if err := validate(segmentSchema, a.content); err != nil {
		t.Fatalf("answer does not validate: %v\n%s", err, a.content)
	}
	var got struct {
		Red []struct {
			Start   float64 `json:"start_time"`
			End     float64 `json:"end_time"`
			Color   string
			Seconds int
			Mood    string
			Note    string
			Peak    float64 `json:"peak_time"`
		} `json:"red_screens"`
		Sky []struct {
			Start float64 `json:"start_time"`
			End   float64 `json:"end_time"`
		}
	}
	if err := json.Unmarshal([]byte(a.content), &got); err != nil {
		t.Fatal(err)
	}
	var raw map[string][]map[string]any
	_ = json.Unmarshal([]byte(a.content), &raw)
	if len(got.Red) != 2 || got.Red[0].Start != 0 || got.Red[0].End != 2 || got.Red[1].Start != 4 || got.Red[1].End != 5.5 {
		t.Errorf("red_screens = %+v", got.Red)
	}
	if r := got.Red[1]; r.Color != "red" || r.Seconds != 2 || r.Mood != "angry red" || r.Note != "red from 4.0s to 5.5s" || r.Peak != 4 {
		t.Errorf("custom fields = %+v", r)
	}
	if len(got.Sky) != 1 || got.Sky[0].Start != 2 || got.Sky[0].End != 4 {
		t.Errorf("sky (reference <@sky> is blue) = %+v", got.Sky)
	}
	if g := raw["grey_frames"]; len(g) != 0 {
		t.Errorf("grey_frames (colour from the property name, none seen) = %+v", g)
	}
	if a := raw["any_scene"]; len(a) != 3 || a[1]["start_time"] != 2.0 {
		t.Errorf("any_scene (no colour named: every run) = %+v", a)
	}
	if st := s.Stats(); st.ByKind[inferencetest.KindStructured] != 1 || st.Calls != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestGenericSchemas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema string
		check  func(t *testing.T, doc map[string]any)
	}{
		{
			name: "scalars",
			schema: `{"type":"object","properties":{
				"summary":{"type":"string"},
				"dominant_color":{"type":"string"},
				"scene_count":{"type":"integer","minimum":0},
				"clamped":{"type":"integer","minimum":5,"maximum":9},
				"ratio":{"type":"number","exclusiveMinimum":2,"exclusiveMaximum":3},
				"has_motion":{"type":"boolean"},
				"nothing":{"type":"null"},
				"short":{"type":"string","maxLength":4},
				"long":{"type":"string","minLength":300},
				"palette":{"type":"string","enum":["warm","Mostly BLUE","cold"]},
				"other":{"type":"string","enum":["x","y"]},
				"fixed":{"const":"v1"},
				"step":{"type":"number","multipleOf":0.5,"minimum":0.7}
			},"required":["summary","dominant_color","scene_count"],"additionalProperties":false}`,
			check: func(t *testing.T, doc map[string]any) {
				want := map[string]any{
					"dominant_color": "blue", "scene_count": 2.0, "clamped": 5.0, "has_motion": true,
					"nothing": nil, "short": "Seen", "palette": "Mostly BLUE", "other": "x", "fixed": "v1", "step": 2.0,
				}
				for k, v := range want {
					if doc[k] != v {
						t.Errorf("%s = %v, want %v", k, doc[k], v)
					}
				}
				if !strings.HasPrefix(doc["summary"].(string), "Seen colours: red from 0.0s to 5.0s") {
					t.Errorf("summary = %v", doc["summary"])
				}
			},
		},
		{
			name: "arrays per run, refs, anyOf, allOf",
			schema: `{"type":"object","properties":{
				"scenes":{"type":"array","items":{"$ref":"#/definitions/scene"}},
				"colors":{"type":"array","items":{"type":"string"},"uniqueItems":true},
				"padded":{"type":"array","minItems":4,"items":{"type":"integer"}},
				"capped":{"type":"array","maxItems":1,"items":{"type":"string"}},
				"maybe":{"anyOf":[{"type":"null"},{"type":"object","properties":{"color":{"type":"string"}},"required":["color"]}]},
				"both":{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"boolean"}},"required":["b"]}]},
				"nullable":{"type":["null","integer"]}
			},"required":["scenes","colors","padded","capped","maybe","both","nullable"],
			"definitions":{"scene":{"type":"object","properties":{"start":{"type":"number"},"end":{"type":"number"},"colour":{"type":"string"}},"required":["start","end","colour"],"additionalProperties":false}}}`,
			check: func(t *testing.T, doc map[string]any) {
				scenes := doc["scenes"].([]any)
				if len(scenes) != 2 {
					t.Fatalf("scenes = %v", scenes)
				}
				if s := scenes[1].(map[string]any); s["start"] != 5.0 || s["end"] != 12.0 || s["colour"] != "blue" {
					t.Errorf("scene 1 = %v", s)
				}
				if c := doc["colors"].([]any); len(c) != 2 || c[0] != "red" || c[1] != "blue" {
					t.Errorf("colors = %v", c)
				}
				if p := doc["padded"].([]any); len(p) != 4 || p[0] != 5.0 || p[1] != 7.0 {
					t.Errorf("padded (run lengths, cycled) = %v", p)
				}
				if m := doc["maybe"].(map[string]any); m["color"] != "blue" {
					t.Errorf("maybe = %v", m)
				}
				if doc["nullable"] != 2.0 {
					t.Errorf("nullable = %v", doc["nullable"])
				}
			},
		},
		{
			name:   "recursive schema terminates",
			schema: `{"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["name"]}}}`,
			check:  func(t *testing.T, doc map[string]any) {},
		},
		{
			name:   "top-level array",
			schema: `{"type":"object","properties":{"x":{"type":"array","items":{"type":"array","items":{"type":"number","maximum":1}}}}}`,
			check:  func(t *testing.T, doc map[string]any) {},
		},
	}
	s := inferencetest.New(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := red5blue7(t).schema(tt.schema).post(s, "/v1/chat/completions")
			if a.status != 200 {
				t.Fatalf("status %d: %s", a.status, a.errMsg)
			}
			if err := validate(tt.schema, a.content); err != nil {
				t.Fatalf("answer does not validate: %v\n%s", err, a.content)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(a.content), &doc); err != nil {
				t.Fatal(err)
			}
			tt.check(t, doc)
		})
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	tests := []struct {
		name string
		c    *chat
		want string
	}{
		{"undecodable image", newChat(t).text("t=0s").append(map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/jpeg;base64,AAAA"}}), "could not be decoded"},
		{"remote image", newChat(t).append(map[string]any{"type": "image_url", "image_url": map[string]any{"url": "https://example.com/a.jpg"}}), "data URL"},
		{"schema missing", newChat(t).text("x").set("response_format", map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "a"}}), "json_schema.schema"},
		{"false schema", newChat(t).text("x").schema(`{"type":"object","properties":{"a":false},"required":["a"]}`), "admits no value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := tt.c.post(s, "/v1/chat/completions")
			if a.status != 400 || !strings.Contains(a.errMsg, tt.want) {
				t.Errorf("got %d %q, want 400 containing %q", a.status, a.errMsg, tt.want)
			}
		})
	}
}

func (c *chat) append(part map[string]any) *chat { c.parts = append(c.parts, part); return c }
func (c *chat) set(k string, v any) *chat        { c.extra[k] = v; return c }

func TestFaults(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)

	s.FailNext(2, 429)
	for range 2 {
		if a := red5blue7(t).post(s, "/v1/chat/completions"); a.status != 429 || a.header.Get("Retry-After") != "1" {
			t.Fatalf("got %d Retry-After %q, want 429 with 1", a.status, a.header.Get("Retry-After"))
		}
	}
	if a := red5blue7(t).post(s, "/v1/chat/completions"); a.status != 200 {
		t.Fatalf("third call: %d", a.status)
	}

	s.FailNext(1, 500)
	if a := red5blue7(t).post(s, "/v1/chat/completions"); a.status != 500 || a.header.Get("Retry-After") != "" {
		t.Fatalf("got %d, want 500 without Retry-After", a.status)
	}

	s.SetDown(true)
	if a := red5blue7(t).post(s, "/v1/chat/completions"); a.status != 503 || !strings.Contains(a.errMsg, "down") {
		t.Fatalf("down: %d %q", a.status, a.errMsg)
	}
	s.SetDown(false)

	s.MalformNext(1)
	a := red5blue7(t).schema(segmentSchema).post(s, "/v1/chat/completions")
	if a.status != 200 || json.Valid([]byte(a.content)) || a.finish != "stop" {
		t.Fatalf("malformed: %d %q %q", a.status, a.finish, a.content)
	}
	// Plain calls do not consume the malformed budget; it was 1.
	if a := red5blue7(t).schema(segmentSchema).post(s, "/v1/chat/completions"); !json.Valid([]byte(a.content)) {
		t.Fatalf("second structured call still malformed: %q", a.content)
	}

	a = red5blue7(t).set("max_tokens", 4).post(s, "/v1/chat/completions")
	if a.finish != "length" || a.content != "Seen colours: red from" || a.usage.CompletionTokens != 4 {
		t.Errorf("max_tokens 4: %q %q %+v", a.finish, a.content, a.usage)
	}
	a = red5blue7(t).set("max_completion_tokens", 100).post(s, "/v1/chat/completions")
	if a.finish != "stop" {
		t.Errorf("max_completion_tokens 100: %q", a.finish)
	}
	s.SetTruncate(true)
	a = red5blue7(t).post(s, "/v1/chat/completions")
	if a.finish != "length" || a.content != "Seen colours: red from 0.0s to" {
		t.Errorf("forced truncation: %q %q", a.finish, a.content)
	}
	s.SetTruncate(false)

	st := s.Stats()
	if st.Calls != 10 || st.Failed != 4 || st.ByKind[inferencetest.KindChat] != 8 || st.ByKind[inferencetest.KindStructured] != 2 {
		t.Errorf("stats = %+v", st)
	}
	calls := s.Calls()
	if !calls[5].Malformed || !calls[7].Truncated || calls[7].MaxTokens != 4 {
		t.Errorf("call log = %+v", calls)
	}
	if w := s.Windows(); len(w) != 6 {
		t.Errorf("windows of answered calls = %d, want 6", len(w))
	}
	s.Reset()
	if st := s.Stats(); st.Calls != 0 || len(s.Calls()) != 0 {
		t.Errorf("after reset: %+v", st)
	}
}

func TestAuthAndModels(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t, inferencetest.WithAPIKey("k"), inferencetest.WithModels("test-vlm"))
	if a := red5blue7(t).post(s, "/v1/chat/completions"); a.status != 401 {
		t.Errorf("without key: %d", a.status)
	}
	req, _ := http.NewRequest("GET", s.URL()+"/models", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), `"id":"test-vlm"`) {
		t.Errorf("models = %s", b)
	}
}

func TestConcurrencyAndLatency(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t, inferencetest.WithLatency(100*time.Millisecond))
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			newChat(t).frames(float64(10*i), "red", "green").post(s, "/v1/chat/completions")
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("4 calls took %v, latency not applied", d)
	}
	if st := s.Stats(); st.MaxConcurrent < 2 || st.MaxConcurrent > 4 || st.Images != 8 {
		t.Errorf("stats = %+v", st)
	}
	seen := map[float64]bool{}
	for _, w := range s.Windows() {
		if w.Last-w.First != 1 || seen[w.First] {
			t.Errorf("window %+v", w)
		}
		seen[w.First] = true
	}
	if len(seen) != 4 {
		t.Errorf("windows = %+v", s.Windows())
	}
}
