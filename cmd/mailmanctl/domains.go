package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/mailman-go/mailman/lifecycle"
	"github.com/mailman-go/mailman/store"
)

// domainEntry is a domain as `domains list --json` prints it.
type domainEntry struct {
	MailHost    string `json:"mail_host"`
	Description string `json:"description"`
	AliasDomain string `json:"alias_domain,omitempty"`
	Lists       int    `json:"lists"`
}

func cmdDomainsList(e *env, args []string) error {
	fs, cfgPath := e.flags("domains list")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	st, err := e.openStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	ds, err := st.Domains(ctx)
	if err != nil {
		return err
	}
	out := []domainEntry{}
	for _, d := range ds {
		_, n, err := st.FindLists(ctx, store.ListQuery{Domain: d.MailHost, Limit: 0})
		if err != nil {
			return err
		}
		out = append(out, domainEntry{d.MailHost, d.Description, d.AliasDomain, n})
	}
	if *asJSON {
		return writeJSON(e.stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stdout, "No domains")
		return nil
	}
	t := newTable(e.stdout, "DOMAIN", "LISTS", "ALIAS DOMAIN", "DESCRIPTION")
	for _, d := range out {
		t.row(d.MailHost, strconv.Itoa(d.Lists), d.AliasDomain, d.Description)
	}
	return t.flush()
}

func cmdDomainsCreate(e *env, args []string) error {
	fs, cfgPath := e.flags("domains create")
	desc := fs.String("description", "", "what the domain is for")
	alias := fs.String("alias-domain", "", "the domain the MTA knows the lists under, if not this one")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("wrong number of arguments")
	}
	host, err := store.ParseDomain(rest[0])
	if err != nil {
		return usageError{err.Error()}
	}
	// Like lists create, this makes a new site's store: a domain is often
	// the first thing a site is given.
	cfg, err := e.config(*cfgPath)
	if err != nil {
		return err
	}
	st, err := store.Open(context.Background(), cfg.Database.URL, cfg.VarDir())
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.CreateDomain(context.Background(), store.Domain{MailHost: host, Description: *desc, AliasDomain: *alias}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Created domain: %s\n", host)
	return nil
}

func cmdDomainsRemove(e *env, args []string) error {
	fs, cfgPath := e.flags("domains remove")
	withLists := fs.Bool("with-lists", false, "remove the domain's lists too, with their members and held messages")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("wrong number of arguments")
	}
	cfg, st, err := e.openSite(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	d, err := st.Domain(ctx, rest[0])
	if err != nil {
		return err
	}
	_, n, err := st.FindLists(ctx, store.ListQuery{Domain: d.MailHost, Limit: 0})
	if err != nil {
		return err
	}
	if n > 0 && !*withLists {
		return fmt.Errorf("%s has %d lists: remove them first, or give --with-lists to remove them with it", d.MailHost, n)
	}
	warning, err := lifecycle.RemoveDomain(ctx, cfg, st, d.MailHost)
	if err != nil && !errors.Is(err, lifecycle.ErrMaps) {
		return err
	}
	fmt.Fprintf(e.stdout, "Removed domain: %s (and %d lists)\n", d.MailHost, n)
	e.warn(warning)
	return err
}
