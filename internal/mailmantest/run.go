package mailmantest

import (
	"fmt"
	"os"
	"path/filepath"
)

// MainFunc builds mailmanctl, calls run (m.Run, or something that calls it,
// such as pgtest.Main, so that the tests find a PostgreSQL cluster too),
// removes the binary and returns run's exit status for os.Exit.
func MainFunc(run func() int) int {
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
