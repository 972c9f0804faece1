package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// wavInfo is what a test checks in a WAV file.
type wavInfo struct {
	format, channels, bits int
	rate                   int
	riffSize, dataSize     int
	samples                []int16
}

func parseWAV(t *testing.T, b []byte) wavInfo {
	t.Helper()
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" || string(b[12:16]) != "fmt " || string(b[36:40]) != "data" {
		t.Fatalf("not a canonical WAV header: % x", b[:min(len(b), 44)])
	}
	le := binary.LittleEndian
	w := wavInfo{
		format:   int(le.Uint16(b[20:])),
		channels: int(le.Uint16(b[22:])),
		rate:     int(le.Uint32(b[24:])),
		bits:     int(le.Uint16(b[34:])),
		riffSize: int(le.Uint32(b[4:])),
		dataSize: int(le.Uint32(b[40:])),
	}
	if w.riffSize != len(b)-8 || w.dataSize != len(b)-44 {
		t.Errorf("sizes in the header (RIFF %d, data %d) do not match the file (%d bytes)", w.riffSize, w.dataSize, len(b))
	}
	if le.Uint32(b[28:]) != uint32(w.rate*w.channels*w.bits/8) || int(le.Uint16(b[32:])) != w.channels*w.bits/8 {
		t.Errorf("inconsistent byte rate or block align")
	}
	for i := 44; i+1 < len(b); i += 2 {
		w.samples = append(w.samples, int16(le.Uint16(b[i:])))
	}
	return w
}

func wavRMS(s []int16) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

// wavCrossings counts sign changes, about 2 per period of a sine.
func wavCrossings(s []int16) int {
	n := 0
	for i := 1; i < len(s); i++ {
		if (s[i-1] < 0) != (s[i] < 0) {
			n++
		}
	}
	return n
}

func TestExtractAudio(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	// 6 s, stereo AAC at 44.1 kHz: a 440 Hz sine.
	path := generate(t, "sine.mp4", append(append([]string{
		"-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=6",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=6",
	}, x264...), "-ac", "2", "-c:a", "aac", "-b:a", "64k", "-shortest")...)

	for _, tc := range []struct {
		start, end float64
		silentFrom float64 // seconds into the WAV where the file's audio ends; 0: never
	}{
		{1, 3.5, 0},
		{0, 6, 0},
		{0.25, 0.75, 0},
		{5, 8, 1}, // 3 s asked, the audio ends at 6 s: the rest is silence
	} {
		var b bytes.Buffer
		if err := tool.ExtractAudio(context.Background(), path, tc.start, tc.end, &b); err != nil {
			t.Fatalf("ExtractAudio(%g, %g): %v", tc.start, tc.end, err)
		}
		w := parseWAV(t, b.Bytes())
		if w.format != 1 || w.channels != 1 || w.rate != 16000 || w.bits != 16 {
			t.Errorf("[%g, %g): format %d, %d channels, %d Hz, %d bits; want PCM mono 16 kHz 16-bit", tc.start, tc.end, w.format, w.channels, w.rate, w.bits)
		}
		dur := float64(len(w.samples)) / float64(w.rate)
		if math.Abs(dur-(tc.end-tc.start)) > 0.05 {
			t.Errorf("[%g, %g): %.4f s of audio", tc.start, tc.end, dur)
		}
		sound := w.samples
		if tc.silentFrom > 0 {
			cut := int(tc.silentFrom * 16000)
			sound = w.samples[:cut-800] // AAC's last frame may end a little late
			if tail := wavRMS(w.samples[cut+800:]); tail != 0 {
				t.Errorf("[%g, %g): padding after the end of the audio has RMS %.1f", tc.start, tc.end, tail)
			}
		}
		// The sine: loud, and 440 Hz by its zero crossings (skipping AAC's
		// ramp at the very start of the file).
		body := sound[min(len(sound)/10, 1600):]
		if r := wavRMS(body); r < 1000 {
			t.Errorf("[%g, %g): RMS %.0f, want a loud sine", tc.start, tc.end, r)
		}
		if f := float64(wavCrossings(body)) / 2 / (float64(len(body)) / 16000); math.Abs(f-440) > 10 {
			t.Errorf("[%g, %g): %.0f Hz, want 440", tc.start, tc.end, f)
		}
	}
}

