package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailman-go/mailman/store"
)

// pickles21 is where Debian's mailman3 keeps the config.pck files of
// Mailman's own test suite.
const pickles21 = "/usr/lib/python3/dist-packages/mailman/testing"

// pickle21 opens one of them, skipping the test without them unless
// MAILMAN3_REQUIRED is set (CI installs the package).
func pickle21(t *testing.T, name string) *Config21 {
	t.Helper()
	path := filepath.Join(pickles21, name+".pck")
	if _, err := os.Stat(path); os.IsNotExist(err) && os.Getenv("MAILMAN3_REQUIRED") == "" {
		t.Skipf("%s: Debian's mailman3 is not installed (apt-get install mailman3)", name)
	}
	return readTestPickle(t, path)
}

// reference21 is what Mailman 3.3.8's import21 made of a pickle
// (testdata/mailman-import21.sh).
type reference21 struct {
	Settings      map[string]any      `json:"settings"`
	Members       []map[string]any    `json:"members"`
	Bans          []string            `json:"bans"`
	HeaderMatches []map[string]string `json:"header_matches"`
	Templates     map[string]string   `json:"templates"`
}

func readReference21(t *testing.T, name string) reference21 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "mailman-3.3.8-"+name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference21
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// differs21 are the settings where this import and Mailman 3.3.8's differ
// on purpose (docs/migration.md), by pickle ("" for all).
var differs21 = map[string]map[string]string{
	"config": {
		"digest_last_sent_at": "2.1 has 0 for a list that never sent one: Mailman shows 1970-01-01, this core none",
		"last_post_at":        "2.1 has 0 for a list that never had a post: Mailman shows 1970-01-01, this core none",
	},
	"config-greek": {
		// Mailman decodes 2.1's strings as UTF-8 and drops what is not.
		"info":                "Mailman 3.3.8 loses the Greek text; this import decodes it from the list's charset (iso-8859-7)",
		"digest_last_sent_at": "2.1 has 0 for a list that never sent one: Mailman shows 1970-01-01, this core none",
		"last_post_at":        "2.1 has 0 for a list that never had a post: Mailman shows 1970-01-01, this core none",
	},
	"config-features": {
		"digest_size_threshold":   "2.1 spells it digest_size_threshhold, which Mailman 3.3.8 drops; this import carries it",
		"accept_these_nonmembers": "Mailman 3.3.8 drops an @list entry as no address; this import keeps it",
		"digest_last_sent_at":     "2.1 has 0 for a list that never sent one: Mailman shows 1970-01-01, this core none",
		"last_post_at":            "2.1 has 0 for a list that never had a post: Mailman shows 1970-01-01, this core none",
	},
}

