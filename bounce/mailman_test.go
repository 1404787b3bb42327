package bounce

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mailmanScan is what Mailman 3.3.8's bounces runner asks of flufl.bounce
// for each file: its permanent failures (Mailman registers no other).
const mailmanScan = `
import sys, glob, os, email
from flufl.bounce import all_failures
found = total = 0
for path in sorted(glob.glob(os.path.join(sys.argv[1], '*.eml'))):
    name = os.path.basename(path)
    if name.startswith(('rfc3834-', 'arf-')):
        continue
    total += 1
    with open(path, 'rb') as f:
        raw = f.read()
    if raw.startswith(b'From '):
        raw = raw.split(b'\n', 1)[1]
    try:
        temporary, permanent = all_failures(email.message_from_bytes(raw))
    except Exception:
        continue
    if permanent:
        found += 1
print(found, total)
`

// TestCorpusBesideMailman scans the corpus with Mailman's own detectors
// (Debian's python3-flufl.bounce, which Mailman 3.3.8 uses) beside Scan, and
// fails if Scan finds fewer failures.
func TestCorpusBesideMailman(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python over the corpus")
	}
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import flufl.bounce").Run(); err != nil {
		t.Skip("no flufl.bounce (Debian's python3-flufl.bounce): " + err.Error())
	}
	dir, err := filepath.Abs(corpus)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", mailmanScan, dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		t.Fatalf("mailman scan printed %q", out)
	}
	mailmanFound, _ := strconv.Atoi(f[0])
	total, _ := strconv.Atoi(f[1])
	c := scanCorpus(t)
	t.Logf("Mailman 3.3.8 (flufl.bounce): a permanent failure in %d of %d messages (%.1f%%); Scan: a failure in %d of %d bounces (%.1f%%), and %d reports of delivery, %d feedback reports",
		mailmanFound, total, pct(mailmanFound, total), c.found, c.bounces, pct(c.found, c.bounces), c.deliveries, c.feedback)
	if c.found < mailmanFound {
		t.Errorf("Scan found failures in %d messages, Mailman in %d", c.found, mailmanFound)
	}
}
