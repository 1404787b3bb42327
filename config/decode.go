package config

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Error is a mistake in a configuration file, placed so that a postmaster can
// find it: "x.toml:3: [runner.incoming] instances: 3 is not a power of 2".
type Error struct {
	File    string // the path as given to Load
	Line    int    // from 1; 0 when the line could not be found
	Key     string // as a reader finds it in the file: "[mta] lmtp_port", "[runner.bogus]"; "" for a syntax error
	Problem string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// A problem is what is wrong at one key, before it is placed in the file.
type problem struct {
	key  toml.Key
	text string
}

// decode lays the TOML text of file over c and validates the result.
//
// The text is decoded into plain maps rather than into c, and the keys are
// then walked through c's fields by their exact tags: the decoder would match
// keys case-insensitively, rebuild each [runner.NAME] from zero values, and
// report a wrong type without the key's position.
func (c *Config) decode(file, text string) error {
	var doc map[string]any
	md, err := toml.Decode(text, &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := "syntax error: " + pe.Message
			if onSecretLine(text, pe.Position.Line) {
				// The decoder quotes what it could not read, which here may
				// be the password itself.
				msg = "syntax error in a value not shown here, for it may be a password: write it as a quoted string"
			}
			return &Error{File: file, Line: pe.Position.Line, Problem: msg}
		}
		return &Error{File: file, Problem: err.Error()}
	}
	root := reflect.ValueOf(c).Elem()
	// In the document's order, so that the first mistake in the file is the
	// one reported.
	for _, k := range md.Keys() {
		if p := set(root, doc, k, 0); p != nil {
			return p.place(file, text, doc)
		}
	}
	if p := c.check(); p != nil {
		return p.place(file, text, doc)
	}
	return nil
}

// secretKeys are the names of the settings tagged secret:"true", whose
// values no error may show.
var secretKeys = func() map[string]bool {
	keys := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Tag.Get("secret") == "true" {
				keys[f.Tag.Get("toml")] = true
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[Config]())
	return keys
}()

// onSecretLine reports whether line n (from 1) of text sets a secret key.
func onSecretLine(text string, n int) bool {
	lines := strings.Split(text, "\n")
	if n < 1 || n > len(lines) {
		return false
	}
	key, _, ok := strings.Cut(lines[n-1], "=")
	return ok && secretKeys[strings.Trim(strings.TrimSpace(key), `"'`)]
}

// place turns p into an Error naming the line and the key as the file has it.
func (p *problem) place(file, text string, doc map[string]any) *Error {
	return &Error{File: file, Line: keyLines(text)[p.key.String()], Key: display(p.key, doc), Problem: p.text}
}

// display writes key k the way the file does: a table as its header, a value
// as its table's header and its own name.
func display(k toml.Key, doc map[string]any) string {
	var raw any = doc
	for _, part := range k {
		m, _ := raw.(map[string]any)
		raw = m[part]
	}
	switch raw.(type) {
	case map[string]any:
		return "[" + k.String() + "]"
	case []map[string]any:
		return "[[" + k.String() + "]]"
	}
	if len(k) == 1 {
		return k.String()
	}
	return "[" + k[:len(k)-1].String() + "] " + k[len(k)-1:].String()
}

