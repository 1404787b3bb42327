package bounce

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/message"
)

// TestScan: each format, written as the servers write it, and what is no
// bounce at all.
func TestScan(t *testing.T) {
	dsn := func(groups string) string {
		return "From: MAILER-DAEMON@mx.example.net\r\nTo: test-bounces@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n\r\n" +
			"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" + groups +
			"\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: anne@example.org\r\nTo: test@example.com\r\n\r\nhello, bart@example.org\r\n--b--\r\n"
	}
	tests := []struct {
		name     string
		msg      string
		detector string
		failures []Failure
	}{
		{
			name: "DSN: every recipient, failed and delayed",
			msg: dsn("Final-Recipient: rfc822; bart@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <bart@example.org>: Recipient address rejected\r\n\r\n" +
				"Final-Recipient: rfc822;cris@example.org\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n" +
				"Final-Recipient: rfc822; dave@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n"),
			detector: "dsn",
			failures: []Failure{
				{Address: "bart@example.org", Permanent: true, Status: "5.1.1", Diagnostic: "550 5.1.1 <bart@example.org>: Recipient address rejected"},
				{Address: "cris@example.org", Status: "4.4.1"},
			},
		},
		{
			name:     "DSN: Original-Recipient first, folded fields, no blank line between recipients",
			msg:      dsn("Original-Recipient: rfc822;Bart@Example.org\r\nFinal-Recipient: rfc822; bart.alias@mail.example.org\r\nAction: failed\r\nStatus:\r\n 5.2.2\r\nFinal-Recipient: rfc822; <cris@example.org>\r\nAction: failed\r\n"),
			detector: "dsn",
			failures: []Failure{{Address: "Bart@Example.org", Permanent: true, Status: "5.2.2"}, {Address: "cris@example.org", Permanent: true}},
		},
		{
			name:     "DSN: a queue that gave up on a host that never answered is no refusal",
			msg:      dsn("Final-Recipient: rfc822; bart@example.org\r\nAction: failed\r\nStatus: 4.4.7\r\n"),
			detector: "dsn",
			failures: []Failure{{Address: "bart@example.org", Status: "4.4.7"}},
		},
		{
			// Nor is an address of the message returned a failure.
			name:     "DSN: an x400 recipient is no email address",
			msg:      dsn("Final-Recipient: x400; /G=Bart/S=Person/\r\nAction: failed\r\nStatus: 5.1.1\r\n"),
			failures: []Failure{},
		},
		{
			name: "Exim: X-Failed-Recipients, the code from the text",
			msg: "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\r\nTo: test-bounces@example.com\r\nSubject: Mail delivery failed: returning message to sender\r\nX-Failed-Recipients: bart@example.org\r\n\r\n" +
				"This message was created automatically by mail delivery software.\r\n\r\nA message that you sent could not be delivered to one or more of its\r\nrecipients. This is a permanent error. The following address(es) failed:\r\n\r\n" +
				"  bart@example.org\r\n    host mx.example.org [192.0.2.1]\r\n    SMTP error from remote mail server after RCPT TO:<bart@example.org>:\r\n    550 5.1.1 No such user\r\n\r\n------ This is a copy of the message, including all the headers. ------\r\n\r\nFrom: anne@example.org\r\n",
			detector: "exim",
			failures: []Failure{{Address: "bart@example.org", Permanent: true, Status: "5.1.1", Diagnostic: "host mx.example.org [192.0.2.1] SMTP error from remote mail server after RCPT TO:<bart@example.org>: 550 5.1.1 No such user"}},
		},
		{
			name: "qmail: one paragraph per address",
			msg: "From: MAILER-DAEMON@mx.example.net\r\nTo: test-bounces@example.com\r\nSubject: failure notice\r\n\r\n" +
				"Hi. This is the qmail-send program at mx.example.net.\r\nI'm afraid I wasn't able to deliver your message to the following addresses.\r\nThis is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n" +
				"<bart@example.org>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n<cris@example.org>:\r\n192.0.2.1 does not like recipient.\r\nRemote host said: 452 mailbox full\r\n\r\n" +
				"--- Below this line is a copy of the message.\r\n\r\nFrom: anne@example.org\r\nTo: dave@example.org\r\n",
			detector: "qmail",
			failures: []Failure{
				{Address: "bart@example.org", Permanent: true, Status: "5.1.1", Diagnostic: "Sorry, no mailbox here by that name. (#5.1.1)"},
				{Address: "cris@example.org", Diagnostic: "192.0.2.1 does not like recipient. Remote host said: 452 mailbox full"},
			},
		},
		{
			name: "text: the failure introduced, the address on a line of its own, the sender's address not taken",
			msg: "From: Mail Delivery Subsystem <postmaster@mx.example.net>\r\nTo: test-bounces@example.com\r\nSubject: Delivery Status Notification (Failure)\r\n\r\n" +
				"Delivery to the following recipient failed permanently:\r\n\r\n     bart@example.org\r\n\r\n" +
				"Technical details of permanent failure:\r\nThe email account that you tried to reach does not exist. MAIL FROM:<anne@example.org> was fine.\r\n",
			detector: "text",
			failures: []Failure{{Address: "bart@example.org", Permanent: true}},
		},
		{
			name:     "text: a delay is temporary",
			msg:      "From: postmaster@mx.example.net\r\nTo: test-bounces@example.com\r\nSubject: Warning: message delayed\r\n\r\nYour message to <bart@example.org> has not yet been delivered; it will be retried for 4 more days.\r\n",
			detector: "text",
			failures: []Failure{{Address: "bart@example.org", Diagnostic: "has not yet been delivered; it will be retried for 4 more days."}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Scan([]byte(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if r.Detector != tt.detector {
				t.Errorf("detector %q, want %q", r.Detector, tt.detector)
			}
			for i := range r.Failures {
				// The text detector's diagnostic is the text that follows:
				// only the code and class are compared there.
				if tt.detector == "text" && i < len(tt.failures) && tt.failures[i].Diagnostic == "" {
					r.Failures[i].Diagnostic = ""
				}
			}
			if !reflect.DeepEqual(r.Failures, tt.failures) {
				t.Errorf("failures\n%+v\nwant\n%+v", r.Failures, tt.failures)
			}
		})
	}
}

// TestNotBounces: what reaches -bounces but reports no failure scores
// nothing.
func TestNotBounces(t *testing.T) {
	for name, msg := range map[string]string{
		"vacation":  "From: bart@example.org\r\nTo: test-bounces@example.com\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nI am away until Monday and will answer you when I am back.\r\n",
		"a person":  "From: bart@example.org\r\nTo: test-bounces@example.com\r\nSubject: Re: hello\r\n\r\nThanks, anne@example.org, see you.\r\n",
		"empty":     "From: bart@example.org\r\n\r\n",
		"delivered": "From: MAILER-DAEMON@mx.example.net\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; bart@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n--b--\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			r, err := Scan([]byte(msg))
			if err != nil || len(r.Failures) != 0 || len(r.Complaints) != 0 {
				t.Errorf("Scan = %+v, %v; want nothing", r, err)
			}
		})
	}
}

