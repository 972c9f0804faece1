package media

import (
	"strings"
	"testing"
)

// video is a synthetic probe result: a 10 s video displayed at w x h.
func video(w, h int) *Info {
	return &Info{Duration: 10, Streams: 1, Video: &VideoStream{Codec: "h264", Width: w, Height: h, DisplayWidth: w, DisplayHeight: h}}
}

func withDuration(d float64) *Info {
	i := video(640, 360)
	i.Duration = d
	return i
}

// withRate is a 10 s 640x360 video at fps with frames recorded frames (0: unknown).
func withRate(fps float64, frames int64) *Info {
	i := video(640, 360)
	i.Video.FPS, i.Video.Frames = fps, frames
	return i
}

func TestCheckAnalyzable(t *testing.T) {
	t.Parallel()
	rotated := &Info{Duration: 10, Video: &VideoStream{Width: 640, Height: 360, Rotation: 90}} // display size left for the check to derive
	audioOnly := &Info{Duration: 10, Streams: 1, Audio: &AudioStream{Codec: "aac"}}

	tests := []struct {
		name     string
		info     *Info
		max      float64
		wantRule string // "" = passes
		wantMsg  string // substring of the message
	}{
		{"nil info", nil, 0, RuleNoVideo, "no video stream"},
		{"no streams", &Info{Duration: 10}, 0, RuleNoVideo, "no video stream"},
		{"audio only", audioOnly, 0, RuleNoVideo, "only audio"},

		{"duration unknown", withDuration(0), 0, RuleDuration, "could not be determined"},
		{"duration 2 s", withDuration(2), 0, RuleDuration, "video duration 2.0 s is below the minimum of 4 s"},
		{"duration just below 4 s", withDuration(3.999), 0, RuleDuration, "video duration 3.999 s is below the minimum of 4 s"},
		{"duration exactly 4 s", withDuration(4), 0, "", ""},
		{"duration exactly 2 h", withDuration(7200), MaxDurationAsync, "", ""},
		{"duration just above 2 h", withDuration(7200.04), MaxDurationAsync, RuleDuration, "video duration 7200.04 s (2:00:00) exceeds the maximum of 2 h (7200 s)"},
		{"duration above 2 h", withDuration(7510), MaxDurationAsync, RuleDuration, "video duration 7510.0 s (2:05:10) exceeds the maximum of 2 h (7200 s)"},
		{"default max is async", withDuration(7200), 0, "", ""},
		{"default max rejects", withDuration(7201), 0, RuleDuration, "maximum of 2 h"},
		{"sync exactly 1 h", withDuration(3600), MaxDurationSync, "", ""},
		{"sync above 1 h", withDuration(3600.5), MaxDurationSync, RuleDuration, "exceeds the maximum of 1 h (3600 s)"},

		{"resolution minimum square", video(360, 360), 0, "", ""},
		{"resolution 360x640 portrait", video(360, 640), 0, "", ""},
		{"resolution 640x360", video(640, 360), 0, "", ""},
		{"resolution 320x240", video(320, 240), 0, RuleResolution, "video resolution 320x240 is below the minimum of 360x360 (short side 240 px)"},
		{"resolution 300x600", video(300, 600), 0, RuleResolution, "short side 300 px"},
		{"resolution 640x359", video(640, 359), 0, RuleResolution, "short side 359 px"},
		{"resolution 359x640", video(359, 640), 0, RuleResolution, "short side 359 px"},
		{"resolution maximum landscape", video(5184, 2160), 0, "", ""},
		{"resolution maximum portrait", video(2160, 5184), 0, "", ""},
		{"resolution 4K landscape", video(3840, 2160), 0, "", ""},
		{"resolution 4K portrait", video(2160, 3840), 0, "", ""},
		{"resolution long side 5185", video(5185, 2160), 0, RuleResolution, "video resolution 5185x2160 exceeds the maximum of 5184x2160 (long side 5185 px, at most 5184)"},
		{"resolution long side 5185 portrait", video(2160, 5185), 0, RuleResolution, "long side 5185 px"},
		{"resolution short side 2161", video(2161, 2161), 0, RuleResolution, "short side 2161 px, at most 2160"},
		{"resolution unknown", video(0, 0), 0, RuleResolution, "could not be determined"},

		{"aspect exactly 2.4 landscape", video(864, 360), 0, "", ""},
		{"aspect exactly 2.4 portrait", video(360, 864), 0, "", ""},
		{"aspect just above 2.4", video(865, 360), 0, RuleAspectRatio, "video aspect ratio 2.403:1 (865x360)"},
		{"aspect 1280x360", video(1280, 360), 0, RuleAspectRatio, "video aspect ratio 3.56:1 (1280x360) is outside the supported range of 1:2.4 to 2.4:1"},
		{"aspect portrait 360x1280", video(360, 1280), 0, RuleAspectRatio, "video aspect ratio 1:3.56 (360x1280)"},

		{"aspect 3:1 prints whole", video(1080, 360), 0, RuleAspectRatio, "video aspect ratio 3:1 (1080x360)"},

		{"rotation derives display size", rotated, 0, "", ""},

		{"frame rate exactly 240", withRate(240, 0), 0, "", ""},
		{"frame rate 240.4", withRate(240.4, 0), 0, RuleFrameRate, "video frame rate 240.4 fps exceeds the maximum of 240 fps"},
		{"frame rate 1000", withRate(1000, 0), 0, RuleFrameRate, "video frame rate 1000 fps exceeds the maximum of 240 fps; re-encode"},
		{"frame count over duration", withRate(30, 10000), 0, RuleFrameRate, "video frame rate 1000 fps"},
		{"frame count agrees", withRate(30, 300), 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := CheckAnalyzable(tt.info, tt.max)
			if tt.wantRule == "" {
				if got != nil {
					t.Fatalf("CheckAnalyzable = %q (rule %s), want nil", got.Message, got.Rule)
				}
				return
			}
			if got == nil {
				t.Fatalf("CheckAnalyzable = nil, want rule %s", tt.wantRule)
			}
			if got.Rule != tt.wantRule {
				t.Errorf("rule = %s, want %s (message %q)", got.Rule, tt.wantRule, got.Message)
			}
			if !strings.Contains(got.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", got.Message, tt.wantMsg)
			}
			if got.Error() != got.Message {
				t.Errorf("Error() = %q, want the message", got.Error())
			}
		})
	}
}

// When several rules fail, the first in spec order is reported.
func TestCheckAnalyzableOrderDurationFirst(t *testing.T) {
	t.Parallel()
	i := video(320, 240)
	i.Duration = 2
	if got := CheckAnalyzable(i, 0); got == nil || got.Rule != RuleDuration {
		t.Fatalf("got %v, want the duration rule first", got)
	}
}
