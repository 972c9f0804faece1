package media

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Frame is one sampled picture.
type Frame struct {
	// Time is the frame's real presentation time in seconds from the
	// start of the file (the container's start time is subtracted, as
	// FFmpeg's -ss counts). It is the time of the frame that was decoded,
	// which may differ from the requested time (see SampleOptions.Exact).
	Time float64
	// JPEG is the encoded picture (baseline JPEG, full-range 4:2:0).
	// Frames emitted for several requested times that land on the same
	// picture share this slice; do not modify it.
	JPEG []byte
	// Width and Height are the size of the JPEG in pixels.
	Width, Height int
}

// SampleOptions say how SampleAt picks and encodes frames.
type SampleOptions struct {
	// Width of the output pictures in pixels, rounded down to even; the
	// height keeps the display aspect ratio (sample aspect ratio and
	// rotation applied) and is even. Default DefaultSampleWidth; at most
	// MaxSampleWidth. Smaller sources are scaled up.
	Width int
	// Quality is the JPEG quantizer, FFmpeg's -q:v for MJPEG: 1 (best,
	// largest) to 31 (worst). Default DefaultSampleQuality.
	Quality int
	// Exact picks, for a requested time T, the first frame whose
	// presentation time is at or after T (the frame at T, or the next one
	// when T falls between frames): FFmpeg decodes every frame from the
	// keyframe before T. Otherwise SampleAt picks the first keyframe at or
	// after T and decodes keyframes only, which is many times faster; the
	// picked frame is then up to one keyframe interval (GOP) after T.
	// "At or after" rather than "nearest": a frame is chosen as it is
	// decoded, without looking ahead, and a time at which a shot starts
	// yields a frame of that shot, not of the one before. T is compared
	// with a tolerance of SampleTolerance, so a time rounded when it was
	// printed still lands on its frame. When no frame (keyframe) lies at
	// or after T, the last one of the video is taken.
	Exact bool
}

// Sampling defaults and limits.
const (
	DefaultSampleWidth   = 512
	DefaultSampleQuality = 5
	MaxSampleWidth       = 4096
	// SampleTolerance is how far before a requested time a frame may lie
	// and still count as "at" that time (seconds).
	SampleTolerance = 0.001
)

// How SampleAt splits requested times into FFmpeg runs (see sampleGroups).
// Starting a run costs about 0.1–0.2 s of CPU and 0.3–0.5 s of wall time on
// the reference machine (2 shared cores; more for a long MP4, whose index
// FFmpeg parses first), plus decoding from the keyframe before its first
// time (bench/sample).
const (
	// sampleGapExact: a gap between requested times longer than this
	// starts a new run that seeks, instead of decoding through the gap.
	// Decoding 10 s of 360p video costs about as much as starting a run;
	// for 1080p it costs several times more, so the value is conservative.
	sampleGapExact = 10.0
	// sampleGapKey is the same for keyframe-only runs, which read through
	// a gap much faster: 60 s of keyframes cost about 0.1 s.
	sampleGapKey = 60.0
	// sampleMaxTerms bounds the distinct times one run selects: the select
	// expression (see writeSelectExpr) is one command-line argument, at
	// most 128 KiB on Linux; 512 thresholds take about 26 KB. Its cost per
	// decoded frame grows with log2 of the count only.
	sampleMaxTerms = 512
	// sampleFrameBuffer is how many encoded frames a run may have ready
	// before the caller's emit takes them.
	sampleFrameBuffer = 2
	// maxSampleJPEG bounds one encoded picture.
	maxSampleJPEG = 32 << 20
)

