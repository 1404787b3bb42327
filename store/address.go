package store

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
)

// ErrInvalidAddress is wrapped by every error about a malformed list or
// member address.
var ErrInvalidAddress = errors.New("invalid address")

// listName is Mailman's listname_chars, [-_.0-9a-z]; the domain is a host
// name of letters, digits and hyphens in dot-separated labels.
var (
	listName   = regexp.MustCompile(`^[-_.0-9a-z]+$`)
	domainName = regexp.MustCompile(`^[0-9a-z]([-0-9a-z]*[0-9a-z])?(\.[0-9a-z]([-0-9a-z]*[0-9a-z])?)+$`)
)

// ListAddress is a list's posting address, name@domain, lower-cased.
type ListAddress struct {
	Name, Domain string
}

func (a ListAddress) String() string { return a.Name + "@" + a.Domain }

// ListID is Mailman's list-id, name.domain: the key queued messages carry,
// which survives a rename of the posting address.
func (a ListAddress) ListID() string { return a.Name + "." + a.Domain }

// ParseListAddress checks and lower-cases a posting address. A name with
// ".." or starting with a dot is refused, as is any "/": list names become
// parts of paths and URLs elsewhere (CVE-2015-2775 was a traversal through
// a list name).
func ParseListAddress(s string) (ListAddress, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	name, domain, ok := strings.Cut(s, "@")
	if !ok || !listName.MatchString(name) || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") ||
		strings.Contains(name, "..") || !domainName.MatchString(domain) || len(s) > 254 {
		return ListAddress{}, fmt.Errorf("%w: %q is not a list address (name@domain, the name made of a-z, 0-9, -, _ and .)", ErrInvalidAddress, s)
	}
	return ListAddress{Name: name, Domain: domain}, nil
}

// listID is the form of a list-id: the characters of a list name and a
// domain, with at least one dot between labels.
var listID = regexp.MustCompile(`^[-_0-9a-z]+(\.[-_0-9a-z]+)+$`)

// ParseListIdentifier checks and lower-cases the name of a list as a
// person types it: its posting address or its list-id, which Mailman's
// commands and REST API take alike and which mailmanctl prints. It is an
// ErrInvalidAddress when it is neither; FindList finds the list.
func ParseListIdentifier(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.Contains(s, "@") {
		a, err := ParseListAddress(s)
		return a.String(), err
	}
	if !listID.MatchString(s) || len(s) > 254 {
		return "", fmt.Errorf("%w: %q is neither a list address (name@domain) nor a list-id (name.domain)", ErrInvalidAddress, s)
	}
	return s, nil
}

// ParseMemberAddress parses "Name <addr@domain>" or "addr@domain" and returns
// the address with its domain lower-cased (the local part keeps its case for
// display, as Mailman does) and the display name.
func ParseMemberAddress(s string) (address, displayName string, err error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", "", fmt.Errorf("%w: %q: %v", ErrInvalidAddress, s, err)
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || strings.ContainsAny(a.Address, " \t\r\n/") || !domainName.MatchString(strings.ToLower(domain)) {
		return "", "", fmt.Errorf("%w: %q is not an email address", ErrInvalidAddress, s)
	}
	return local + "@" + strings.ToLower(domain), a.Name, nil
}

// key is how an address is compared and stored for look-ups: lower-cased.
func key(address string) string { return strings.ToLower(address) }