// set stores the document's value for key k into the Config. v is the field
// or map entry at k[:i], and raw the document's value there.
func set(v reflect.Value, raw any, k toml.Key, i int) *problem {
	if v.Kind() != reflect.Struct && v.Kind() != reflect.Map || isText(v.Type()) {
		// A key below a setting, as in mta.lmtp_port.x, makes the setting's
		// value a table, which assign refuses.
		if p := assign(v, raw); p != "" {
			return &problem{k[:i], p}
		}
		return nil
	}
	table, ok := raw.(map[string]any)
	if !ok {
		return &problem{k[:i], "expected a table, got " + describe(raw)}
	}
	if i == len(k) {
		return nil
	}
	name := k[i]
	if v.Kind() == reflect.Map {
		// A map's names are those Default puts in it; say [runner.bogus] is
		// an unknown runner, naming the map by its own key.
		mk := reflect.ValueOf(name)
		entry := v.MapIndex(mk)
		if !entry.IsValid() {
			var names []string
			for _, n := range v.MapKeys() {
				names = append(names, n.String())
			}
			slices.Sort(names)
			hint := didYouMean(name, names)
			if hint == "" {
				hint = "; the " + k[i-1] + "s are " + strings.Join(names, ", ")
			}
			return &problem{k[:i+1], "unknown " + k[i-1] + hint}
		}
		// Map entries cannot be set in place: copy, set, store.
		e := reflect.New(entry.Type()).Elem()
		e.Set(entry)
		p := set(e, table[name], k, i+1)
		v.SetMapIndex(mk, e)
		return p
	}
	tags := fieldTags(v.Type())
	f, ok := tags[name]
	if !ok {
		what := "unknown key"
		if _, isTable := table[name].(map[string]any); isTable {
			what = "unknown table"
		}
		return &problem{k[:i+1], what + didYouMean(name, slices.Sorted(maps.Keys(tags)))}
	}
	if v.Type().Field(f).Tag.Get("secret") == "true" {
		if p := set(v.Field(f), table[name], k, i+1); p != nil {
			// Whatever was written there may be the secret, mistyped.
			p.text = "expected a string; the value is not shown, for it may be a password"
			return p
		}
		return nil
	}
	return set(v.Field(f), table[name], k, i+1)
}

// fieldTags maps the toml tag of each of struct type t's settings to the
// field's index.
func fieldTags(t reflect.Type) map[string]int {
	tags := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			tags[tag] = i
		}
	}
	return tags
}

// didYouMean suggests the known name that name differs from only by case: a
// slip worth naming, since TOML readers that match keys case-insensitively,
// BurntSushi's decoder among them, accept it silently.
func didYouMean(name string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return "; did you mean " + k + "?"
		}
	}
	return ""
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// isText reports whether a setting of type t is written as a string,
// whatever t is made of.
func isText(t reflect.Type) bool { return reflect.PointerTo(t).Implements(textUnmarshaler) }

// assign stores raw, a value as the TOML decoder makes it, into the setting
// v, and returns what is wrong if it cannot.
func assign(v reflect.Value, raw any) string {
	if isText(v.Type()) {
		var text string
		switch x := raw.(type) {
		case string:
			text = x
		case int64, float64:
			// So that sleep_time = 5 is told that it lacks a unit.
			text = fmt.Sprint(x)
		default:
			return "expected a string, got " + describe(raw)
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			return err.Error()
		}
		return ""
	}
	switch v.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			return "expected a string, got " + describe(raw)
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			return "expected true or false, got " + describe(raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := raw.(int64)
		if !ok {
			return "expected an integer, got " + describe(raw)
		}
		if v.OverflowInt(n) {
			return fmt.Sprintf("%d is out of range", n)
		}
		v.SetInt(n)
	default:
		panic("config: no TOML form for a setting of type " + v.Type().String())
	}
	return ""
}

// describe names a value as the TOML decoder makes it, for "expected X, got Y".
func describe(raw any) string {
	switch x := raw.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case time.Time:
		return "a datetime"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	default:
		return "an array"
	}
}

// maxInstances bounds a runner's processes: more is a typo (1024 for 2, say)
// rather than a site's need.
const maxInstances = 64

