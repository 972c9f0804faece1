package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// ErrNotMedia means FFmpeg cannot read the file as audio or video at all
// (a text file, an HTML page, a truncated container). Probe wraps it in a
// *RuleError, so both errors.Is(err, ErrNotMedia) and errors.As(err, &rule)
// work.
var ErrNotMedia = errors.New("not a media file")

// Info is what Probe measured about a file. Zero means unknown for every
// numeric field.
type Info struct {
	Format         string  `json:"format"`           // ffprobe format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
	FormatLongName string  `json:"format_long_name"` // e.g. "QuickTime / MOV"
	Duration       float64 `json:"duration"`         // seconds: the container's, else the longest stream's
	Size           int64   `json:"size"`             // bytes
	BitRate        int64   `json:"bit_rate"`         // bits per second, whole file
	StartTime      float64 `json:"start_time"`       // seconds
	Streams        int     `json:"streams"`          // number of streams of any kind

	Video *VideoStream `json:"video,omitempty"` // first video stream that is not cover art
	Audio *AudioStream `json:"audio,omitempty"` // first audio stream
}

// HasVideo reports whether the file has a video stream (cover art excluded).
func (i *Info) HasVideo() bool { return i != nil && i.Video != nil }

// HasAudio reports whether the file has an audio stream.
func (i *Info) HasAudio() bool { return i != nil && i.Audio != nil }

// VideoStream describes one video stream.
type VideoStream struct {
	Index       int     `json:"index"`
	Codec       string  `json:"codec"`   // e.g. "h264"
	Profile     string  `json:"profile"` // e.g. "High"
	Width       int     `json:"width"`   // stored (coded) size in pixels
	Height      int     `json:"height"`
	PixelFormat string  `json:"pixel_format"` // e.g. "yuv420p"
	FPS         float64 `json:"fps"`          // average frame rate, else the base rate
	Duration    float64 `json:"duration"`     // seconds, from the stream
	BitRate     int64   `json:"bit_rate"`
	Frames      int64   `json:"frames"` // frame count when the container records it

	// SampleAspectRatio is the shape of one pixel; 1:1 when unknown.
	SampleAspectRatio Ratio `json:"sample_aspect_ratio"`
	// Rotation is how many degrees counter-clockwise a player turns the
	// stored picture to show it (FFmpeg's display-matrix convention):
	// 0, 90, 180 or 270.
	Rotation int `json:"rotation"`
	// DisplayWidth and DisplayHeight are the size a viewer sees: the stored
	// size with the width scaled by the sample aspect ratio, then swapped
	// for a rotation of 90 or 270. The input requirements are checked on it.
	DisplayWidth  int `json:"display_width"`
	DisplayHeight int `json:"display_height"`
}

// AudioStream describes one audio stream.
type AudioStream struct {
	Index         int     `json:"index"`
	Codec         string  `json:"codec"` // e.g. "aac"
	SampleRate    int     `json:"sample_rate"`
	Channels      int     `json:"channels"`
	ChannelLayout string  `json:"channel_layout"`
	Duration      float64 `json:"duration"`
	BitRate       int64   `json:"bit_rate"`
}

// Ratio is a fraction such as a sample aspect ratio.
type Ratio struct {
	Num int `json:"num"`
	Den int `json:"den"`
}

func (r Ratio) String() string { return fmt.Sprintf("%d:%d", r.Num, r.Den) }

// Probe runs ffprobe on a local file and returns what it found. A file that
// FFmpeg cannot read is reported as a *RuleError wrapping ErrNotMedia; a
// missing file as an error wrapping fs.ErrNotExist. Anything else (ffprobe
// crashed, ctx ended) is an operational error, not a verdict on the file.
func (t *Tool) Probe(ctx context.Context, path string) (*Info, error) {
	if err := refusePlaylist(path); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.probeTimeout)
	defer cancel()
	args := append([]string{"-v", "error", "-print_format", "json", "-show_format", "-show_streams"}, inputArgs(path)...)
	out, err := t.run(ctx, t.ffprobe, args...)
	if err != nil {
		var te *ToolError
		if errors.As(err, &te) && ctx.Err() == nil && te.ExitCode > 0 && !ioProblem(te.Stderr) {
			return nil, notMediaError(te)
		}
		return nil, fmt.Errorf("media: probe: %w", err)
	}
	info, err := parseProbe(out)
	if err != nil {
		return nil, fmt.Errorf("media: probe: %w", err)
	}
	if info.Streams == 0 {
		return nil, notMediaError(errors.New("ffprobe found no streams"))
	}
	if playlistFormats[info.Format] {
		return nil, playlistError(info.Format)
	}
	return info, nil
}