// SampleAt decodes one frame for each requested time and calls emit with
// it, in the order of times, as soon as the frame is encoded, so the
// caller can start work on the first frames while later ones are still
// being decoded. times are seconds from the start of the file, finite, ≥ 0
// and non-decreasing; equal times, or times that land on the same frame,
// are each emitted (with the same Frame.Time and JPEG). See SampleOptions
// for which frame a time picks.
//
// The times are split into runs of FFmpeg: neighbouring times are served
// by one run that streams through the video (selecting the frames with
// FFmpeg's select filter, scaling them and encoding them as MJPEG to a
// pipe); a long gap starts a new run that seeks to the next time (to the
// keyframe before it) instead of decoding the gap. Without Exact, runs
// decode keyframes only. Each run is a heavy run (Config.MaxHeavy) and
// runs may go in parallel when slots are free. Memory is bounded by a few
// frames per run whatever the number of times; no temporary files are used.
//
// emit runs on the calling goroutine. When it returns an error, SampleAt
// stops the runs (FFmpeg is killed) and returns that error. emit should
// hand frames off quickly: while it blocks, the run holds its heavy slot,
// so emit must not wait for work that itself needs one (another SampleAt,
// DecodeCheck, Measure) or it can deadlock. When ctx ends, FFmpeg is
// killed and the context error is returned. A failed run is a *ToolError.
func (t *Tool) SampleAt(ctx context.Context, path string, times []float64, opts SampleOptions, emit func(Frame) error) error {
	if emit == nil {
		return errors.New("media: sample: emit is nil")
	}
	o, err := opts.normalize()
	if err != nil {
		return err
	}
	for i, v := range times {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("media: sample: invalid time %g", v)
		}
		if i > 0 && v < times[i-1] {
			return fmt.Errorf("media: sample: times not in order: %g after %g", v, times[i-1])
		}
	}
	if err := refusePlaylist(path); err != nil {
		return err
	}
	if len(times) == 0 {
		return nil
	}
	groups := sampleGroups(times, o.Exact)

	var wg sync.WaitGroup
	defer wg.Wait() // runs after cancel: no FFmpeg outlives SampleAt
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type run struct {
		frames chan Frame
		err    error // set before frames is closed
	}
	runs := make(chan *run, cap(t.heavy))
	wg.Add(1)
	go func() { // launch runs in order, each once it has a heavy slot
		defer wg.Done()
		defer close(runs)
		for _, g := range groups {
			r := &run{frames: make(chan Frame, sampleFrameBuffer)}
			select {
			case runs <- r:
			case <-ctx.Done():
				return
			}
			release, err := t.acquire(ctx, "sample")
			if err != nil {
				r.err = fmt.Errorf("media: sample: %w", err)
				close(r.frames)
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer release()
				// A run decodes from the keyframe before its first time to its last.
				rctx, cancel := t.bounded(ctx, "the frame sampling", g[len(g)-1]-g[0])
				defer cancel()
				r.err = t.sampleRun(rctx, path, g, o, r.frames)
				close(r.frames)
			}()
		}
	}()

	emitted := 0
	for r := range runs {
		for f := range r.frames {
			if err := emit(f); err != nil {
				cancel()
				return err
			}
			emitted++
		}
		if r.err != nil {
			cancel()
			return r.err
		}
	}
	if emitted < len(times) { // the launcher stopped early: ctx ended
		return fmt.Errorf("media: sample: %w", context.Cause(ctx))
	}
	return nil
}

func (o SampleOptions) normalize() (SampleOptions, error) {
	if o.Width == 0 {
		o.Width = DefaultSampleWidth
	}
	if o.Width < 16 || o.Width > MaxSampleWidth {
		return o, fmt.Errorf("media: sample: width %d outside 16..%d", o.Width, MaxSampleWidth)
	}
	o.Width &^= 1
	if o.Quality == 0 {
		o.Quality = DefaultSampleQuality
	}
	if o.Quality < 1 || o.Quality > 31 {
		return o, fmt.Errorf("media: sample: quality %d outside 1..31", o.Quality)
	}
	return o, nil
}

