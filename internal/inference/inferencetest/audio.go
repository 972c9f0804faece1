package inferencetest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
)

// Hearing parameters: the audio is judged in windows of hearStep seconds; a
// window sounds when its RMS (full scale 1.0) exceeds hearThreshold, about
// −34 dBFS. A window of a 16 kHz file has a dominant frequency when at least
// toneShare of its energy lies at one frequency.
const (
	hearStep      = 0.5
	hearThreshold = 0.02
	toneShare     = 0.5
	toneRate      = 16000
)

func (s *Server) handleTranscription(w http.ResponseWriter, r *http.Request) {
	defer s.begin()()
	call := Call{Kind: KindTranscription}
	defer func() { s.record(call) }()
	fail := func(status int, msg string) {
		call.Status = status
		s.writeError(w, apiError{status: status, message: msg})
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		fail(http.StatusBadRequest, "expected a multipart/form-data body: "+err.Error())
		return
	}
	call.Model = r.FormValue("model")
	if f := s.gate(r.Context(), r, call.Model); f != nil {
		e := s.gateError(f, call.Model)
		call.Status = e.status
		s.writeError(w, e)
		return
	}
	file, _, err := r.FormFile("file")
	if err != nil {
		fail(http.StatusBadRequest, "the form has no file field")
		return
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		fail(http.StatusBadRequest, "read file: "+err.Error())
		return
	}
	a, err := decodeWAV(data)
	if err != nil {
		fail(http.StatusBadRequest, "unsupported audio: "+err.Error())
		return
	}
	segs := a.hear()
	texts := make([]string, len(segs))
	for i, sg := range segs {
		texts[i] = sg.Text
	}
	text := strings.Join(texts, " ")

	call.Status = http.StatusOK
	switch format := r.FormValue("response_format"); format {
	case "", "json":
		writeJSON(w, http.StatusOK, map[string]any{"text": text})
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, text+"\n")
	case "verbose_json":
		out := make([]map[string]any, len(segs))
		for i, sg := range segs {
			out[i] = map[string]any{
				"id": i, "seek": 0, "start": sg.Start, "end": sg.End, "text": sg.Text,
				"tokens": []int{}, "temperature": 0.0, "avg_logprob": 0.0,
				"compression_ratio": 1.0, "no_speech_prob": 0.0,
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"task": "transcribe", "language": "en", "duration": round3(a.duration()),
			"text": text, "segments": out,
		})
	default:
		fail(http.StatusBadRequest, fmt.Sprintf("response_format %q is not supported by inferencetest (json, text, verbose_json)", format))
	}
}

// pcm is decoded mono audio.
type pcm struct {
	rate    int
	samples []float64 // channels averaged, full scale 1.0
}

func (a *pcm) duration() float64 { return float64(len(a.samples)) / float64(a.rate) }

// decodeWAV reads a RIFF/WAVE file of 16-bit PCM, any rate and channel count.
func decodeWAV(b []byte) (*pcm, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("not a WAV file (RIFF/WAVE header missing)")
	}
	var channels, bits, format, rate int
	var data []byte
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:off+8]))
		body := b[off+8:]
		if size > len(body) || size < 0 { // streaming writers leave the size open
			size = len(body)
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, errors.New("fmt chunk too short")
			}
			format = int(binary.LittleEndian.Uint16(body[0:2]))
			channels = int(binary.LittleEndian.Uint16(body[2:4]))
			rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits = int(binary.LittleEndian.Uint16(body[14:16]))
			if format == 0xFFFE && len(body) >= 26 { // WAVE_FORMAT_EXTENSIBLE: the sub-format decides
				format = int(binary.LittleEndian.Uint16(body[24:26]))
			}
		case "data":
			data = body
		}
		off += 8 + size + size%2
	}
	switch {
	case rate == 0:
		return nil, errors.New("WAV has no fmt chunk")
	case format != 1 || bits != 16:
		return nil, fmt.Errorf("WAV must be 16-bit PCM, not format %d with %d bits", format, bits)
	case channels < 1:
		return nil, errors.New("WAV has no channels")
	case data == nil:
		return nil, errors.New("WAV has no data chunk")
	}
	frames := len(data) / (2 * channels)
	a := &pcm{rate: rate, samples: make([]float64, frames)}
	for i := range frames {
		var sum float64
		for c := range channels {
			o := 2 * (i*channels + c)
			sum += float64(int16(binary.LittleEndian.Uint16(data[o:]))) / 32768
		}
		a.samples[i] = sum / float64(channels)
	}
	return a, nil
}

type heardSegment struct {
	Start, End float64
	Text       string
}

// hear returns one segment per span of consecutive sounding windows with
// the same label.
func (a *pcm) hear() []heardSegment {
	step := max(1, int(float64(a.rate)*hearStep))
	var segs []heardSegment
	prevSounding := false
	for i := 0; i < len(a.samples); i += step {
		w := a.samples[i:min(i+step, len(a.samples))]
		if rms(w) <= hearThreshold {
			prevSounding = false
			continue
		}
		label := "tone"
		if a.rate == toneRate {
			if f, ok := dominantFrequency(w, a.rate); ok {
				label = fmt.Sprintf("tone %d Hz", f)
			}
		}
		start := float64(i) / float64(a.rate)
		end := float64(i+len(w)) / float64(a.rate)
		if prevSounding && segs[len(segs)-1].Text == label {
			segs[len(segs)-1].End = round3(end)
		} else {
			segs = append(segs, heardSegment{Start: round3(start), End: round3(end), Text: label})
		}
		prevSounding = true
	}
	return segs
}

func rms(w []float64) float64 {
	if len(w) == 0 {
		return 0
	}
	var sum float64
	for _, x := range w {
		sum += x * x
	}
	return math.Sqrt(sum / float64(len(w)))
}

// dominantFrequency estimates the pitch from zero crossings, refines it with
// the Goertzel algorithm, and accepts it when that frequency carries at least
// toneShare of the window's energy.
func dominantFrequency(w []float64, rate int) (int, bool) {
	crossings := 0
	for i := 1; i < len(w); i++ {
		if (w[i-1] < 0) != (w[i] < 0) {
			crossings++
		}
	}
	dur := float64(len(w)) / float64(rate)
	guess := float64(crossings) / (2 * dur)
	if guess < 20 || guess > float64(rate)/2 {
		return 0, false
	}
	var energy float64
	for _, x := range w {
		energy += x * x
	}
	bestF, bestShare := 0.0, 0.0
	for f := guess - 5; f <= guess+5; f += 0.25 {
		if share := 2 * goertzel(w, f, rate) / (float64(len(w)) * energy); share > bestShare {
			bestF, bestShare = f, share
		}
	}
	if bestShare < toneShare {
		return 0, false
	}
	return int(math.Round(bestF)), true
}

// goertzel is the power |X(f)|² of w at frequency f.
func goertzel(w []float64, f float64, rate int) float64 {
	coeff := 2 * math.Cos(2*math.Pi*f/float64(rate))
	var s1, s2 float64
	for _, x := range w {
		s1, s2 = x+coeff*s1-s2, s1
	}
	return s1*s1 + s2*s2 - coeff*s1*s2
}
