package inference

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestStripReasoning(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"plain answer", "plain answer"},
		{"<think>\nI look at frames.\n</think>\n\nred from 0s", "red from 0s"},
		{"<think>a</think>x<think>b</think>y", "xy"},
		{"I was thinking.</think>\nanswer", "answer"},
		{"<think>cut while thinking", ""},
		{"<thinking>hmm</thinking> ok", "ok"},
	} {
		if got := StripReasoning(c.in); got != c.want {
			t.Errorf("StripReasoning(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestExtractJSON(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, in, want string
		err            error
	}{
		{"bare", `{"a":1}`, `{"a":1}`, nil},
		{"bare array", ` [1,2] `, `[1,2]`, nil},
		{"fence with prose", "Here is the JSON for the frames you sent:\n```json\n{\"red\":[{\"start_time\":1}]}\n```\nLet me know if you need anything else.", `{"red":[{"start_time":1}]}`, nil},
		{"fence without info string", "```\n{\"a\":true}\n```", `{"a":true}`, nil},
		{"think then fence", "<think>\n{\"draft\":1}\n</think>\n```json\n{\"a\":2}\n```", `{"a":2}`, nil},
		{"think then bare", "<think>I compare colours.</think>\n\n{\"a\":3}", `{"a":3}`, nil},
		{"embedded in prose", `The answer is {"a": "x}"} as requested.`, `{"a": "x}"}`, nil},
		{"same document twice", "```json\n{\"a\":1}\n```\nAgain: ```json\n{ \"a\": 1 }\n```", `{"a":1}`, nil},
		{"two different fences", "```json\n{\"a\":1}\n```\n```json\n{\"a\":2}\n```", "", ErrAmbiguousJSON},
		{"two different objects in prose", `first {"a":1} then {"a":2}`, "", ErrAmbiguousJSON},
		{"no JSON", "Hello, I cannot see any frames.", "", ErrNoJSON},
		{"cut JSON", `{"a": [1, 2`, "", ErrNoJSON},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := ExtractJSON(c.in)
			if !errors.Is(err, c.err) || got != c.want {
				t.Fatalf("ExtractJSON = %q, %v; want %q, %v", got, err, c.want, c.err)
			}
		})
	}
}

// FuzzExtractJSON: whatever the text, no panic, and what comes back is
// valid JSON.
func FuzzExtractJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, "```json\n[1]\n```", "<think>x</think>{}", `say {"a":"}"} ok`, "{{[[", `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ExtractJSON(s)
		if err != nil {
			return
		}
		if !json.Valid([]byte(got)) {
			t.Fatalf("ExtractJSON(%q) = %q, not JSON", s, got)
		}
	})
}

// The filter's output, whatever the fragments, is StripReasoning of the
// whole text (for texts without a closing tag lacking its opening one).
func TestReasoningFilterMatchesStripReasoning(t *testing.T) {
	t.Parallel()
	texts := []string{
		"plain answer",
		"  spaced answer \n",
		"<think>\nI look at frames.\n</think>\n\nred from 0s",
		"<think>a</think>x<think>b</think>y",
		"<think>cut while thinking",
		"<thinking>hmm</thinking> ok",
		"a <think>x</think> b",
		"less < than <thin and <think",
		"ends with a partial tag <thi",
		"<think>one</think>two <thinking>three</thinking>\n four\t",
		"héllo <think>ü</think>wörld ✓",
		"",
		"<think>only thinking</think>\n",
	}
	for _, text := range texts {
		want := StripReasoning(text)
		// Every way of cutting the text in two, and fragments of 1 to 4 bytes.
		cuts := [][]int{}
		for i := 0; i <= len(text); i++ {
			cuts = append(cuts, []int{i})
		}
		for size := 1; size <= 4; size++ {
			var c []int
			for i := size; i < len(text); i += size {
				c = append(c, i)
			}
			cuts = append(cuts, c)
		}
		for _, cut := range cuts {
			var got, frags []string
			f := NewReasoningFilter(func(s string) { got = append(got, s) })
			prev := 0
			for _, i := range append(cut, len(text)) {
				frags = append(frags, text[prev:i])
				f.Write(text[prev:i])
				prev = i
			}
			f.Close()
			if joined := strings.Join(got, ""); joined != want {
				t.Fatalf("fragments %q: emitted %q, want %q", frags, joined, want)
			}
			for _, g := range got {
				if strings.Contains(g, "think") && !strings.Contains(want, "think") {
					t.Fatalf("fragments %q: emitted reasoning %q", frags, g)
				}
			}
		}
	}
}

func TestReasoningFilterEmitsEarly(t *testing.T) {
	t.Parallel()
	var got []string
	f := NewReasoningFilter(func(s string) { got = append(got, s) })
	f.Write("<think>plan</think>\n\nRed ")
	f.Write("then <")
	if want := []string{"Red", " then"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("before the end: emitted %q, want %q (text is passed on as soon as it cannot be a tag)", got, want)
	}
	f.Write("b>blue")
	f.Close()
	if want := "Red then <b>blue"; strings.Join(got, "") != want {
		t.Errorf("emitted %q, want %q", strings.Join(got, ""), want)
	}
}