// An audio stream that starts 1 s after the video: the WAV keeps the file's
// timeline, with silence before the audio starts.
func TestExtractAudioLateStart(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	path := generate(t, "late.mp4", append(append([]string{
		"-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=4",
		"-itsoffset", "1", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=3",
	}, x264...), "-c:a", "aac", "-b:a", "64k")...)
	for _, start := range []float64{0, 0.5} {
		var b bytes.Buffer
		if err := tool.ExtractAudio(context.Background(), path, start, 3, &b); err != nil {
			t.Fatal(err)
		}
		w := parseWAV(t, b.Bytes())
		if got, want := len(w.samples), int((3-start)*16000); got != want {
			t.Errorf("start %g: %d samples, want %d", start, got, want)
		}
		// Where the sine begins: the first loud 10 ms.
		onset := -1.0
		for i := 0; i+160 <= len(w.samples); i += 160 {
			if wavRMS(w.samples[i:i+160]) > 1000 {
				onset = start + float64(i)/16000
				break
			}
		}
		if math.Abs(onset-1) > 0.06 {
			t.Errorf("start %g: the sound starts at %.3f s of the file, want 1", start, onset)
		}
	}
}

func TestExtractAudioNoAudio(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	path := testVideo(t, "silent.mp4", "160x90", "2")
	var b bytes.Buffer
	err := tool.ExtractAudio(context.Background(), path, 0, 1, &b)
	if !errors.Is(err, ErrNoAudio) {
		t.Fatalf("ExtractAudio = %v, want ErrNoAudio", err)
	}
	if b.Len() != 0 {
		t.Errorf("%d bytes written on error", b.Len())
	}
	var te *ToolError
	if !errors.As(err, &te) || !strings.Contains(te.Stderr, "matches no streams") {
		t.Errorf("error does not carry FFmpeg's message: %v", err)
	}
}

func TestExtractAudioRejects(t *testing.T) {
	t.Parallel()
	tool := newTool(t)
	for _, r := range [][2]float64{{1, 1}, {2, 1}, {-1, 1}, {0, math.Inf(1)}, {math.NaN(), 1}, {0, 1e6}} {
		if err := tool.ExtractAudio(context.Background(), "/nonexistent.mp4", r[0], r[1], io.Discard); err == nil || !strings.Contains(err.Error(), "range") {
			t.Errorf("ExtractAudio(%g, %g) = %v, want a range error", r[0], r[1], err)
		}
	}
}

type failingWriter struct{ n, limit int }

var errWriterFull = errors.New("writer full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		return 0, errWriterFull
	}
	w.n += len(p)
	return len(p), nil
}

// Not parallel: it counts this process's ffmpeg children.
func TestExtractAudioStops(t *testing.T) {
	tool := newTool(t)
	path := generate(t, "long-sine.mkv", "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=600",
		"-c:a", "pcm_s16le")
	start := time.Now()
	err := tool.ExtractAudio(context.Background(), path, 0, 600, &failingWriter{limit: 100 << 10})
	if !errors.Is(err, errWriterFull) {
		t.Fatalf("ExtractAudio = %v, want the writer's error", err)
	}
	if pids := ffmpegChildren(t); len(pids) > 0 {
		t.Errorf("ffmpeg still running: %v", pids)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &cancelWriter{cancel: cancel, after: 64 << 10}
	err = tool.ExtractAudio(ctx, path, 0, 600, w)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ExtractAudio with ctx canceled = %v", err)
	}
	if pids := ffmpegChildren(t); len(pids) > 0 {
		t.Errorf("ffmpeg still running: %v", pids)
	}
	t.Logf("both stopped in %v", time.Since(start))
}

type cancelWriter struct {
	n, after int
	cancel   func()
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if w.n > w.after {
		w.cancel()
	}
	return len(p), nil
}
