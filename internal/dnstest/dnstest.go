// Package dnstest is a DNS server on a loopback port answering TXT
// queries from a table, for the tests of DMARC lookups: the dmarc
// package's and the end-to-end ones, where the binary asks it.
package dnstest

import (
	"net"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Server answers from a table of TXT records: a name it has no record
// for is NXDOMAIN; silent names are never answered, failing ones get
// SERVFAIL; CNAMEs point one name at another's records.
type Server struct {
	Addr    string // host:port, for Resolver.Server and [dmarc] resolver
	Queries atomic.Int64

	records map[string][]string
	cnames  map[string]string
	silent  map[string]bool
	failing map[string]bool
	srv     *dns.Server
}

// New starts a server with TXT records by name (without the
// final dot); names in silent are never answered, those in failing get
// SERVFAIL; cnames maps a name to the one whose records it has.
func New(records map[string][]string, cnames map[string]string, silent, failing []string) (*Server, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: pc.LocalAddr().String(), records: map[string][]string{}, cnames: map[string]string{},
		silent: map[string]bool{}, failing: map[string]bool{}}
	for k, v := range records {
		s.records[dns.Fqdn(strings.ToLower(k))] = v
	}
	for k, v := range cnames {
		s.cnames[dns.Fqdn(strings.ToLower(k))] = dns.Fqdn(strings.ToLower(v))
	}
	for _, n := range silent {
		s.silent[dns.Fqdn(n)] = true
	}
	for _, n := range failing {
		s.failing[dns.Fqdn(n)] = true
	}
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.answer)}
	started := make(chan struct{})
	s.srv.NotifyStartedFunc = func() { close(started) }
	go s.srv.ActivateAndServe()
	<-started
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Shutdown() }

func (s *Server) answer(w dns.ResponseWriter, q *dns.Msg) {
	s.Queries.Add(1)
	name := strings.ToLower(q.Question[0].Name)
	if s.silent[name] {
		return
	}
	m := new(dns.Msg)
	m.SetReply(q)
	if s.failing[name] {
		m.Rcode = dns.RcodeServerFailure
		w.WriteMsg(m)
		return
	}
	target := name
	if c, ok := s.cnames[name]; ok {
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 300}, Target: c})
		target = c
	}
	txts, ok := s.records[target]
	if !ok && len(m.Answer) == 0 {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 600},
			Ns: "ns.example.", Mbox: "hostmaster.example.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60}}
	}
	for _, t := range txts {
		m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: target, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 3600}, Txt: []string{t}})
	}
	w.WriteMsg(m)
}
