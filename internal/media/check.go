package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Input requirements of the Analyze API (spec §5 V47–V49). All limits are
// inclusive.
const (
	MinDuration      = 4.0    // seconds
	MaxDurationAsync = 7200.0 // seconds, POST /analyze/tasks
	MaxDurationSync  = 3600.0 // seconds, POST /analyze
	MinShortSide     = 360    // pixels, display size
	MaxShortSide     = 2160   // pixels, display size
	MaxLongSide      = 5184   // pixels, display size
	MaxAspectRatio   = 2.4    // long side / short side
	// MaxFrameRate bounds the frames per second of video that analysis
	// decodes, so its work grows with the duration whatever rate a file
	// declares (issue 10): a 30-minute video at 1,000 fps passes every
	// other rule and decodes 1.8 million frames. It is ours, not the
	// upstream API's; 240 keeps every camera and phone slow-motion mode.
	MaxFrameRate = 240.0 // frames per second
)

// Rule names carried by RuleError.Rule.
const (
	RuleNoVideo     = "no_video"
	RuleDuration    = "duration"
	RuleResolution  = "resolution"
	RuleAspectRatio = "aspect_ratio"
	RuleDecodable   = "decodable"
	RuleFrameRate   = "frame_rate"
)

// RuleError is a video that fails an input requirement: the user must
// change the video. Message names the rule and the measured value and is
// safe to show to the user; Err, when set, is the technical cause for the log.
type RuleError struct {
	Rule    string
	Message string
	Err     error
}

func (e *RuleError) Error() string { return e.Message }

func (e *RuleError) Unwrap() error { return e.Err }

// CheckAnalyzable checks probed facts against V47–V49, the presence of a
// video stream and, after those, our MaxFrameRate, and returns the first requirement that fails, or nil.
// maxDuration is MaxDurationAsync or MaxDurationSync; ≤ 0 means
// MaxDurationAsync. Decodability (V50) needs the file: see DecodeCheck.
//
// Resolution and aspect ratio are judged on the display size (rotation and
// sample aspect ratio applied), so a portrait 2160x3840 phone video passes
// like its landscape twin (spec Q13, our interpretation).
func CheckAnalyzable(info *Info, maxDuration float64) *RuleError {
	if maxDuration <= 0 {
		maxDuration = MaxDurationAsync
	}
	if !info.HasVideo() {
		msg := "the file has no video stream; upload a video file, not audio only or an image"
		if info.HasAudio() {
			msg = "the file has only audio and no video stream; upload a video file"
		}
		return &RuleError{Rule: RuleNoVideo, Message: msg}
	}

	d := info.Duration
	switch {
	case d <= 0:
		return &RuleError{Rule: RuleDuration, Message: "the video duration could not be determined (is it a still image or a live stream?); " +
			"upload a video file between 4 s and " + formatLimit(maxDuration) + " long"}
	case d < MinDuration:
		return &RuleError{Rule: RuleDuration, Message: fmt.Sprintf("video duration %s s is below the minimum of %s s; upload a video of at least %s s",
			formatSeconds(d, MinDuration), trimFloat(MinDuration), trimFloat(MinDuration))}
	case d > maxDuration:
		return &RuleError{Rule: RuleDuration, Message: fmt.Sprintf("video duration %s s (%s) exceeds the maximum of %s; trim or split the video",
			formatSeconds(d, maxDuration), clock(d), formatLimit(maxDuration))}
	}

	w, h := info.Video.displaySize()
	if w <= 0 || h <= 0 {
		return &RuleError{Rule: RuleResolution, Message: "the video resolution could not be determined; re-encode the video (for example to H.264 in MP4) and try again"}
	}
	short, long := min(w, h), max(w, h)
	size := fmt.Sprintf("%dx%d", w, h)
	switch {
	case short < MinShortSide:
		return &RuleError{Rule: RuleResolution, Message: fmt.Sprintf(
			"video resolution %s is below the minimum of %dx%d (short side %d px); use a video at least %d px on its short side",
			size, MinShortSide, MinShortSide, short, MinShortSide)}
	case long > MaxLongSide:
		return &RuleError{Rule: RuleResolution, Message: fmt.Sprintf(
			"video resolution %s exceeds the maximum of %dx%d (long side %d px, at most %d); scale the video down",
			size, MaxLongSide, MaxShortSide, long, MaxLongSide)}
	case short > MaxShortSide:
		return &RuleError{Rule: RuleResolution, Message: fmt.Sprintf(
			"video resolution %s exceeds the maximum of %dx%d (short side %d px, at most %d); scale the video down",
			size, MaxLongSide, MaxShortSide, short, MaxShortSide)}
	}

	// Integer sides make the ratio exact enough; the epsilon only absorbs
	// float rounding so 864x360 (exactly 2.4) passes.
	if ratio := float64(long) / float64(short); ratio > MaxAspectRatio+1e-9 {
		r := strings.TrimSuffix(strings.TrimRight(formatBeyond(ratio, MaxAspectRatio, 2), "0"), ".")
		shape := r + ":1"
		if h > w {
			shape = "1:" + r
		}
		return &RuleError{Rule: RuleAspectRatio, Message: fmt.Sprintf(
			"video aspect ratio %s (%s) is outside the supported range of 1:2.4 to 2.4:1; crop or pad the video",
			shape, size)}
	}

	if r := info.Video.FrameRate(d); r > MaxFrameRate {
		return &RuleError{Rule: RuleFrameRate, Message: fmt.Sprintf(
			"video frame rate %s fps exceeds the maximum of %s fps; re-encode the video at a lower frame rate, for example 30 fps (ffmpeg -i in.mp4 -vf fps=30 out.mp4)",
			formatBeyond(r, MaxFrameRate, 0), trimFloat(MaxFrameRate))}
	}
	return nil
}