// sampleGroups splits non-decreasing times into the times of each FFmpeg
// run: a new run starts after a gap longer than the seek gap, or when the
// current one has sampleMaxTerms distinct times.
func sampleGroups(times []float64, exact bool) [][]float64 {
	gap := sampleGapKey
	if exact {
		gap = sampleGapExact
	}
	var groups [][]float64
	start, distinct := 0, 1
	for i := 1; i < len(times); i++ {
		if times[i] == times[i-1] {
			continue
		}
		if times[i]-times[i-1] > gap || distinct == sampleMaxTerms {
			groups = append(groups, times[start:i])
			start, distinct = i, 0
		}
		distinct++
	}
	return append(groups, times[start:])
}

// sampleThreshold is the earliest frame time that answers requested time v.
func sampleThreshold(v float64) float64 { return v - SampleTolerance }

// sampleRun serves one group of times with one FFmpeg run (plus one more
// when times lie after the last frame) and sends a Frame per time to out.
func (t *Tool) sampleRun(ctx context.Context, path string, times []float64, o SampleOptions, out chan<- Frame) error {
	next := 0 // first unanswered time
	send := func(f Frame) error {
		select {
		case out <- f:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	args := sampleArgs(path, max(0, sampleThreshold(times[0])), times, o)
	err := t.streamFrames(ctx, args, func(f Frame) (bool, error) {
		// FFmpeg selected f because it is the first frame at or after at
		// least one pending threshold; it answers every pending time whose
		// threshold it reached (same float comparison as FFmpeg's). A frame
		// that answers none (timestamps going back) is dropped.
		for next < len(times) && sampleThreshold(times[next]) <= f.Time {
			if err := send(f); err != nil {
				return false, err
			}
			next++
		}
		return next < len(times), nil
	})
	if err != nil {
		return err
	}
	if next == len(times) {
		return nil
	}
	// The video ended before a frame reached the remaining times: they get
	// the last frame (keyframe) of the video. Decode from the keyframe
	// before the last second to the end and keep the last frame (a file of
	// unknown duration is decoded from the start).
	var last *Frame
	args = sampleArgs(path, -1, nil, o)
	err = t.streamFrames(ctx, args, func(f Frame) (bool, error) {
		if !math.IsNaN(f.Time) {
			last = &f
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if last == nil {
		return fmt.Errorf("media: sample: no frame could be decoded at or before %g s", times[next])
	}
	for ; next < len(times); next++ {
		if err := send(*last); err != nil {
			return err
		}
	}
	return nil
}

// sampleArgs builds the FFmpeg command of a run: seek to the keyframe at or
// before seek (input seeking, no accurate trim: the select filter decides;
// a negative seek counts from the end of the file),
// keep absolute timestamps (from the file start, like -ss), decode the
// first video stream (keyframes only unless exact), select the first frame
// at or after each time's threshold (every frame when times is nil), scale,
// log the selected frames' timestamps with showinfo, encode MJPEG to stdout.
func sampleArgs(path string, seek float64, times []float64, o SampleOptions) []string {
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-loglevel", "info",
		"-copyts", "-start_at_zero"}
	switch {
	case seek > 0:
		args = append(args, "-ss", ffFloat(seek), "-noaccurate_seek")
	case seek < 0:
		args = append(args, "-sseof", ffFloat(seek), "-noaccurate_seek")
	}
	if !o.Exact {
		// The demuxer drops non-key packets where it can (MP4/MOV: their
		// data is not even read); the decoder skips the rest.
		args = append(args, "-discard:V", "nokey", "-skip_frame", "nokey")
	}
	args = append(args, inputArgs(path)...)

	var chain strings.Builder
	if len(times) > 0 {
		chain.WriteString("select='")
		writeSelectExpr(&chain, selectThresholds(times, 0))
		chain.WriteString("',")
	}
	writePictureScale(&chain, o.Width)

	args = append(args, "-map", "0:V:0", "-an", "-sn", "-dn", "-filter:v", chain.String())
	return append(args, pictureOutput(o.Quality, "pipe:1")...)
}

// pictureOutput is the output of sampled pictures: MJPEG at quality to
// pipe, one picture per selected frame, one encoder thread. A
// frame-threaded MJPEG encoder holds each picture back until the next ones
// arrive, so the last picture of a run would reach the pipe only at the
// end of the file, and streamFrames could not stop FFmpeg early
// (bench/vlm).
func pictureOutput(quality int, pipe string) []string {
	return []string{"-fps_mode", "passthrough", "-threads:v", "1",
		"-c:v", "mjpeg", "-q:v", strconv.Itoa(quality), "-f", "image2pipe", pipe}
}

// selectThresholds turns times (ascending, seconds on the file's
// timeline) into the select filter's thresholds on a timeline that starts
// at origin: each time less SampleTolerance, duplicates once.
func selectThresholds(times []float64, origin float64) []string {
	var out []string
	prev := math.NaN()
	for _, v := range times {
		if a := sampleThreshold(v - origin); a != prev {
			out = append(out, ffFloat(a))
			prev = a
		}
	}
	return out
}

// writePictureScale writes the end of a picture chain: width fixed, height
// from the display aspect ratio, both even, then showinfo to log each
// picture's time.
func writePictureScale(b *strings.Builder, width int) {
	fmt.Fprintf(b, "scale=w=%d:h='max(2,2*trunc(%d/dar/2+0.5))',setsar=1,showinfo", width, width)
}

// writeSelectExpr writes a select filter expression that passes frame k
// when prev_t < A ≤ t for some threshold A (ascending): the first frame at
// or after each threshold. On the first frame prev_t is NaN and every
// threshold up to t counts. The smallest threshold above prev_t is found by
// a balanced tree of if(): FFmpeg's expression parser limits nesting (a flat
// sum of about 100 terms fails to parse), and a tree costs log2(n)
// comparisons per frame instead of n.
func writeSelectExpr(b *strings.Builder, thresholds []string) {
	b.WriteString("if(isnan(prev_t),gte(t," + thresholds[0] + "),lte(")
	writeNextThreshold(b, thresholds)
	b.WriteString(",t))")
}

// writeNextThreshold writes an expression for the smallest of a greater
// than prev_t, or 1e300 when there is none.
func writeNextThreshold(b *strings.Builder, a []string) {
	if len(a) == 1 {
		b.WriteString("if(lt(prev_t," + a[0] + ")," + a[0] + ",1e300)")
		return
	}
	m := len(a) / 2
	b.WriteString("if(lt(prev_t," + a[m-1] + "),")
	writeNextThreshold(b, a[:m])
	b.WriteByte(',')
	writeNextThreshold(b, a[m:])
	b.WriteByte(')')
}

// ffFloat prints v for an FFmpeg option or expression: the shortest decimal
// that parses back to the same float64, never in exponent form.
func ffFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// streamFrames runs an FFmpeg command built by sampleArgs and calls onFrame
// for each picture with its timestamp. When onFrame returns false or an
// error, FFmpeg is killed; that is not a failure of the run.
func (t *Tool) streamFrames(ctx context.Context, args []string, onFrame func(Frame) (more bool, err error)) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	log := newShowinfoLog()
	cmd := exec.CommandContext(runCtx, t.ffmpeg, args...)
	cmd.Stderr = log
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("media: sample: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("media: sample: %w", &ToolError{Tool: toolName(t.ffmpeg), ExitCode: -1, Err: err})
	}

	r := bufio.NewReaderSize(stdout, 64<<10)
	var (
		stopped  bool // we ended the run
		parseErr error
		sizeHint int
	)
	for {
		img, w, h, err := readJPEG(r, sizeHint)
		if err == io.EOF {
			break
		}
		if err != nil {
			parseErr = err
			break
		}
		sizeHint = len(img)
		pts, ok := log.next(runCtx)
		if !ok {
			parseErr = errors.New("ffmpeg wrote a frame without logging its timestamp")
			break
		}
		more, err := onFrame(Frame{Time: pts, JPEG: img, Width: w, Height: h})
		if err != nil || !more {
			stopped = true
			stop()
			log.close()
			cmd.Wait()
			return err
		}
	}
	if parseErr != nil {
		stop()
	}
	log.close()
	err = cmd.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("media: sample: ffmpeg stopped: %w", context.Cause(ctx))
	}
	if err != nil && !stopped {
		te := &ToolError{Tool: toolName(t.ffmpeg), ExitCode: -1, Stderr: log.tail(), Err: err}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && exitErr.Exited() {
			te.ExitCode = exitErr.ExitCode()
		}
		if strings.Contains(te.Stderr, "matches no streams") {
			return fmt.Errorf("media: sample: the file has no video stream: %w", te)
		}
		return fmt.Errorf("media: sample: %w", te)
	}
	if parseErr != nil {
		return fmt.Errorf("media: sample: reading ffmpeg output: %w (%s)", parseErr, log.tail())
	}
	return nil
}

// showinfoLog is FFmpeg's stderr during a sampling run. It splits it into
// lines (bounded), turns the showinfo line of each selected frame into its
// time in seconds, queued for the reader of stdout, and keeps the tail of
// the other lines for errors.
type showinfoLog struct {
	line  []byte
	long  bool // inside an over-long line
	num   int64
	den   int64 // showinfo's input time base; 0 until logged
	times chan float64
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	rest  tailWriter
}

const maxLogLine = 16 << 10

func newShowinfoLog() *showinfoLog {
	return &showinfoLog{
		times: make(chan float64, 64),
		done:  make(chan struct{}),
		rest:  tailWriter{max: stderrTail},
	}
}

func (l *showinfoLog) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			l.add(b)
			break
		}
		l.add(b[:i])
		b = b[i+1:]
		l.flushLine()
	}
	return n, nil
}

