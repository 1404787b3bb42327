package test

import (
	"fmt"
	netmail "net/mail"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/internal/dnstest"
	"github.com/mailman-go/mailman/internal/mailmantest"
	"github.com/mailman-go/mailman/message"
)

// TestDMARCEndToEnd: the binary asks a DNS server on a loopback port for
// the DMARC policies of posters' domains. Posts from a p=reject domain, a
// p=none one and one with no record go to a list that munges the From
// (a new list's default here), one that wraps the post and one that
// rejects it; the members get what each says. With the DNS server gone,
// a post is mitigated all the same.
func TestDMARCEndToEnd(t *testing.T) {
	dns, err := dnstest.New(map[string][]string{
		"_dmarc.reject.example": {"v=DMARC1; p=reject"},
		"_dmarc.none.example":   {"v=DMARC1; p=none"},
	}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	s := mailmantest.NewSite(t, fmt.Sprintf("[dmarc]\nresolver = %q\nresolver_timeout = \"200ms\"\nresolver_lifetime = \"1s\"\n", dns.Addr))
	for _, l := range []string{"munge", "wrap", "reject"} {
		s.MustCtl("lists", "create", l+"@example.com", "--owner", "owen@example.com")
		s.MustCtl("members", "add", l+"@example.com", "m@example.net")
		s.MustCtl("lists", "set", l+"@example.com", "default_nonmember_action", "accept")
	}
	if show := s.MustCtl("lists", "show", "munge@example.com"); !regexp.MustCompile(`(?m)^dmarc_mitigate_action +munge_from$`).MatchString(show) {
		t.Errorf("a new list does not start with munge_from:\n%s", show)
	}
	s.MustCtl("lists", "set", "wrap@example.com", "dmarc_mitigate_action", "wrap_message")
	s.MustCtl("lists", "set", "reject@example.com", "dmarc_mitigate_action", "reject")
	sink := s.StartSink()
	s.Start("lmtp", "incoming", "pipeline", "outgoing", "virgin", "retry")
	defer s.Stop()
	c := s.LMTP()
	defer c.Close()

	send := func(from, list, subject string) {
		t.Helper()
		a, err := netmail.ParseAddress(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Mail(a.Address, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(list+"@example.com", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "From: %s\r\nTo: %s@example.com\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\nThe post.\r\n",
			from, list, subject, strings.ReplaceAll(subject, " ", "-"))
		if _, err := w.CloseWithLMTPResponse(); err != nil {
			t.Fatal(err)
		}
	}
	// delivered is the copy of the post with subject the member got,
	// parsed.
	delivered := func(list, subject string) *message.Message {
		t.Helper()
		d := firstDelivered(sink, "m@example.net", "["+strings.ToUpper(list[:1])+list[1:]+"] "+subject)
		m, err := message.Parse(d.Data)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		from, list, subject   string
		wantFrom, wantReplyTo string // decoded; "" for none
		wrapped               bool
	}{
		{"Ann Poster <ann@reject.example>", "munge", "from p=reject", `"Ann Poster via Munge" <munge@example.com>`, `"Ann Poster" <ann@reject.example>`, false},
		{"Bob <bob@none.example>", "munge", "from p=none", "Bob <bob@none.example>", "", false},
		{"cy@unknown.example", "munge", "from no record", "cy@unknown.example", "", false},
		{"Ann Poster <ann@reject.example>", "wrap", "wrapped", `"Ann Poster via Wrap" <wrap@example.com>`, `"Ann Poster" <ann@reject.example>`, true},
		{"Bob <bob@none.example>", "reject", "not rejected", "Bob <bob@none.example>", "", false},
	} {
		send(tc.from, tc.list, tc.subject)
		m := delivered(tc.list, tc.subject)
		if got := m.Decoded("From"); got != tc.wantFrom {
			t.Errorf("%s to %s: From %q, want %q", tc.from, tc.list, got, tc.wantFrom)
		}
		if got := m.Decoded("Reply-To"); got != tc.wantReplyTo {
			t.Errorf("%s to %s: Reply-To %q, want %q", tc.from, tc.list, got, tc.wantReplyTo)
		}
		// The wrapped post is inside whole, its From its own (the footer
		// makes the delivered copy a multipart/mixed around it).
		inside := false
		for _, l := range m.Leaves() {
			inside = inside || l.MediaType == "message/rfc822" && strings.Contains(string(l.Content), "From: "+tc.from+"\r\n")
		}
		if inside != tc.wrapped {
			t.Errorf("%s to %s: the post wrapped %v, want %v:\n%s", tc.from, tc.list, inside, tc.wrapped, m.Bytes())
		}
	}

	// Rejected: the poster is told, the members get nothing.
	send("Ann Poster <ann@reject.example>", "reject", "rejected")
	notice := firstDelivered(sink, "ann@reject.example", "rejected")
	if !strings.Contains(strings.Join(strings.Fields(string(notice.Data)), " "), "publishes a DMARC policy of reject or quarantine") {
		t.Errorf("the rejection does not say why:\n%s", notice.Data)
	}

	// The DNS server gone: mitigated, failing safe.
	dns.Close()
	send("Dee <dee@other.example>", "munge", "with DNS down")
	if got := delivered("munge", "with DNS down").Decoded("From"); got != `"Dee via Munge" <munge@example.com>` {
		t.Errorf("with the DNS server down, From %q", got)
	}
	for _, d := range sink.Received() {
		if strings.Contains(string(d.Data), "Subject: [Reject] rejected") {
			t.Errorf("the rejected post reached %v", d.To)
		}
	}
	log, err := os.ReadFile(s.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), `msg="dmarc mitigated"`); n != 4 {
		t.Errorf("%d posts logged as mitigated, want 4 (munged, wrapped, rejected, DNS down)", n)
	}
}
