package inferencetest_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/framewise/framewise/internal/inference/inferencetest"
)

// sound is a stretch of a test signal: a sine at freq Hz, white noise
// (freq < 0) or silence (amp 0).
type sound struct{ seconds, freq, amp float64 }

// wav writes a 16-bit PCM WAV file, the same signal on every channel.
func wav(rate, channels int, sounds ...sound) []byte {
	var samples []int16
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range sounds {
		n := int(s.seconds * float64(rate))
		for i := range n {
			var v float64
			switch {
			case s.freq > 0:
				v = s.amp * math.Sin(2*math.Pi*s.freq*float64(i)/float64(rate))
			case s.freq < 0:
				v = s.amp * (2*rng.Float64() - 1)
			}
			for range channels {
				samples = append(samples, int16(v*32767))
			}
		}
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	dataLen := uint32(2 * len(samples))
	b.WriteString("RIFF")
	_ = binary.Write(&b, le, 36+dataLen)
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(channels), uint32(rate), uint32(rate * 2 * channels), uint16(2 * channels), uint16(16)} {
		_ = binary.Write(&b, le, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, le, dataLen)
	_ = binary.Write(&b, le, samples)
	return b.Bytes()
}

type segment struct {
	Start, End float64
	Text       string
}

func transcribe(t *testing.T, s *inferencetest.Server, audio []byte, format string) (int, []segment, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "audio.wav")
	_, _ = fw.Write(audio)
	_ = mw.WriteField("model", "whisper")
	_ = mw.WriteField("response_format", format)
	_ = mw.WriteField("timestamp_granularities[]", "segment")
	_ = mw.Close()
	res, err := http.Post(s.URL()+"/audio/transcriptions", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out struct {
		Text     string
		Segments []segment
	}
	_ = json.Unmarshal(raw, &out)
	if res.StatusCode != 200 {
		return res.StatusCode, nil, string(raw)
	}
	return res.StatusCode, out.Segments, out.Text
}

func TestTranscription(t *testing.T) {
	t.Parallel()
	s := inferencetest.New(t)
	tests := []struct {
		name  string
		audio []byte
		want  []segment
	}{
		{"tone silence tone at 16 kHz", wav(16000, 1, sound{1, 440, 0.5}, sound{1, 0, 0}, sound{1, 440, 0.5}),
			[]segment{{0, 1, "tone 440 Hz"}, {2, 3, "tone 440 Hz"}}},
		{"pitch change splits", wav(16000, 1, sound{1, 440, 0.5}, sound{1.5, 1000, 0.3}),
			[]segment{{0, 1, "tone 440 Hz"}, {1, 2.5, "tone 1000 Hz"}}},
		{"noise has no pitch", wav(16000, 1, sound{0.5, 0, 0}, sound{1, -1, 0.5}),
			[]segment{{0.5, 1.5, "tone"}}},
		{"other rates hear without pitch, stereo averaged", wav(44100, 2, sound{1.2, 440, 0.5}),
			[]segment{{0, 1.2, "tone"}}},
		{"quiet is silence", wav(16000, 1, sound{2, 440, 0.01}), nil},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				status, got, msg := transcribe(t, s, tt.audio, "verbose_json")
				if status != 200 {
					t.Fatalf("status %d: %s", status, msg)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("segments = %+v, want %+v", got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("segment %d = %+v, want %+v", i, got[i], tt.want[i])
					}
				}
			})
		}
	})
	if status, _, text := transcribe(t, s, wav(16000, 1, sound{1, 440, 0.5}), "json"); status != 200 || text != "tone 440 Hz" {
		t.Errorf("json format: %d %q", status, text)
	}
	if status, _, msg := transcribe(t, s, []byte("ID3 not a wav"), "verbose_json"); status != 400 {
		t.Errorf("mp3: %d %s", status, msg)
	}
	if st := s.Stats(); st.ByKind[inferencetest.KindTranscription] != 7 {
		t.Errorf("stats = %+v", st)
	}
}
