package media

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults of MeasureOptions. The cut threshold was chosen on generated
// video (see bench/measure). On its edit of random shots the hard cuts
// score 0.23–0.75, and every threshold from 0.02 to 0.12 finds all of them
// and nothing else, because the detector's other rules (see cutDetector)
// reject continuous motion, noise, a fast pan or zoom, flashes and
// dissolves. On its noisy edit of solid colours, most cuts joining colours
// of the same luma, the cuts score 0.20–0.82, and the same thresholds find
// all of them and nothing else.
const (
	// DefaultSceneThreshold is the smallest Cut.Score of a cut: a mean
	// absolute difference between two consecutive thumbnails, 0..1.
	DefaultSceneThreshold = 0.05
	// DefaultCutMinGap is the shortest shot: a cut closer than this to the
	// previous one is merged into it (the higher score wins).
	DefaultCutMinGap = 0.25
	DefaultBlackMin  = 0.5 // seconds
	DefaultFreezeMin = 1.0 // seconds
	// DefaultSilenceMin is the shortest silence reported, in seconds.
	DefaultSilenceMin = 0.5
	// DefaultSilenceNoise is the level below which audio counts as silent.
	DefaultSilenceNoise = "-40dB"
	// DefaultVolumeStep is the length of one Volume sample in seconds when
	// the window is short enough; see MaxVolumeSamples.
	DefaultVolumeStep = 0.1
	// MaxVolumeSamples bounds Measurements.Volume: longer windows get a
	// longer step (2 h → 0.25 s), so memory stays bounded.
	MaxVolumeSamples = 28800
	// VolumeFloorDB is the level reported for digital silence (FFmpeg says
	// -inf, which JSON cannot carry).
	VolumeFloorDB = -120.0
)

// minEventDuration is the smallest minimum duration accepted for black,
// frozen and silent intervals and for the gap between cuts. Together with
// MaxVolumeSamples it keeps the result's size proportional to the window
// length divided by a constant, whatever the content.
const minEventDuration = 0.05

// MeasureOptions tunes Measure. Zero values take the defaults.
type MeasureOptions struct {
	// Start and End are the window to measure, in seconds from the start of
	// the file. End ≤ 0 means the end of the file.
	Start, End float64
	// Progress, when set, receives the percentage of the window done
	// (0..100, non-decreasing, ending with 100 on success). It is called
	// from another goroutine while FFmpeg runs and must return quickly.
	Progress func(percent float64)
	// SceneThreshold is the smallest Cut.Score of a cut (0..1); default
	// DefaultSceneThreshold. A frame must also stand out from its
	// neighbours (see cutDetector), so raising motion does not make cuts.
	SceneThreshold float64
	// CutMinGap is the shortest shot in seconds; default DefaultCutMinGap.
	CutMinGap float64
	// BlackMin, FreezeMin and SilenceMin are the shortest black, frozen and
	// silent intervals reported, in seconds.
	BlackMin, FreezeMin, SilenceMin float64
	// SilenceNoise is silencedetect's noise level, "-40dB" or an amplitude
	// ratio such as "0.01"; default DefaultSilenceNoise.
	SilenceNoise string
	// VolumeStep is the length of one Volume sample in seconds; default
	// DefaultVolumeStep, raised so that the window needs at most
	// MaxVolumeSamples samples.
	VolumeStep float64
	// CutsOnly measures shot cuts only, for callers that need nothing else
	// (the VLM engine): the video goes straight to the cut detector's
	// thumbnails and the audio is not decoded, which costs about as much as
	// decoding the video alone. Black, Frozen, Silence, Sound and Volume
	// stay empty; HasAudio and HasVideo still describe the file. Without a
	// video stream nothing is run and there are no cuts.
	CutsOnly bool
	// FrameTimes, when not empty, also has the run encode pictures from the
	// same decode: for each time (seconds from the start of the file,
	// ascending, inside the window), the first frame at or after it, as
	// SampleAt with Exact picks it, scaled and encoded as Frame says. They
	// come back in Measurements.Frames, one per distinct frame; a time with
	// no frame at or after it inside the window gets none. It costs
	// the scaling and encoding of those frames, no decoding: the run
	// decodes every frame anyway.
	FrameTimes []float64
	// SceneFrames, when above 0, also has the run encode every frame whose
	// scene-change score (FFmpeg's select filter "scene", 0..1) is at
	// least this: candidates for the first frame of each shot, found
	// without decoding again. They come in Measurements.Frames too. The
	// score is min(d, |d - d of the frame before|) / 100, d being the mean
	// absolute difference of the frame and the one before on 0..255: a
	// hard cut scores high, steady motion low.
	SceneFrames float64
	// Frame sets the width and quality of those pictures (SampleOptions
	// defaults); Exact is implied.
	Frame SampleOptions
}

// Measurements are the events found in a window of a video. All times are
// absolute: seconds from the start of the file, like MeasureOptions.Start.
type Measurements struct {
	Start, End float64 // the window measured
	Cuts       []Cut   // hard shot boundaries, in time order
	Black      []Interval
	Frozen     []Interval
	Silence    []Interval // empty when there is no audio
	Sound      []Interval // the window minus Silence, when there is audio
	HasAudio   bool
	HasVideo   bool
	// Volume is the RMS level of the audio, one sample per VolumeStep
	// seconds (the last may be shorter), in time order; empty without audio.
	Volume     []VolumeSample
	VolumeStep float64
	// Frames are the pictures asked for by MeasureOptions.FrameTimes, in
	// time order.
	Frames []Frame `json:"-"`
	// DecodeErrors counts FFmpeg's reports of damaged input (packets it
	// could not decode, corrupt packets and frames), and
	// Undecoded the seconds of the window with no decoded video frame
	// inside it (holes the thumbnail rate had to fill), both within the
	// tolerance of MissingTolerance: beyond it Measure fails.
	DecodeErrors int     `json:"decode_errors,omitempty"`
	Undecoded    float64 `json:"undecoded,omitempty"`
}

