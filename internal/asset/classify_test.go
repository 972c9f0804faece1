package asset

import (
	"testing"

	"github.com/framewise/framewise/internal/media"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	ts := make([]byte, 400)
	ts[0], ts[188], ts[376] = 0x47, 0x47, 0x47
	tests := []struct {
		name, filename, ctype string
		head                  []byte
		typ                   Type
		mime                  string
	}{
		{"mp4 by bytes", "blob", "application/octet-stream", []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"), Video, "video/mp4"},
		{"mov by bytes", "x", "", []byte("\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00"), Video, "video/quicktime"},
		{"m4a by bytes", "x", "", []byte("\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00"), Audio, "audio/mp4"},
		{"webm by bytes", "", "", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"), Video, "video/webm"},
		{"mkv by bytes", "", "", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska"), Video, "video/x-matroska"},
		{"mpeg-ts by bytes", "", "", ts, Video, "video/mp2t"},
		{"png by bytes", "photo.bin", "", []byte("\x89PNG\r\n\x1a\n\x00\x00"), Image, "image/png"},
		{"jpeg by bytes", "", "", []byte("\xff\xd8\xff\xe0\x00\x10JFIF"), Image, "image/jpeg"},
		{"wav by bytes", "", "", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), Audio, "audio/wav"},
		{"mp3 with id3", "", "", []byte("ID3\x04\x00\x00\x00\x00"), Audio, "audio/mpeg"},
		{"random bytes named .mp4", "clip.MP4", "", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, Video, "video/mp4"},
		{"unknown bytes, audio MIME", "sound", "audio/x-custom", []byte("????"), Audio, "audio/x-custom"},
		{"image MIME", "", "image/avif", []byte("????"), Image, "image/avif"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			typ, mt, ok, reason := Classify(tt.filename, tt.ctype, tt.head)
			if !ok || typ != tt.typ || mt != tt.mime {
				t.Errorf("Classify = %q %q %v (%s), want %q %q", typ, mt, ok, reason, tt.typ, tt.mime)
			}
		})
	}
}

func TestClassifyRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct{ filename, ctype, head, reason string }{
		{"report.pdf", "application/pdf", "%PDF-1.7", "a pdf document"},
		{"notes.txt", "text/plain", "hello", "a txt document"},
		{"data.xyz", "application/octet-stream", "\x00\x01", "a xyz file"},
		{"", "", "<html><body>", "of type text/html; charset=utf-8"},
		{"", "", "", "empty"},
		{"logo.svg", "image/svg+xml", "<svg", "a svg file"},
	}
	for _, tt := range tests {
		if typ, _, ok, reason := Classify(tt.filename, tt.ctype, []byte(tt.head)); ok || reason != tt.reason {
			t.Errorf("Classify(%q, %q) = %q ok=%v reason %q, want refused as %q", tt.filename, tt.ctype, typ, ok, reason, tt.reason)
		}
	}
}

func TestClassifyURL(t *testing.T) {
	t.Parallel()
	if typ, _, ok, _ := classifyURL("/media/Cat.MOV"); !ok || typ != Video {
		t.Errorf("mov: %q %v", typ, ok)
	}
	if typ, _, ok, _ := classifyURL("/download"); !ok || typ != "" {
		t.Errorf("no extension: %q %v, want undecided", typ, ok)
	}
	if _, _, ok, reason := classifyURL("/paper.pdf"); ok || reason != "a pdf document" {
		t.Errorf("pdf accepted (%q)", reason)
	}
}

func TestProbedType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		info media.Info
		want Type
	}{
		{"png", media.Info{Format: "png_pipe", Video: &media.VideoStream{Codec: "png"}}, Image},
		{"jpeg via image2", media.Info{Format: "image2", Video: &media.VideoStream{Codec: "mjpeg"}}, Image},
		{"gif", media.Info{Format: "gif", Duration: 2, Video: &media.VideoStream{Codec: "gif"}}, Image},
		{"mp4", media.Info{Format: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 6, Video: &media.VideoStream{Codec: "h264"}}, Video},
		{"mjpeg video", media.Info{Format: "avi", Duration: 6, Video: &media.VideoStream{Codec: "mjpeg"}}, Video},
		{"mp3 with cover art", media.Info{Format: "mp3", Duration: 60, Audio: &media.AudioStream{Codec: "mp3"}}, Audio},
		{"nothing", media.Info{Format: "data"}, ""},
	}
	for _, tt := range tests {
		if got := probedType(&tt.info); got != tt.want {
			t.Errorf("%s: probedType = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestProbedMIME(t *testing.T) {
	t.Parallel()
	mp4 := &media.Info{Format: "mov,mp4,m4a,3gp,3g2,mj2", Video: &media.VideoStream{Codec: "h264"}}
	if got := probedMIME(mp4, Video, "clip.mov", "video/mp4"); got != "video/quicktime" {
		t.Errorf("mov: %q", got)
	}
	if got := probedMIME(mp4, Video, "clip", "application/octet-stream"); got != "video/mp4" {
		t.Errorf("mp4: %q", got)
	}
	mkv := &media.Info{Format: "matroska,webm", Audio: &media.AudioStream{Codec: "opus"}}
	if got := probedMIME(mkv, Audio, "a.webm", ""); got != "audio/webm" {
		t.Errorf("webm audio: %q", got)
	}
	png := &media.Info{Format: "png_pipe", Video: &media.VideoStream{Codec: "png"}}
	if got := probedMIME(png, Image, "x.jpg", "image/jpeg"); got != "image/png" {
		t.Errorf("png named jpg: %q", got)
	}
}

func TestUploadChunkLen(t *testing.T) {
	t.Parallel()
	u := &Upload{TotalSize: 25, ChunkSize: 10, TotalChunks: 3}
	for i, want := range map[int]int64{1: 10, 2: 10, 3: 5} {
		if got := u.ChunkLen(i); got != want {
			t.Errorf("ChunkLen(%d) = %d, want %d", i, got, want)
		}
	}
}