// check reports the first setting no Mailman could run with. Each rule is one
// line, naming its key as the file does.
func (c *Config) check() *problem {
	rules := []problem{
		{toml.Key{"mailman", "site_owner"}, emailAddress(c.Mailman.SiteOwner)},
		{toml.Key{"mailman", "pending_request_life"}, positive(c.Mailman.PendingRequestLife)},
		{toml.Key{"mailman", "moderator_request_life"}, positive(c.Mailman.ModeratorRequestLife)},
		{toml.Key{"mailman", "run_tasks_every"}, positive(c.Mailman.RunTasksEvery)},
		{toml.Key{"mailman", "email_commands_max_reply_size"}, atLeast(c.Mailman.EmailCommandsMaxReplySize, 1024, "a reply must have room to say what happened")},
		{toml.Key{"paths", "var_dir"}, notEmpty(c.PathSettings.VarDir)},
		{toml.Key{"mta", "lmtp_host"}, notEmpty(c.MTA.LMTPHost)},
		{toml.Key{"mta", "lmtp_port"}, port(c.MTA.LMTPPort)},
		{toml.Key{"mta", "smtp_host"}, notEmpty(c.MTA.SMTPHost)},
		{toml.Key{"mta", "smtp_port"}, port(c.MTA.SMTPPort)},
		{toml.Key{"mta", "max_message_size"}, atLeast(c.MTA.MaxMessageSize, 64<<10, "RFC 5321 requires 64 KiB")},
		{toml.Key{"mta", "lmtp_max_connections"}, atLeast(c.MTA.LMTPMaxConnections, 1, "")},
		{toml.Key{"mta", "lmtp_max_recipients"}, atLeast(c.MTA.LMTPMaxRecipients, 100, "RFC 5321 requires 100")},
		{toml.Key{"mta", "lmtp_timeout"}, positive(c.MTA.LMTPTimeout)},
		{toml.Key{"mta", "lmtp_max_session_time"}, positive(c.MTA.LMTPMaxSessionTime)},
		{toml.Key{"mta", "lmtp_max_junk_commands"}, atLeast(c.MTA.LMTPMaxJunkCommands, 10, "a transaction takes a few")},
		{toml.Key{"mta", "max_autoresponses_per_day"}, notNegative(c.MTA.MaxAutoresponsesPerDay)},
		{toml.Key{"mta", "max_recipients"}, atLeast(c.MTA.MaxRecipients, 1, "")},
		{toml.Key{"mta", "smtp_connections"}, atLeast(c.MTA.SMTPConnections, 1, "")},
		{toml.Key{"mta", "max_sessions_per_connection"}, notNegative(c.MTA.MaxSessionsPerConn)},
		{toml.Key{"mta", "verp_delivery_interval"}, notNegative(c.MTA.VERPDeliveryInterval)},
		{toml.Key{"mta", "delivery_retry_period"}, positive(c.MTA.DeliveryRetryPeriod)},
		{toml.Key{"mta", "delivery_retry_delay"}, positive(c.MTA.DeliveryRetryDelay)},
		{toml.Key{"mta", "smtp_secure_mode"}, oneOf(c.MTA.SMTPSecureMode, "smtp", "starttls", "smtps")},
		{toml.Key{"mta", "incoming"}, oneOf(c.MTA.Incoming, "postfix", "exim", "none")},
		{toml.Key{"mta", "transport_file_type"}, oneOf(c.MTA.TransportFileType, "hash", "regex")},
		{toml.Key{"mta", "smtp_timeout"}, positive(c.MTA.SMTPTimeout)},
		{toml.Key{"master", "start_timeout"}, positive(c.Master.StartTimeout)},
		{toml.Key{"master", "stop_timeout"}, positive(c.Master.StopTimeout)},
		{toml.Key{"master", "restart_window"}, positive(c.Master.RestartWindow)},
		{toml.Key{"bounces", "max_size"}, atLeast(c.Bounces.MaxSize, 1<<10, "")},
		{toml.Key{"bounces", "register_bounces_every"}, positive(c.Bounces.RegisterBouncesEvery)},
		{toml.Key{"scheduler", "check_every"}, positive(c.Scheduler.CheckEvery)},
		{toml.Key{"dmarc", "resolver"}, when(c.DMARC.Resolver != "", hostPort(c.DMARC.Resolver))},
		{toml.Key{"dmarc", "resolver_timeout"}, positive(c.DMARC.ResolverTimeout)},
		{toml.Key{"dmarc", "resolver_lifetime"}, positive(c.DMARC.ResolverLifetime)},
		{toml.Key{"unsubscribe", "listen"}, hostPort(c.Unsubscribe.Listen)},
		{toml.Key{"unsubscribe", "base_url"}, when(c.Unsubscribe.BaseURL != "", httpURL(c.Unsubscribe.BaseURL))},
		{toml.Key{"dmarc", "new_list_action"}, oneOf(c.DMARC.NewListAction, "no_mitigation", "munge_from", "wrap_message", "reject", "discard")},
		{toml.Key{"webservice", "hostname"}, notEmpty(c.Webservice.Hostname)},
		{toml.Key{"webservice", "port"}, port(c.Webservice.Port)},
		{toml.Key{"webservice", "api_version"}, oneOf(c.Webservice.APIVersion, "3.0", "3.1")},
		{toml.Key{"webservice", "admin_user"}, notEmpty(c.Webservice.AdminUser)},
		{toml.Key{"webservice", "admin_pass"}, notEmpty(c.Webservice.AdminPass)},
		{toml.Key{"antispam", "header_checks"}, headerChecks(c.Antispam)},
		{toml.Key{"antispam", "jump_chain"}, oneOf(c.Antispam.JumpChain, "hold", "reject", "discard", "accept")},
		{toml.Key{"archiver", "mail-archive", "recipient"}, when(c.Archiver.MailArchive.Enable, emailAddress(c.Archiver.MailArchive.Recipient))},
		{toml.Key{"archiver", "mhonarc", "command"}, when(c.Archiver.MHonArc.Enable, notEmpty(c.Archiver.MHonArc.Command))},
		{toml.Key{"archiver", "hyperkitty", "base_url"}, when(c.Archiver.HyperKitty.Enable, httpURL(c.Archiver.HyperKitty.BaseURL))},
		{toml.Key{"archiver", "hyperkitty", "api_key"}, when(c.Archiver.HyperKitty.Enable, notEmpty(c.Archiver.HyperKitty.APIKey))},
	}
	for _, name := range []string{"prototype", "mail-archive", "mhonarc", "hyperkitty"} {
		_, cl := c.Archiver.Archiving(name)
		rules = append(rules,
			problem{toml.Key{"archiver", name, "clobber_date"}, oneOf(cl.ClobberDate, "never", "always", "maybe")},
			problem{toml.Key{"archiver", name, "clobber_skew"}, when(cl.ClobberSkew < 0, "a skew cannot be negative")})
	}
	for _, name := range RunnerNames {
		r := c.Runner[name]
		rules = append(rules,
			problem{toml.Key{"runner", name, "instances"}, instances(r.Instances)},
			problem{toml.Key{"runner", name, "sleep_time"}, positive(r.SleepTime)},
			problem{toml.Key{"runner", name, "max_restarts"}, notNegative(r.MaxRestarts)},
			problem{toml.Key{"runner", name, "message_timeout"}, positive(r.MessageTimeout)},
		)
	}
	for _, r := range rules {
		if r.text != "" {
			return &r
		}
	}
	return nil
}