// Cut is a shot boundary: the first frame of the new shot is shown at Time.
type Cut struct {
	Time float64 `json:"time"`
	// Score is how much the picture changed, 0..1: the largest of the
	// three distances between the thumbnails of the two frames (see
	// cutDetector) divided by 255.
	Score float64 `json:"score"`
}

// Interval is a span [Start, End) in seconds.
type Interval struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// Duration is End - Start.
func (i Interval) Duration() float64 { return i.End - i.Start }

// VolumeSample is the RMS level of the audio over [Time, Time+VolumeStep),
// all channels together, in dBFS (VolumeFloorDB for digital silence).
type VolumeSample struct {
	Time float64 `json:"time"`
	DB   float64 `json:"db"`
}

// MeanVolume is the mean level of [start, end) in dBFS: the power average
// of the Volume samples, each weighted by how much of it lies in the span.
// ok is false when there is no audio sample in the span.
func (m *Measurements) MeanVolume(start, end float64) (db float64, ok bool) {
	if m == nil || end <= start || len(m.Volume) == 0 {
		return 0, false
	}
	step := m.VolumeStep
	if step <= 0 {
		step = DefaultVolumeStep
	}
	// The first sample that may overlap: the last one starting at or before start.
	i := sort.Search(len(m.Volume), func(i int) bool { return m.Volume[i].Time > start })
	i = max(0, i-1)
	var power, weight float64
	for ; i < len(m.Volume); i++ {
		s := m.Volume[i]
		if s.Time >= end {
			break
		}
		sEnd := s.Time + step
		if i+1 < len(m.Volume) {
			sEnd = min(sEnd, m.Volume[i+1].Time)
		}
		sEnd = min(sEnd, m.End)
		w := min(end, sEnd) - max(start, s.Time)
		if w <= 0 {
			continue
		}
		power += w * math.Pow(10, s.DB/10)
		weight += w
	}
	if weight <= 0 {
		return 0, false
	}
	return max(VolumeFloorDB, 10*math.Log10(power/weight)), true
}

