package openai

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
)

// capture is a server that records the last request and answers a fixed
// chat completion.
type capture struct {
	mu     sync.Mutex
	body   []byte
	header http.Header
	path   string
}

func (c *capture) start(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.body, c.header, c.path = b, r.Header.Clone(), r.URL.Path
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// What goes over the wire is what the translation renders, so the golden
// file pins the real request body.
func TestWireBodyIsGolden(t *testing.T) {
	t.Parallel()
	var cp capture
	srv := cp.start(t)
	c, err := New(Config{BaseURL: srv.URL + "/v1", Model: "qwen2.5-vl-7b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat(context.Background(), goldenRequest()); err != nil {
		t.Fatal(err)
	}
	params, err := chatParams("qwen2.5-vl-7b", goldenRequest(), false)
	if err != nil {
		t.Fatal(err)
	}
	want := render(t, params) // pinned by TestChatParamsGolden
	var got, golden any
	if err := json.Unmarshal(cp.body, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &golden); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, golden) {
		t.Errorf("sent body differs from the rendered params:\n%s", cp.body)
	}
	if cp.path != "/v1/chat/completions" {
		t.Errorf("path = %q", cp.path)
	}
}

// A profile without a key sends none, even when the process environment
// has OPENAI_API_KEY (which belongs to some other server); a profile with a
// key sends its own.
func TestNoAmbientCredentials(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-ambient")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	var cp capture
	srv := cp.start(t)
	for _, key := range []string{"", "profile-key"} {
		c, err := New(Config{BaseURL: srv.URL + "/v1", Model: "m", APIKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Chat(context.Background(), goldenRequest()); err != nil {
			t.Fatal(err)
		}
		want := ""
		if key != "" {
			want = "Bearer " + key
		}
		if got := cp.header.Get("Authorization"); got != want {
			t.Errorf("key %q: Authorization = %q, want %q", key, got, want)
		}
	}
}

// A streamed call sends the golden body plus stream and
// stream_options.include_usage, and asks for an event stream; a server that
// answers one JSON completion anyway is read whole, its text passed on once.
func TestWireBodyStreamed(t *testing.T) {
	t.Parallel()
	var cp capture
	srv := cp.start(t)
	c, err := New(Config{BaseURL: srv.URL + "/v1", Model: "qwen2.5-vl-7b"})
	if err != nil {
		t.Fatal(err)
	}
	req := goldenRequest()
	var got []string
	req.Stream = func(s string) { got = append(got, s) }
	resp, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "ok" || len(got) != 1 || got[0] != "ok" {
		t.Errorf("resp %+v, streamed %q", resp, got)
	}
	params, err := chatParams("qwen2.5-vl-7b", goldenRequest(), false)
	if err != nil {
		t.Fatal(err)
	}
	var sent, golden map[string]any
	if err := json.Unmarshal(cp.body, &sent); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(render(t, params), &golden); err != nil {
		t.Fatal(err)
	}
	golden["stream"] = true
	golden["stream_options"] = map[string]any{"include_usage": true}
	if !reflect.DeepEqual(sent, golden) {
		t.Errorf("sent body is not the golden body with stream and stream_options:\n%s", cp.body)
	}
	if a := cp.header.Get("Accept"); a != "text/event-stream" {
		t.Errorf("Accept = %q", a)
	}
}
