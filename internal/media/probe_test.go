package media

import (
	"math"
	"strings"
	"testing"
)

func TestParseProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		json  string
		check func(t *testing.T, i *Info)
	}{
		{
			name: "missing fields",
			json: `{"streams":[{"index":0,"codec_type":"video"}],"format":{}}`,
			check: func(t *testing.T, i *Info) {
				v := i.Video
				if v == nil || v.Width != 0 || v.FPS != 0 || v.SampleAspectRatio != (Ratio{1, 1}) || i.Duration != 0 {
					t.Errorf("got %+v / %+v", i, v)
				}
			},
		},
		{
			name: "N/A values and numbers as numbers",
			json: `{"streams":[{"index":0,"codec_type":"video","width":1920,"height":1080,"duration":"N/A","avg_frame_rate":"0/0","r_frame_rate":"30000/1001","sample_aspect_ratio":"0:1"}],
			        "format":{"duration":"N/A","size":12345,"bit_rate":"N/A","start_time":"0.040000"}}`,
			check: func(t *testing.T, i *Info) {
				if i.Size != 12345 || i.BitRate != 0 || i.StartTime != 0.04 || i.Duration != 0 {
					t.Errorf("format = %+v", i)
				}
				if math.Abs(i.Video.FPS-29.97) > 0.01 {
					t.Errorf("fps = %v, want r_frame_rate fallback 29.97", i.Video.FPS)
				}
				if i.Video.DisplayWidth != 1920 || i.Video.DisplayHeight != 1080 {
					t.Errorf("display = %dx%d", i.Video.DisplayWidth, i.Video.DisplayHeight)
				}
			},
		},
		{
			name: "duration falls back to the longest stream",
			json: `{"streams":[{"index":0,"codec_type":"video","duration":"4.5"},{"index":1,"codec_type":"audio","duration":"5.25","sample_rate":"48000","channels":2}],"format":{}}`,
			check: func(t *testing.T, i *Info) {
				if i.Duration != 5.25 || !i.HasAudio() || i.Audio.SampleRate != 48000 || i.Audio.Channels != 2 {
					t.Errorf("got %+v audio %+v", i, i.Audio)
				}
			},
		},
		{
			name: "matroska DURATION tag",
			json: `{"streams":[{"index":0,"codec_type":"video","tags":{"DURATION":"00:01:05.500000000"}}],"format":{}}`,
			check: func(t *testing.T, i *Info) {
				if i.Duration != 65.5 {
					t.Errorf("duration = %v, want 65.5", i.Duration)
				}
			},
		},
		{
			name: "display matrix rotation",
			json: `{"streams":[{"index":0,"codec_type":"video","width":1920,"height":1080,"side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}],"format":{}}`,
			check: func(t *testing.T, i *Info) {
				v := i.Video
				if v.Rotation != 270 || v.DisplayWidth != 1080 || v.DisplayHeight != 1920 {
					t.Errorf("rotation %d display %dx%d", v.Rotation, v.DisplayWidth, v.DisplayHeight)
				}
			},
		},
		{
			name: "legacy rotate tag is clockwise",
			json: `{"streams":[{"index":0,"codec_type":"video","width":1920,"height":1080,"tags":{"rotate":"90"}}],"format":{}}`,
			check: func(t *testing.T, i *Info) {
				v := i.Video
				if v.Rotation != 270 || v.DisplayWidth != 1080 || v.DisplayHeight != 1920 {
					t.Errorf("rotation %d display %dx%d", v.Rotation, v.DisplayWidth, v.DisplayHeight)
				}
			},
		},
		{
			name: "upside down keeps the size",
			json: `{"streams":[{"index":0,"codec_type":"video","width":640,"height":360,"side_data_list":[{"side_data_type":"Display Matrix","rotation":"180.0"}]}],"format":{}}`,
			check: func(t *testing.T, i *Info) {
				if v := i.Video; v.Rotation != 180 || v.DisplayWidth != 640 || v.DisplayHeight != 360 {
					t.Errorf("rotation %d display %dx%d", v.Rotation, v.DisplayWidth, v.DisplayHeight)
				}
			},
		},
		{
			name: "anamorphic sample aspect ratio",
			json: `{"streams":[{"index":0,"codec_type":"video","width":720,"height":576,"sample_aspect_ratio":"64:45"}],"format":{}}`,
			check: func(t *testing.T, i *Info) {
				if v := i.Video; v.SampleAspectRatio != (Ratio{64, 45}) || v.DisplayWidth != 1024 || v.DisplayHeight != 576 {
					t.Errorf("sar %v display %dx%d", v.SampleAspectRatio, v.DisplayWidth, v.DisplayHeight)
				}
			},
		},
		{
			name: "cover art is not the video",
			json: `{"streams":[{"index":0,"codec_type":"audio","codec_name":"mp3"},{"index":1,"codec_type":"video","codec_name":"mjpeg","disposition":{"attached_pic":1}}],"format":{"duration":"30"}}`,
			check: func(t *testing.T, i *Info) {
				if i.HasVideo() || !i.HasAudio() || i.Streams != 2 {
					t.Errorf("got %+v", i)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			info, err := parseProbe([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, info)
		})
	}
}

func TestParseProbeRejectsGarbage(t *testing.T) {
	t.Parallel()
	if _, err := parseProbe([]byte("not json")); err == nil {
		t.Fatal("want an error")
	}
}

func TestNormalizeAngle(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]int{0: 0, 90: 90, -90: 270, 180: 180, -180: 180, 270: 270, 360: 0, 450: 90, 89.6: 90, math.NaN(): 0} {
		if got := normalizeAngle(in); got != want {
			t.Errorf("normalizeAngle(%v) = %d, want %d", in, got, want)
		}
	}
}

func TestTailWriter(t *testing.T) {
	t.Parallel()
	w := &tailWriter{max: 16}
	w.Write([]byte("first line\nsecond\n"))
	w.Write([]byte("third\n"))
	if got := w.String(); got != "second\nthird" {
		t.Errorf("tail = %q, want the whole lines that fit", got)
	}
	w = &tailWriter{max: 100}
	w.Write([]byte("short\n"))
	if got := w.String(); got != "short" {
		t.Errorf("tail = %q", got)
	}
	long := strings.Repeat("x", 300)
	w = &tailWriter{max: 100}
	w.Write([]byte(long))
	if got := w.String(); len(got) != 100 {
		t.Errorf("tail of one long line has %d bytes, want 100", len(got))
	}
}