func (l *showinfoLog) add(b []byte) {
	if l.long {
		return
	}
	if room := maxLogLine - len(l.line); len(b) > room {
		b = b[:room]
		l.long = true
	}
	l.line = append(l.line, b...)
}

func (l *showinfoLog) flushLine() {
	line := l.line
	l.line, l.long = l.line[:0], false
	if len(line) == 0 {
		return
	}
	s := string(line)
	// "[Parsed_showinfo_3 @ 0x55d0c5a0e1c0] n:   0 pts:  64000 pts_time:5 ...".
	// Only lines that start so are showinfo's: the header FFmpeg prints
	// indents metadata, even across newlines inside a value.
	if strings.HasPrefix(s, "[Parsed_showinfo_") {
		_, msg, _ := strings.Cut(s, "] ")
		if strings.HasPrefix(msg, "n:") {
			if i := strings.Index(msg, " pts:"); i >= 0 {
				l.frame(msg[i+len(" pts:"):])
			}
			return
		}
		if f, ok := strings.CutPrefix(msg, "config in time_base:"); ok {
			f = strings.TrimSpace(f)
			f, _, _ = strings.Cut(f, ",")
			if a, b, ok := strings.Cut(f, "/"); ok {
				num, err1 := strconv.ParseInt(a, 10, 64)
				den, err2 := strconv.ParseInt(b, 10, 64)
				if err1 == nil && err2 == nil && num > 0 && den > 0 {
					l.num, l.den = num, den
				}
			}
		}
		return // showinfo's other lines (side data, colour)
	}
	if strings.Contains(s, "deprecated pixel format used") {
		return
	}
	l.mu.Lock()
	l.rest.Write(line)
	l.rest.Write([]byte{'\n'})
	l.mu.Unlock()
}

