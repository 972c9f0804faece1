package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode"
)

// What models really answer (BACKENDS.md §4): a reasoning model on a server
// without a reasoning parser puts its thinking in the content as
// <think>…</think>; a model without constrained decoding wraps JSON in
// ```json fences and talks around it. These functions read the answer out
// of such text; they never repair or guess content.

// StripReasoning removes <think>…</think> blocks (and <thinking>…</thinking>)
// from a model's text. An opening tag that is never closed (the answer was
// cut while thinking) removes everything after it.
func StripReasoning(text string) string {
	for _, tag := range reasoningTags {
		open, closing := "<"+tag+">", "</"+tag+">"
		for {
			i := strings.Index(text, open)
			if i < 0 {
				// A server that strips the opening tag but not the closing
				// one leaves "…</think>answer".
				if j := strings.Index(text, closing); j >= 0 {
					text = text[j+len(closing):]
					continue
				}
				break
			}
			j := strings.Index(text[i:], closing)
			if j < 0 {
				text = text[:i]
				break
			}
			text = text[:i] + text[i+j+len(closing):]
		}
	}
	return strings.TrimSpace(text)
}

// reasoningTags are the tags a model wraps its thinking in, in the order
// StripReasoning removes them.
var reasoningTags = []string{"think", "thinking"}

// reasoningMarks are the opening and closing tags of reasoningTags.
var reasoningMarks = func() []string {
	var m []string
	for _, t := range reasoningTags {
		m = append(m, "<"+t+">", "</"+t+">")
	}
	return m
}()

// ReasoningFilter is StripReasoning for an answer that arrives in
// fragments: Write takes the content as it streams, split anywhere (a tag
// may straddle two fragments), and emit receives the text outside
// <think>…</think> and <thinking>…</thinking> blocks as soon as it is
// known not to be part of a tag, leading and trailing white space withheld.
// After Close, what emit received, concatenated, is StripReasoning of the
// whole content — with one exception a stream cannot honour: a closing tag
// without an opening one (a server that strips the opening tag) makes
// StripReasoning drop everything before it, which was already emitted; the
// filter drops only the tag.
type ReasoningFilter struct {
	emit    func(string)
	pending string // text not yet judged: its end may begin a tag
	closing string // inside a block, the tag that ends it; "" outside
	started bool   // some text was emitted (white space before it is dropped)
	space   string // trailing white space, withheld until text follows it
}

// NewReasoningFilter returns a filter that passes the answer to emit.
func NewReasoningFilter(emit func(string)) *ReasoningFilter {
	return &ReasoningFilter{emit: emit}
}

// Write takes the next fragment of the content.
func (f *ReasoningFilter) Write(fragment string) {
	f.pending += fragment
	for {
		if f.closing != "" {
			i := strings.Index(f.pending, f.closing)
			if i < 0 {
				f.pending = f.pending[len(f.pending)-partialTag(f.pending, f.closing):]
				return
			}
			f.pending, f.closing = f.pending[i+len(f.closing):], ""
			continue
		}
		at, tag := -1, ""
		for _, x := range reasoningMarks {
			if i := strings.Index(f.pending, x); i >= 0 && (at < 0 || i < at) {
				at, tag = i, x
			}
		}
		if at < 0 {
			keep := 0
			for _, x := range reasoningMarks {
				keep = max(keep, partialTag(f.pending, x))
			}
			f.out(f.pending[:len(f.pending)-keep])
			f.pending = f.pending[len(f.pending)-keep:]
			return
		}
		f.out(f.pending[:at])
		f.pending = f.pending[at+len(tag):]
		if tag[1] != '/' {
			f.closing = "</" + tag[1:]
		}
	}
}

// Close ends the content: text held back because it might have begun a tag
// is emitted; an unclosed block and trailing white space are dropped.
func (f *ReasoningFilter) Close() {
	if f.closing == "" {
		f.out(f.pending)
	}
	f.pending, f.space = "", ""
}

// out emits text outside reasoning, trimmed as StripReasoning trims.
func (f *ReasoningFilter) out(text string) {
	if !f.started {
		if text = strings.TrimLeftFunc(text, unicode.IsSpace); text == "" {
			return
		}
		f.started = true
	}
	text = f.space + text
	body := strings.TrimRightFunc(text, unicode.IsSpace)
	f.space = text[len(body):]
	if body != "" {
		f.emit(body)
	}
}

// partialTag is the length of the longest end of s that is a proper
// beginning of tag.
func partialTag(s, tag string) int {
	for n := min(len(s), len(tag)-1); n > 0; n-- {
		if strings.HasPrefix(tag, s[len(s)-n:]) {
			return n
		}
	}
	return 0
}

// ErrNoJSON reports an answer in which no JSON value could be found.
var ErrNoJSON = errors.New("the answer contains no JSON")

// ErrAmbiguousJSON reports an answer with more than one different JSON
// document and nothing to tell which one is the answer.
var ErrAmbiguousJSON = errors.New("the answer contains several different JSON documents")

// ExtractJSON returns the JSON document a model answered, when it is
// unambiguous: the whole text (after StripReasoning) when it is JSON;
// otherwise the one fenced block (```json … ``` or ``` … ```) that is JSON;
// otherwise the one top-level object or array embedded in prose. Several
// different candidates are ambiguous and refused; so is text with none.
func ExtractJSON(text string) (string, error) {
	text = StripReasoning(text)
	if json.Valid([]byte(text)) {
		return text, nil
	}
	if c, err := unique(fenced(text)); err != ErrNoJSON {
		return c, err
	}
	return unique(embedded(text))
}

// unique returns the only distinct candidate.
func unique(cands []string) (string, error) {
	var out []string
	for _, c := range cands {
		dup := false
		for _, o := range out {
			if equalJSON(o, c) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, c)
		}
	}
	switch len(out) {
	case 0:
		return "", ErrNoJSON
	case 1:
		return out[0], nil
	}
	return "", ErrAmbiguousJSON
}

func equalJSON(a, b string) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, []byte(a)) != nil || json.Compact(&cb, []byte(b)) != nil {
		return a == b
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// fenced returns the contents of ``` fences that are JSON.
func fenced(text string) []string {
	var out []string
	for {
		i := strings.Index(text, "```")
		if i < 0 {
			return out
		}
		rest := text[i+3:]
		// The info string runs to the end of the line ("json", "JSON", "").
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 && !strings.ContainsAny(rest[:nl], "{[") {
			rest = rest[nl+1:]
		}
		j := strings.Index(rest, "```")
		if j < 0 {
			return out
		}
		if body := strings.TrimSpace(rest[:j]); json.Valid([]byte(body)) {
			out = append(out, body)
		}
		text = rest[j+3:]
	}
}

// embedded returns the top-level JSON objects and arrays found in prose:
// from each '{' or '[' not inside an earlier candidate, the shortest
// balanced span that is valid JSON.
func embedded(text string) []string {
	var out []string
	for i := 0; i < len(text); i++ {
		if text[i] != '{' && text[i] != '[' {
			continue
		}
		end := balanced(text, i)
		if end < 0 {
			continue
		}
		if c := text[i:end]; json.Valid([]byte(c)) {
			out = append(out, c)
			i = end - 1
		}
	}
	return out
}

// balanced returns the index just past the bracket that closes the one at
// text[start], honouring JSON strings, or -1.
func balanced(text string, start int) int {
	depth, inString, escaped := 0, false, false
	for i := start; i < len(text); i++ {
		c := text[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}
