package asset

import (
	"bytes"
	"math"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/framewise/framewise/internal/media"
)

// extTypes maps lowercase file extensions to a type and MIME type.
var extTypes = map[string]struct {
	typ  Type
	mime string
}{
	".mp4": {Video, "video/mp4"}, ".m4v": {Video, "video/x-m4v"}, ".mov": {Video, "video/quicktime"},
	".mkv": {Video, "video/x-matroska"}, ".webm": {Video, "video/webm"}, ".avi": {Video, "video/x-msvideo"},
	".flv": {Video, "video/x-flv"}, ".wmv": {Video, "video/x-ms-wmv"}, ".asf": {Video, "video/x-ms-asf"},
	".mpg": {Video, "video/mpeg"}, ".mpeg": {Video, "video/mpeg"}, ".ts": {Video, "video/mp2t"},
	".mts": {Video, "video/mp2t"}, ".m2ts": {Video, "video/mp2t"}, ".3gp": {Video, "video/3gpp"},
	".3g2": {Video, "video/3gpp2"}, ".ogv": {Video, "video/ogg"}, ".mxf": {Video, "application/mxf"},

	".mp3": {Audio, "audio/mpeg"}, ".m4a": {Audio, "audio/mp4"}, ".aac": {Audio, "audio/aac"},
	".wav": {Audio, "audio/wav"}, ".flac": {Audio, "audio/flac"}, ".ogg": {Audio, "audio/ogg"},
	".oga": {Audio, "audio/ogg"}, ".opus": {Audio, "audio/opus"}, ".wma": {Audio, "audio/x-ms-wma"},
	".aif": {Audio, "audio/aiff"}, ".aiff": {Audio, "audio/aiff"}, ".mka": {Audio, "audio/x-matroska"},

	".jpg": {Image, "image/jpeg"}, ".jpeg": {Image, "image/jpeg"}, ".png": {Image, "image/png"},
	".webp": {Image, "image/webp"}, ".bmp": {Image, "image/bmp"}, ".gif": {Image, "image/gif"},
	".tif": {Image, "image/tiff"}, ".tiff": {Image, "image/tiff"},
}

// documentExts are files upstream accepts as documents and framewise does not.
var documentExts = map[string]bool{".pdf": true, ".txt": true, ".md": true, ".markdown": true, ".doc": true, ".docx": true, ".html": true, ".htm": true, ".json": true, ".csv": true}

