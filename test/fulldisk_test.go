package test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/lmtpload"
	"github.com/mailman-go/mailman/internal/mailmantest"
)

// tmpfsVar mounts a tmpfs of size MiB on the site's var_dir, removed when
// the test ends; a test that cannot mount one (not root) is skipped.
func tmpfsVar(t *testing.T, s *mailmantest.Site, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(s.Dir, "var")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	// Registered after NewSite's clean-up, so it runs first: stop the
	// site, then unmount its var_dir.
	t.Cleanup(func() {
		s.Ctl("stop")
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file in dir until the file system is full, and returns it.
func fill(t *testing.T, dir string) string {
	t.Helper()
	file := filepath.Join(dir, "filler")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// Small writes fill what the large ones left.
	for {
		if _, err := f.Write(block[:512]); err != nil {
			break
		}
	}
	return file
}

// TestFullDisk fills var_dir while the lmtp, incoming and pipeline runners
// run:
//   - posts keep their 250 while the journal, made at start, has room
//     (each is durable in it);
//   - then every answer is 451 or 452, never a 5xx that would bounce the
//     mail, and a message too large for the journal, which goes straight
//     to a queue file, is refused with a 4xx and leaves no part of itself;
//   - the runners behind it cannot write their next queue either, and keep
//     their messages where they are;
//   - once space is freed, everything acknowledged reaches the outgoing
//     queue exactly once, none in shunt, and new posts are taken again,
//     with no restart.
//
// The file system is 160 MiB: the journal takes 64 MiB of it at start, and
// what it holds once full (up to 64 MiB of posts) must fit beside it when
// the filler is removed.
func TestFullDisk(t *testing.T) {
	s := mailmantest.NewSite(t, "")
	dir := tmpfsVar(t, s, 160)
	s.MustCtl("lists", "create", "test@example.com")
	s.MustCtl("lists", "set", "test@example.com", "max_message_size", "0")
	s.MustCtl("members", "add", "test@example.com", "anne@example.org")
	s.Start("lmtp", "incoming", "pipeline")
	addr := fmt.Sprintf("127.0.0.1:%d", s.LMTPPort)
	filler := fill(t, dir)

	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 16<<10) // 1 MiB
	post := func(c *lmtpload.Client, id string, body []byte) lmtpload.Reply {
		msg := append([]byte("From: anne@example.org\r\nTo: test@example.com\r\nMessage-ID: <"+id+">\r\nSubject: full disk\r\n\r\n"), body...)
		replies, err := c.Send("anne@example.org", []string{"test@example.com"}, msg)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return replies[0]
	}
	c, err := lmtpload.Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	acked := map[string]bool{}
	codes := map[int]int{}
	refused, sent := 0, 0
	for i := 0; refused == 0 && i < 200; i++ {
		id := fmt.Sprintf("full-%d@test", i)
		r := post(c, id, body)
		sent++
		codes[r.Code]++
		switch {
		case r.OK():
			acked[id] = true
		case r.Code == 451 || r.Code == 452:
			refused++
		default:
			t.Fatalf("%s: %v: a full disk must give 451 or 452", id, r)
		}
	}
	if refused == 0 {
		t.Fatalf("no refusal after 200 MiB on a full 160 MiB file system: %v", codes)
	}
	// Too large for the journal: a queue file of its own, which cannot be
	// written.
	sent++
	if r := post(c, "huge@test", bytes.Repeat(body, 17)); r.Code != 451 && r.Code != 452 {
		t.Errorf("a 17 MiB message on a full disk: %v, want 451 or 452", r)
	} else {
		codes[r.Code]++
	}
	t.Logf("full disk: %d acknowledged while the journal had room, then %v", len(acked), codes)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if r := post(c, "after@test", body[:1000]); !r.OK() {
		t.Errorf("a post once space is back: %v", r)
	}
	sent++
	acked["after@test"] = true
	s.WaitFor("every acknowledged post in the outgoing queue", time.Minute, func() bool {
		n, err := s.Queue("outgoing").Count()
		return err == nil && n.Ready >= len(acked)
	})
	seen, temps := queuedMessageIDs(t, s, "incoming", "pipeline", "outgoing", "shunt")
	for id := range acked {
		if seen["<"+id+">"] != 1 {
			t.Errorf("%s queued %d times, want once", id, seen["<"+id+">"])
		}
	}
	if seen["<huge@test>"] != 0 || temps != 0 {
		t.Errorf("the refused message left %d entries and %d partial files", seen["<huge@test>"], temps)
	}
	dups, delivered := 0, 0
	for id := range acked {
		if seen["<"+id+">"] > 0 {
			delivered++
		}
	}
	for id, n := range seen {
		if !acked[strings.Trim(id, "<>")] {
			t.Errorf("%s queued %d times, never acknowledged", id, n)
		}
		dups += max(n-1, 0)
	}
	if n, err := s.Queue("shunt").Count(); err != nil || n.Ready != 0 {
		t.Errorf("shunt: %+v, %v; a full disk is no fault of the message", n, err)
	}
	o := mailmantest.NewOutcome(t, "var_dir on a 160 MiB tmpfs filled up under lmtp, incoming and pipeline, then freed")
	o.Sent, o.Acknowledged, o.Delivered, o.Duplicated = sent, len(acked), delivered, dups
	o.Lost = len(acked) - o.Delivered
	o.Faults = "ENOSPC on every queue and on the database"
	o.Held = fmt.Sprintf("LMTP replies %v: no 5xx; no partial file; the runners went on without a restart (delivered = in the outgoing queue)", codes)
	mailmantest.Report(t, o)
}
