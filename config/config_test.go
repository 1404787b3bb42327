package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

const etcFile = "../etc/mailman.toml"

// knownKeys lists every setting's key under v, found as Load finds them: by
// the toml tags of structs and the names Default puts in maps.
func knownKeys(v reflect.Value, prefix toml.Key) []string {
	switch {
	case isText(v.Type()):
	case v.Kind() == reflect.Struct:
		var keys []string
		for i := range v.NumField() {
			if tag := v.Type().Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
				keys = append(keys, knownKeys(v.Field(i), append(slices.Clip(prefix), tag))...)
			}
		}
		return keys
	case v.Kind() == reflect.Map:
		var keys []string
		for _, name := range v.MapKeys() {
			keys = append(keys, knownKeys(v.MapIndex(name), append(slices.Clip(prefix), name.String()))...)
		}
		return keys
	}
	return []string{prefix.String()}
}

func TestEtcFileIsTheDefaults(t *testing.T) {
	c, err := Load(etcFile)
	if err != nil {
		t.Fatal(err)
	}
	c.File = ""
	if want := Default(); !reflect.DeepEqual(c, want) {
		t.Errorf("%s differs from Default():\n got %+v\nwant %+v", etcFile, c, want)
	}
}

func TestEtcFileHasEveryKey(t *testing.T) {
	var doc map[string]any
	md, err := toml.DecodeFile(etcFile, &doc)
	if err != nil {
		t.Fatal(err)
	}
	inFile := map[string]bool{}
	for _, k := range md.Keys() {
		if md.Type(k...) != "Hash" {
			inFile[k.String()] = true
		}
	}
	known := knownKeys(reflect.ValueOf(Default()).Elem(), nil)
	for _, k := range known {
		if !inFile[k] {
			t.Errorf("%s lacks %s", etcFile, k)
		}
	}
	for k := range inFile {
		if !slices.Contains(known, k) {
			t.Errorf("%s has %s, which is not in the schema", etcFile, k)
		}
	}
	text := string(must(os.ReadFile(etcFile)))
	for _, name := range RunnerNames {
		if !strings.Contains(text, "\n[runner."+name+"]\n") {
			t.Errorf("%s has no [runner.%s] section of its own", etcFile, name)
		}
	}
	// The file is the settings' documentation: each needs its comment.
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if strings.Contains(line, " = ") && !strings.HasPrefix(line, "#") && (i == 0 || !strings.HasPrefix(lines[i-1], "# ")) {
			t.Errorf("%s:%d: %q has no comment above it", etcFile, i+1, line)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestDefault(t *testing.T) {
	c := Default()
	if p := c.check(); p != nil {
		t.Errorf("Default() fails its own check: %s: %s", p.key, p.text)
	}
	if got := slices.Sorted(maps.Keys(c.Runner)); !reflect.DeepEqual(got, slices.Sorted(slices.Values(RunnerNames))) {
		t.Errorf("Default().Runner has %v, want RunnerNames %v", got, RunnerNames)
	}
	for _, r := range Runners {
		if c.Runner[r.Name].Start != r.Start {
			t.Errorf("[runner.%s] start = %v, want %v as Runners says", r.Name, c.Runner[r.Name].Start, r.Start)
		}
	}
	if want := []string{"incoming", "command", "pipeline", "outgoing", "virgin", "bounces", "retry", "archive", "shunt", "bad"}; !slices.Equal(QueueNames, want) {
		t.Errorf("QueueNames = %v, want %v", QueueNames, want)
	}
	c.Runner["retry"] = Runner{}
	if Default().Runner["retry"] == (Runner{}) {
		t.Error("two Default() calls share one Runner map")
	}
}

// write puts text in a file named name in a new folder and returns its path.
func write(t testing.TB, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadOverlaysDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		change     func(*Config)
	}{
		{"empty", "", func(*Config) {}},
		{"comments only", "# nothing\n\n", func(*Config) {}},
		{"empty sections", "[mta]\n[runner.retry]\n", func(*Config) {}},
		{"one runner key", "[runner.incoming]\ninstances = 2\n", func(c *Config) {
			r := c.Runner["incoming"]
			r.Instances = 2
			c.Runner["incoming"] = r
		}},
		{"exim's maps", "[mta]\nincoming = \"exim\"\nmaps_group = \"Debian-exim\"\n", func(c *Config) {
			c.MTA.Incoming, c.MTA.MapsGroup = "exim", "Debian-exim"
		}},
		{"every runner key", "[runner.lmtp]\ninstances = 4\nsleep_time = \"1d12h\"\nmax_restarts = 0\nmessage_timeout = \"2h\"\nstart = true\n", func(c *Config) {
			c.Runner["lmtp"] = Runner{Instances: 4, SleepTime: Duration(36 * time.Hour), MaxRestarts: 0, MessageTimeout: Duration(2 * time.Hour), Start: true}
		}},
		{"dotted keys", "runner.retry.start = false\nmta.lmtp_port = 2424\n", func(c *Config) {
			r := c.Runner["retry"]
			r.Start = false
			c.Runner["retry"] = r
			c.MTA.LMTPPort = 2424
		}},
		{"dotted within a table", "[runner]\nbounces.sleep_time = \"15m\"\n", func(c *Config) {
			r := c.Runner["bounces"]
			r.SleepTime = Duration(15 * time.Minute)
			c.Runner["bounces"] = r
		}},
		{"inline table", "mta = { smtp_host = \"mx.example.com\", smtp_port = 587 }\n", func(c *Config) {
			c.MTA.SMTPHost = "mx.example.com"
			c.MTA.SMTPPort = 587
		}},
		{"strings", "[paths]\nvar_dir = '/srv/mailman'\n[database]\nurl = \"postgres://mailman@localhost/mailman\"\n", func(c *Config) {
			c.PathSettings.VarDir = "/srv/mailman"
			c.Database.URL = "postgres://mailman@localhost/mailman"
		}},
		{"largest values", "[mta]\nlmtp_port = 65535\n[runner.virgin]\ninstances = 64\n", func(c *Config) {
			c.MTA.LMTPPort = 65535
			r := c.Runner["virgin"]
			r.Instances = 64
			c.Runner["virgin"] = r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, "mailman.toml", tc.text)
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			want.File = path
			tc.change(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
		key        string
		problem    string
	}{
		{"unknown key", "[mta]\nlmtp_host = \"::1\"\nlmtp_prot = 1\n", 3, "[mta] lmtp_prot", "unknown key"},
		{"unknown top-level key", "# site\nbogus = 1\n", 2, "bogus", "unknown key"},
		{"unknown table", "\n[bogus]\nx = 1\n", 2, "[bogus]", "unknown table"},
		{"key of another section", "[paths]\nlmtp_port = 1\n", 2, "[paths] lmtp_port", "unknown key"},
		{"case-mismatched key", "[mta]\nLMTP_PORT = 8024\n", 2, "[mta] LMTP_PORT", "unknown key; did you mean lmtp_port?"},
		{"case-mismatched table", "[MTA]\nlmtp_port = 8024\n", 1, "[MTA]", "unknown table; did you mean mta?"},
		{"unknown runner", "[mta]\n\n[runner.bogus]\ninstances = 2\n", 3, "[runner.bogus]", "unknown runner; the runners are archive, bounces, command"},
		{"case-mismatched runner", "[runner.Retry]\n", 1, "[runner.Retry]", "unknown runner; did you mean retry?"},
		{"unknown runner, dotted", "\nrunner.bogus.start = true\n", 2, "[runner.bogus]", "unknown runner"},
		{"unknown runner key", "[runner.incoming]\ninstanses = 2\n", 2, "[runner.incoming] instanses", "unknown key"},
		{"file is not a key", "File = \"x\"\n", 1, "File", "unknown key"},
		{"wrong type, integer", "[mta]\n\n\n\nlmtp_port = \"abc\"\n", 5, "[mta] lmtp_port", `expected an integer, got string "abc"`},
		{"wrong type, float", "[mta]\nlmtp_port = 25.5\n", 2, "[mta] lmtp_port", "expected an integer, got float 25.5"},
		{"wrong type, string", "[paths]\nvar_dir = 5\n", 2, "[paths] var_dir", "expected a string, got integer 5"},
		{"wrong type, boolean", "[runner.retry]\nstart = \"yes\"\n", 2, "[runner.retry] start", `expected true or false, got string "yes"`},
		{"wrong type, duration", "[runner.retry]\nsleep_time = true\n", 2, "[runner.retry] sleep_time", "expected a string, got boolean true"},
		{"wrong type, array", "[paths]\nvar_dir = [\"a\"]\n", 2, "[paths] var_dir", "expected a string, got an array"},
		{"wrong type, datetime", "[paths]\nvar_dir = 2024-01-01\n", 2, "[paths] var_dir", "expected a string, got a datetime"},
		// A password is never shown, whatever was written.
		{"secret of the wrong type", "[mta]\nsmtp_pass = 12345\n", 2, "[mta] smtp_pass", "expected a string; the value is not shown, for it may be a password"},
		{"secret URL of the wrong type", "[database]\nurl = 2024-01-01\n", 2, "[database] url", "the value is not shown"},
		{"secret unquoted", "[mta]\nsmtp_pass = s3cret\n", 2, "", "syntax error in a value not shown here, for it may be a password"},
		{"secret unquoted, digits", "[mta]\n  smtp_pass=12.5.6\n", 2, "", "syntax error in a value not shown here"},
		{"secret URL unquoted", "[database]\nurl = postgres://u:pw@h/db\n", 2, "", "syntax error in a value not shown here"},
		{"table as a value", "mta = 5\n", 1, "mta", "expected a table, got integer 5"},
		{"runner as a value", "[runner]\nincoming = 1\n", 2, "[runner] incoming", "expected a table, got integer 1"},
		{"array of tables", "[[runner]]\n", 1, "[[runner]]", "expected a table, got an array of tables"},
		{"table below a setting", "[mta.lmtp_port]\nx = 1\n", 1, "[mta.lmtp_port]", "expected an integer, got a table"},
		{"dotted below a setting", "[mta]\nlmtp_port.x = 1\n", 2, "[mta.lmtp_port]", "expected an integer, got a table"},
		{"an MTA with no maps", "[mta]\nincoming = \"sendmail\"\n", 2, "[mta] incoming", `"sendmail" is not one of postfix, exim, none`},
		{"a header check without a colon", "[antispam]\nheader_checks = \"\"\"\nX-Spam: yes\nX-Spam yes\n\"\"\"\n", 2, "[antispam] header_checks", `line 2, "X-Spam yes": not Header: regex`},
		{"a header check that is no regex", "[antispam]\nheader_checks = \"X-Spam: (yes\"\n", 2, "[antispam] header_checks", `line 1: "(yes" is not a regular expression`},
		{"a jump chain that is no chain", "[antispam]\njump_chain = \"moderation\"\n", 2, "[antispam] jump_chain", `"moderation" is not one of hold, reject, discard, accept`},
		{"not a power of 2", "[runner.lmtp]\n[runner.incoming]\ninstances = 3\n", 3, "[runner.incoming] instances", "3 is not a power of 2"},
		{"too many instances", "[runner.incoming]\ninstances = 128\n", 2, "[runner.incoming] instances", "128 is out of range"},
		{"no instances", "[runner.incoming]\ninstances = 0\n", 2, "[runner.incoming] instances", "0 is out of range"},
		{"port too large", "[mta]\nsmtp_port = 70000\n", 2, "[mta] smtp_port", "70000 is not a port number"},
		{"port zero", "[mta]\nlmtp_port = 0\n", 2, "[mta] lmtp_port", "0 is not a port number"},
		{"integer beyond int64", "[mta]\nlmtp_port = 9223372036854775808\n", 0, "", "syntax error"},
		{"too few junk commands", "[mta]\nlmtp_max_junk_commands = 3\n", 2, "[mta] lmtp_max_junk_commands", "3 is less than 10 (a transaction takes a few)"},
		{"empty host", "[mta]\nsmtp_host = \"\"\n", 2, "[mta] smtp_host", "must not be empty"},
		{"empty var_dir", "[paths]\nvar_dir = ''\n", 2, "[paths] var_dir", "must not be empty"},
		{"negative max_restarts", "[runner.outgoing]\nmax_restarts = -1\n", 2, "[runner.outgoing] max_restarts", "-1 is negative"},
		{"negative duration", "[runner.retry]\nsleep_time = \"-1s\"\n", 2, "[runner.retry] sleep_time", `"-1s": durations cannot be negative`},
		{"a resolver without a port", "[dmarc]\nresolver = \"127.0.0.1\"\n", 2, "[dmarc] resolver", `"127.0.0.1" is not a host and port`},
		{"hour out of range", "[digests]\nsend_at = \"25:00\"\n", 2, "[digests] send_at", `"25:00" is not a time of day`},
		{"no minutes", "[scheduler]\nnotify_at = \"08:00,9:\"\n", 2, "[scheduler] notify_at", `"9:" is not a time of day`},
		{"a schedule that is neither", "[digests]\nsend_at = \"noon\"\n", 2, "[digests] send_at", `or times of day such as "12:00"`},
		{"a schedule of 0s", "[digests]\nsend_at = \"0s\"\n", 2, "[digests] send_at", `a job cannot run every 0s`},
		{"wrong type, schedule", "[digests]\nsend_at = 12\n", 2, "[digests] send_at", `"12": durations need a unit`},
		{"zero duration", "[runner.retry]\nsleep_time = \"0s\"\n", 2, "[runner.retry] sleep_time", "0s is too short"},
		{"bare integer duration", "[runner.retry]\nsleep_time = 5\n", 2, "[runner.retry] sleep_time", "durations need a unit"},
		{"bad duration", "[runner.retry]\nsleep_time = \"soon\"\n", 2, "[runner.retry] sleep_time", `"soon" is not a duration`},
		{"syntax error", "[mta]\nlmtp_port = \n", 2, "", "syntax error: "},
		{"duplicate key", "[mta]\nlmtp_port = 1\nlmtp_port = 2\n", 3, "", "syntax error: "},
		{"first mistake in file order", "[runner.retry]\nstart = 1\n[mta]\nlmtp_prot = 1\n", 2, "[runner.retry] start", "expected true or false"},

		// Finding the line.
		{"quoted key", "[mta]\n\"lmtp_prot\" = 1\n", 2, "[mta] lmtp_prot", "unknown key"},
		{"quoted key with a space", "[mta]\n'lmtp port' = 1\n", 2, `[mta] "lmtp port"`, "unknown key"},
		{"dotted key", "\n\nmta.lmtp_prot = 1\n", 3, "[mta] lmtp_prot", "unknown key"},
		{"dotted header with spaces", "[ runner . incoming ]\ninstances = 3\n", 2, "[runner.incoming] instances", "not a power of 2"},
		{"dotted runner key", "[runner]\nincoming.instances = 3\n", 2, "[runner.incoming] instances", "not a power of 2"},
		{"inline table over lines", "mta = { lmtp_host = \"x\",\n  lmtp_prot = 1 }\n", 2, "[mta] lmtp_prot", "unknown key"},
		{"CRLF", "[mta]\r\nlmtp_host = \"x\"\r\nlmtp_prot = 1\r\n", 3, "[mta] lmtp_prot", "unknown key"},
		{"header in a multi-line string", "[paths]\nvar_dir = \"\"\"\n[mta]\nlmtp_prot = 1\n\"\"\"\n[mta]\nlmtp_prot = 2\n", 7, "[mta] lmtp_prot", "unknown key"},
		{"key in a comment", "# lmtp_prot = 1\n[mta] # lmtp_prot = 1\nlmtp_prot = 2 # lmtp_prot\n", 3, "[mta] lmtp_prot", "unknown key"},
		{"value mentioning the key", "[mta]\nsmtp_host = \"lmtp_prot = 1\"\nlmtp_prot = 2\n", 3, "[mta] lmtp_prot", "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, "x.toml", tc.text)
			c, err := Load(path)
			if err == nil {
				t.Fatalf("loaded %+v, want an error", c)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v (%T) is not an *Error", err, err)
			}
			if e.File != path || e.Key != tc.key || !strings.Contains(e.Problem, tc.problem) {
				t.Errorf("got %#v\nwant File %q, Key %q, Problem containing %q", e, path, tc.key, tc.problem)
			}
			if tc.line != 0 && e.Line != tc.line {
				t.Errorf("got line %d, want %d: %v", e.Line, tc.line, err)
			}
			prefix := fmt.Sprintf("%s:%d: %s: ", path, tc.line, tc.key)
			if tc.key == "" {
				prefix = fmt.Sprintf("%s:%d: ", path, tc.line)
			}
			if tc.line != 0 && !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start %q", err, prefix)
			}
			if strings.HasPrefix(tc.name, "secret") {
				_, value, _ := strings.Cut(tc.text, "=")
				for _, part := range []string{strings.TrimSpace(value), "s3cret", "pw@"} {
					if part != "" && strings.Contains(err.Error(), part) {
						t.Errorf("error %q shows the secret %q", err, part)
					}
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want a not-exist error", err)
	}
}

func TestErrorString(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{"etc/mailman.toml", 12, "[mta] lmtp_prot", "unknown key"}, "etc/mailman.toml:12: [mta] lmtp_prot: unknown key"},
		{Error{"x.toml", 0, "[runner.bogus]", "unknown runner"}, "x.toml: [runner.bogus]: unknown runner"},
		{Error{"x.toml", 2, "", "syntax error: oops"}, "x.toml:2: syntax error: oops"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestKeyLines(t *testing.T) {
	const doc = `# comment [not.a.table]
top = 1
[a]
s = """
[fake]
fake = 1
"""
arr = [
  [1, 2],
  { in_array = 1 },
]
inline = { x = 1, y.z = "}" }
'quoted key' = 'v'
"esc\"aped" = 2
[[b.c]]
d = 1979-05-27 07:32:00Z # comment
e = """x""""
f = '''
g = 1'''
h = 3
`
	var m map[string]any
	if _, err := toml.Decode(doc, &m); err != nil {
		t.Fatalf("the test's document is not TOML: %v", err)
	}
	got := keyLines(doc)
	for key, line := range map[string]int{
		"top": 2, "a": 3, "a.s": 4, "a.arr": 8, "a.inline": 12, "a.inline.x": 12, "a.inline.y.z": 12,
		`a."quoted key"`: 13, `a."esc\"aped"`: 14, "b": 15, "b.c": 15, "b.c.d": 16, "b.c.e": 17, "b.c.f": 18, "b.c.h": 20,
	} {
		if got[key] != line {
			t.Errorf("%s: line %d, want %d", key, got[key], line)
		}
	}
	for _, key := range []string{"fake", "a.fake", "in_array", "a.in_array", "a.arr.in_array", "b.c.g", "g"} {
		if line, ok := got[key]; ok {
			t.Errorf("%s found at line %d; it is not a key", key, line)
		}
	}
}

func TestVarDir(t *testing.T) {
	site := t.TempDir()
	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	for _, tc := range []struct {
		name, varDir, want string
	}{
		{"relative to the file", "var", filepath.Join(site, "etc", "var")},
		{"relative, upwards", "../var", filepath.Join(site, "var")},
		{"absolute", elsewhere, elsewhere},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(site, "etc", "mailman.toml")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte("[paths]\nvar_dir = \""+tc.varDir+"\"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.VarDir(); got != tc.want {
				t.Errorf("VarDir() = %q, want %q", got, tc.want)
			}
			if got, want := c.Paths().Queue("incoming"), filepath.Join(tc.want, "queue", "incoming"); got != want {
				t.Errorf("Paths().Queue(incoming) = %q, want %q", got, want)
			}
		})
	}
}

// TestVarDirFromWorkingDirectory cannot run in parallel: it changes directory.
func TestVarDirFromWorkingDirectory(t *testing.T) {
	site := t.TempDir()
	if err := os.MkdirAll(filepath.Join(site, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(site, "etc", "mailman.toml"), []byte("[paths]\nvar_dir = \"../spool\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(site)

	defaults := Default().VarDir()
	sameDir(t, "Default().VarDir()", defaults, filepath.Join(site, "var"))

	c, err := Load(filepath.Join("etc", "mailman.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(c.File) {
		t.Errorf("File = %q, want an absolute path", c.File)
	}
	loaded := c.VarDir()
	sameDir(t, "VarDir() of a relative -C", loaded, filepath.Join(site, "spool"))

	// A later change of directory moves the defaults but not a loaded file's var_dir.
	t.Chdir(t.TempDir())
	if got := c.VarDir(); got != loaded {
		t.Errorf("after chdir, VarDir() = %q, want %q still", got, loaded)
	}
}

// sameDir reports whether got, an absolute path, names the directory want,
// however symbolic links spell the temporary directory.
func sameDir(t *testing.T, what, got, want string) {
	t.Helper()
	if !filepath.IsAbs(got) {
		t.Errorf("%s = %q, not absolute", what, got)
		return
	}
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	gotInfo, err1 := os.Stat(got)
	wantInfo, err2 := os.Stat(want)
	if err1 != nil || err2 != nil || !os.SameFile(gotInfo, wantInfo) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	flagFile := filepath.Join(dir, "flag.toml")
	envFile := filepath.Join(dir, "env.toml")
	for path, varDir := range map[string]string{flagFile: "from-flag", envFile: "from-env"} {
		if err := os.WriteFile(path, []byte("[paths]\nvar_dir = \""+varDir+"\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.toml")
	for _, tc := range []struct {
		name      string
		flag, env string
		unset     bool
		want      string // the var_dir that says which file was read; "" for an error
	}{
		{"flag over environment", flagFile, envFile, false, "from-flag"},
		{"flag alone", flagFile, "", true, "from-flag"},
		{"environment without flag", "", envFile, false, "from-env"},
		{"empty environment", "", "", false, "var"},
		{"nothing", "", "", true, "var"},
		{"a missing flag file is not skipped", missing, envFile, false, ""},
		{"a missing environment file is not skipped", "", missing, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MAILMAN_CONFIG", tc.env)
			if tc.unset {
				os.Unsetenv("MAILMAN_CONFIG")
			}
			c, err := FromEnvironment(tc.flag)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("loaded %s, want an error", c.File)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.PathSettings.VarDir != tc.want {
				t.Errorf("var_dir = %q, want %q", c.PathSettings.VarDir, tc.want)
			}
			if tc.want == "var" && c.File != "" {
				t.Errorf("File = %q, want the built-in defaults", c.File)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(must(os.ReadFile(etcFile)))
	for _, seed := range []string{
		"",
		"[mta]\nlmtp_port = 2424\n",
		"[runner.incoming]\ninstances = 3\n",
		"[runner.bogus]\n",
		"mta = { lmtp_prot = 1 }\n",
		"[[runner]]\n",
		"[runner.retry]\nsleep_time = \"1w2d3h\"\n",
		"a = [ { b = 1 }, [ 'c', \"\"\"d\"\"\" ] ]\n",
		"[mta]\nlmtp_port = \n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		keyLines(string(text))
		path := filepath.Join(t.TempDir(), "fuzz.toml")
		if err := os.WriteFile(path, text, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v (%T) is not an *Error", err, err)
			}
			return
		}
		if p := c.check(); p != nil {
			t.Fatalf("loaded a configuration that fails its check: %s: %s", p.key, p.text)
		}
		for _, name := range RunnerNames {
			if _, ok := c.Runner[name]; !ok {
				t.Fatalf("runner %s is missing", name)
			}
		}
		if len(c.Runner) != len(RunnerNames) {
			t.Fatalf("Runner has %d entries, want %d", len(c.Runner), len(RunnerNames))
		}
	})
}
