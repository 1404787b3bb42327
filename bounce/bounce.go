// Package bounce reads what a bounce says: which addresses could not be
// delivered to, whether each failure is permanent, and why, from an RFC
// 3464 delivery status notification or from the formats mail servers send
// instead; and whom an RFC 5965 feedback report (a "this is spam" button)
// names. It knows nothing of lists or members: what a failure costs a
// member is the bounces runner's to decide.
package bounce

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/mailman-go/mailman/message"
)

// Failure is one address a report says could not be delivered to.
type Failure struct {
	Address string `json:"address"`
	// Permanent is a failure the sender should not retry: a 5.x.x status,
	// or a report of failure that gives none. A delay, or a failure with a
	// 4.x.x status (a queue that gave up on a host that did not answer), is
	// temporary: the address may well be good.
	Permanent  bool   `json:"permanent"`
	Status     string `json:"status,omitempty"`     // RFC 3463's enhanced status code, when the report gives one
	Diagnostic string `json:"diagnostic,omitempty"` // the remote server's words, when the report gives them
}

// Policy reports whether the failure is a refusal for policy or content
// (RFC 3463's 5.7.x: DMARC, a spam block), which says more about the
// message, or the list's own reputation, than about the address.
func (f Failure) Policy() bool {
	return strings.HasPrefix(f.Status, "5.7.") || strings.HasPrefix(f.Status, "4.7.")
}

// Complaint is a feedback report's subscriber: someone who pressed "this
// is spam" at a mailbox provider.
type Complaint struct {
	Address string `json:"address"`
	Type    string `json:"type"` // Feedback-Type: abuse, opt-out, ...
}

// Report is what Scan found in one message.
type Report struct {
	Detector   string      `json:"detector,omitempty"` // the format that found the failures: dsn, ses, exim, qmail, text
	Failures   []Failure   `json:"failures"`
	Complaints []Complaint `json:"complaints,omitempty"`
}

// Permanent returns the addresses that failed permanently.
func (r Report) Permanent() []string { return r.addresses(true) }

// Temporary returns the addresses that failed for now.
func (r Report) Temporary() []string { return r.addresses(false) }

func (r Report) addresses(permanent bool) []string {
	var as []string
	for _, f := range r.Failures {
		if f.Permanent == permanent {
			as = append(as, f.Address)
		}
	}
	return as
}

// detector reads one format; it returns nothing when the message is not
// in it.
type detector struct {
	name string
	find func(m *message.Message, leaves []message.Leaf) []Failure
}

// detectors, in the order they are tried: the first that finds a failure
// ends the scan. A standard report first, as Mailman does; the formats
// that name their failures in a header or a fixed layout before the text
// that is only read for its phrases.
var detectors = []detector{
	{"dsn", findDSN},
	{"ses", findSES},
	{"exim", findExim},
	{"qmail", findQmail},
	{"text", findText},
}

// Scan reads raw as a bounce. A message that is no bounce (a vacation
// reply, a person's answer) gives an empty Report; a message that cannot
// be parsed, an error.
func Scan(raw []byte) (Report, error) {
	// A bounce saved from a mailbox starts with its "From " line.
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	m, err := message.Parse(raw)
	if err != nil {
		return Report{}, fmt.Errorf("read bounce: %w", err)
	}
	leaves := m.Leaves()
	r := Report{Failures: []Failure{}, Complaints: append(findComplaints(leaves), sesComplaints(leaves)...)}
	if len(r.Complaints) > 0 {
		return r, nil
	}
	for _, d := range detectors {
		if fs := dedupe(d.find(m, leaves)); len(fs) > 0 {
			r.Detector, r.Failures = d.name, fs
			return r, nil
		}
	}
	return r, nil
}

// dedupe keeps one failure per address (lower-cased domain), the first
// permanent one if there is one: a report that names an address twice,
// once delayed and once failed, has failed it.
func dedupe(fs []Failure) []Failure {
	var out []Failure
	index := map[string]int{}
	for _, f := range fs {
		key := strings.ToLower(f.Address)
		if i, ok := index[key]; ok {
			if f.Permanent && !out[i].Permanent {
				out[i] = f
			}
			continue
		}
		index[key] = len(out)
		out = append(out, f)
	}
	return slices.Clip(out)
}
