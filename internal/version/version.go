// Package version is the version of this build, defined once: what
// `mailmanctl version` prints and X-Mailman-Version says.
package version

import (
	"runtime/debug"
	"strings"
)

// release is set at build time with -ldflags "-X
// github.com/mailman-go/mailman/internal/version.release=V" (make build
// sets it from git describe).
var release string

// String is the build's version: the release set at build time, else what
// the Go toolchain recorded (a module version, or the commit of a build
// from a checkout), else "dev".
func String() string {
	if release != "" {
		return release
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if rev == "" {
		return "dev"
	}
	return "dev-" + rev[:min(len(rev), 12)] + modified
}

// Header is the X-Mailman-Version a post carries.
func Header() string { return "mailman-go " + strings.TrimPrefix(String(), "v") }
