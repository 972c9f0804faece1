package task

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
)

// This file lets Create store a base64 video without holding it decoded
// in memory: the base64 text is found in the request body where it lies,
// the rest of the body is validated with a short placeholder in its
// place, and the text is decoded as it is written to the blob store.

// inlinePlaceholder stands for the base64 video while the rest of the body
// is validated; it is valid base64 of 3 bytes.
const inlinePlaceholder = "AAAA"

// findInlineVideo returns the bounds of the contents (between the quotes)
// of the JSON string video.base64_string in body. It reports false, and
// Create falls back to decoding the body as a whole, when the body is not
// plainly shaped: not an object, a key with an escape, a repeated key
// "video" or "base64_string", or a base64 string with escapes. It allocates
// nothing.
func findInlineVideo(body []byte) (start, end int, ok bool) {
	sc := scanner{b: body}
	found := false
	okTop := sc.object(func(key []byte) bool {
		if string(key) != "video" {
			return sc.skipValue()
		}
		if found {
			return false
		}
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] != '{' {
			return sc.skipValue()
		}
		seen := false
		return sc.object(func(key []byte) bool {
			if string(key) != "base64_string" {
				return sc.skipValue()
			}
			if seen {
				return false
			}
			seen = true
			sc.ws()
			if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
				return sc.skipValue()
			}
			s, e, esc, ok := sc.str()
			if !ok || esc {
				return false
			}
			start, end, found = s, e, true
			return true
		})
	})
	sc.ws()
	// A blank string is left to the whole-body path, which names it so.
	if !okTop || sc.i != len(sc.b) || !found || len(bytes.TrimSpace(body[start:end])) == 0 {
		return 0, 0, false
	}
	return start, end, true
}

// scanner walks JSON text just far enough to find one string value.
type scanner struct {
	b []byte
	i int
}

func (sc *scanner) ws() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\r', '\n':
			sc.i++
		default:
			return
		}
	}
}

// str reads a string at sc.i and returns the bounds of its contents and
// whether it holds an escape.
func (sc *scanner) str() (start, end int, esc, ok bool) {
	if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
		return 0, 0, false, false
	}
	sc.i++
	start = sc.i
	for sc.i < len(sc.b) {
		switch c := sc.b[sc.i]; {
		case c == '"':
			end = sc.i
			sc.i++
			return start, end, esc, true
		case c == '\\':
			esc = true
			sc.i += 2
		case c < 0x20:
			return 0, 0, false, false
		default:
			// The long base64 runs: one pass, one comparison a byte.
			j := sc.i + 1
			for j < len(sc.b) && !stringSpecial[sc.b[j]] {
				j++
			}
			sc.i = j
		}
	}
	return 0, 0, false, false
}

// object reads an object at sc.i, calling member with each key (sc.i is
// then after the colon); member reads the value and reports false to stop.
func (sc *scanner) object(member func(key []byte) bool) bool {
	sc.ws()
	if sc.i >= len(sc.b) || sc.b[sc.i] != '{' {
		return false
	}
	sc.i++
	sc.ws()
	if sc.i < len(sc.b) && sc.b[sc.i] == '}' {
		sc.i++
		return true
	}
	for {
		sc.ws()
		s, e, esc, ok := sc.str()
		if !ok || esc {
			return false
		}
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] != ':' {
			return false
		}
		sc.i++
		if !member(sc.b[s:e]) {
			return false
		}
		sc.ws()
		if sc.i >= len(sc.b) {
			return false
		}
		switch sc.b[sc.i] {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return true
		default:
			return false
		}
	}
}

