package cli

import (
	"runtime/debug"
	"strings"
	"sync"
)

// Version, when set at build time with
//
//	go build -ldflags "-X github.com/framewise/framewise/internal/cli.Version=v1.2.3" ./cmd/framewise
//
// is the version "framewise version" reports. Otherwise the version comes
// from the build information the Go toolchain embeds (see versionOf).
var Version = ""

// version is the version of this binary: Version when set, else what the
// build information says.
func version() string {
	if Version != "" {
		return Version
	}
	return buildVersion()
}

var buildVersion = sync.OnceValue(func() string {
	info, _ := debug.ReadBuildInfo()
	return versionOf(info)
})

// versionOf reads a version from build information: the main module's
// version when the toolchain knows it (a tagged release or, since Go 1.24,
// a pseudo-version of the checkout), else the VCS revision it was built
// from, cut to 12 characters, with "+dirty" when the work tree had local
// changes and the commit time, else "dev".
func versionOf(info *debug.BuildInfo) string {
	if info == nil {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified, at string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	if rev == "" {
		return "dev"
	}
	v := rev[:min(len(rev), 12)]
	if modified == "true" {
		v += "+dirty"
	}
	if at != "" {
		v += " (" + at + ")"
	}
	return v
}

// userAgentVersion is the version as one token, for the User-Agent header.
func userAgentVersion() string {
	return strings.Fields(version() + " dev")[0]
}