// FrameRate is the rate the frame-rate rule judges: the stream's average
// rate (else its base rate, see FPS), or the recorded frame count over the
// duration d when that is higher. r_frame_rate alone is not trusted when an
// average is known: for variable-rate video it is a time base artefact
// (it can be far above the real rate).
func (v *VideoStream) FrameRate(d float64) float64 {
	r := v.FPS
	if dur := v.Duration; dur > 0 {
		d = dur
	}
	if v.Frames > 0 && d > 0 {
		r = max(r, float64(v.Frames)/d)
	}
	return r
}

// displaySize is DisplayWidth x DisplayHeight, derived from the stored size
// when a caller built the struct by hand.
func (v *VideoStream) displaySize() (w, h int) {
	if v.DisplayWidth > 0 && v.DisplayHeight > 0 {
		return v.DisplayWidth, v.DisplayHeight
	}
	w, h = v.Width, v.Height
	if v.Rotation == 90 || v.Rotation == 270 {
		w, h = h, w
	}
	return w, h
}

// DecodeCheck decodes the first frame of the first video stream (V50), then
// checks that the video decodes as long as it declares: whole when it is
// at most FullDecodeMax long, else its last seconds (a truncated file
// fails as a *RuleError with Rule RuleIncomplete naming both durations).
// Run it after Probe and CheckAnalyzable accepted the file. A video FFmpeg
// cannot decode is reported as a *RuleError (Rule "decodable"); other
// errors (ffmpeg killed, ctx ended) are operational. It counts as a heavy run.
func (t *Tool) DecodeCheck(ctx context.Context, path string) error {
	if err := refusePlaylist(path); err != nil {
		return err
	}
	info, err := t.Probe(ctx, path)
	if err != nil {
		return err
	}
	return t.DecodeCheckProbed(ctx, path, info)
}