// TestImport21MatchesMailman: each 2.1 configuration gives the list
// Mailman 3.3.8's import21 gave it (testdata/mailman-3.3.8-*.json): the
// settings both have, each membership with its options, the bans, the
// header matches and the templates; but where differs21 says otherwise.
func TestImport21MatchesMailman(t *testing.T) {
	for _, name := range []string{"config", "config-with-instances", "config-greek", "config-features"} {
		t.Run(name, func(t *testing.T) {
			var c *Config21
			if name == "config-features" {
				c = readTestPickle(t, filepath.Join("testdata", name+".pck"))
			} else {
				c = pickle21(t, name)
			}
			ref := readReference21(t, name)
			ctx := context.Background()
			st, err := store.Open(ctx, "", t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			a, _ := store.ParseListAddress("test@example.com")
			if _, err := Import21(ctx, st, a, c, Options21{TemplateDir: t.TempDir(), Create: create(st)}); err != nil {
				t.Fatal(err)
			}
			checkSettings21(t, st, name, ref)
			checkMembers21(t, st, a, ref)
			checkRest21(t, st, ref)
		})
	}
}

// create makes a list in st, as mailmanctl does but for the MTA's maps.
func create(st *store.Store) func(context.Context, store.NewList) (*store.List, error) {
	return func(ctx context.Context, n store.NewList) (*store.List, error) { return st.CreateList(ctx, n) }
}

func readTestPickle(t *testing.T, path string) *Config21 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ReadConfig21(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkSettings21(t *testing.T, st *store.Store, name string, ref reference21) {
	t.Helper()
	ours, err := st.ListConfig(context.Background(), "test.example.com")
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, k := range sortedKeys(ref.Settings) {
		o, ok := ours[k]
		if !ok || differs21[""][k] != "" || differs21[name][k] != "" {
			continue
		}
		compared++
		if got, want := jsonOf(t, o), jsonOf(t, ref.Settings[k]); got != want {
			t.Errorf("%s: %s, Mailman 3.3.8 %s", k, got, want)
		}
	}
	if compared < 70 {
		t.Errorf("only %d settings compared", compared)
	}
}

// jsonOf is v as JSON after a round trip, so that 30 and 30.0 compare
// equal.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(x)
	return string(b)
}

// checkMembers21 compares each membership: its address as written, and
// for members their delivery, moderation and preferences, for nonmembers
// their moderation. (Mailman also gives owners and nonmembers whose
// address a member shares the member's preferences, which nothing reads.)
func checkMembers21(t *testing.T, st *store.Store, a store.ListAddress, ref reference21) {
	t.Helper()
	ctx := context.Background()
	defaultAction := ""
	if l, err := st.List(ctx, a); err == nil {
		defaultAction = l.DefaultMemberAction
	}
	var want, got []string
	for _, m := range ref.Members {
		// This core keeps an address's domain in lower case.
		address := m["address"].(string)
		if i := strings.LastIndexByte(address, '@'); i >= 0 {
			address = address[:i] + strings.ToLower(address[i:])
		}
		line := fmt.Sprintf("%s %s", m["role"], address)
		orDefault := func(k string) any {
			if m[k] == nil {
				return store.SystemPreferences[k]
			}
			return m[k]
		}
		switch m["role"] {
		case "member":
			action := m["moderation_action"]
			if action == nil {
				action = defaultAction
			}
			line += fmt.Sprintf(" name=%q mode=%v status=%v action=%v lang=%v ack=%v hide=%v own=%v copy=%v", m["display_name"],
				orDefault("delivery_mode"), m["delivery_status"], action, orDefault("preferred_language"),
				orDefault("acknowledge_posts"), orDefault("hide_address"), orDefault("receive_own_postings"), orDefault("receive_list_copy"))
		case "nonmember":
			line += fmt.Sprintf(" action=%v", m["moderation_action"])
		}
		want = append(want, line)
	}
	for _, role := range []store.Role{store.Regular, store.Moderator, store.Nonmember, store.Owner} {
		ms, err := st.Members(ctx, a, role)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			line := fmt.Sprintf("%s %s", role, m.Address)
			switch role {
			case store.Regular:
				p, err := st.EffectivePreferences(ctx, &m)
				if err != nil {
					t.Fatal(err)
				}
				action := m.ModerationAction
				if action == "" {
					action = defaultAction
				}
				line += fmt.Sprintf(" name=%q mode=%v status=%v action=%v lang=%v ack=%v hide=%v own=%v copy=%v", m.DisplayName,
					m.DeliveryMode, m.DeliveryStatus, action, p["preferred_language"],
					p["acknowledge_posts"], p["hide_address"], m.ReceiveOwnPostings, m.ReceiveListCopy)
			case store.Nonmember:
				line += fmt.Sprintf(" action=%v", m.ModerationAction)
			}
			got = append(got, line)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("memberships:\n%s\nMailman 3.3.8's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// checkRest21 compares the bans, the header matches and the templates.
func checkRest21(t *testing.T, st *store.Store, ref reference21) {
	t.Helper()
	ctx := context.Background()
	bans, err := st.Bans(ctx, "test.example.com")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(bans)
	if !slices.Equal(bans, ref.Bans) && len(bans)+len(ref.Bans) > 0 {
		t.Errorf("bans %q, Mailman 3.3.8 %q", bans, ref.Bans)
	}
	hms, err := st.HeaderMatches(ctx, "test.example.com")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]string
	for _, h := range hms {
		got = append(got, map[string]string{"header": h.Header, "pattern": h.Pattern, "action": h.Action})
	}
	if jsonOf(t, got) != jsonOf(t, ref.HeaderMatches) && len(got)+len(ref.HeaderMatches) > 0 {
		t.Errorf("header matches %s, Mailman 3.3.8 %s", jsonOf(t, got), jsonOf(t, ref.HeaderMatches))
	}
	ts, err := st.Templates(ctx, store.ListTemplates("test.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{}
	for _, tm := range ts {
		b, err := os.ReadFile(strings.TrimPrefix(tm.URI, "file://"))
		if err != nil {
			t.Fatal(err)
		}
		texts[tm.Name] = string(b)
	}
	if jsonOf(t, texts) != jsonOf(t, ref.Templates) {
		t.Errorf("templates %s, Mailman 3.3.8 %s", jsonOf(t, texts), jsonOf(t, ref.Templates))
	}
}

// Where this import does better than Mailman 3.3.8's, and what its
// report says it left.
func TestImport21Differences(t *testing.T) {
	ctx := context.Background()
	a, _ := store.ParseListAddress("test@example.com")
	for _, tc := range []struct {
		name     string
		setting  string
		want     string
		dropped  []string // report keys
		skipped  []string
		patterns map[string]int
	}{
		{"config-greek", "info", `"Αυτή είναι μια λίστα."`, []string{"mod_password"}, nil, nil},
		{"config-features", "digest_size_threshold", `50`, []string{"mod_password", "header_filter_rules"},
			[]string{"banned@example.org"}, map[string]int{"accept_these_nonmembers": 2, "discard_these_nonmembers": 1}},
		{"config-features", "accept_these_nonmembers", `["^.*@trusted\\.example$","@other@example.com"]`, nil, nil, nil},
	} {
		t.Run(tc.name+"/"+tc.setting, func(t *testing.T) {
			var c *Config21
			if tc.name == "config-features" {
				c = readTestPickle(t, filepath.Join("testdata", tc.name+".pck"))
			} else {
				c = pickle21(t, tc.name)
			}
			st, err := store.Open(ctx, "", t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			r, err := Import21(ctx, st, a, c, Options21{TemplateDir: t.TempDir(), Create: create(st)})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := st.ListConfig(ctx, "test.example.com")
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonOf(t, cfg[tc.setting]); got != tc.want {
				t.Errorf("%s = %s, want %s", tc.setting, got, tc.want)
			}
			keys := func(ds []Dropped) []string {
				var out []string
				for _, d := range ds {
					if d.Why == "" {
						t.Errorf("%s dropped without a reason", d.Key)
					}
					out = append(out, d.Key)
				}
				return out
			}
			for _, k := range tc.dropped {
				if !slices.Contains(keys(r.Dropped), k) {
					t.Errorf("the report does not say %s was dropped: %v", k, r.Dropped)
				}
			}
			for _, k := range tc.skipped {
				if !slices.Contains(keys(r.Skipped), k) {
					t.Errorf("the report does not say %s was skipped: %v", k, r.Skipped)
				}
			}
			for k, n := range tc.patterns {
				if r.Patterns[k] != n {
					t.Errorf("%s: %d patterns, want %d", k, r.Patterns[k], n)
				}
			}
		})
	}
}

// TestImport21Again: a second import of the same file adds nothing, a
// dry run writes nothing, and with no list and no Create there is an
// error.
func TestImport21Again(t *testing.T) {
	ctx := context.Background()
	a, _ := store.ParseListAddress("test@example.com")
	c := readTestPickle(t, filepath.Join("testdata", "config-features.pck"))
	st, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	dry, err := Import21(ctx, st, a, c, Options21{DryRun: true, TemplateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.List(ctx, a); !errors.Is(err, store.ErrNoSuchList) {
		t.Fatalf("a dry run made the list: %v", err)
	}
	if _, err := Import21(ctx, st, a, c, Options21{TemplateDir: t.TempDir()}); !errors.Is(err, store.ErrNoSuchList) {
		t.Fatalf("no list and no way to make one: %v", err)
	}
	dir := t.TempDir()
	first, err := Import21(ctx, st, a, c, Options21{TemplateDir: dir, Create: create(st)})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || jsonOf(t, dry.Members) != jsonOf(t, first.Members) {
		t.Errorf("the dry run said %v members, the import added %v", dry.Members, first.Members)
	}
	count := func() string {
		var parts []string
		for _, role := range store.Roles {
			ms, err := st.Members(ctx, a, role)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, fmt.Sprintf("%s=%d", role, len(ms)))
		}
		bans, _ := st.Bans(ctx, "test.example.com")
		hms, _ := st.HeaderMatches(ctx, "test.example.com")
		cfg, _ := st.ListConfig(ctx, "test.example.com")
		return fmt.Sprintf("%s bans=%d headers=%d aliases=%v", strings.Join(parts, " "), len(bans), len(hms), cfg["acceptable_aliases"])
	}
	before := count()
	second, err := Import21(ctx, st, a, c, Options21{TemplateDir: dir, Create: create(st)})
	if err != nil {
		t.Fatal(err)
	}
	if after := count(); after != before {
		t.Errorf("a second import changed the list:\n%s\nwas\n%s", after, before)
	}
	for role, n := range second.Members {
		if n != 0 {
			t.Errorf("the second import added %d %ss", n, role)
		}
	}
	if second.Created || second.Existing["member"] != first.Members["member"] {
		t.Errorf("second import: created %v, %v existing, want the %d members the first added", second.Created, second.Existing, first.Members["member"])
	}
}

// Files that are no 2.1 configuration get an error, not a panic.
func TestReadConfig21Refuses(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "config-features.pck"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, data string }{
		{"empty", ""},
		{"cut short", string(good[:len(good)/2])},
		{"a list, not a dict", "(lp0\nI1\na."},
		{"a dict without real_name", "(dp0\nS'x'\np1\nI1\ns."},
		{"protocol 4", "\x80\x04K\x01."},
		{"text", "From: someone\n\nnot a pickle\n"},
		{"a bad escape", "(dp0\nS'real_name'\np1\nS'\\x4'\np2\ns."},
	} {
		if _, err := ReadConfig21(strings.NewReader(tc.data)); !errors.Is(err, ErrNotConfig21) {
			t.Errorf("%s: %v, want ErrNotConfig21", tc.name, err)
		}
	}
}

// FuzzReadConfig21: any bytes as a config.pck. It must not panic, and
// what it reads must be usable by the import's accessors.
func FuzzReadConfig21(f *testing.F) {
	// Small seeds: the fuzzer makes little headway from a whole
	// config.pck of some kilobytes.
	for _, p := range []string{"small-protocol0.pck", "small-protocol2.pck", "small-protocol4.pck", "types-protocol5.pck"} {
		b, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("(dp0\nS'real_name'\np1\nS'T\\xe9st'\np2\ns."))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ReadConfig21(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		r := &Report21{Settings: map[string]string{}, Patterns: map[string]int{}}
		a, _ := store.ParseListAddress("test@example.com")
		r.settings(c, a)
		r.rosters(c, "defer")
		r.headerMatches(c)
		r.texts(c, a)
	})
}

// TestReadPickleProtocols: the same configuration pickled with protocol
// 0 (text: escapes, \\u in unicode), 2 (binary) and 3 to 5 (Python 3's:
// frames, memoize, short unicode) reads the same, and as Python wrote it; and Python 2's protocol 0 str, with its escapes, is
// read in the list's charset.
func TestReadPickleProtocols(t *testing.T) {
	var seen []string
	for _, name := range []string{"small-protocol0.pck", "small-protocol2.pck", "small-protocol3.pck", "small-protocol4.pck", "small-protocol5.pck"} {
		c := readTestPickle(t, filepath.Join("testdata", name))
		r := &Report21{Settings: map[string]string{}, Patterns: map[string]int{}}
		hms := r.headerMatches(c)
		rosters, patterns := r.rosters(c, "defer")
		name, _ := c.String("real_name")
		footer, _ := c.String("msg_footer")
		got := fmt.Sprintf("%s|%s|%v|%v|%v", name, footer, hms, rosters, patterns)
		seen = append(seen, got)
		if name != "Tést" || len(hms) != 2 || hms[1].Header != "subject" || patterns["accept_these_nonmembers"][0] != `^.*@x\.example$` {
			t.Errorf("%s read as %s", name, got)
		}
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] != seen[0] {
			t.Errorf("protocol %d reads otherwise than protocol 0:\n%s\n%s", []int{0, 2, 3, 4, 5}[i], seen[i], seen[0])
		}
	}
	// A Python 2 str in a Latin-1 list, as protocol 0 writes it.
	py2 := "(dp0\nS'real_name'\np1\nS'Caf\\xe9 \\'noir\\''\np2\nsS'preferred_language'\np3\nS'fr'\np4\ns."
	c, err := ReadConfig21(strings.NewReader(py2))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.String("real_name"); got != "Café 'noir'" || c.Charset() != "iso-8859-1" {
		t.Errorf("real_name %q in %s, want Café 'noir' in iso-8859-1", got, c.Charset())
	}
}

// Python 3's types, pickled with protocol 2 (bytes as _codecs.encode, a
// set as a call of set) and 5 (bytes, sets and classes of their own
// opcodes), read alike: bytes as bytes, sets as lists, an instance as its
// class's name; nothing is run.
func TestReadPickleTypes(t *testing.T) {
	var got []string
	for _, name := range []string{"types-protocol2.pck", "types-protocol5.pck"} {
		f, err := os.Open(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		v, err := readPickle(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m := v.(map[string]any)
		set := m["set"].([]any)
		slices.SortFunc(set, func(a, b any) int { return a.(int) - b.(int) })
		got = append(got, fmt.Sprintf("%q %v %v %v %s %v %v", m["raw"], set, m["frozen"], m["real_name"], m["delta"].(*object).Class, m["big"], m["neg"]))
	}
	want := `"\x00\xffbytes" [1 2] [a] x datetime.timedelta 1099511627776 -5`
	for i, g := range got {
		if g != want {
			t.Errorf("protocol %d: %s, want %s", []int{2, 5}[i], g, want)
		}
	}
}
