package media

import (
	"fmt"
	"testing"
)

// The Go side of Measure per unit of FFmpeg output: it must stay far below
// FFmpeg's own cost per frame (a 720p H.264 frame decodes in about 2 ms on
// the benchmark machine). End-to-end speed is measured by bench/measure.

// BenchmarkCutDetector is the cost of one 64x36 thumbnail.
func BenchmarkCutDetector(b *testing.B) {
	frames := make([][]byte, 64)
	for i := range frames {
		frames[i] = texture(float64(1+i/16), float64(i)*0.25) // a cut every 16 frames
	}
	d := newCutDetector(30, DefaultSceneThreshold, func(int, float64) {})
	b.SetBytes(thumbSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.push(frames[i%len(frames)])
	}
}

// BenchmarkMeasureParserLine is the cost of one log line (two per volume
// sample, a few per detector event).
func BenchmarkMeasureParserLine(b *testing.B) {
	info := &Info{Duration: 7200, Video: &VideoStream{FPS: 30}, Audio: &AudioStream{Index: 1, SampleRate: 48000}}
	o, err := MeasureOptions{}.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	lines := make([][]byte, 0, 2000)
	for i := range 1000 {
		lines = append(lines,
			fmt.Appendf(nil, "[ametadata@fwvol @ 0x55d4a11bec00] frame:%-4d pts:%-7d pts_time:%g", i, i*12000, float64(i)*0.25),
			fmt.Appendf(nil, "[ametadata@fwvol @ 0x55d4a11bec00] lavfi.astats.Overall.RMS_level=-%f", 20+float64(i%7)))
	}
	b.ReportAllocs()
	for b.Loop() {
		p := newMeasureParser(0, 7200, info, o)
		w := &lineWriter{line: p.stderrLine}
		for _, l := range lines {
			w.Write(l)
			w.Write([]byte{'\n'})
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/line")
}
