package asset

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/framewise/framewise/internal/media"
)

// Playlists and manifests make FFmpeg open the files they name (another
// user's upload, say), so they are refused before FFmpeg sees them. FFmpeg
// skips ID3v2 tags at the start of any input before probing and before the
// demuxer reads (avformat_open_input), so an HLS playlist behind an ID3 tag
// is still an HLS playlist to it: the check looks past the tags as well.

// maxID3Tags bounds the ID3v2 tags skipped in a row; FFmpeg reads every
// tag in a row, a real file has one or two.
const maxID3Tags = 64

// id3v2Len returns the length of the ID3v2 tag that head (at least 10
// bytes) starts with, header and footer included, or 0 when head does not
// start with one. The test is FFmpeg's (ff_id3v2_match): "ID3", a version
// that is not 0xff, and a 28-bit syncsafe size (four bytes below 0x80).
func id3v2Len(head []byte) int64 {
	if len(head) < 10 || string(head[:3]) != "ID3" || head[3] == 0xff || head[4] == 0xff ||
		(head[6]|head[7]|head[8]|head[9])&0x80 != 0 {
		return 0
	}
	size := int64(head[6])<<21 | int64(head[7])<<14 | int64(head[8])<<7 | int64(head[9])
	n := 10 + size
	if head[5]&0x10 != 0 { // footer present
		n += 10
	}
	return n
}

// playlistFormat tells which playlist text head starts with: "hls",
// "concat", "dash" or "" (the same tests as internal/media's pre-check).
func playlistFormat(head []byte) string {
	text := strings.TrimLeft(string(head), "\ufeff \t\r\n")
	switch {
	case strings.HasPrefix(text, "#EXTM3U"):
		return "hls"
	case strings.HasPrefix(text, "ffconcat"):
		return "concat"
	case strings.HasPrefix(text, "<") && strings.Contains(text, "<MPD"):
		return "dash"
	}
	return ""
}

// PlaylistFormat reads the start of r, past any ID3v2 tags, and tells
// which playlist or manifest it is ("hls", "concat", "dash"), or "" for
// anything else.
func PlaylistFormat(r io.ReaderAt) (string, error) {
	var off int64
	head := make([]byte, 1024)
	for range maxID3Tags + 1 {
		n, err := r.ReadAt(head, off)
		if err != nil && err != io.EOF {
			return "", err
		}
		skip := id3v2Len(head[:n])
		if skip == 0 {
			return playlistFormat(head[:n]), nil
		}
		off += skip
	}
	return "", nil
}

// CheckPlaylist refuses a file that is a playlist or manifest, even behind
// ID3v2 tags, with the *media.RuleError that media.Tool.Probe gives a
// playlist it recognizes. Call it before probing a user's file.
func CheckPlaylist(path string) (*media.RuleError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	format, err := PlaylistFormat(f)
	if err != nil || format == "" {
		return nil, err
	}
	return &media.RuleError{
		Rule: media.RuleDecodable,
		Message: "the file is a playlist or manifest (HLS, DASH or concat), not a video file; " +
			"provide the video file itself, for example an MP4",
		Err: fmt.Errorf("%w: %s playlist", media.ErrNotMedia, format),
	}, nil
}
