package vlm

import (
	"math"
	"sort"
)

// Sampling limits: frames are never closer than MinInterval seconds apart
// in the regular grid and never further than MaxInterval.
const (
	MinInterval = 0.5
	MaxInterval = 4.0
	// shotOffset places a shot's first sampled frame just after its cut,
	// so that it shows the new shot.
	shotOffset = 0.04
	// overlapFrames is how many frames consecutive windows share.
	overlapFrames = 2
)

// Interval is the spacing of the regular frame grid for a window of dur
// seconds: the whole window fits one call's budget when it is short, and
// it never gets coarser than MaxInterval.
func Interval(dur float64, perCall int) float64 {
	if perCall < 1 {
		perCall = 1
	}
	return math.Min(MaxInterval, math.Max(MinInterval, dur/float64(perCall)))
}

// FrameTimes returns the times to sample in [start, end): a regular grid
// of spacing step plus the first frame of each detected shot (cut +
// shotOffset). Grid times closer than step/3 to a shot frame give way to it.
func FrameTimes(start, end, step float64, cuts []float64) []float64 {
	var shots []float64
	for _, c := range cuts {
		if t := c + shotOffset; t > start && t < end {
			shots = append(shots, t)
		}
	}
	out := append([]float64{}, shots...)
	for t := start; t < end-1e-9; t += step {
		i := sort.SearchFloat64s(shots, t)
		near := (i < len(shots) && shots[i]-t < step/3) || (i > 0 && t-shots[i-1] < step/3)
		if !near {
			out = append(out, t)
		}
	}
	sort.Float64s(out)
	return out
}

// Window is one model call's share of the video: its frame times and the
// span of video they stand for.
type Window struct {
	Index      int
	Frames     []float64
	Start, End float64
}

// Windows cuts sorted frame times into calls of at most perCall frames;
// consecutive windows share overlapFrames frames, so that a segment that
// crosses a window edge is seen whole by one of them. Each window stands
// for [its first frame, its last frame + step), clamped to end.
func Windows(frames []float64, perCall int, step, end float64) []Window {
	if perCall <= overlapFrames {
		perCall = overlapFrames + 1
	}
	var out []Window
	for i := 0; i < len(frames); {
		j := min(i+perCall, len(frames))
		w := Window{Index: len(out), Frames: frames[i:j], Start: frames[i], End: math.Min(end, frames[j-1]+step)}
		out = append(out, w)
		if j == len(frames) {
			break
		}
		i = j - overlapFrames
	}
	return out
}
