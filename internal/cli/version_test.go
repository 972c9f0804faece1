package cli

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	t.Parallel()
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "dev"},
		{"tagged", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: vcs("vcs.revision", rev)}, "v1.4.0"},
		{"pseudo-version", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260301120000-0123456789ab+dirty"}}, "v0.0.0-20260301120000-0123456789ab+dirty"},
		{"devel with vcs", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-03-01T12:00:00Z", "vcs.modified", "false")},
			"0123456789ab (2026-03-01T12:00:00Z)"},
		{"dirty", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", rev, "vcs.time", "2026-03-01T12:00:00Z", "vcs.modified", "true")},
			"0123456789ab+dirty (2026-03-01T12:00:00Z)"},
		{"short revision, no time", &debug.BuildInfo{Settings: vcs("vcs.revision", "abc")}, "abc"},
		{"devel without vcs", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"empty", &debug.BuildInfo{}, "dev"},
	}
	for _, tt := range tests {
		if got := versionOf(tt.info); got != tt.want {
			t.Errorf("%s: versionOf = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestVersionCommand is not parallel: it sets Version as -ldflags -X would.
func TestVersionCommand(t *testing.T) {
	env := testEnv(nil)
	defer func(v string) { Version = v }(Version)

	Version = "v2.0.0-rc1"
	if code, stdout, _ := run(t, env, "version"); code != 0 || stdout != "framewise v2.0.0-rc1\n" {
		t.Errorf("with -ldflags: code %d, stdout %q", code, stdout)
	}
	if got := userAgentVersion(); got != "v2.0.0-rc1" {
		t.Errorf("user agent version %q", got)
	}

	Version = ""
	info, _ := debug.ReadBuildInfo()
	want := "framewise " + versionOf(info) + "\n"
	if code, stdout, _ := run(t, env, "version"); code != 0 || stdout != want {
		t.Errorf("from build info: code %d, stdout %q, want %q", code, stdout, want)
	}
	if got := userAgentVersion(); got == "" || strings.ContainsAny(got, " ()") {
		t.Errorf("user agent version %q is not one token", got)
	}
}
