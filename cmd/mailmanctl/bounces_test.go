package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/store"
)

// TestBouncesScan: the table and the JSON say, per file, what was found
// and by which format; a file that is no message is an error, the others
// still read.
func TestBouncesScan(t *testing.T) {
	c := newCtl(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dsn := write("dsn.eml", "From: MAILER-DAEMON@mx.example.org\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"+
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; bart@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"+
		"Final-Recipient: rfc822; cris@example.org\r\nAction: failed\r\nStatus: 5.7.1\r\n--b--\r\n")
	vacation := write("vacation.eml", "From: bart@example.org\r\nSubject: Out of office\r\n\r\nI am away.\r\n")
	bad := write("bad.eml", "this is no message\r\n")
	sisimai := filepath.Join("..", "..", "bounce", "testdata", "sisimai", "lhost-exim-01.eml")

	code, out, errOut := c.run("", "bounces", "scan", dsn, vacation, sisimai)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"bart@example.org", "5.1.1", "dsn", "permanent (policy: not scored)  5.7.1", "none found", "kijitora@example.ed.jp", "exim"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = c.run("", "bounces", "scan", "--json", dsn, bad)
	var got []struct {
		File     string `json:"file"`
		Detector string `json:"detector"`
		Failures []struct {
			Address   string `json:"address"`
			Permanent bool   `json:"permanent"`
		} `json:"failures"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != exitError || len(got) != 2 {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, out)
	}
	if got[0].Detector != "dsn" || len(got[0].Failures) != 2 || !got[0].Failures[0].Permanent || got[1].Error == "" {
		t.Errorf("--json: %+v", got)
	}
	c.check("", []string{"bounces", "scan"}, exitUsage, "need one or more message files")
}

// TestMembersShow: a member's settings and bounce history.
func TestMembersShow(t *testing.T) {
	c := newCtl(t)
	c.check("", []string{"lists", "create", "test@example.com"}, exitOK, "Created")
	c.check("", []string{"members", "add", "test@example.com", "bart@example.org"}, exitOK, "")
	st := c.store(t)
	_, err := st.RecordBounce(context.Background(), store.BounceEvent{ListID: "test.example.com", Address: "bart@example.org", MessageID: "<b1@x>", Reason: "550 5.1.1 no such user", Status: "5.1.1"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	c.check("", []string{"members", "show", "test@example.com", "bart@example.org"}, exitOK, "550 5.1.1 no such user")
	code, out, _ := c.run("", "members", "show", "test.example.com", "Bart@example.org", "--json")
	var m struct {
		DeliveryStatus string `json:"delivery_status"`
		BounceScore    int    `json:"bounce_score"`
		Bounces        []struct {
			Status string `json:"status"`
		} `json:"bounces"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil || code != exitOK || m.DeliveryStatus != "enabled" || len(m.Bounces) != 1 || m.Bounces[0].Status != "5.1.1" {
		t.Errorf("--json: %v %+v\n%s", err, m, out)
	}
	c.check("", []string{"members", "list", "test@example.com"}, exitOK, "BOUNCE SCORE")
	c.check("", []string{"members", "show", "test@example.com", "nobody@example.org"}, exitError, "")
}
