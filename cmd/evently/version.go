package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/evently/evently/app"
)

func versionCommand(_ *flag.FlagSet, _ *app.Config) action {
	return func(_ context.Context, out io.Writer, _ []string) error {
		fmt.Fprintln(out, version())
		return nil
	}
}

// version describes the binary from the build information the go command
// embeds (module version, VCS revision and time, Go version), so a plain
// `go build` needs no -ldflags to say what it was built from.
func version() string {
	v, rev := "(devel)", "no VCS revision"
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		var revision, at, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if revision != "" {
			rev = "revision " + revision
			if modified == "true" {
				rev += " with local changes"
			}
			if at != "" {
				rev += ", committed " + at
			}
		}
	}
	return fmt.Sprintf("evently %s (%s) %s %s/%s", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
