package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strings"
	"time"
)

// ErrNoAudio means the file has no audio stream to extract.
var ErrNoAudio = errors.New("media: the file has no audio stream")

// The format ExtractAudio writes: what speech recognizers expect.
const (
	ASRSampleRate = 16000 // Hz
	asrChannels   = 1
	asrBytes      = 2 // per sample: signed 16-bit little-endian
	wavHeaderSize = 44
)

// ExtractAudio writes the audio of [start, end) seconds of the file's first
// audio stream to w as a WAV file: 16 kHz, mono (channels mixed down),
// 16-bit PCM. The WAV has exactly round((end-start)·16000) samples and its
// header carries the true sizes, so it is valid without seeking: where the
// stream has no audio in the range (before its first sample, in gaps, after
// its end) there is silence, and sample i of the WAV is at start + i/16000 s
// in the file (times from the file start, as in Frame.Time).
//
// It streams: FFmpeg decodes and resamples, and the samples are copied to w
// as they come, in bounded memory. Nothing is written to w when FFmpeg
// fails before producing audio (ErrNoAudio, a file it cannot read); after
// that, an error leaves a truncated WAV behind. A file without an audio
// stream is ErrNoAudio. When writing to w fails or ctx ends, FFmpeg is
// killed and the error is returned.
//
// It is not a heavy run: decoding and resampling audio costs little next
// to video (it does not hold a Config.MaxHeavy slot, so it can run while a
// SampleAt waits on its caller).
func (t *Tool) ExtractAudio(ctx context.Context, path string, start, end float64, w io.Writer) error {
	if math.IsNaN(start) || math.IsNaN(end) || math.IsInf(start, 0) || math.IsInf(end, 0) || start < 0 || end <= start {
		return fmt.Errorf("media: extract audio: invalid range [%g, %g)", start, end)
	}
	samples := int64(math.Round((end - start) * ASRSampleRate))
	dataBytes := samples * asrBytes * asrChannels
	if samples <= 0 || dataBytes > math.MaxUint32-wavHeaderSize {
		return fmt.Errorf("media: extract audio: range [%g, %g) is empty or too long for a WAV file", start, end)
	}
	if err := refusePlaylist(path); err != nil {
		return err
	}

	args := []string{"-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"}
	if start > 0 {
		args = append(args, "-ss", ffFloat(start))
	}
	args = append(args, "-t", ffFloat(end-start))
	args = append(args, inputArgs(path)...)
	// aresample with first_pts=0 and async fills a late start and gaps in
	// the stream with silence, so samples stay at their times.
	args = append(args, "-map", "0:a:0", "-vn", "-sn", "-dn",
		"-af", fmt.Sprintf("aresample=%d:async=1:first_pts=0", ASRSampleRate),
		"-ac", "1", "-ar", fmt.Sprint(ASRSampleRate), "-c:a", "pcm_s16le", "-f", "s16le", "pipe:1")

	ctx, cancel := t.bounded(ctx, "the audio extraction", end-start)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	cmd := exec.CommandContext(runCtx, t.ffmpeg, args...)
	stderr := &tailWriter{max: stderrTail}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("media: extract audio: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("media: extract audio: %w", &ToolError{Tool: toolName(t.ffmpeg), ExitCode: -1, Err: err})
	}

	// The header goes out with the first samples, so a run that fails at
	// once (no audio stream) leaves w untouched.
	wav := &wavWriter{w: w, dataBytes: dataBytes}
	var writeErr error
	buf := make([]byte, 32<<10)
	for {
		n, rerr := stdout.Read(buf)
		if n > 0 {
			if writeErr = wav.write(buf[:n]); writeErr != nil {
				break
			}
		}
		if rerr != nil {
			break // io.EOF, or the pipe closed under a killed FFmpeg: Wait tells
		}
	}
	if writeErr != nil {
		stop()
		cmd.Wait()
		if ctx.Err() != nil {
			return fmt.Errorf("media: extract audio: %w", context.Cause(ctx))
		}
		return fmt.Errorf("media: extract audio: writing: %w", writeErr)
	}
	if err := cmd.Wait(); err != nil {
		te := &ToolError{Tool: toolName(t.ffmpeg), ExitCode: -1, Stderr: stderr.String(), Err: err}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && exitErr.Exited() {
			te.ExitCode = exitErr.ExitCode()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("media: extract audio: ffmpeg stopped: %w (%w)", context.Cause(ctx), te)
		}
		if strings.Contains(te.Stderr, "matches no streams") {
			return fmt.Errorf("%w (%w)", ErrNoAudio, te)
		}
		return fmt.Errorf("media: extract audio: %w", te)
	}
	// Pad to the announced length (the stream ended before end).
	if err := wav.pad(); err != nil {
		return fmt.Errorf("media: extract audio: writing: %w", err)
	}
	return nil
}

// wavWriter writes a WAV header announcing dataBytes of PCM, then exactly
// that many bytes: what comes beyond is dropped, what is missing is padded
// with zeros (silence).
type wavWriter struct {
	w          io.Writer
	dataBytes  int64
	written    int64 // PCM bytes written
	headerDone bool
}

func (v *wavWriter) header() error {
	if v.headerDone {
		return nil
	}
	v.headerDone = true
	var h [wavHeaderSize]byte
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], uint32(36+v.dataBytes))
	copy(h[8:], "WAVE")
	copy(h[12:], "fmt ")
	le.PutUint32(h[16:], 16)                                 // fmt chunk size
	le.PutUint16(h[20:], 1)                                  // PCM
	le.PutUint16(h[22:], asrChannels)                        // channels
	le.PutUint32(h[24:], ASRSampleRate)                      // sample rate
	le.PutUint32(h[28:], ASRSampleRate*asrChannels*asrBytes) // byte rate
	le.PutUint16(h[32:], asrChannels*asrBytes)               // block align
	le.PutUint16(h[34:], 8*asrBytes)                         // bits per sample
	copy(h[36:], "data")
	le.PutUint32(h[40:], uint32(v.dataBytes)) // data size
	_, err := v.w.Write(h[:])
	return err
}

func (v *wavWriter) write(p []byte) error {
	if err := v.header(); err != nil {
		return err
	}
	if room := v.dataBytes - v.written; int64(len(p)) > room {
		p = p[:room]
	}
	if len(p) == 0 {
		return nil
	}
	n, err := v.w.Write(p)
	v.written += int64(n)
	return err
}

func (v *wavWriter) pad() error {
	if err := v.header(); err != nil {
		return err
	}
	zeros := make([]byte, 8<<10)
	for v.written < v.dataBytes {
		n := min(int64(len(zeros)), v.dataBytes-v.written)
		if err := v.write(zeros[:n]); err != nil {
			return err
		}
	}
	return nil
}
