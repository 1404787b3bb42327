// Package dmarc owns the DMARC policy of a mail domain as a list server
// needs it (RFC 7489 §6.6.3): the TXT record at _dmarc.DOMAIN, else at
// _dmarc.ORGANIZATIONAL-DOMAIN by the Public Suffix List (its sp=
// there), exactly one v=DMARC1 record counting, looked up over DNS with
// bounded timeouts and kept for the answer's TTL. It fails safe: a lookup
// that cannot be finished says mitigate. It knows neither lists nor
// messages.
package dmarc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Policy is a domain's DMARC policy: "reject", "quarantine", "none", or
// "" for no policy published.
type Policy string

// Strict reports whether a receiver following the policy refuses or
// junks mail that fails DMARC: what a list that relays the From intact
// must mitigate.
func (p Policy) Strict() bool { return p == "reject" || p == "quarantine" }

// Result is what a lookup found.
type Result struct {
	Policy Policy
	// Domain is where the policy was found: the From domain or its
	// organizational domain; "" when none was.
	Domain string
}

// ErrLookup is wrapped around a lookup that could not be finished (a
// timeout, SERVFAIL, no server): the caller mitigates.
var ErrLookup = errors.New("DMARC lookup failed")

// Resolver looks up and keeps policies. Its zero value asks the system's
// name servers with Mailman's timeouts and the built-in Public Suffix
// List.
type Resolver struct {
	// Server is the DNS server, host:port; "" for the first of
	// /etc/resolv.conf's.
	Server string
	// Timeout bounds each query (Mailman's resolver_timeout, 3s when 0);
	// Lifetime the whole lookup (resolver_lifetime, 5s when 0).
	Timeout, Lifetime time.Duration
	// Suffixes is the Public Suffix List; the copy built in when nil.
	Suffixes *Suffixes
	// Now is the clock, for the cache; time.Now when nil.
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	result  Result
	expires time.Time
}

// negativeTTL keeps a domain with no policy when the answer gives no
// SOA to say how long.
const negativeTTL = 5 * time.Minute

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// OrganizationalDomain is domain's organizational domain: the longest
// public suffix that matches it plus one label (RFC 7489 §3.2).
func (r *Resolver) OrganizationalDomain(domain string) string {
	return r.Suffixes.organizationalDomain(domain)
}

// Lookup finds domain's DMARC policy.
func (r *Resolver) Lookup(ctx context.Context, domain string) (Result, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if domain == "" {
		return Result{}, fmt.Errorf("%w: no domain", ErrLookup)
	}
	r.mu.Lock()
	c, ok := r.cache[domain]
	r.mu.Unlock()
	if ok && r.now().Before(c.expires) {
		return c.result, nil
	}
	lifetime := r.Lifetime
	if lifetime == 0 {
		lifetime = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, lifetime)
	defer cancel()
	server, err := r.server()
	if err != nil {
		return Result{}, err
	}
	res, ttl, err := r.lookup(ctx, server, domain)
	if err != nil {
		return Result{}, err
	}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]cached{}
	}
	r.cache[domain] = cached{res, r.now().Add(ttl)}
	r.mu.Unlock()
	return res, nil
}

func (r *Resolver) lookup(ctx context.Context, server, domain string) (Result, time.Duration, error) {
	p, found, ttl, err := r.record(ctx, server, domain, false)
	if err != nil || found {
		return Result{Policy: p, Domain: domain}, ttl, err
	}
	org := r.OrganizationalDomain(domain)
	if org == domain {
		return Result{}, ttl, nil
	}
	p, found, orgTTL, err := r.record(ctx, server, org, true)
	if err != nil {
		return Result{}, 0, err
	}
	if !found {
		return Result{}, min(ttl, orgTTL), nil
	}
	return Result{Policy: p, Domain: org}, min(ttl, orgTTL), nil
}

// record asks for _dmarc.domain: found is false when there is no DMARC
// record there (NXDOMAIN, no TXT, none that is v=DMARC1). Two or more
// records are no policy (RFC 7489 §6.6.3), but found: the search stops.
// org says to read the subdomain policy, sp=, where there is one.
func (r *Resolver) record(ctx context.Context, server, domain string, org bool) (p Policy, found bool, ttl time.Duration, err error) {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn("_dmarc."+domain), dns.TypeTXT)
	q.RecursionDesired = true
	client := &dns.Client{Timeout: timeout}
	in, _, err := client.ExchangeContext(ctx, q, server)
	if err == nil && in.Truncated {
		client.Net = "tcp"
		in, _, err = client.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		return "", false, 0, fmt.Errorf("%w: _dmarc.%s: %v", ErrLookup, domain, err)
	}
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return "", false, 0, fmt.Errorf("%w: _dmarc.%s: %s", ErrLookup, domain, dns.RcodeToString[in.Rcode])
	}
	var records []string
	ttl = negativeTTL
	for _, rr := range in.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			ttl = time.Duration(min(soa.Minttl, soa.Hdr.Ttl)) * time.Second
		}
	}
	first := true
	for _, rr := range in.Answer {
		txt, ok := rr.(*dns.TXT)
		if !ok {
			// The CNAMEs that led to it.
			continue
		}
		text := strings.Join(txt.Txt, "")
		if !isDMARC(text) {
			continue
		}
		records = append(records, text)
		if t := time.Duration(txt.Hdr.Ttl) * time.Second; first || t < ttl {
			ttl, first = t, false
		}
	}
	switch len(records) {
	case 0:
		return "", false, ttl, nil
	case 1:
		tags := parseTags(records[0])
		p := Policy(tags["p"])
		if sp, ok := tags["sp"]; org && ok {
			p = Policy(sp)
		}
		switch p {
		case "reject", "quarantine", "none":
		default:
			// An unknown policy is treated as none (RFC 7489 §6.6.3 6).
			p = "none"
		}
		return p, true, ttl, nil
	default:
		return "", true, ttl, nil
	}
}

// isDMARC reports whether a TXT record is a DMARC record: v=DMARC1 first,
// then ";" or its end.
func isDMARC(text string) bool {
	rest, ok := strings.CutPrefix(text, "v=DMARC1")
	if !ok {
		return false
	}
	rest = strings.TrimLeft(rest, " \t")
	return rest == "" || rest[0] == ';'
}

// parseTags reads a record's tag=value pairs, names lower-cased.
func parseTags(text string) map[string]string {
	tags := map[string]string{}
	for _, part := range strings.Split(text, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		tags[strings.ToLower(strings.TrimSpace(k))] = strings.ToLower(strings.TrimSpace(v))
	}
	return tags
}

// server is the DNS server to ask.
func (r *Resolver) server() (string, error) {
	if r.Server != "" {
		return r.Server, nil
	}
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(conf.Servers) == 0 {
		return "", fmt.Errorf("%w: no name server in /etc/resolv.conf (set [dmarc] resolver): %v", ErrLookup, err)
	}
	return net.JoinHostPort(conf.Servers[0], conf.Port), nil
}
