package inference_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/framewise/framewise/internal/inference"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	img := &inference.Image{MIME: "image/jpeg", Data: []byte{0xff, 0xd8}}
	user := func(parts ...inference.Part) inference.Message {
		return inference.Message{Role: inference.RoleUser, Parts: parts}
	}
	tests := []struct {
		name string
		req  inference.ChatRequest
		want string // substring of the error; "" means valid
	}{
		{"text and image", inference.ChatRequest{Messages: []inference.Message{user(inference.Text("t=0.000s"), inference.Part{Image: img})}}, ""},
		{"schema object", inference.ChatRequest{Messages: []inference.Message{user(inference.Text("hi"))}, JSONSchema: json.RawMessage(`{"type":"object"}`)}, ""},
		{"no messages", inference.ChatRequest{}, "no messages"},
		{"unknown role", inference.ChatRequest{Messages: []inference.Message{{Role: "tool", Parts: []inference.Part{inference.Text("x")}}}}, `unknown role "tool"`},
		{"no parts", inference.ChatRequest{Messages: []inference.Message{user()}}, "has no parts"},
		{"both set", inference.ChatRequest{Messages: []inference.Message{user(inference.Part{Text: "x", Image: img})}}, "both text and image"},
		{"empty part", inference.ChatRequest{Messages: []inference.Message{user(inference.Part{})}}, "is empty"},
		{"image in system", inference.ChatRequest{Messages: []inference.Message{{Role: inference.RoleSystem, Parts: []inference.Part{{Image: img}}}}}, "only in user messages"},
		{"image without data", inference.ChatRequest{Messages: []inference.Message{user(inference.Part{Image: &inference.Image{}})}}, "no data"},
		{"bad detail", inference.ChatRequest{Messages: []inference.Message{user(inference.Part{Image: &inference.Image{Data: []byte{1}, Detail: "ultra"}})}}, `detail "ultra"`},
		{"negative max tokens", inference.ChatRequest{Messages: []inference.Message{user(inference.Text("x"))}, MaxTokens: -1}, "negative"},
		{"schema not object", inference.ChatRequest{Messages: []inference.Message{user(inference.Text("x"))}, JSONSchema: json.RawMessage(`[1]`)}, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.req.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestFrameTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want float64
		ok   bool
	}{
		{inference.FrameTimeText(12.5), 12.5, true},
		{"t=0.000s", 0, true},
		{"[12.5s]", 12.5, true},
		{"12.5s", 12.5, true},
		{"  t=3s \n", 3, true},
		{"Frames follow.\nt=7.250s", 7.25, true},
		{"t=12.5", 0, false},
		{"at 12.5s", 0, false},
		{"t=-1.000s", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := inference.ParseFrameTime(tt.text)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseFrameTime(%q) = %v, %v; want %v, %v", tt.text, got, ok, tt.want, tt.ok)
		}
	}
	if got := inference.FrameTimeText(12.5); got != "t=12.500s" {
		t.Errorf("FrameTimeText(12.5) = %q", got)
	}
	if got := inference.FrameTimeText(-0.2); got != "t=0.000s" {
		t.Errorf("FrameTimeText(-0.2) = %q", got)
	}
}

func TestReferenceImage(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"car", `my "red" car`, "ü"} {
		got, ok := inference.ParseReferenceImage(inference.ReferenceImageText(name))
		if !ok || got != name {
			t.Errorf("round trip of %q = %q, %v", name, got, ok)
		}
	}
	if _, ok := inference.ParseReferenceImage("reference image car:"); ok {
		t.Error("unquoted name accepted")
	}
}

func TestIsTemporary(t *testing.T) {
	t.Parallel()
	temp := &inference.BackendError{Backend: "b", Temporary: true, Message: "down"}
	perm := &inference.BackendError{Backend: "b", StatusCode: 400}
	if !inference.IsTemporary(fmt.Errorf("wrapped: %w", temp)) {
		t.Error("wrapped temporary error not temporary")
	}
	if inference.IsTemporary(perm) || inference.IsTemporary(errors.New("x")) {
		t.Error("permanent error reported temporary")
	}
	if perm.Error() != `model backend "b" failed (HTTP 400)` {
		t.Errorf("Error() = %q", perm.Error())
	}
}