// silenceNoiseRE is what SilenceNoise may contain: it goes into a filter
// graph, so nothing that could end an option or a filter is allowed.
var silenceNoiseRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?(dB)?$`)

// Measure runs FFmpeg once over a window of the file and reports shot cuts,
// black (blackdetect) and frozen (freezedetect) intervals and, when the
// file has audio, silent and sounding intervals (silencedetect) and the
// audio level over time (astats). info is the file's Probe result; nil
// probes the file first.
//
// The video is scaled down to 320 px wide before the detectors, then to
// 64x36 thumbnails at up to 30 frames per second that FFmpeg
// writes to a pipe; cuts are found in Go from those (see cutDetector).
// Decoding dominates the run time.
//
// Memory use does not grow with the length of the video: FFmpeg's log is
// parsed line by line as it comes, the thumbnails are read one at a time
// into a ring of about half a second, and the results are bounded by the
// minimum durations (see MeasureOptions) and MaxVolumeSamples.
//
// A failed run is a *ToolError; when ctx ends FFmpeg is killed and the
// context error is returned.
func (t *Tool) Measure(ctx context.Context, path string, info *Info, opts MeasureOptions) (*Measurements, error) {
	if err := refusePlaylist(path); err != nil {
		return nil, err
	}
	if info == nil {
		var err error
		if info, err = t.Probe(ctx, path); err != nil {
			return nil, err
		}
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if !info.HasVideo() && !info.HasAudio() {
		return nil, errors.New("media: measure: the file has neither video nor audio")
	}
	start := o.Start
	end := o.End
	if end <= 0 || (info.Duration > 0 && end > info.Duration) {
		end = info.Duration
	}
	if end > 0 && end <= start {
		return nil, fmt.Errorf("media: measure: empty window [%g, %g) (duration %g s)", o.Start, o.End, info.Duration)
	}

	if o.CutsOnly && !info.HasVideo() {
		return &Measurements{Start: start, End: end, HasAudio: info.HasAudio()}, nil
	}
	for i, v := range o.FrameTimes {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < start || (i > 0 && v < o.FrameTimes[i-1]) {
			return nil, fmt.Errorf("media: measure: frame times must be ascending and in the window: %g", v)
		}
	}
	if math.IsNaN(o.SceneFrames) || o.SceneFrames < 0 || o.SceneFrames > 1 {
		return nil, fmt.Errorf("media: measure: invalid scene score %g", o.SceneFrames)
	}
	if (len(o.FrameTimes) > 0 || o.SceneFrames > 0) && info.HasVideo() {
		if o.Frame, err = o.Frame.normalize(); err != nil {
			return nil, err
		}
	}

	release, err := t.acquire(ctx, "measure")
	if err != nil {
		return nil, fmt.Errorf("media: measure: %w", err)
	}
	defer release()
	ctx, cancel := t.bounded(ctx, "the measuring pass", end-start)
	defer cancel()

	p := newMeasureParser(start, end, info, o)
	stderr := &lineWriter{line: p.stderrLine}
	stdout := &lineWriter{line: p.progressLine}
	cmd := exec.CommandContext(ctx, t.ffmpeg, p.args(path)...)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second

	// The thumbnails come on fd 3, the pictures asked for on fd 4 (their
	// times in showinfo's lines on stderr).
	var thumbs, pictures *os.File
	var shown *showinfoLog
	if p.video != nil {
		var writers []*os.File
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("media: measure: %w", err)
		}
		thumbs = r
		defer thumbs.Close()
		writers = append(writers, w)
		if p.grid {
			r, w, err := os.Pipe()
			if err != nil {
				writers[0].Close()
				return nil, fmt.Errorf("media: measure: %w", err)
			}
			pictures = r
			defer pictures.Close()
			writers = append(writers, w)
			shown = newShowinfoLog()
			cmd.Stderr = io.MultiWriter(stderr, shown)
		}
		cmd.ExtraFiles = writers
		err = cmd.Start()
		for _, w := range writers {
			w.Close() // the child has its copy; EOF comes when it exits
		}
		if err != nil {
			return nil, fmt.Errorf("media: measure: %w", &ToolError{Tool: toolName(t.ffmpeg), ExitCode: -1, Err: err})
		}
	} else if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("media: measure: %w", &ToolError{Tool: toolName(t.ffmpeg), ExitCode: -1, Err: err})
	}
	var readErr, picErr error
	picDone := make(chan struct{})
	if pictures != nil {
		go func() {
			defer close(picDone)
			picErr = p.readPictures(ctx, pictures, shown)
		}()
	} else {
		close(picDone)
	}
	if thumbs != nil {
		readErr = p.readThumbnails(thumbs)
	}
	<-picDone
	err = cmd.Wait()
	stderr.flush()
	stdout.flush()
	if err == nil && readErr != nil {
		err = readErr
	}
	if err == nil && picErr != nil {
		err = picErr
	}
	if err != nil {
		te := &ToolError{Tool: toolName(t.ffmpeg), ExitCode: -1, Stderr: p.tail.String(), Err: err}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && exitErr.Exited() {
			te.ExitCode = exitErr.ExitCode()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("media: measure: %s stopped: %w (%w)", te.Tool, context.Cause(ctx), te)
		}
		return nil, fmt.Errorf("media: measure: %w", te)
	}
	m := p.finish()
	if err := p.complete(info); err != nil {
		return nil, err
	}
	if o.Progress != nil {
		o.Progress(100)
	}
	return m, nil
}

func (o MeasureOptions) withDefaults() (MeasureOptions, error) {
	bad := func(name string, v float64) error {
		return fmt.Errorf("media: measure: invalid %s %g", name, v)
	}
	for name, v := range map[string]float64{"start": o.Start, "end": o.End, "scene threshold": o.SceneThreshold,
		"cut gap": o.CutMinGap, "black minimum": o.BlackMin, "freeze minimum": o.FreezeMin,
		"silence minimum": o.SilenceMin, "volume step": o.VolumeStep} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return o, bad(name, v)
		}
	}
	if o.SceneThreshold > 1 {
		return o, bad("scene threshold (0..1)", o.SceneThreshold)
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
		*v = max(*v, minEventDuration)
	}
	if o.SceneThreshold == 0 {
		o.SceneThreshold = DefaultSceneThreshold
	}
	def(&o.CutMinGap, DefaultCutMinGap)
	def(&o.BlackMin, DefaultBlackMin)
	def(&o.FreezeMin, DefaultFreezeMin)
	def(&o.SilenceMin, DefaultSilenceMin)
	def(&o.VolumeStep, DefaultVolumeStep)
	if o.SilenceNoise == "" {
		o.SilenceNoise = DefaultSilenceNoise
	}
	if !silenceNoiseRE.MatchString(o.SilenceNoise) {
		return o, fmt.Errorf("media: measure: invalid silence noise level %q (want e.g. -40dB or 0.01)", o.SilenceNoise)
	}
	return o, nil
}

// Names of the filters whose log lines are parsed. blackdetect,
// freezedetect and silencedetect log under their class name; the volume
// printer is given an instance name.
const (
	volumeFilter = "ametadata@fwvol"
	volumeKey    = "lavfi.astats.Overall.RMS_level"
)

// Thumbnails for cut detection: 64x36 yuv420p, at the video's frame rate
// capped to maxThumbRate.
const (
	thumbW, thumbH = 64, 36
	thumbSize      = thumbW * thumbH * 3 / 2
	maxThumbRate   = 30
)

// measureParser builds the FFmpeg command and turns its output into
// Measurements. stderrLine runs on one goroutine, progressLine on another
// and readThumbnails on a third; each owns its fields, which finish
// combines after the run.
type measureParser struct {
	o          MeasureOptions
	start, end float64 // the window; end is 0 when the duration is unknown
	frame      float64 // one video frame in seconds, to snap ends onto the window end
	video      *VideoStream
	audio      *AudioStream
	step       float64 // volume step in seconds
	nsamples   int     // audio samples per volume step
	thumbRate  float64 // thumbnails per second
	grid       bool    // pictures at FrameTimes are encoded too (fd 4)

	// stderr side
	tail       tailWriter
	m          Measurements
	lastTime   float64 // latest relative time seen in any event
	freezeAt   float64 // relative start of an open freeze, or -1
	silenceAt  float64 // relative start of an open silence, or -1
	volumeTime float64 // relative time of the pending volume sample, or NaN

	// what decoded (stderr side)
	decodeErrors int
	fpsIn        int // frames into the thumbnails' fps filter, -1 when not logged
	fpsDup       int // frames it duplicated to fill holes
	fpsDrop      int // frames it dropped

	// thumbnail side
	cuts   []Cut
	thumbs int // thumbnails read

	// stdout side
	lastPercent float64
}

func newMeasureParser(start, end float64, info *Info, o MeasureOptions) *measureParser {
	p := &measureParser{
		o: o, start: start, end: end,
		video: info.Video, audio: info.Audio,
		tail:        tailWriter{max: stderrTail},
		freezeAt:    -1,
		silenceAt:   -1,
		volumeTime:  math.NaN(),
		lastPercent: -1,
		fpsIn:       -1,
	}
	p.frame = 0.1
	p.thumbRate = maxThumbRate
	if v := info.Video; v != nil && v.FPS > 0 {
		p.frame = 1 / v.FPS
		p.thumbRate = min(max(v.FPS, 1), maxThumbRate)
	}
	if p.audio != nil {
		p.step = o.VolumeStep
		if end > start {
			p.step = max(p.step, (end-start)/MaxVolumeSamples)
		} else {
			p.step = max(p.step, MaxDurationAsync/MaxVolumeSamples)
		}
		rate := p.audio.SampleRate
		if rate <= 0 {
			rate = 48000
		}
		p.nsamples = max(1, int(math.Round(p.step*float64(rate))))
		p.step = float64(p.nsamples) / float64(rate)
	}
	p.grid = p.video != nil && (len(o.FrameTimes) > 0 || o.SceneFrames > 0)
	p.m = Measurements{Start: start, End: end, HasAudio: p.audio != nil, HasVideo: p.video != nil, VolumeStep: p.step}
	return p
}

func ffnum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// args is the FFmpeg command line: one input (the window), a video output
// of thumbnails on fd 3 and an audio output to the null muxer.
func (p *measureParser) args(path string) []string {
	// Verbose for the fps filter's count of frames in and out at the end
	// (see complete); FFmpeg logs nothing per frame at this level.
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-loglevel", "repeat+verbose",
		"-progress", "pipe:1"}
	if p.start > 0 {
		args = append(args, "-ss", ffnum(p.start))
	}
	if p.o.End > 0 && p.end > p.start {
		args = append(args, "-t", ffnum(p.end-p.start))
	}
	// No deblocking (H.264, HEVC, VP9) on frames that no other frame is
	// predicted from (B-frames, mostly): a little less decoding time, and
	// the picture is only slightly softer or blockier at block edges,
	// which the scaling to 320 px and 64x36 averages away. Not on
	// reference frames: there the error would add up over a GOP (the
	// decoder predicts from other pictures than the encoder did) and
	// vanish at the next keyframe, a jump of the whole picture's colour
	// that reached 21 on the colour distance on noisy footage of flat
	// colours (bench/measure): a false cut. Skipping it on all frames
	// saved about 14 % more decoding time on 720p H.264.
	args = append(args, "-skip_loop_filter", "noref")
	args = append(args, inputArgs(path)...)
	if v := p.video; v != nil {
		// Scale down first: the detectors then cost little next to
		// decoding. blackdetect reads the luma of the 320 px picture (in
		// its own range: converting to gray would stretch it and make dark
		// grey read as black); freezedetect reads the luma plane alone,
		// or it would see an encoder refining the chroma of a still
		// picture for a few frames as motion. The thumbnails come at a
		// constant rate from time 0 (the window start), so thumbnail i
		// shows time i/rate.
		chain := fmt.Sprintf("scale=w=320:h=-2:flags=fast_bilinear,format=yuv420p,"+
			"blackdetect=d=%s:pix_th=0.10,split[m][t];"+
			"[m]extractplanes=y,freezedetect=n=-60dB:d=%s,nullsink;"+
			"[t]scale=w=%d:h=%d:flags=area,fps=fps=%s:start_time=0",
			ffnum(p.o.BlackMin), ffnum(p.o.FreezeMin), thumbW, thumbH, ffnum(p.thumbRate))
		if p.o.CutsOnly {
			// One scaling straight to the thumbnails: the 320 px picture
			// costs more than decoding a 360p H.264 stream.
			chain = fmt.Sprintf("scale=w=%d:h=%d:flags=area,format=yuv420p,fps=fps=%s:start_time=0",
				thumbW, thumbH, ffnum(p.thumbRate))
		}
		if p.grid {
			return append(p.gridArgs(args, chain), p.audioArgs()...)
		}
		// One filter thread (an output's -threads sets its filter graph's
		// threads): slice threading of such small pictures costs more in
		// synchronisation than it saves. And no flush after each
		// thumbnail (-flush_packets 0): FFmpeg then writes 32 KB at a time
		// instead of one 2.3 KB write, and one wake-up of the reader, per
		// frame. On 360p H.264 the two cut the cuts-only run's CPU time
		// (FFmpeg and Go) by about 40 % and its wall time by a third
		// (bench/vlm README).
		args = append(args, "-map", fmt.Sprintf("0:%d", v.Index), "-filter:v", chain, "-an", "-sn", "-dn")
		args = append(args, thumbOutput...)
	}
	return append(args, p.audioArgs()...)
}

// thumbOutput is the output of the thumbnails, raw yuv420p on fd 3, with
// one filter thread and no flush per picture (see args).
var thumbOutput = []string{"-fps_mode", "passthrough", "-threads", "1", "-flush_packets", "0",
	"-pix_fmt", "yuv420p", "-f", "rawvideo", "pipe:3"}

// audioArgs is the audio output of the command line: the audio detectors
// into the null muxer; none when cuts only are measured.
func (p *measureParser) audioArgs() []string {
	var args []string
	if a := p.audio; a != nil && !p.o.CutsOnly {
		chain := fmt.Sprintf("silencedetect=n=%s:d=%s,asetnsamples=n=%d:p=0,"+
			"astats=metadata=1:reset=1:measure_perchannel=none:measure_overall=RMS_level,"+
			"%s=mode=print:key=%s",
			p.o.SilenceNoise, ffnum(p.o.SilenceMin), p.nsamples, volumeFilter, volumeKey)
		args = append(args, "-map", fmt.Sprintf("0:%d", a.Index), "-filter:a", chain,
			"-vn", "-sn", "-dn", "-f", "null", "-")
	}
	return args
}

// gridArgs completes args (the input) with the video outputs when
// pictures are asked for: the decoded video is split between the
// thumbnail chain (to fd 3) and a branch that selects the first frame at
// or after each asked time (see writeSelectExpr; the timeline starts at
// the window start) and each frame whose scene score reaches SceneFrames,
// scales it like SampleAt, logs its time with showinfo and encodes it as
// MJPEG (to fd 4).
func (p *measureParser) gridArgs(args []string, thumbChain string) []string {
	thresholds := selectThresholds(p.o.FrameTimes, p.start)
	var g strings.Builder
	fmt.Fprintf(&g, "[0:%d]split=2[fwm][fwg];[fwm]%s[fwt];[fwg]select='", p.video.Index, thumbChain)
	if len(thresholds) > 0 {
		writeSelectExpr(&g, thresholds)
		if p.o.SceneFrames > 0 {
			g.WriteByte('+')
		}
	}
	if p.o.SceneFrames > 0 {
		fmt.Fprintf(&g, "gte(scene,%s)", ffFloat(p.o.SceneFrames))
	}
	g.WriteString("',")
	writePictureScale(&g, p.o.Frame.Width)
	g.WriteString("[fwf]")
	// -filter_complex_threads is the -threads of a complex graph (see args).
	args = append(args, "-filter_complex_threads", "1", "-filter_complex", g.String(), "-map", "[fwt]")
	args = append(append(args, thumbOutput...), "-map", "[fwf]")
	return append(args, pictureOutput(p.o.Frame.Quality, "pipe:4")...)
}

// readPictures reads the pictures on r, each with its time from shown,
// into the measurements until EOF. It always reads to the end, so FFmpeg
// never blocks on a full pipe, and closes shown when done, so that the
// log never waits for a reader that is gone.
func (p *measureParser) readPictures(ctx context.Context, r io.Reader, shown *showinfoLog) error {
	defer shown.close()
	br := bufio.NewReaderSize(r, 64<<10)
	hint := 0
	for {
		img, w, h, err := readJPEG(br, hint)
		if err == io.EOF {
			return nil
		}
		if err == nil {
			hint = len(img)
			rel, ok := shown.next(ctx)
			switch {
			case !ok:
				err = errors.New("ffmpeg wrote a picture without logging its time")
			case !math.IsNaN(rel):
				p.m.Frames = append(p.m.Frames, Frame{Time: p.start + rel, JPEG: img, Width: w, Height: h})
			}
		}
		if err != nil {
			io.Copy(io.Discard, br)
			if ctx.Err() != nil {
				return nil // reported by the caller
			}
			return fmt.Errorf("reading pictures: %w", err)
		}
	}
}

// readThumbnails feeds the thumbnails on r to a cutDetector until EOF. It
// always reads to the end, so FFmpeg never blocks on a full pipe.
func (p *measureParser) readThumbnails(r io.Reader) error {
	det := newCutDetector(p.thumbRate, p.o.SceneThreshold, func(i int, score float64) {
		p.cut(float64(i)/p.thumbRate, score)
	})
	br := bufio.NewReaderSize(r, 64<<10)
	frame := make([]byte, thumbSize)
	for {
		_, err := io.ReadFull(br, frame)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break // a partial frame only when FFmpeg was stopped
		}
		if err != nil {
			io.Copy(io.Discard, br)
			return fmt.Errorf("reading thumbnails: %w", err)
		}
		det.push(frame)
		p.thumbs++
	}
	det.flush()
	return nil
}

// progressLine reads one line of -progress output.
func (p *measureParser) progressLine(line []byte) {
	if p.o.Progress == nil {
		return
	}
	k, v, ok := bytes.Cut(line, []byte("="))
	if !ok || string(k) != "out_time_us" || p.end <= p.start {
		return
	}
	us, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	if err != nil || us < 0 {
		return
	}
	pct := min(100, float64(us)/1e6/(p.end-p.start)*100)
	// Leave 100 for the end of the run, when the results are ready.
	pct = math.Min(pct, 99.9)
	if pct > p.lastPercent {
		p.lastPercent = pct
		p.o.Progress(pct)
	}
}

// stderrLine reads one line of FFmpeg's log; lines that are not
// measurements go to the tail kept for errors.
func (p *measureParser) stderrLine(line []byte) {
	if damageReport(line) {
		p.decodeErrors++
	}
	if !p.parse(string(line)) {
		p.tail.Write(line)
		p.tail.Write([]byte{'\n'})
	}
}

// damageMarks are what FFmpeg's log says of damaged input: decoders and
// demuxers (h264, hevc, mpegts, mov) and ffmpeg itself.
var damageMarks = [][]byte{[]byte("rror while decoding"), []byte("corrupt"), []byte("Invalid NAL"),
	[]byte("partial file"), []byte("Invalid data found")}

// damageReport reports a log line about damaged input.
func damageReport(line []byte) bool {
	for _, m := range damageMarks {
		if bytes.Contains(line, m) {
			return true
		}
	}
	return false
}

// parse handles a measurement line and reports whether it was one.
func (p *measureParser) parse(line string) bool {
	if !strings.HasPrefix(line, "[") {
		return false
	}
	name, rest, ok := strings.Cut(line[1:], " @ ")
	if !ok {
		return false
	}
	_, msg, ok := strings.Cut(rest, "] ")
	if !ok {
		return false
	}
	msg = strings.TrimSpace(msg)
	if strings.HasPrefix(name, "Parsed_fps_") {
		// 119 frames in, 150 frames out; 0 frames dropped, 31 frames duplicated.
		var in, out, drop, dup int
		if _, err := fmt.Sscanf(msg, "%d frames in, %d frames out; %d frames dropped, %d frames duplicated.", &in, &out, &drop, &dup); err != nil {
			return false
		}
		p.fpsIn, p.fpsDrop, p.fpsDup = in, drop, dup
		return true
	}
	switch name {
	case "blackdetect":
		// black_start:10 black_end:11.0333 black_duration:1.03333
		s, ok1 := field(msg, "black_start:")
		e, ok2 := field(msg, "black_end:")
		if !ok1 || !ok2 {
			return false
		}
		p.add(&p.m.Black, s, e)
	case "freezedetect":
		// lavfi.freezedetect.freeze_start: 4 / freeze_duration: 4 / freeze_end: 8
		if v, ok := field(msg, "lavfi.freezedetect.freeze_start:"); ok {
			p.freezeAt = v
			p.seen(v)
		} else if v, ok := field(msg, "lavfi.freezedetect.freeze_end:"); ok {
			if p.freezeAt >= 0 {
				p.add(&p.m.Frozen, p.freezeAt, v)
			}
			p.freezeAt = -1
		} else if !strings.HasPrefix(msg, "lavfi.freezedetect.freeze_duration:") {
			return false
		}
	case "silencedetect":
		// silence_start: 6.01397 / silence_end: 9.00934 | silence_duration: 2.99537
		if v, ok := field(msg, "silence_start:"); ok {
			p.silenceAt = max(0, v)
			p.seen(v)
		} else if v, ok := field(msg, "silence_end:"); ok {
			if p.silenceAt >= 0 {
				p.add(&p.m.Silence, p.silenceAt, v)
			}
			p.silenceAt = -1
		} else {
			return false
		}
	case volumeFilter:
		// frame:0    pts:0       pts_time:0
		// lavfi.astats.Overall.RMS_level=-21.701572
		if v, ok := field(msg, "pts_time:"); ok {
			p.volumeTime = v
		} else if v, ok := strings.CutPrefix(msg, volumeKey+"="); ok {
			db, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(p.volumeTime) {
				return false
			}
			p.volume(p.volumeTime, db)
			p.volumeTime = math.NaN()
		} else {
			return false
		}
	default:
		return false
	}
	return true
}

// field reads the number that follows key in msg.
func field(msg, key string) (float64, bool) {
	i := strings.Index(msg, key)
	if i < 0 {
		return 0, false
	}
	s := strings.TrimLeft(msg[i+len(key):], " ")
	if j := strings.IndexAny(s, " ,|"); j >= 0 {
		s = s[:j]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

func (p *measureParser) seen(rel float64) { p.lastTime = max(p.lastTime, rel) }

// cut records a cut at a relative time, merging cuts closer than
// CutMinGap: the one with the higher score stays. It runs on the thumbnail
// goroutine.
func (p *measureParser) cut(rel, score float64) {
	c := Cut{Time: p.start + rel, Score: score}
	if p.end > p.start && c.Time >= p.end {
		return
	}
	// The start of the file bounds the first shot as a cut would: a cut
	// closer to it than CutMinGap would make a first shot shorter than
	// the shortest, e.g. the end of a flash the video opens with.
	if p.start == 0 && c.Time < p.o.CutMinGap {
		return
	}
	if n := len(p.cuts); n > 0 && c.Time-p.cuts[n-1].Time < p.o.CutMinGap {
		if c.Score > p.cuts[n-1].Score {
			p.cuts[n-1] = c
		}
		return
	}
	p.cuts = append(p.cuts, c)
}

// add records an interval given in relative times, clipped to the window.
func (p *measureParser) add(list *[]Interval, s, e float64) {
	p.seen(e)
	iv := Interval{Start: p.start + max(0, s), End: p.start + e}
	if p.end > p.start {
		iv.End = min(iv.End, p.end)
	}
	if iv.End > iv.Start {
		*list = append(*list, iv)
	}
}

func (p *measureParser) volume(rel, db float64) {
	if math.IsNaN(db) {
		return
	}
	t := p.start + max(0, rel)
	if p.end > p.start && t >= p.end {
		return
	}
	if n := len(p.m.Volume); n > 0 && t <= p.m.Volume[n-1].Time {
		return // out of order: keep time strictly increasing
	}
	p.m.Volume = append(p.m.Volume, VolumeSample{Time: t, DB: max(VolumeFloorDB, db)})
}

// finish closes what the run left open and derives Sound. It runs after
// FFmpeg exited and all its output was read.
func (p *measureParser) finish() *Measurements {
	m := &p.m
	m.Cuts = p.cuts
	end := p.end
	if end <= p.start {
		end = p.start + max(p.lastTime, float64(p.thumbs)/p.thumbRate)
		if n := len(m.Volume); n > 0 {
			end = max(end, m.Volume[n-1].Time+p.step)
		}
		m.End = end
	}
	if p.freezeAt >= 0 {
		p.add(&m.Frozen, p.freezeAt, end-p.start)
	}
	if p.silenceAt >= 0 {
		p.add(&m.Silence, p.silenceAt, end-p.start)
	}
	// blackdetect and silencedetect end an interval that runs to the end of
	// the stream at the last frame's time, not after it: snap onto the end.
	snap := func(list []Interval, slack float64) {
		if n := len(list); n > 0 && end-list[n-1].End <= slack {
			list[n-1].End = end
		}
	}
	snap(m.Black, 1.5*p.frame)
	snap(m.Frozen, 1.5*p.frame)
	snap(m.Silence, 0.05)
	m.Black = mergeIntervals(m.Black)
	m.Frozen = mergeIntervals(m.Frozen)
	m.Silence = mergeIntervals(m.Silence)
	if m.HasAudio && !p.o.CutsOnly {
		m.Sound = complement(m.Silence, m.Start, m.End)
	}
	return m
}

// mergeIntervals sorts and joins overlapping intervals.
func mergeIntervals(list []Interval) []Interval {
	slices.SortFunc(list, func(a, b Interval) int { return cmpFloat(a.Start, b.Start) })
	out := list[:0]
	for _, iv := range list {
		if n := len(out); n > 0 && iv.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, iv.End)
			continue
		}
		out = append(out, iv)
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// complement is [start, end) minus the sorted, disjoint list, without
// slivers shorter than a millisecond.
func complement(list []Interval, start, end float64) []Interval {
	var out []Interval
	at := start
	for _, iv := range list {
		if iv.Start-at >= 1e-3 {
			out = append(out, Interval{at, iv.Start})
		}
		at = max(at, iv.End)
	}
	if end-at >= 1e-3 {
		out = append(out, Interval{at, end})
	}
	return out
}

// cutDetector finds hard cuts in a stream of 64x36 yuv420p thumbnails.
// Three distances compare each thumbnail with the one before, all mean
// absolute differences on the 0..255 scale:
//
//   - fine: of the luma pixels; it sees a change of structure, such as a
//     cut between two shots of similar colours and layout;
//   - coarse: of the means of 8x6 blocks, luma (weight 2) and chroma
//     (weight 1); motion and moving texture hardly change it, so it sees
//     a cut out of or into busy content (noise, foliage, water, crowds);
//   - colour: of the means of the same blocks in the two chroma planes,
//     U and V added (capped at 255): a change of colour alone, such as a
//     cut between red and green of the same brightness, which the luma
//     distances cannot see and the coarse one sees at a sixth of its
//     size. Sensor noise averages out in block means (a block mean of
//     the chroma averages 300 pixels of a 320 px picture), so noisy
//     footage hardly raises it.
//
// Thumbnail c starts a new shot when, for any distance d,
//
//   - d is at least the threshold, and
//   - d is at least cutRatio times the mean of the same distance between
//     the frames around it (cutWindow on each side; repeated frames, with
//     fine and colour distances below dupDistance, left out), so that
//     steady fast motion, noise or a stuttering low frame rate do not read
//     as cuts. (A frame whose luma hardly changed is no repeat when its
//     colour did: an object of the background's brightness moving in.)
//
// and it is not a flash: within flashLook seconds on either side, the
// picture does not come back to what it was (flashes, strobes, an object
// crossing the lens), i.e. no frame after c is closer than
// min(flashSame, flashFrac·d) to the frame before c, and no frame shortly
// before c is that close to c, in every distance d that stands out at c.
// (In the distances that do not, "back" would mean little: the fine
// distance of a change of colour alone is only noise, and judged by it
// alone a noisy cut between two colours of the same luma read as a flash.)
//
// It keeps a ring of about half a second of thumbnails and decides on
// frame c once the frames it needs after c have arrived.
type cutDetector struct {
	threshold float64 // 0..255
	look      int     // frames to look ahead and behind for a flash
	ahead     int     // frames needed after a candidate
	ring      [][]byte
	fine      []float64 // fine[i%n]: fine distance between frames i and i-1
	coarse    []float64 // the same, coarse
	colour    []float64 // the same, colour
	n         int
	count     int // frames pushed
	out       func(frame int, score float64)
}

const (
	cutRatio    = 3.0
	cutWindow   = 3 // frames
	dupDistance = 1.0
	flashLook   = 0.25 // seconds
	flashFrac   = 0.4
	flashSame   = 15.0 // 0..255
)

// Thumbnail layout and the coarse grid.
const (
	thumbLuma        = thumbW * thumbH
	thumbChromaW     = thumbW / 2
	thumbChromaH     = thumbH / 2
	gridX, gridY     = 8, 6
	blockW, blockH   = thumbW / gridX, thumbH / gridY
	cblockW, cblockH = thumbChromaW / gridX, thumbChromaH / gridY
)

func newCutDetector(rate, threshold float64, out func(frame int, score float64)) *cutDetector {
	look := max(1, int(math.Round(flashLook*rate)))
	ahead := max(cutWindow, look)
	n := max(look, cutWindow) + 1 + ahead + 1
	d := &cutDetector{threshold: threshold * 255, look: look, ahead: ahead, n: n, out: out,
		ring: make([][]byte, n), fine: make([]float64, n), coarse: make([]float64, n), colour: make([]float64, n)}
	for i := range d.ring {
		d.ring[i] = make([]byte, thumbSize)
	}
	return d
}

// fineDistance is the mean absolute difference of the luma pixels.
func fineDistance(a, b []byte) float64 {
	var s int
	for i := range thumbLuma {
		x := int(a[i]) - int(b[i])
		s += max(x, -x)
	}
	return float64(s) / thumbLuma
}

// blockDistances are the coarse and the colour distance: the mean absolute
// differences of the block means of luma and chroma. coarse weighs luma
// twice as heavy as chroma; colour is the chroma alone, U and V added,
// capped at 255.
func blockDistances(a, b []byte) (coarse, colour float64) {
	plane := func(off, w, bw, bh int) float64 {
		var total int
		for gy := range gridY {
			for gx := range gridX {
				var d int
				for y := gy * bh; y < (gy+1)*bh; y++ {
					row := off + y*w + gx*bw
					for x := row; x < row+bw; x++ {
						d += int(a[x]) - int(b[x])
					}
				}
				total += max(d, -d)
			}
		}
		return float64(total) / float64(gridX*gridY*bw*bh)
	}
	luma := plane(0, thumbW, blockW, blockH)
	u := plane(thumbLuma, thumbChromaW, cblockW, cblockH)
	v := plane(thumbLuma+thumbChromaW*thumbChromaH, thumbChromaW, cblockW, cblockH)
	return (2*luma + (u+v)/2) / 3, min(255, u+v)
}

func (d *cutDetector) frame(i int) []byte { return d.ring[i%d.n] }

// push adds the next thumbnail.
func (d *cutDetector) push(thumb []byte) {
	i := d.count
	copy(d.frame(i), thumb)
	if i > 0 {
		d.fine[i%d.n] = fineDistance(d.frame(i), d.frame(i-1))
		d.coarse[i%d.n], d.colour[i%d.n] = blockDistances(d.frame(i), d.frame(i-1))
	}
	d.count++
	if c := i - d.ahead; c >= 1 {
		d.decide(c, i)
	}
}

// flush decides on the frames still waiting at the end of the stream.
func (d *cutDetector) flush() {
	last := d.count - 1
	for c := max(1, last-d.ahead+1); c <= last; c++ {
		d.decide(c, last)
	}
}

// stands reports whether distance dist of frame c passes the threshold
// and stands out from the frames around it.
func (d *cutDetector) stands(dist []float64, c, last int) bool {
	dc := dist[c%d.n]
	if dc < d.threshold {
		return false
	}
	var sum float64
	var cnt int
	for j := max(1, c-cutWindow); j <= min(last, c+cutWindow); j++ {
		if j != c && (d.fine[j%d.n] >= dupDistance || d.colour[j%d.n] >= dupDistance) {
			sum += dist[j%d.n]
			cnt++
		}
	}
	return cnt == 0 || dc >= cutRatio*sum/float64(cnt)
}

// decide judges frame c, knowing frames up to last.
func (d *cutDetector) decide(c, last int) {
	fine, coarse, colour := d.stands(d.fine, c, last), d.stands(d.coarse, c, last), d.stands(d.colour, c, last)
	if !fine && !coarse && !colour {
		return
	}
	// "Back to what it was": closer than a cut would be, and than a
	// fraction of this change, in each distance that stands out.
	fc, cc, kc := d.fine[c%d.n], d.coarse[c%d.n], d.colour[c%d.n]
	back := func(x, y []byte) bool {
		if fine && fineDistance(x, y) >= min(flashSame, flashFrac*fc) {
			return false
		}
		if coarse || colour {
			co, ko := blockDistances(x, y)
			if coarse && co >= min(flashSame, flashFrac*cc) || colour && ko >= min(flashSame, flashFrac*kc) {
				return false
			}
		}
		return true
	}
	before, at := d.frame(c-1), d.frame(c)
	for j := c + 1; j <= min(last, c+d.look); j++ {
		if back(d.frame(j), before) {
			return
		}
	}
	for j := max(0, c-d.look); j <= c-2; j++ {
		if back(at, d.frame(j)) {
			return
		}
	}
	d.out(c, max(fc, cc, kc)/255)
}

// lineWriter splits what is written to it into lines and hands each to
// line without the line ending. A line longer than maxLine is cut: its
// first maxLine bytes are handed on, the rest dropped, so memory stays
// bounded whatever the tool prints.
type lineWriter struct {
	line    func([]byte)
	buf     []byte
	discard bool // inside an over-long line
}

const maxLine = 64 << 10

func (w *lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			w.appendPart(b)
			break
		}
		w.appendPart(b[:i])
		b = b[i+1:]
		w.emit()
	}
	return n, nil
}

func (w *lineWriter) appendPart(b []byte) {
	if w.discard {
		return
	}
	if room := maxLine - len(w.buf); len(b) > room {
		w.buf = append(w.buf, b[:room]...)
		w.line(w.buf)
		w.buf = w.buf[:0]
		w.discard = true
		return
	}
	w.buf = append(w.buf, b...)
}

func (w *lineWriter) emit() {
	if !w.discard && len(w.buf) > 0 {
		w.line(w.buf)
	}
	w.buf = w.buf[:0]
	w.discard = false
}

// flush hands on a last line that had no line ending.
func (w *lineWriter) flush() { w.emit() }

// complete checks that the run decoded the window: each stream's decoded
// end (the thumbnails for video, the volume samples for audio) must reach
// the window end, or the stream's own declared end when it is shorter,
// and the holes between decoded video frames must stay within
// MissingTolerance; else it returns a *RuleError (Rule RuleIncomplete)
// naming the durations. It also sets DecodeErrors and Undecoded.
func (p *measureParser) complete(info *Info) error {
	m := &p.m
	m.DecodeErrors = p.decodeErrors
	if p.end <= p.start {
		return nil // the duration is unknown: nothing was declared
	}
	span := p.end - p.start
	tol := MissingTolerance(span)
	cause := func(what string, got, want float64) error {
		return fmt.Errorf("%s decoded to %.3f s of a window ending at %.3f s (%d decode errors)", what, got, want, p.decodeErrors)
	}
	if p.video != nil {
		want := p.end
		if d := declaredVideo(info); d > p.start {
			want = min(want, d)
		}
		got := p.start + float64(p.thumbs)/p.thumbRate
		if want-got > tol {
			return incompleteError(want, got, cause("video", got, want))
		}
		// The fps filter fills holes with copies; without decode errors
		// they are a variable frame rate, not damage.
		if p.fpsIn >= 0 && p.decodeErrors > 0 {
			m.Undecoded = max(0, float64(p.fpsDup-p.fpsDrop)/p.thumbRate)
			if m.Undecoded > tol {
				return undecodableError(want, m.Undecoded, cause("video", got, want))
			}
		}
	}
	if p.audio != nil && !p.o.CutsOnly {
		want := p.end
		if d := p.audio.Duration; d > p.start && d <= info.Duration+1 {
			want = min(want, d)
		}
		got := p.start
		if n := len(m.Volume); n > 0 {
			got = m.Volume[n-1].Time + p.step
		}
		if want-got > tol {
			return incompleteError(want, got, cause("audio", got, want))
		}
	}
	return nil
}
