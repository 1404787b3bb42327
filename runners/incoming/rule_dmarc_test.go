package incoming

import (
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/dmarc"
	"github.com/mailman-go/mailman/internal/dnstest"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
)

// TestDMARCMitigation runs posts from domains with each kind of policy,
// as a DNS server on a loopback port publishes them, through lists with
// each dmarc_mitigate_action.
func TestDMARCMitigation(t *testing.T) {
	srv, err := dnstest.New(map[string][]string{
		"_dmarc.reject.example":     {"v=DMARC1; p=reject"},
		"_dmarc.quarantine.example": {"v=DMARC1; p=quarantine"},
		"_dmarc.none.example":       {"v=DMARC1; p=none"},
	}, nil, []string{"_dmarc.silent.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct {
		name, action, notice, from string
		posted, flagged            bool
		rejected                   string // a text of the notice to the poster
	}{
		{"munge_from, p=reject", "munge_from", "", "ann@reject.example", true, true, ""},
		{"munge_from, p=quarantine", "munge_from", "", "ann@quarantine.example", true, true, ""},
		{"munge_from, p=none", "munge_from", "", "ann@none.example", true, false, ""},
		{"munge_from, no record", "munge_from", "", "ann@nxdomain.example", true, false, ""},
		{"munge_from, DNS never answers", "munge_from", "", "ann@silent.example", true, true, ""},
		{"wrap_message, p=reject", "wrap_message", "", "ann@reject.example", true, true, ""},
		{"reject, p=reject", "reject", "", "ann@reject.example", false, false, "publishes a DMARC policy of reject or quarantine"},
		{"reject, own notice", "reject", "Post from another address.", "ann@reject.example", false, false, "Post from another address."},
		{"reject, p=none", "reject", "", "ann@none.example", true, false, ""},
		{"discard, p=quarantine", "discard", "", "ann@quarantine.example", false, false, ""},
		{"no_mitigation, p=reject", "no_mitigation", "", "ann@reject.example", true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.h.DMARC = &dmarc.Resolver{Server: srv.Addr, Timeout: 100 * time.Millisecond, Lifetime: 300 * time.Millisecond}
			f.set(t, "default_nonmember_action", "accept")
			f.set(t, "dmarc_mitigate_action", tc.action)
			if tc.notice != "" {
				f.set(t, "dmarc_moderation_notice", tc.notice)
			}
			f.dispose(t, post(tc.from), nil)
			out := f.queued(t, f.pipeline)
			if posted := len(out) == 1; posted != tc.posted {
				t.Fatalf("posted %v, want %v", posted, tc.posted)
			}
			if tc.posted {
				if got := out[0].Msgdata.Bool(msgdata.DMARC); got != tc.flagged {
					t.Errorf("dmarc flag %v, want %v", got, tc.flagged)
				}
				msg, _ := message.Parse(out[0].Message)
				if !strings.HasPrefix(msg.Get("X-Mailman-Rule-Misses"), "dmarc-mitigation; ") {
					t.Errorf("misses %q", msg.Get("X-Mailman-Rule-Misses"))
				}
			}
			notices := f.queued(t, f.virgin)
			if tc.rejected == "" {
				if !tc.posted && len(notices) != 0 {
					t.Errorf("a discarded post was answered")
				}
				return
			}
			if len(notices) != 1 || !strings.Contains(strings.Join(strings.Fields(string(notices[0].Message)), " "), tc.rejected) {
				t.Fatalf("%d notices, want one saying %q", len(notices), tc.rejected)
			}
			msg, _ := message.Parse(notices[0].Message)
			if msg.Get("To") != tc.from {
				t.Errorf("the rejection went to %q", msg.Get("To"))
			}
		})
	}
}
