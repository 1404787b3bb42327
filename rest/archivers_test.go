package rest

import (
	"strings"
	"testing"

	"github.com/mailman-go/mailman/config"
)

// A list's archivers are the site's enabled ones, each on until the list
// turns it off; PATCH changes some, PUT must name all, an unknown name or
// a bad boolean is Mailman's 400.
func TestArchivers(t *testing.T) {
	s := newSiteWith(t, "", func(c *config.Config) {
		c.Archiver.Prototype.Enable = true
		c.Archiver.HyperKitty.Enable, c.Archiver.HyperKitty.BaseURL, c.Archiver.HyperKitty.APIKey = true, "http://127.0.0.1:1/hyperkitty/", "k"
	})
	s.setup()
	get := func() map[string]any {
		return s.must(s.do("GET", "/3.1/lists/ant.example.com/archivers", nil), 200, "archivers").body
	}
	if a := get(); a["prototype"] != true || a["hyperkitty"] != true || a["mhonarc"] != nil || a["mail-archive"] != nil {
		t.Errorf("archivers %v", a)
	}
	s.must(s.do("PATCH", "/3.1/lists/ant.example.com/archivers", form("hyperkitty", "false")), 204, "PATCH")
	if a := get(); a["prototype"] != true || a["hyperkitty"] != false {
		t.Errorf("after PATCH %v", a)
	}
	for _, tc := range []struct {
		method string
		params []string
		want   string
	}{
		{"PATCH", []string{"mhonarc", "true"}, "Unexpected parameters: mhonarc"},
		{"PATCH", []string{"prototype", "maybe"}, "Invalid boolean value: maybe"},
		{"PUT", []string{"prototype", "false"}, "Missing Parameter: hyperkitty"},
	} {
		r := s.must(s.do(tc.method, "/3.1/lists/ant.example.com/archivers", form(tc.params...)), 400, tc.method)
		if !strings.Contains(r.raw, tc.want) {
			t.Errorf("%s %v: %s, want %q", tc.method, tc.params, r.raw, tc.want)
		}
	}
	s.must(s.do("PUT", "/3.1/lists/ant.example.com/archivers", form("prototype", "false", "hyperkitty", "true")), 204, "PUT")
	if a := get(); a["prototype"] != false || a["hyperkitty"] != true {
		t.Errorf("after PUT %v", a)
	}
}
