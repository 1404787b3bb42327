package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

// TestMailmanclientScenario runs a site's life (domains, lists, settings,
// subscriptions confirmed by mail and approved by a moderator, members,
// preferences, users and addresses, a held post accepted and delivered,
// bans, header matches, error codes, paging) through Debian's
// mailmanclient, the library Postorius and HyperKitty use, against the
// real binary with all its runners. The MTA sink's messages are written
// where the script reads them.
func TestMailmanclientScenario(t *testing.T) {
	mailmantest.Binary(t)
	// Debian's Python, which apt's python3-mailmanclient is for, whatever
	// python3 comes first in PATH.
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import mailmanclient").Run(); err != nil {
		// CI installs it, and sets this so that its absence fails.
		if os.Getenv("MAILMANCLIENT_REQUIRED") != "" {
			t.Fatalf("python3-mailmanclient is not installed: %v", err)
		}
		t.Skipf("python3-mailmanclient is not installed (apt-get install python3-mailmanclient): %v", err)
	}
	s := mailmantest.NewSite(t, "")
	sink := s.StartSink()
	s.Start()
	defer s.Stop()

	dir := t.TempDir()
	done := make(chan struct{})
	defer close(done)
	go func() {
		written := 0
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			ds := sink.Received()
			for ; written < len(ds); written++ {
				b, _ := json.Marshal(map[string]any{"from": ds[written].From, "to": ds[written].To, "data": string(ds[written].Data)})
				tmp := filepath.Join(dir, fmt.Sprintf("%06d.tmp", written))
				if os.WriteFile(tmp, b, 0o644) == nil {
					os.Rename(tmp, strings.TrimSuffix(tmp, ".tmp")+".json")
				}
			}
		}
	}()

	cmd := exec.Command(python, "-u", "mailmanclient/scenario.py")
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("REST_URL=http://127.0.0.1:%d/3.1", s.RESTPort),
		fmt.Sprintf("LMTP_PORT=%d", s.LMTPPort),
		"SINK_DIR="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("scenario output:\n%s", out)
	if err != nil {
		t.Fatalf("the mailmanclient scenario failed: %v (site log: %s)", err, s.LogPath())
	}
}
