package inference

import (
	"regexp"
	"strconv"
	"strings"
)

// How images are labelled in a chat request. Models read these labels, and so
// does the test double (inferencetest), so engines build them with these
// functions rather than by hand:
//
//   - a video frame is preceded by a text part FrameTimeText(t), e.g.
//     "t=12.500s": the absolute time of the frame in the video, in seconds;
//   - a reference image (a picture of an entity the prompt names as <@name>)
//     is preceded by a text part ReferenceImageText(name), e.g.
//     `reference image "car":`.

// FrameTimeText labels the frame that follows with its absolute time in
// seconds: "t=12.500s" (always three decimals, never negative).
func FrameTimeText(seconds float64) string {
	if seconds < 0 {
		seconds = 0
	}
	return "t=" + strconv.FormatFloat(seconds, 'f', 3, 64) + "s"
}

var frameTimeRE = regexp.MustCompile(`^(?:t=([0-9]+(?:\.[0-9]+)?)s|\[([0-9]+(?:\.[0-9]+)?)s\]|([0-9]+(?:\.[0-9]+)?)s)$`)

// ParseFrameTime reads a frame label back. It looks at the last non-empty
// line of text and accepts "t=12.500s", "[12.5s]" and "12.5s".
func ParseFrameTime(text string) (seconds float64, ok bool) {
	line := lastLine(text)
	m := frameTimeRE.FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	for _, g := range m[1:] {
		if g != "" {
			v, err := strconv.ParseFloat(g, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// ReferenceImageText labels the image that follows as the reference picture
// of the entity the prompt calls <@name>.
func ReferenceImageText(name string) string {
	return "reference image " + strconv.Quote(name) + ":"
}

var referenceRE = regexp.MustCompile(`^reference image "((?:[^"\\]|\\.)*)":$`)

// ParseReferenceImage reads a reference label back (last non-empty line of
// text) and returns the entity name.
func ParseReferenceImage(text string) (name string, ok bool) {
	m := referenceRE.FindStringSubmatch(lastLine(text))
	if m == nil {
		return "", false
	}
	name, err := strconv.Unquote(`"` + m[1] + `"`)
	return name, err == nil
}

func lastLine(text string) string {
	text = strings.TrimSpace(text)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = strings.TrimSpace(text[i+1:])
	}
	return text
}
