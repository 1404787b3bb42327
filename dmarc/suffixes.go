package dmarc

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	xpublicsuffix "golang.org/x/net/publicsuffix"
)

// Suffixes is a Public Suffix List read from a file ([dmarc]
// org_domain_data_file), private domains included, as Mailman reads it.
// The list built in is golang.org/x/net's, whose tables are compiled into
// the program: no runner pays for it in memory at start.
type Suffixes struct {
	rules      map[string]bool // "co.uk"
	wildcards  map[string]bool // "*.ck" kept as "ck"
	exceptions map[string]bool // "!www.ck" kept as "www.ck"
}

// LoadSuffixes reads a Public Suffix List file.
func LoadSuffixes(path string) (*Suffixes, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("public suffix list %s: %w", path, err)
	}
	defer f.Close()
	s := &Suffixes{rules: map[string]bool{}, wildcards: map[string]bool{}, exceptions: map[string]bool{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// A rule is the line up to its first white space (the list's
		// format); comments start with //.
		line := strings.Fields(sc.Text())
		if len(line) == 0 || strings.HasPrefix(line[0], "//") {
			continue
		}
		rule := strings.ToLower(strings.TrimSuffix(line[0], "."))
		switch {
		case strings.HasPrefix(rule, "!"):
			s.exceptions[rule[1:]] = true
		case strings.HasPrefix(rule, "*."):
			s.wildcards[rule[2:]] = true
		default:
			s.rules[rule] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("public suffix list %s: %w", path, err)
	}
	if len(s.rules)+len(s.wildcards)+len(s.exceptions) == 0 {
		return nil, fmt.Errorf("public suffix list %s: no rules", path)
	}
	return s, nil
}

// publicSuffix is domain's public suffix by the list's rules: an
// exception first, else the matching rule with the most labels, else the
// last label alone (the implicit rule "*").
func (s *Suffixes) publicSuffix(domain string) string {
	labels := strings.Split(domain, ".")
	for i := range labels {
		if s.exceptions[strings.Join(labels[i:], ".")] {
			return strings.Join(labels[i+1:], ".")
		}
	}
	for i := range labels {
		candidate := strings.Join(labels[i:], ".")
		if s.rules[candidate] || i+1 < len(labels) && s.wildcards[strings.Join(labels[i+1:], ".")] {
			return candidate
		}
	}
	return labels[len(labels)-1]
}

// organizationalDomain is domain's public suffix and one label more, or
// domain when it is a public suffix itself.
func (s *Suffixes) organizationalDomain(domain string) string {
	if s == nil {
		org, err := xpublicsuffix.EffectiveTLDPlusOne(domain)
		if err != nil {
			return domain
		}
		return org
	}
	suffix := s.publicSuffix(domain)
	if suffix == domain {
		return domain
	}
	rest := strings.TrimSuffix(domain, "."+suffix)
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		rest = rest[i+1:]
	}
	return rest + "." + suffix
}
