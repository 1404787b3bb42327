package mailmantest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// MainFunc builds mailmanctl, calls run (m.Run, or something that calls it,
// such as pgtest.Main, so that the tests find a PostgreSQL cluster too),
// removes the binary and returns run's exit status for os.Exit. With
// -short nothing is built, and every test that needs the binary skips:
// the end-to-end tests are the long tier.
func MainFunc(run func() int) int {
	flag.Parse()
	if testing.Short() {
		return run()
	}
	dir, err := os.MkdirTemp("", "mailmantest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := build(filepath.Join(dir, "mailmanctl")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return run()
}