func headerChecks(a Antispam) string {
	if _, err := a.Checks(); err != nil {
		return err.Error()
	}
	return ""
}

// when is problem p of a setting that matters only when on.
func when(on bool, p string) string {
	if !on {
		return ""
	}
	return p
}

func httpURL(s string) string {
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an http:// or https:// URL", s)
	}
	return ""
}

func notEmpty(s string) string {
	if s == "" {
		return "must not be empty"
	}
	return ""
}

func oneOf(s string, values ...string) string {
	if slices.Contains(values, s) {
		return ""
	}
	return fmt.Sprintf("%q is not one of %s", s, strings.Join(values, ", "))
}

func emailAddress(s string) string {
	if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
		return fmt.Sprintf("%q is not an email address such as postmaster@example.com", s)
	}
	return ""
}

// hostPort needs a host and a port, as a DNS server is named.
func hostPort(s string) string {
	host, p, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(p)
	if err != nil || host == "" || perr != nil || port(n) != "" {
		return fmt.Sprintf("%q is not a host and port such as 127.0.0.53:53", s)
	}
	return ""
}

func port(n int) string {
	if n < 1 || n > 65535 {
		return fmt.Sprintf("%d is not a port number (1 to 65535)", n)
	}
	return ""
}

// instances needs a power of 2 because instances split a queue by the
// leading bits of each entry's hash, as Mailman's do.
func instances(n int) string {
	switch {
	case n < 1 || n > maxInstances:
		return fmt.Sprintf("%d is out of range; instances must be a power of 2 from 1 to %d", n, maxInstances)
	case n&(n-1) != 0:
		return fmt.Sprintf("%d is not a power of 2", n)
	}
	return ""
}

// positive refuses a zero sleep, which would have a runner spin on an empty
// queue.
func positive(d Duration) string {
	if d <= 0 {
		return fmt.Sprintf("%s is too short; it must be more than 0s", d)
	}
	return ""
}

func notNegative(n int) string {
	if n < 0 {
		return fmt.Sprintf("%d is negative; 0 turns restarts off", n)
	}
	return ""
}

func atLeast(n, least int, why string) string {
	if n < least {
		if why != "" {
			why = " (" + why + ")"
		}
		return fmt.Sprintf("%d is less than %d%s", n, least, why)
	}
	return ""
}
