package task

import (
	"strings"
	"unicode/utf8"
)

// ApproxTokens estimates how many model tokens s takes, for the prompt length
// limit (V15). It is an approximation, not the model's tokenizer: the larger
// of one token per four characters (runes, rounded up) and one token per
// whitespace-separated word. Both terms tend to overestimate slightly, so a
// prompt accepted here fits the real limit in practice.
func ApproxTokens(s string) int {
	chars := (utf8.RuneCountInString(s) + 3) / 4
	words := len(strings.Fields(s))
	return max(chars, words)
}
