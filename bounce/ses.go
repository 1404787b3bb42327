package bounce

import (
	"encoding/json"
	"strings"

	"github.com/mailman-go/mailman/message"
)

// sesNotification is the part of an Amazon SES notification (sent on by
// email through SNS) that names failures and complaints.
type sesNotification struct {
	Type   string `json:"notificationType"`
	Bounce struct {
		Type       string `json:"bounceType"` // Permanent, Transient, Undetermined
		Recipients []struct {
			Address    string `json:"emailAddress"`
			Status     string `json:"status"`
			Diagnostic string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint struct {
		Type       string `json:"complaintFeedbackType"`
		Recipients []struct {
			Address string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
}

var sesLineBreak = strings.NewReplacer("!\r\n ", "", "!\n ", "")

// sesNotifications reads the JSON notifications in the message's text
// parts.
func sesNotifications(leaves []message.Leaf) []sesNotification {
	var ns []sesNotification
	for _, l := range leaves {
		text := strings.TrimSpace(string(l.Content))
		if l.MediaType != "text/plain" || !strings.HasPrefix(text, `{"notificationType"`) {
			continue
		}
		var n sesNotification
		err := json.NewDecoder(strings.NewReader(text)).Decode(&n)
		if err != nil {
			// Mail systems on the way break its long line with "!",
			// a line break and a space (RFC 5322's limit of 998).
			err = json.NewDecoder(strings.NewReader(sesLineBreak.Replace(text))).Decode(&n)
		}
		if err == nil {
			ns = append(ns, n)
		}
	}
	return ns
}

func findSES(_ *message.Message, leaves []message.Leaf) []Failure {
	var fs []Failure
	for _, n := range sesNotifications(leaves) {
		if n.Type != "Bounce" {
			continue
		}
		for _, r := range n.Bounce.Recipients {
			a := cleanAddress(r.Address)
			if a == "" {
				continue
			}
			status := statusCode.FindString(r.Status)
			permanent := n.Bounce.Type == "Permanent"
			if status != "" {
				permanent = status[0] == '5'
			}
			fs = append(fs, Failure{Address: a, Permanent: permanent, Status: status, Diagnostic: diagnostic(r.Diagnostic)})
		}
	}
	return fs
}

func sesComplaints(leaves []message.Leaf) []Complaint {
	var cs []Complaint
	for _, n := range sesNotifications(leaves) {
		if n.Type != "Complaint" {
			continue
		}
		typ := strings.ToLower(n.Complaint.Type)
		if typ == "" {
			typ = "abuse"
		}
		for _, r := range n.Complaint.Recipients {
			if a := cleanAddress(r.Address); a != "" {
				cs = append(cs, Complaint{Address: a, Type: typ})
			}
		}
	}
	return cs
}
