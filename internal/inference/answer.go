package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
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
	for _, tag := range []string{"think", "thinking"} {
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