// frame handles the text after "pts:" of a showinfo frame line.
func (l *showinfoLog) frame(s string) {
	s = strings.TrimLeft(s, " ")
	if i := strings.IndexByte(s, ' '); i >= 0 {
		s = s[:i]
	}
	v := math.NaN()
	if pts, err := strconv.ParseInt(s, 10, 64); err == nil && l.den > 0 {
		// The same arithmetic as the select filter's t, so that comparisons
		// with the thresholds agree with FFmpeg's.
		v = float64(pts) * (float64(l.num) / float64(l.den))
	}
	select {
	case l.times <- v:
	case <-l.done:
	}
}

// next returns the time of the next selected frame; false when FFmpeg's
// stderr ended (or ctx did) without one.
func (l *showinfoLog) next(ctx context.Context) (float64, bool) {
	select {
	case v := <-l.times:
		return v, true
	case <-ctx.Done():
		return 0, false
	case <-l.done:
		select {
		case v := <-l.times:
			return v, true
		default:
			return 0, false
		}
	}
}

// close unblocks a Write waiting to queue a time; called once stdout is
// no longer read, before waiting for FFmpeg.
func (l *showinfoLog) close() { l.once.Do(func() { close(l.done) }) }

func (l *showinfoLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rest.String()
}

// readJPEG reads one JPEG image, SOI to EOI, walking its marker segments
// (so bytes inside tables cannot be mistaken for the end), and returns it
// with the size from its frame header. It returns io.EOF when r ends before
// an image starts, and io.ErrUnexpectedEOF when it ends inside one.
func readJPEG(r *bufio.Reader, sizeHint int) (img []byte, width, height int, err error) {
	b0, err := r.ReadByte()
	if err != nil {
		return nil, 0, 0, err // io.EOF: no more images
	}
	b1, err := r.ReadByte()
	if err != nil || b0 != 0xFF || b1 != 0xD8 {
		return nil, 0, 0, errors.New("not a JPEG start of image")
	}
	img = make([]byte, 0, max(sizeHint+sizeHint/4, 4096))
	img = append(img, 0xFF, 0xD8)
	eof := func(err error) error {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	readMarker := func() (byte, error) {
		c, err := r.ReadByte()
		if err != nil {
			return 0, eof(err)
		}
		if c != 0xFF {
			return 0, fmt.Errorf("JPEG: expected a marker, found byte 0x%02X", c)
		}
		for c == 0xFF { // fill bytes
			if c, err = r.ReadByte(); err != nil {
				return 0, eof(err)
			}
		}
		return c, nil
	}
	m, err := readMarker()
	for err == nil {
		img = append(img, 0xFF, m)
		if len(img) > maxSampleJPEG {
			return nil, 0, 0, fmt.Errorf("JPEG larger than %d bytes", maxSampleJPEG)
		}
		switch {
		case m == 0xD9: // EOI
			if width <= 0 || height <= 0 {
				return nil, 0, 0, errors.New("JPEG without a frame header")
			}
			return img, width, height, nil
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // no length
			m, err = readMarker()
			continue
		}
		var lb [2]byte
		if _, err = io.ReadFull(r, lb[:]); err != nil {
			return nil, 0, 0, eof(err)
		}
		n := int(lb[0])<<8 | int(lb[1])
		if n < 2 || len(img)+n > maxSampleJPEG {
			return nil, 0, 0, fmt.Errorf("JPEG: bad segment length %d", n)
		}
		img = append(img, lb[0], lb[1])
		start := len(img)
		img = append(img, make([]byte, n-2)...)
		if _, err = io.ReadFull(r, img[start:]); err != nil {
			return nil, 0, 0, eof(err)
		}
		seg := img[start:]
		if isSOF(m) && len(seg) >= 5 {
			height = int(seg[1])<<8 | int(seg[2])
			width = int(seg[3])<<8 | int(seg[4])
		}
		if m != 0xDA { // not start of scan
			m, err = readMarker()
			continue
		}
		// Entropy-coded data: 0xFF is followed by 0x00 (stuffing), a
		// restart marker, or the next marker.
		for {
			chunk, rerr := r.ReadSlice(0xFF)
			img = append(img, chunk...)
			if len(img) > maxSampleJPEG {
				return nil, 0, 0, fmt.Errorf("JPEG larger than %d bytes", maxSampleJPEG)
			}
			if rerr == bufio.ErrBufferFull {
				continue
			}
			if rerr != nil {
				return nil, 0, 0, eof(rerr)
			}
			c, rerr := r.ReadByte()
			for rerr == nil && c == 0xFF {
				c, rerr = r.ReadByte()
			}
			if rerr != nil {
				return nil, 0, 0, eof(rerr)
			}
			if c == 0x00 || (c >= 0xD0 && c <= 0xD7) {
				img = append(img, c)
				continue
			}
			img = img[:len(img)-1] // the 0xFF is added back with the marker
			m = c
			break
		}
	}
	return nil, 0, 0, err
}

// isSOF reports a start-of-frame marker (which holds the picture size).
func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
}