// playlistFormats are demuxers that open further files named inside the
// input. Over an uploaded file they could read other local files (another
// user's video), so such inputs are refused.
var playlistFormats = map[string]bool{"hls": true, "dash": true, "concat": true}

// refusePlaylist refuses HLS, DASH and ffconcat text before FFmpeg opens
// it, so not even its metadata is read; Probe checks the detected format
// again afterwards. It also reports a missing file.
func refusePlaylist(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("media: probe: %w", err)
	}
	defer f.Close()
	head := make([]byte, 1024)
	n, _ := io.ReadFull(f, head)
	text := strings.TrimLeft(string(head[:n]), "\ufeff \t\r\n")
	switch {
	case strings.HasPrefix(text, "#EXTM3U"):
		return playlistError("hls")
	case strings.HasPrefix(text, "ffconcat"):
		return playlistError("concat")
	case strings.HasPrefix(text, "<") && strings.Contains(text, "<MPD"):
		return playlistError("dash")
	}
	return nil
}

func playlistError(format string) *RuleError {
	return &RuleError{
		Rule: RuleDecodable,
		Message: "the file is a playlist or manifest (HLS, DASH or concat), not a video file; " +
			"provide the video file itself, for example an MP4",
		Err: fmt.Errorf("%w: %s playlist", ErrNotMedia, format),
	}
}

// ioProblem reports stderr that blames the file system rather than the file's content.
func ioProblem(stderr string) bool {
	for _, s := range []string{"Permission denied", "No such file or directory", "Input/output error", "Too many open files"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

func notMediaError(cause error) *RuleError {
	return &RuleError{
		Rule: RuleDecodable,
		Message: "the file is not a video that FFmpeg can read (unknown format, or a damaged or incomplete file); " +
			"make sure the URL or upload is the video file itself, complete, in a common format such as MP4, MOV, MKV or WebM",
		Err: errors.Join(ErrNotMedia, cause),
	}
}

// ffprobe's JSON. Numbers arrive as strings or numbers depending on the
// field and the FFmpeg version, so every number is read leniently.
type probeJSON struct {
	Streams []probeStream `json:"streams"`
	Format  struct {
		FormatName     string  `json:"format_name"`
		FormatLongName string  `json:"format_long_name"`
		Duration       flexNum `json:"duration"`
		Size           flexNum `json:"size"`
		BitRate        flexNum `json:"bit_rate"`
		StartTime      flexNum `json:"start_time"`
		NbStreams      flexNum `json:"nb_streams"`
	} `json:"format"`
}

type probeStream struct {
	Index             int               `json:"index"`
	CodecName         string            `json:"codec_name"`
	CodecType         string            `json:"codec_type"`
	Profile           string            `json:"profile"`
	Width             flexNum           `json:"width"`
	Height            flexNum           `json:"height"`
	PixFmt            string            `json:"pix_fmt"`
	SampleAspectRatio string            `json:"sample_aspect_ratio"`
	RFrameRate        string            `json:"r_frame_rate"`
	AvgFrameRate      string            `json:"avg_frame_rate"`
	Duration          flexNum           `json:"duration"`
	BitRate           flexNum           `json:"bit_rate"`
	NbFrames          flexNum           `json:"nb_frames"`
	SampleRate        flexNum           `json:"sample_rate"`
	Channels          flexNum           `json:"channels"`
	ChannelLayout     string            `json:"channel_layout"`
	Disposition       map[string]int    `json:"disposition"`
	Tags              map[string]string `json:"tags"`
	SideDataList      []struct {
		SideDataType string  `json:"side_data_type"`
		Rotation     flexNum `json:"rotation"`
	} `json:"side_data_list"`
}

// flexNum is a JSON number or a string holding one; "N/A" and absent are 0.
type flexNum float64

func (f *flexNum) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		*f = 0
		return nil
	}
	*f = flexNum(v)
	return nil
}

