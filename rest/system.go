package rest

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/runners/incoming"
	"github.com/mailman-go/mailman/store"
)

// MailmanVersion is what /system/versions says this core is: Mailman's
// form, which clients parse, with this implementation's name after it.
const MailmanVersion = "GNU Mailman 3.3.8 (Tom Sawyer) mailman-go"

// systemPreferences are Mailman's system-wide preference defaults, which
// no one changes.
var systemPreferences = map[string]any{
	"acknowledge_posts":    false,
	"delivery_mode":        "regular",
	"delivery_status":      "enabled",
	"hide_address":         true,
	"preferred_language":   "en",
	"receive_list_copy":    true,
	"receive_own_postings": true,
}

func (s *Server) systemRoutes() {
	versions := methods{"GET": func(c *call) error {
		return c.ok(object{"mailman_version": MailmanVersion, "python_version": "Go " + strings.TrimPrefix(runtime.Version(), "go"),
			"api_version": c.version, "self_link": c.link("/system/versions")})
	}}
	s.handle("/system", versions)
	s.handle("/system/versions", versions)
	s.handle("/system/preferences", methods{"GET": func(c *call) error {
		o := object{"self_link": c.link("/system/preferences")}
		for k, v := range systemPreferences {
			o[k] = v
		}
		return c.ok(o)
	}})
	s.handle("/system/pipelines", methods{"GET": func(c *call) error {
		return c.ok(object{"pipelines": store.PipelineNames})
	}})
	s.handle("/system/chains", methods{"GET": func(c *call) error {
		return c.ok(object{"chains": incoming.ChainNames()})
	}})
	s.handle("/system/configuration", methods{"GET": func(c *call) error {
		sections := configSections(s.cfg)
		names := make([]string, 0, len(sections))
		for n := range sections {
			names = append(names, n)
		}
		slices.Sort(names)
		return c.ok(object{"sections": names, "self_link": c.link("/system/configuration")})
	}})
	s.handle("/system/configuration/{section}", methods{"GET": func(c *call) error {
		sec, ok := configSections(s.cfg)[c.r.PathValue("section")]
		if !ok {
			return notFound()
		}
		o := object{"self_link": c.link("/system/configuration/" + c.r.PathValue("section"))}
		for k, v := range sec {
			o[k] = v
		}
		return c.ok(o)
	}})
}

// configSections is the configuration by section, every value a string
// as Mailman shows them, without the secret keys (admin_pass, smtp_pass,
// the database URL): Mailman shows admin_pass to anyone with it, and a
// client has no need of it.
func configSections(cfg *config.Config) map[string]map[string]string {
	out := map[string]map[string]string{}
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("toml")
		if name == "" || name == "-" {
			continue
		}
		f := v.Field(i)
		if f.Kind() == reflect.Map {
			for _, k := range f.MapKeys() {
				out[name+"."+k.String()] = sectionValues(f.MapIndex(k))
			}
			continue
		}
		if f.Kind() == reflect.Struct {
			out[name] = sectionValues(f)
		}
	}
	return out
}

func sectionValues(v reflect.Value) map[string]string {
	out := map[string]string{}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("toml")
		if key == "" || key == "-" || f.Tag.Get("secret") == "true" {
			continue
		}
		val := v.Field(i).Interface()
		switch x := val.(type) {
		case config.Duration:
			out[key] = time.Duration(x).String()
		case bool:
			out[key] = map[bool]string{true: "yes", false: "no"}[x]
		default:
			out[key] = fmt.Sprint(x)
		}
	}
	return out
}