// skipValue skips any JSON value at sc.i. Its checks are loose: the body
// is validated in full by DecodeCreate afterwards.
func (sc *scanner) skipValue() bool {
	sc.ws()
	if sc.i >= len(sc.b) {
		return false
	}
	switch sc.b[sc.i] {
	case '"':
		_, _, _, ok := sc.str()
		return ok
	case '{':
		return sc.object(func([]byte) bool { return sc.skipValue() })
	case '[':
		sc.i++
		sc.ws()
		if sc.i < len(sc.b) && sc.b[sc.i] == ']' {
			sc.i++
			return true
		}
		for {
			if !sc.skipValue() {
				return false
			}
			sc.ws()
			if sc.i >= len(sc.b) {
				return false
			}
			switch sc.b[sc.i] {
			case ',':
				sc.i++
			case ']':
				sc.i++
				return true
			default:
				return false
			}
		}
	default:
		j := sc.i
		for j < len(sc.b) && bytes.IndexByte([]byte("-+.0123456789eEtruefalsn"), sc.b[j]) >= 0 {
			j++
		}
		if j == sc.i {
			return false
		}
		sc.i = j
		return true
	}
}

// withPlaceholder returns a copy of body with the contents of the string
// at [start, end) replaced by inlinePlaceholder.
func withPlaceholder(body []byte, start, end int) []byte {
	out := make([]byte, 0, len(body)-(end-start)+len(inlinePlaceholder))
	out = append(out, body[:start]...)
	out = append(out, inlinePlaceholder...)
	return append(out, body[end:]...)
}

// inlinePayload checks the base64 text s of a video the way
// decodeBase64Param does (data URL prefix, alphabet, decoded size) and
// returns a reader of the decoded bytes. It copies nothing.
func inlinePayload(s []byte, path string, limit int) (io.Reader, *ValidationError) {
	usable := func(why string) *ValidationError {
		return Invalid(path, "The %s parameter is not usable: %s. Send the file encoded as standard base64.", path, why)
	}
	if len(s) >= 5 && bytes.EqualFold(s[:5], []byte("data:")) {
		comma := bytes.IndexByte(s, ',')
		if comma < 0 || !bytes.HasSuffix(bytes.ToLower(s[5:comma]), []byte(";base64")) {
			return nil, usable(`it starts with "data:" but is not a base64 data URL ("data:<type>;base64,<data>")`)
		}
		s = s[comma+1:]
	}
	s = bytes.TrimRight(s, "=")
	if len(s) == 0 {
		return nil, usable("it holds no data")
	}
	if size := len(s) / 4 * 3; size > limit {
		return nil, Invalid(path, "The %s parameter decodes to about %d bytes, more than the limit of %d bytes. Send a smaller file, or use a url or asset_id instead.", path, len(s)*3/4, limit)
	}
	// One pass: the first byte outside both alphabets, the first byte of
	// the standard alphabet only, and whether the URL-safe one is used.
	bad, firstStd, url := -1, -1, false
	for i, c := range s {
		switch b64Class[c] {
		case b64Invalid:
			if bad < 0 {
				bad = i
			}
		case b64Std:
			if firstStd < 0 {
				firstStd = i
			}
		case b64URL:
			url = true
		}
		if bad >= 0 {
			break
		}
	}
	enc := base64.RawStdEncoding
	if url {
		enc = base64.RawURLEncoding
		if firstStd >= 0 && (bad < 0 || firstStd < bad) {
			bad = firstStd
		}
	}
	if bad >= 0 {
		return nil, usable(fmt.Sprintf("it is not valid base64 (bad data at character %d)", bad))
	}
	if len(s)%4 == 1 { // a lone last character, as the decoder reports it
		return nil, usable(fmt.Sprintf("it is not valid base64 (bad data at character %d)", len(s)-1))
	}
	return base64.NewDecoder(enc, bytes.NewReader(s)), nil
}

// Classes of bytes in base64 text.
const (
	b64Invalid = iota
	b64Both    // A-Z a-z 0-9
	b64Std     // + /
	b64URL     // - _
)

var b64Class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			t[c] = b64Both
		case c == '+' || c == '/':
			t[c] = b64Std
		case c == '-' || c == '_':
			t[c] = b64URL
		}
	}
	return t
}()

// stringSpecial marks the bytes that end a run of plain characters in a
// JSON string: the quote, the backslash and control characters.
var stringSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()