// DecodeCheckProbed is DecodeCheck of a file already probed: info is its
// Probe result.
func (t *Tool) DecodeCheckProbed(ctx context.Context, path string, info *Info) error {
	if err := refusePlaylist(path); err != nil {
		return err
	}
	release, err := t.acquire(ctx, "decode_check")
	if err != nil {
		return fmt.Errorf("media: decode check: %w", err)
	}
	defer release()
	ctx, cancel := t.bounded(ctx, "the decode check", info.Duration)
	defer cancel()
	if d := declaredVideo(info); info.HasVideo() && d > 0 && d <= FullDecodeMax {
		// One run decodes it all, the first frame included.
		return t.integrityCheck(ctx, path, info)
	}

	args := []string{"-nostdin", "-hide_banner", "-v", "error"}
	args = append(args, inputArgs(path)...)
	// 0:V skips cover art; framecrc prints one line per decoded frame.
	args = append(args, "-map", "0:V:0", "-an", "-sn", "-dn", "-frames:v", "1", "-f", "framecrc", "-")
	out, err := t.run(ctx, t.ffmpeg, args...)
	if err != nil {
		var te *ToolError
		if errors.As(err, &te) && ctx.Err() == nil && te.ExitCode > 0 && !ioProblem(te.Stderr) {
			return notDecodableError(te)
		}
		return fmt.Errorf("media: decode check: %w", err)
	}
	if frameLines(out) == 0 {
		return notDecodableError(errors.New("ffmpeg decoded no video frame"))
	}
	// The first frame decodes; does the end? (see integrityCheck)
	return t.integrityCheck(ctx, path, info)
}

func notDecodableError(cause error) *RuleError {
	return &RuleError{
		Rule: RuleDecodable,
		Message: "the video stream could not be decoded by FFmpeg (the file may be truncated, corrupted or use an unsupported codec); " +
			"re-encode it, for example to H.264 in MP4, and try again",
		Err: cause,
	}
}

// frameLines counts the frame lines of framecrc output (comments start with #).
func frameLines(out []byte) int {
	n := 0
	for line := range bytes.Lines(out) {
		if l := bytes.TrimSpace(line); len(l) > 0 && l[0] != '#' {
			n++
		}
	}
	return n
}

// formatSeconds prints a duration that broke limit with one decimal.
func formatSeconds(d, limit float64) string { return formatBeyond(d, limit, 1) }

// formatBeyond prints v, which broke limit, with prec decimals, or with more
// when prec would round it onto the limit ("3.999 s", not "4.0 s").
func formatBeyond(v, limit float64, prec int) string {
	for ; prec <= 6; prec++ {
		s := strconv.FormatFloat(v, 'f', prec, 64)
		if r, _ := strconv.ParseFloat(s, 64); r != limit {
			return s
		}
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// formatLimit prints a duration limit: "2 h (7200 s)", "1 h (3600 s)", "90 s".
func formatLimit(sec float64) string {
	if sec >= 3600 && math.Mod(sec, 3600) == 0 {
		return fmt.Sprintf("%s h (%s s)", trimFloat(sec/3600), trimFloat(sec))
	}
	return trimFloat(sec) + " s"
}

// clock prints seconds as h:mm:ss.
func clock(sec float64) string {
	s := int64(math.Floor(sec))
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// String is a one-line summary of a probe for logs.
func (i *Info) String() string {
	if i == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %.3f s", i.Format, i.Duration)
	if v := i.Video; v != nil {
		fmt.Fprintf(&b, ", video %s %dx%d", v.Codec, v.Width, v.Height)
		if v.DisplayWidth != v.Width || v.DisplayHeight != v.Height {
			fmt.Fprintf(&b, " (display %dx%d)", v.DisplayWidth, v.DisplayHeight)
		}
		fmt.Fprintf(&b, " %.3g fps", v.FPS)
	}
	if a := i.Audio; a != nil {
		fmt.Fprintf(&b, ", audio %s %d Hz %d ch", a.Codec, a.SampleRate, a.Channels)
	}
	return b.String()
}