// Keyframes lists the presentation times of the keyframes of the first
// video stream, in seconds from the start of the file (like Frame.Time),
// ascending. They come from the container's packet flags (what a seek
// lands on, and what SampleAt without Exact decodes), read by ffprobe
// without decoding; ffprobe still reads the whole file, which takes a few
// seconds for an hour of video. It is not a heavy run. A file without a
// video stream is an error.
func (t *Tool) Keyframes(ctx context.Context, path string) ([]float64, error) {
	if err := refusePlaylist(path); err != nil {
		return nil, err
	}
	args := append([]string{"-v", "error", "-select_streams", "V:0",
		"-show_entries", "stream=index:packet=pts_time,dts_time,flags:format=start_time",
		"-of", "compact=p=1:nk=0"}, inputArgs(path)...)
	cmd := exec.CommandContext(ctx, t.ffprobe, args...)
	stderr := &tailWriter{max: stderrTail}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("media: keyframes: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("media: keyframes: %w", &ToolError{Tool: toolName(t.ffprobe), ExitCode: -1, Err: err})
	}
	var (
		keys        []float64
		start       float64
		video       bool
		lastKey     = math.Inf(-1)
		needSorting bool
	)
	r := bufio.NewReaderSize(stdout, 64<<10)
	for {
		line, rerr := r.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull { // an over-long line: not ours
			for rerr == bufio.ErrBufferFull {
				_, rerr = r.ReadSlice('\n')
			}
			continue
		}
		section, rest, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte("|"))
		switch string(section) {
		case "packet":
			if !bytes.Contains(rest, []byte("flags=K")) {
				break
			}
			v, err := strconv.ParseFloat(compactField(rest, "pts_time"), 64)
			if err != nil {
				v, err = strconv.ParseFloat(compactField(rest, "dts_time"), 64)
			}
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				break
			}
			if v < lastKey {
				needSorting = true
			}
			lastKey = v
			keys = append(keys, v)
		case "stream":
			video = true
		case "format":
			if v, err := strconv.ParseFloat(compactField(rest, "start_time"), 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
				start = v
			}
		}
		if rerr != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		te := &ToolError{Tool: toolName(t.ffprobe), ExitCode: -1, Stderr: stderr.String(), Err: err}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && exitErr.Exited() {
			te.ExitCode = exitErr.ExitCode()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("media: keyframes: ffprobe stopped: %w (%w)", context.Cause(ctx), te)
		}
		return nil, fmt.Errorf("media: keyframes: %w", te)
	}
	if !video {
		return nil, errors.New("media: keyframes: the file has no video stream")
	}
	if needSorting {
		slices.Sort(keys)
	}
	out := keys[:0]
	for i, v := range keys {
		v -= start
		if i > 0 && v == out[len(out)-1] {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// compactField returns the value of key in "k=v|k=v" (ffprobe's compact
// writer), or "".
func compactField(b []byte, key string) string {
	for f := range bytes.SplitSeq(b, []byte("|")) {
		if k, v, ok := bytes.Cut(f, []byte("=")); ok && string(k) == key {
			return string(v)
		}
	}
	return ""
}
