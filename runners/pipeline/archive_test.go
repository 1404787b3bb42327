package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/archive"
	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// With archivers, a post carries each one's List-Archive and Archived-At
// (and the same link for its footer)
// and a copy goes to the archive queue, as its members get it; one that
// asks not to be archived goes to neither, nor does a list's whose
// archive_policy is never.
func TestToArchive(t *testing.T) {
	f := newFixture(t)
	arch, err := switchboard.Open(f.out.Dir()+"/..", "archive")
	if err != nil {
		t.Fatal(err)
	}
	defer arch.Close()
	cfg := config.Default()
	cfg.Archiver.Prototype.Enable = true
	cfg.Archiver.HyperKitty.Enable, cfg.Archiver.HyperKitty.BaseURL = true, "https://lists.example.com/hyperkitty/"
	h := &Handler{Store: f.st, Outgoing: f.out, Archive: arch, Archivers: archive.NewSite(cfg, nil)}
	post := func(extra string) {
		t.Helper()
		raw := "From: anne@example.com\r\nTo: test@example.com\r\nSubject: Hi\r\nMessage-ID: <1@example.com>\r\nMessage-ID-Hash: HASH\r\n" + extra + "\r\nbody\r\n"
		e := &switchboard.Entry{Name: "x", Message: []byte(raw), Msgdata: switchboard.Msgdata{}}
		e.Msgdata.Set(msgdata.ListID, "test.example.com")
		if _, err := h.Dispose(context.Background(), e, discardLog); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, extra, policy string
		archived            int
		archivedAt          string
	}{
		{"a post", "", "", 1, "<https://lists.example.com/hyperkitty/list/test@example.com/message/HASH/>"},
		{"X-No-Archive", "X-No-Archive: yes\r\n", "", 0, ""},
		{"archive_policy never", "", "never", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.policy != "" {
				if err := f.st.PatchListConfig(context.Background(), "test.example.com", map[string]store.ConfigChange{"archive_policy": {Values: []string{tc.policy}}}, false); err != nil {
					t.Fatal(err)
				}
			}
			post(tc.extra)
			out := runnertest.Take(t, f.out)
			m, _ := message.Parse(out[0].Message)
			if got := m.Get("Archived-At"); got != tc.archivedAt {
				t.Errorf("Archived-At %q, want %q", got, tc.archivedAt)
			}
			// The same link for the footer's $hyperkitty_url.
			var links map[string]string
			if _, err := out[0].Msgdata.Get(msgdata.DecorationData, &links); err != nil {
				t.Fatal(err)
			}
			if got, want := links["hyperkitty_url"], strings.Trim(tc.archivedAt, "<>"); got != want {
				t.Errorf("decoration-data hyperkitty_url %q, want %q", got, want)
			}
			if wantList := tc.policy != "never"; m.Has("List-Archive") != wantList {
				t.Errorf("List-Archive %q", m.Values("List-Archive"))
			}
			copies := runnertest.Take(t, arch)
			if len(copies) != tc.archived {
				t.Fatalf("%d copies for the archivers, want %d", len(copies), tc.archived)
			}
			if tc.archived == 1 && string(copies[0].Message) != string(out[0].Message) {
				t.Errorf("the archived copy is not the members':\n%s\n%s", copies[0].Message, out[0].Message)
			}
		})
	}
}
