// Package lifecycle owns making and removing lists together with the mail
// server's maps of them, as Mailman's app.lifecycle does: a list exists
// only if the MTA routes its mail, and a removed list stops being routed.
// mailmanctl and the REST API both make and remove lists through it. It
// knows neither the command line nor HTTP.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/store"
)

// ErrMaps is wrapped by the errors of Remove and RemoveDomain when what
// was asked is done and only the maps could not follow.
var ErrMaps = errors.New("the mail server's maps could not be brought up to date")

// SyncMaps writes the MTA's maps of every list; the warning says what the
// postmaster should know (no postmap run) when there is one.
func SyncMaps(ctx context.Context, cfg *config.Config, st *store.Store) (warning string, err error) {
	ls, err := st.Lists(ctx)
	if err != nil {
		return "", err
	}
	addrs := make([]string, len(ls))
	for i, l := range ls {
		addrs[i] = l.PostingAddress
	}
	w, err := mta.ListsChanged(cfg, addrs, time.Now())
	return w.Warning, err
}

// Create makes a list and brings the maps up to date; if they cannot be,
// the list is removed again, so that no list looks made and gets no mail.
func Create(ctx context.Context, cfg *config.Config, st *store.Store, n store.NewList) (l *store.List, warning string, err error) {
	if _, set := n.Settings["dmarc_mitigate_action"]; !set {
		n.Settings = maps.Clone(n.Settings)
		if n.Settings == nil {
			n.Settings = map[string]any{}
		}
		n.Settings["dmarc_mitigate_action"] = cfg.DMARC.NewListAction
	}
	l, err = st.CreateList(ctx, n)
	if err != nil {
		return nil, "", err
	}
	warning, err = SyncMaps(ctx, cfg, st)
	if err == nil {
		return l, warning, nil
	}
	if rerr := st.RemoveList(ctx, n.Address); rerr != nil {
		return nil, "", fmt.Errorf("created %s, but the mail server's maps could not be brought up to date (%w), and the list could not be removed again (%v): run mailmanctl aliases once they can be, or mailmanctl lists remove %s", n.Address, err, rerr, n.Address)
	}
	// The text files may name the list now; put them back as they were
	// (postmap failing again leaves Postfix on the old tables, which never
	// had the list).
	_, _ = SyncMaps(ctx, cfg, st)
	return nil, "", fmt.Errorf("%s was not created: the mail server's maps could not be brought up to date: %w", n.Address, err)
}

// Remove removes a list with its members and held messages, then takes
// it out of the maps; an error after the removal says so.
func Remove(ctx context.Context, cfg *config.Config, st *store.Store, a store.ListAddress) (warning string, err error) {
	if err := st.RemoveList(ctx, a); err != nil {
		return "", err
	}
	warning, err = SyncMaps(ctx, cfg, st)
	if err != nil {
		return "", fmt.Errorf("%s is removed, with its members and held messages, but %w: they still route its addresses (%v), and the LMTP runner refuses its mail with 550 5.1.1 until mailmanctl aliases is run once they can be", a, ErrMaps, err)
	}
	return warning, nil
}

// RemoveDomain removes a domain with its lists, then takes them out of
// the maps.
func RemoveDomain(ctx context.Context, cfg *config.Config, st *store.Store, host string) (warning string, err error) {
	if err := st.DeleteDomain(ctx, host); err != nil {
		return "", err
	}
	warning, err = SyncMaps(ctx, cfg, st)
	if err != nil {
		return "", fmt.Errorf("%s is removed with its lists, but %w: they still route their addresses (%v); run mailmanctl aliases once they can be", host, ErrMaps, err)
	}
	return warning, nil
}
