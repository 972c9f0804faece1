package task

import (
	"strings"
	"testing"
)

func TestApproxTokens(t *testing.T) {
	t.Parallel()
	cases := []struct {
		s    string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"abcd", 1},
		{"abcde", 2},
		{"a b c d e", 5},                  // words win: 9 runes → 3
		{"supercalifragilistic", 5},       // runes win: 20/4
		{"日本語のテキスト", 2},                   // runes, not bytes
		{"  spaced   out  words ", 6},     // 22 runes → 6; 3 words
		{strings.Repeat("ab ", 100), 100}, // 300 runes → 75; 100 words
	}
	for _, tc := range cases {
		if got := ApproxTokens(tc.s); got != tc.want {
			t.Errorf("ApproxTokens(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}