// TestComplaints: a feedback report names the subscriber who complained,
// from its own field or from the message it reports.
func TestComplaints(t *testing.T) {
	report := func(fields, enclosed string) string {
		return "From: fbl@mail.example.net\r\nTo: test-bounces@example.com\r\nSubject: Abuse report\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n" + fields +
			"\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n" + enclosed + "\r\n--b--\r\n"
	}
	tests := []struct {
		name string
		msg  string
		want []Complaint
	}{
		{"Original-Rcpt-To", report("Original-Rcpt-To: <bart@example.net>\r\n", "From: anne@example.org\r\nTo: test@example.com\r\n\r\nhi\r\n"), []Complaint{{"bart@example.net", "abuse"}}},
		{"the reported message's To", report("", "From: anne@example.org\r\nTo: Bart <bart@example.net>\r\n\r\nhi\r\n"), []Complaint{{"bart@example.net", "abuse"}}},
		{"redacted: nobody", report("", "From: anne@example.org\r\nTo: redacted\r\n\r\nhi\r\n"), nil},
		{"Amazon SES", "From: no-reply@sns.amazonaws.com\r\nContent-Type: text/plain\r\n\r\n" +
			`{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"bart@example.net"}],"complaintFeedbackType":"abuse"}}` + "\r\n", []Complaint{{"bart@example.net", "abuse"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Scan([]byte(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Complaints, tt.want) {
				t.Errorf("complaints %+v, want %+v", r.Complaints, tt.want)
			}
			if len(r.Failures) != 0 {
				t.Errorf("a complaint read as failures: %+v", r.Failures)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	for status, want := range map[string]bool{"5.7.1": true, "5.7.26": true, "4.7.0": true, "5.1.1": false, "": false} {
		if got := (Failure{Status: status}).Policy(); got != want {
			t.Errorf("Policy(%q) = %v", status, got)
		}
	}
}

// FuzzScan: no message makes Scan panic, and every address it reports is
// in the message (or in one of its parts, decoded).
func FuzzScan(f *testing.F) {
	f.Add([]byte("From: MAILER-DAEMON@x\r\nX-Failed-Recipients: a@b.example\r\n\r\nfailed: a@b.example 550 5.1.1\r\n"))
	f.Add([]byte("Content-Type: multipart/report; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nAction: failed\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := Scan(raw)
		if err != nil {
			return
		}
		lower := strings.ToLower(string(raw))
		body := raw
		if bytes.HasPrefix(body, []byte("From ")) {
			_, body, _ = bytes.Cut(body, []byte("\n"))
		}
		if m, err := message.Parse(body); err == nil {
			for _, l := range m.Leaves() {
				lower += strings.ToLower(string(l.Content))
			}
		}
		for _, f := range r.Failures {
			local, domain, _ := strings.Cut(strings.ToLower(f.Address), "@")
			if !strings.Contains(lower, local) || !strings.Contains(lower, domain) {
				t.Errorf("reported %q, which the message does not hold", f.Address)
			}
		}
	})
}
