package asset

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framewise/framewise/internal/media"
)

// id3 returns an ID3v2.4 tag with a body of n bytes, and a footer when asked.
func id3(n int, footer bool) []byte {
	flags := byte(0)
	if footer {
		flags = 0x10
	}
	b := []byte{'I', 'D', '3', 4, 0, flags, byte(n >> 21 & 0x7f), byte(n >> 14 & 0x7f), byte(n >> 7 & 0x7f), byte(n & 0x7f)}
	b = append(b, bytes.Repeat([]byte{'T'}, n)...)
	if footer {
		b = append(b, '3', 'D', 'I', 4, 0, flags, b[6], b[7], b[8], b[9])
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestPlaylistFormat(t *testing.T) {
	t.Parallel()
	hls := []byte("#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXTINF:5.0,\n/data/blobs/assets/other/source\n#EXT-X-ENDLIST\n")
	dash := []byte(`<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"></MPD>`)
	concat := []byte("ffconcat version 1.0\nfile /data/blobs/assets/other/source\n")
	mp3 := cat(id3(200, false), []byte{0xff, 0xfb, 0x90, 0x64}, bytes.Repeat([]byte{0}, 400))
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"hls", hls, "hls"},
		{"hls after a BOM and blank lines", cat([]byte("\ufeff\r\n\n"), hls), "hls"},
		{"hls behind ID3", cat(id3(20, false), hls), "hls"},
		{"hls behind a large ID3 tag", cat(id3(5000, false), hls), "hls"},
		{"hls behind an ID3 tag with a footer", cat(id3(30, true), hls), "hls"},
		{"hls behind two ID3 tags", cat(id3(20, false), id3(3000, false), hls), "hls"},
		{"hls behind ID3 and a BOM", cat(id3(20, false), []byte("\ufeff\n"), hls), "hls"},
		{"dash behind ID3", cat(id3(10, false), dash), "dash"},
		{"concat behind ID3", cat(id3(0, false), concat), "concat"},
		{"mp3 with an ID3 tag", mp3, ""},
		{"ID3 tag alone", id3(50, false), ""},
		{"ID3 tag cut short", id3(50, false)[:30], ""},
		{"ID3 size not syncsafe", cat([]byte("ID3\x04\x00\x00\x00\x00\x00\x80"), hls), ""},
		{"ID3 version 0xff", cat([]byte("ID3\xff\x00\x00\x00\x00\x00\x00"), hls), ""},
		{"mp4", []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"), ""},
		{"empty", nil, ""},
		{"text mentioning EXTM3U later", []byte("hello\n#EXTM3U\n"), ""},
	}
	for _, tt := range tests {
		got, err := PlaylistFormat(bytes.NewReader(tt.data))
		if err != nil || got != tt.want {
			t.Errorf("%s: PlaylistFormat = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	// A chain of empty tags ends: the skip is bounded.
	var chain []byte
	for range maxID3Tags + 5 {
		chain = append(chain, id3(0, false)...)
	}
	if got, err := PlaylistFormat(bytes.NewReader(cat(chain, hls))); err != nil || got != "" {
		t.Errorf("long tag chain: %q, %v", got, err)
	}
}

func TestCheckPlaylist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "source")
	os.WriteFile(path, cat(id3(100, false), []byte("#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXTINF:5,\n/etc/x.ts\n")), 0o600)
	rule, err := CheckPlaylist(path)
	if err != nil || rule == nil || !errors.Is(rule, media.ErrNotMedia) || !strings.Contains(rule.Message, "playlist") || rule.Rule != media.RuleDecodable {
		t.Fatalf("CheckPlaylist = %+v, %v", rule, err)
	}
	if !strings.Contains(fileRuleMessage(rule), "playlist") {
		t.Errorf("the asset message loses the playlist: %q", fileRuleMessage(rule))
	}
	os.WriteFile(path, []byte("\x00\x00\x00\x20ftypisom"), 0o600)
	if rule, err := CheckPlaylist(path); rule != nil || err != nil {
		t.Errorf("mp4: %v, %v", rule, err)
	}
	if _, err := CheckPlaylist(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
