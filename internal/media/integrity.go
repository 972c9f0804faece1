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

// A file whose streams decode shorter than they declare (truncated, or
// corrupt in the middle) must not be measured as if whole. DecodeCheck
// decodes the end of the video (all of it when it is short) and Measure
// compares what it decoded with the window; both fail with a *RuleError
// (Rule RuleIncomplete) when more is missing than the tolerance.

// RuleIncomplete is the rule of a video that decodes shorter than its
// container declares, or with a stretch in the middle that cannot be
// decoded.
const RuleIncomplete = "incomplete"

// Integrity check sizes.
const (
	// FullDecodeMax is the longest video DecodeCheck decodes whole; a
	// longer one is checked by decoding its last tailCheck seconds, which
	// catches truncation at the cost of a seek and a few seconds of
	// decoding, whatever the length.
	FullDecodeMax = 30.0 // seconds
	tailCheck     = 3.0  // seconds
	// minGap is the smallest hole between two decoded frames counted as
	// video that could not be decoded.
	minGap = 0.5 // seconds
)

// MissingTolerance is how much of span (seconds) may fail to decode
// before a video counts as incomplete: max(1 s, 5 %).
func MissingTolerance(span float64) float64 { return max(1, 0.05*span) }

// incompleteError says that a video declaring declared seconds decodes to
// only decoded seconds.
func incompleteError(declared, decoded float64, cause error) *RuleError {
	return &RuleError{
		Rule: RuleIncomplete,
		Message: fmt.Sprintf("the video declares %s s but only %s s could be decoded (the file is truncated or corrupt); "+
			"upload the complete file", oneDecimal(declared), oneDecimal(max(0, decoded))),
		Err: cause,
	}
}

// undecodableError says that missing seconds inside the video could not be
// decoded.
func undecodableError(declared, missing float64, cause error) *RuleError {
	return &RuleError{
		Rule: RuleIncomplete,
		Message: fmt.Sprintf("%s s of the video (which declares %s s) could not be decoded (the file is corrupt); "+
			"upload an undamaged copy or re-encode it", oneDecimal(missing), oneDecimal(declared)),
		Err: cause,
	}
}

func oneDecimal(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// declaredVideo is how long the video stream says it is: its own duration
// when the container records one, else the file's.
func declaredVideo(info *Info) float64 {
	if v := info.Video; v != nil && v.Duration > 0 && v.Duration <= info.Duration+1 {
		return v.Duration
	}
	return info.Duration
}

// integrityCheck decodes the first video stream of a probed file, whole
// when it is at most FullDecodeMax long, else its last tailCheck seconds,
// and fails with a *RuleError when the decoded frames end short of the
// declared duration, or when holes between them add up to more than the
// tolerance. The caller holds a heavy slot.
func (t *Tool) integrityCheck(ctx context.Context, path string, info *Info) error {
	declared := declaredVideo(info)
	if !info.HasVideo() || declared <= 0 {
		return nil
	}
	full := declared <= FullDecodeMax
	args := []string{"-nostdin", "-hide_banner", "-v", "error", "-copyts"}
	if !full {
		args = append(args, "-sseof", ffnum(-tailCheck))
	}
	args = append(args, inputArgs(path)...)
	// Tiny pictures: the decoding is what is checked, the frames' times
	// are what is read.
	args = append(args, "-map", "0:V:0", "-an", "-sn", "-dn", "-vf", "scale=w=16:h=16:flags=neighbor",
		"-fps_mode", "passthrough", "-f", "framecrc", "-")
	out, err := t.run(ctx, t.ffmpeg, args...)
	if err != nil {
		var te *ToolError
		if errors.As(err, &te) && ctx.Err() == nil && te.ExitCode > 0 && !ioProblem(te.Stderr) {
			return notDecodableError(te)
		}
		return fmt.Errorf("media: decode check: %w", err)
	}
	frames := parseFrameTimes(out)
	if full && len(frames) == 0 {
		return notDecodableError(errors.New("ffmpeg decoded no video frame"))
	}
	// Times relative to the start of the file, like Info.Duration.
	end, holes := math.Inf(-1), 0.0
	for i, f := range frames {
		if i > 0 && f.pts-end > minGap {
			holes += f.pts - end
		}
		end = max(end, f.pts+f.dur)
	}
	end -= info.StartTime
	tol := MissingTolerance(declared)
	switch {
	case len(frames) == 0 || declared-end > tol:
		decoded := end
		if len(frames) == 0 || !full {
			decoded = t.packetEnd(ctx, path, info)
		}
		cause := fmt.Errorf("decoded video ends at %.3f s of %.3f s", end, declared)
		if len(frames) == 0 {
			cause = fmt.Errorf("no video frame decoded (full decode %v, else the last %g s) of %.3f s; the packets end at %.3f s", full, tailCheck, declared, decoded)
		}
		return incompleteError(declared, decoded, cause)
	case holes > tol:
		return undecodableError(declared, holes, fmt.Errorf("%.3f s of holes between decoded frames", holes))
	}
	return nil
}

// packetEnd is where the packets of the first video stream that the file
// holds end, in seconds from its start: reading packets costs no decoding,
// so it tells how much of a truncated file is left without decoding it. 0
// when unknown.
func (t *Tool) packetEnd(ctx context.Context, path string, info *Info) float64 {
	args := append([]string{"-v", "error", "-select_streams", "V:0", "-show_entries", "packet=pts_time,duration_time",
		"-of", "csv=p=0"}, inputArgs(path)...)
	out, _ := t.run(ctx, t.ffprobe, args...) // a truncated file may fail at its end; what came is enough
	end := 0.0
	for line := range bytes.Lines(out) {
		a, b, _ := strings.Cut(strings.TrimSpace(string(line)), ",")
		p, err := strconv.ParseFloat(a, 64)
		if err != nil {
			continue
		}
		d, _ := strconv.ParseFloat(b, 64)
		end = max(end, p+max(0, d))
	}
	return max(0, end-info.StartTime)
}

type frameTime struct{ pts, dur float64 }

// parseFrameTimes reads framecrc output of one stream: "#tb 0: 1/25" then
// lines "0, pts, dts, duration, size, crc". Times in seconds.
func parseFrameTimes(out []byte) []frameTime {
	tb := 0.0
	var frames []frameTime
	for line := range bytes.Lines(out) {
		l := strings.TrimSpace(string(line))
		if rest, ok := strings.CutPrefix(l, "#tb 0:"); ok {
			if n, d, ok := parseFraction(strings.TrimSpace(rest), '/'); ok {
				tb = float64(n) / float64(d)
			}
			continue
		}
		if l == "" || l[0] == '#' || tb == 0 {
			continue
		}
		f := strings.Split(l, ",")
		if len(f) < 4 {
			continue
		}
		pts, err1 := strconv.ParseInt(strings.TrimSpace(f[1]), 10, 64)
		dur, err2 := strconv.ParseInt(strings.TrimSpace(f[3]), 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		frames = append(frames, frameTime{float64(pts) * tb, float64(max(0, dur)) * tb})
	}
	return frames
}
