package incoming

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/store"
)

// The header-match chain: the site's header checks send a post they find
// to jump_chain, the list's header matches to their own action's chain, in
// order, whoever the sender, before nonmember moderation.
func TestHeaderMatches(t *testing.T) {
	multipart := "From: anne@example.com\r\nTo: test@example.com\r\nSubject: A post\r\nMessage-ID: <post@example.org>\r\n" +
		"X-MailFrom: anne@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nHello.\r\n--b\r\nContent-Type: application/octet-stream\r\nX-Scan: Infected\r\n\r\nAAAA\r\n--b--\r\n"
	type match struct{ header, pattern, action string }
	for _, tc := range []struct {
		name            string
		checks          string // [antispam] header_checks
		jumpChain       string
		matches         []match
		raw             string
		pipeline, holds int
		hit             string // in the rule hits of what went on, or was held
	}{
		{"no check, no match: a member's post goes on", "", "", nil, post("anne@example.com", "X-Spam: yes\r\n"), 1, 0, ""},
		{"a site check holds", "X-Spam: (yes|maybe)", "", nil, post("anne@example.com", "X-Spam: Yes\r\n"), 0, 1, "header-match-config-0"},
		{"a site check that misses", "X-Spam: (yes|maybe)", "", nil, post("anne@example.com", "X-Spam: no\r\n"), 1, 0, ""},
		{"a site check's jump chain", "X-Spam: yes", "discard", nil, post("anne@example.com", "X-Spam: yes\r\n"), 0, 0, ""},
		{"a list's match discards a member's post", "", "", []match{{"subject", "a p[o0]st", "discard"}}, post("anne@example.com"), 0, 0, ""},
		{"a list's match with no action: jump_chain", "", "", []match{{"subject", "post", ""}}, post("anne@example.com"), 0, 1, "header-match-test.example.com-0"},
		{"a list's match accepts a nonmember's post", "", "", []match{{"x-list-friend", "^yes$", "accept"}}, post("zoe@example.org", "X-List-Friend: yes\r\n"), 1, 0, "header-match-test.example.com-0"},
		{"a list's matches in order", "", "", []match{{"subject", "nothing", "discard"}, {"subject", "post", "hold"}, {"subject", "a post", "discard"}}, post("anne@example.com"), 0, 1, "header-match-test.example.com-1"},
		{"defer decides nothing", "", "", []match{{"subject", "post", "defer"}}, post("anne@example.com"), 1, 0, ""},
		{"a part's header", "", "", []match{{"x-scan", "infected", "hold"}}, multipart, 0, 1, "header-match-test.example.com-0"},
		{"the decoded value", "", "", []match{{"subject", "café", "hold"}}, strings.Replace(post("anne@example.com"), "Subject: A post", "Subject: =?utf-8?q?caf=C3=A9?=", 1), 0, 1, "header-match-test.example.com-0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			checks, err := config.Antispam{HeaderChecks: tc.checks}.Checks()
			if err != nil {
				t.Fatal(err)
			}
			f.h.Settings.HeaderChecks, f.h.Settings.JumpChain = checks, tc.jumpChain
			for _, m := range tc.matches {
				if _, err := f.st.AddHeaderMatch(context.Background(), "test.example.com", store.HeaderMatch{Header: m.header, Pattern: m.pattern, Action: m.action}, -1); err != nil {
					t.Fatal(err)
				}
			}
			f.dispose(t, tc.raw, nil)
			out, held := f.queued(t, f.pipeline), f.held(t)
			if len(out) != tc.pipeline || len(held) != tc.holds {
				t.Fatalf("pipeline %d, held %d; want %d, %d", len(out), len(held), tc.pipeline, tc.holds)
			}
			var hits []string
			for _, e := range out {
				m, _ := message.Parse(e.Message)
				hits = append(hits, strings.Fields(m.Get("X-Mailman-Rule-Hits"))...)
			}
			for _, h := range held {
				m, _ := message.Parse(h.Message)
				hits = append(hits, strings.Fields(m.Get("X-Mailman-Rule-Hits"))...)
				if !slices.ContainsFunc(h.Reasons, func(r string) bool { return strings.Contains(r, "matched a header rule") }) {
					t.Errorf("held for %v", h.Reasons)
				}
			}
			if tc.hit != "" && !slices.Contains(hits, tc.hit) {
				t.Errorf("rule hits %v, want %s among them", hits, tc.hit)
			}
		})
	}
}