func parseProbe(out []byte) (*Info, error) {
	var p probeJSON
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("reading ffprobe output: %w", err)
	}
	info := &Info{
		Format:         p.Format.FormatName,
		FormatLongName: p.Format.FormatLongName,
		Duration:       nonNeg(float64(p.Format.Duration)),
		Size:           int64(p.Format.Size),
		BitRate:        int64(p.Format.BitRate),
		StartTime:      float64(p.Format.StartTime),
		Streams:        len(p.Streams),
	}
	var longest float64
	for i := range p.Streams {
		s := &p.Streams[i]
		d := streamDuration(s)
		longest = max(longest, d)
		switch s.CodecType {
		case "video":
			if info.Video == nil && s.Disposition["attached_pic"] == 0 {
				info.Video = videoStream(s, d)
			}
		case "audio":
			if info.Audio == nil {
				info.Audio = &AudioStream{
					Index:         s.Index,
					Codec:         s.CodecName,
					SampleRate:    int(s.SampleRate),
					Channels:      int(s.Channels),
					ChannelLayout: s.ChannelLayout,
					Duration:      d,
					BitRate:       int64(s.BitRate),
				}
			}
		}
	}
	if info.Duration == 0 {
		info.Duration = longest
	}
	return info, nil
}

// streamDuration is the stream's duration, or Matroska's DURATION tag
// ("00:00:05.000000000") when the stream has none.
func streamDuration(s *probeStream) float64 {
	if d := nonNeg(float64(s.Duration)); d > 0 {
		return d
	}
	for k, v := range s.Tags {
		if strings.EqualFold(k, "DURATION") {
			return parseClock(v)
		}
	}
	return 0
}

func videoStream(s *probeStream, duration float64) *VideoStream {
	v := &VideoStream{
		Index:             s.Index,
		Codec:             s.CodecName,
		Profile:           s.Profile,
		Width:             int(s.Width),
		Height:            int(s.Height),
		PixelFormat:       s.PixFmt,
		Duration:          duration,
		BitRate:           int64(s.BitRate),
		Frames:            int64(s.NbFrames),
		SampleAspectRatio: Ratio{1, 1},
		Rotation:          rotation(s),
	}
	if fps := parseRate(s.AvgFrameRate); fps > 0 {
		v.FPS = fps
	} else {
		v.FPS = parseRate(s.RFrameRate)
	}
	if n, d, ok := parseFraction(s.SampleAspectRatio, ':'); ok && n > 0 {
		v.SampleAspectRatio = Ratio{n, d}
	}
	w := float64(v.Width)
	if sar := v.SampleAspectRatio; sar.Num != sar.Den {
		w = w * float64(sar.Num) / float64(sar.Den)
	}
	v.DisplayWidth, v.DisplayHeight = int(math.Round(w)), v.Height
	if v.Rotation == 90 || v.Rotation == 270 {
		v.DisplayWidth, v.DisplayHeight = v.DisplayHeight, v.DisplayWidth
	}
	return v
}

// rotation reads the display matrix side data (counter-clockwise degrees),
// falling back to the legacy "rotate" tag, which older FFmpeg versions
// write clockwise. The result is normalized to 0, 90, 180 or 270.
func rotation(s *probeStream) int {
	for _, sd := range s.SideDataList {
		if sd.SideDataType == "Display Matrix" {
			return normalizeAngle(float64(sd.Rotation))
		}
	}
	if tag, ok := s.Tags["rotate"]; ok {
		if cw, err := strconv.ParseFloat(strings.TrimSpace(tag), 64); err == nil {
			return normalizeAngle(-cw)
		}
	}
	return 0
}

// normalizeAngle rounds to a multiple of 90 in [0, 360).
func normalizeAngle(deg float64) int {
	if math.IsNaN(deg) || math.IsInf(deg, 0) {
		return 0
	}
	q := int(math.Round(deg/90)) % 4
	if q < 0 {
		q += 4
	}
	return q * 90
}

// parseRate reads a frame rate such as "30000/1001" or "25"; 0 when unknown.
func parseRate(s string) float64 {
	if n, d, ok := parseFraction(s, '/'); ok {
		return float64(n) / float64(d)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0
	}
	return v
}

// parseFraction reads "n<sep>d" with d > 0 and n ≥ 0.
func parseFraction(s string, sep byte) (n, d int, ok bool) {
	a, b, found := strings.Cut(s, string(sep))
	if !found {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(a)
	d, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || d <= 0 || n < 0 {
		return 0, 0, false
	}
	return n, d, true
}

// parseClock reads "HH:MM:SS.fraction"; 0 when malformed.
func parseClock(s string) float64 {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) != 3 {
		return 0
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || sec < 0 {
		return 0
	}
	return float64(h*3600+m*60) + sec
}

func nonNeg(v float64) float64 {
	if v < 0 {
		return 0
	}
	return v
}