// sniff recognizes a media container from its first bytes. It returns ""
// when the bytes do not tell.
func sniff(head []byte) (Type, string) {
	at := func(off int, sig string) bool {
		return len(head) >= off+len(sig) && string(head[off:off+len(sig)]) == sig
	}
	switch {
	case at(4, "ftyp"):
		brand := ""
		if len(head) >= 12 {
			brand = string(head[8:12])
		}
		switch {
		case brand == "qt  ":
			return Video, "video/quicktime"
		case brand == "M4A " || brand == "M4B ":
			return Audio, "audio/mp4"
		case strings.HasPrefix(brand, "3g2"):
			return Video, "video/3gpp2"
		case strings.HasPrefix(brand, "3gp"):
			return Video, "video/3gpp"
		}
		return Video, "video/mp4"
	case at(0, "\x1a\x45\xdf\xa3"): // EBML: Matroska or WebM
		if bytes.Contains(head, []byte("webm")) {
			return Video, "video/webm"
		}
		return Video, "video/x-matroska"
	case at(0, "RIFF") && at(8, "AVI "):
		return Video, "video/x-msvideo"
	case at(0, "RIFF") && at(8, "WAVE"):
		return Audio, "audio/wav"
	case at(0, "RIFF") && at(8, "WEBP"):
		return Image, "image/webp"
	case at(0, "FLV"):
		return Video, "video/x-flv"
	case at(0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11"): // ASF header GUID
		return Video, "video/x-ms-asf"
	case at(0, "\x00\x00\x01\xba"), at(0, "\x00\x00\x01\xb3"):
		return Video, "video/mpeg"
	case len(head) > 376 && head[0] == 0x47 && head[188] == 0x47 && head[376] == 0x47:
		return Video, "video/mp2t"
	case at(0, "OggS"):
		if bytes.Contains(head, []byte("theora")) {
			return Video, "video/ogg"
		}
		return Audio, "audio/ogg"
	case at(0, "fLaC"):
		return Audio, "audio/flac"
	case at(0, "ID3"):
		return Audio, "audio/mpeg"
	case at(0, "FORM") && (at(8, "AIFF") || at(8, "AIFC")):
		return Audio, "audio/aiff"
	case len(head) >= 2 && head[0] == 0xff && head[1]&0xf6 == 0xf0: // AAC ADTS
		return Audio, "audio/aac"
	case len(head) >= 2 && head[0] == 0xff && head[1]&0xe0 == 0xe0: // MPEG audio frame
		return Audio, "audio/mpeg"
	case at(0, "\x89PNG\r\n\x1a\n"):
		return Image, "image/png"
	case at(0, "\xff\xd8\xff"):
		return Image, "image/jpeg"
	case at(0, "GIF87a"), at(0, "GIF89a"):
		return Image, "image/gif"
	case at(0, "BM") && len(head) >= 14:
		return Image, "image/bmp"
	case at(0, "II*\x00"), at(0, "MM\x00*"):
		return Image, "image/tiff"
	}
	return "", ""
}

// Classify tells the type and MIME type of an upload from its first bytes,
// else its file name's extension, else its declared MIME type. ok is false
// for files that are not video, audio or image; reason then names what the
// file seems to be, for the error message.
func Classify(filename, contentType string, head []byte) (typ Type, mimeType string, ok bool, reason string) {
	if t, m := sniff(head); t != "" {
		return t, m, true, ""
	}
	ext := strings.ToLower(path.Ext(filename))
	if e, found := extTypes[ext]; found {
		return e.typ, e.mime, true, ""
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case strings.HasPrefix(mt, "video/"):
		return Video, mt, true, ""
	case strings.HasPrefix(mt, "audio/"):
		return Audio, mt, true, ""
	case strings.HasPrefix(mt, "image/") && mt != "image/svg+xml":
		return Image, mt, true, ""
	}
	switch {
	case documentExts[ext]:
		reason = "a " + strings.TrimPrefix(ext, ".") + " document"
	case ext != "":
		reason = "a " + strings.TrimPrefix(ext, ".") + " file"
	case len(head) > 0:
		reason = "of type " + http.DetectContentType(head)
	default:
		reason = "empty"
	}
	return "", "", false, reason
}

// classifyURL guesses the type of a url upload from the URL's path. ok is
// false when the path names a file that is not media (a PDF, a web page);
// an unknown or missing extension is ok with an empty type, decided by
// probing later.
func classifyURL(rawPath string) (typ Type, mimeType string, ok bool, reason string) {
	ext := strings.ToLower(path.Ext(rawPath))
	if e, found := extTypes[ext]; found {
		return e.typ, e.mime, true, ""
	}
	if documentExts[ext] {
		return "", "", false, "a " + strings.TrimPrefix(ext, ".") + " document"
	}
	return "", "", true, ""
}

// imageFormats are ffprobe formats of still images.
var imageFormats = map[string]bool{"image2": true, "gif": true, "webp_pipe": true, "png_pipe": true, "jpeg_pipe": true,
	"bmp_pipe": true, "tiff_pipe": true, "gif_pipe": true, "jpegls_pipe": true}

// imageCodecs are codecs of still images (a one-frame "video" stream).
var imageCodecs = map[string]string{"png": "image/png", "mjpeg": "image/jpeg", "webp": "image/webp", "bmp": "image/bmp",
	"gif": "image/gif", "tiff": "image/tiff", "jpegls": "image/jpeg"}

// probedType is the type of a probed file: an image when its format is an
// image format (or it is a single frame of an image codec with no
// duration), a video when it has a video stream, audio when it has only audio.
func probedType(info *media.Info) Type {
	if imageFormats[info.Format] || strings.HasSuffix(info.Format, "_pipe") {
		return Image
	}
	if v := info.Video; v != nil {
		if _, still := imageCodecs[v.Codec]; still && info.Duration == 0 && !info.HasAudio() {
			return Image
		}
		return Video
	}
	if info.HasAudio() {
		return Audio
	}
	return ""
}

// probedMIME is the MIME type of a probed file; guess is the one
// classification gave at upload, kept when the format does not tell more.
func probedMIME(info *media.Info, typ Type, filename, guess string) string {
	ext := strings.ToLower(path.Ext(filename))
	f := info.Format
	switch {
	case typ == Image && info.Video != nil:
		if m, ok := imageCodecs[info.Video.Codec]; ok {
			return m
		}
	case strings.Contains(f, "mp4") || strings.Contains(f, "mov"):
		switch {
		case typ == Audio:
			return "audio/mp4"
		case ext == ".mov":
			return "video/quicktime"
		case ext == ".3gp":
			return "video/3gpp"
		}
		return "video/mp4"
	case strings.Contains(f, "matroska"):
		webm := ext == ".webm" || strings.HasSuffix(guess, "/webm")
		switch {
		case typ == Audio && webm:
			return "audio/webm"
		case typ == Audio:
			return "audio/x-matroska"
		case webm:
			return "video/webm"
		}
		return "video/x-matroska"
	case f == "ogg":
		if typ == Audio {
			return "audio/ogg"
		}
		return "video/ogg"
	}
	if m, ok := formatMIME[f]; ok {
		return m
	}
	return guess
}

var formatMIME = map[string]string{
	"avi": "video/x-msvideo", "flv": "video/x-flv", "mpegts": "video/mp2t", "mpeg": "video/mpeg", "asf": "video/x-ms-asf",
	"mxf": "application/mxf", "mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac", "aac": "audio/aac", "aiff": "audio/aiff",
}

// technical fills the technical metadata of a probed file.
func technical(info *media.Info, typ Type, size int64, mimeType string) *Technical {
	t := &Technical{FileSizeBytes: size, FileMimeType: mimeType, FileContainerFormat: info.Format}
	if v := info.Video; v != nil {
		if typ == Image {
			t.ImageWidth, t.ImageHeight, t.ImageFormat = v.Width, v.Height, v.Codec
		} else {
			t.VideoCodec, t.VideoWidth, t.VideoHeight = v.Codec, v.Width, v.Height
			t.VideoFPS = round(v.FPS, 3)
			t.VideoDurationSeconds = round(v.Duration, 3)
			if t.VideoDurationSeconds == 0 {
				t.VideoDurationSeconds = round(info.Duration, 3)
			}
			t.VideoBitrateBps = v.BitRate
			if v.Height > 0 {
				t.StorageAspectRatio = round(float64(v.Width)/float64(v.Height), 4)
			}
		}
	}
	if a := info.Audio; a != nil {
		t.AudioCodec, t.AudioSampleRate, t.AudioChannels = a.Codec, a.SampleRate, a.Channels
		t.AudioDurationSeconds = round(a.Duration, 3)
	}
	if typ != Image {
		has := info.HasAudio()
		t.HasAudio = &has
	}
	return t
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}
