package migrate

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
)

// Config21 is a Mailman 2.1 list's configuration as its config.pck
// (or config.db) holds it.
type Config21 struct {
	values  map[string]any
	charset string
	decoder *encoding.Decoder
}

// charsets21 are the charsets Mailman 2.1 gives its languages
// (Defaults.py's add_language), in which a list's byte strings are
// written.
var charsets21 = map[string]string{
	"ar": "utf-8", "ast": "iso-8859-1", "ca": "utf-8", "cs": "iso-8859-2", "da": "iso-8859-1", "de": "iso-8859-1",
	"el": "iso-8859-7", "en": "us-ascii", "eo": "iso-8859-3", "es": "iso-8859-1", "et": "iso-8859-15", "eu": "iso-8859-15",
	"fa": "utf-8", "fi": "iso-8859-1", "fr": "iso-8859-1", "gl": "utf-8", "he": "utf-8", "hr": "iso-8859-2",
	"hu": "iso-8859-2", "ia": "iso-8859-15", "it": "iso-8859-1", "ja": "euc-jp", "ko": "euc-kr", "lt": "iso-8859-13",
	"nl": "iso-8859-1", "no": "iso-8859-1", "pl": "iso-8859-2", "pt": "iso-8859-1", "pt_BR": "iso-8859-1",
	"ro": "utf-8", "ru": "koi8-r", "sk": "utf-8", "sl": "iso-8859-2", "sr": "utf-8", "sv": "iso-8859-1",
	"tr": "iso-8859-9", "uk": "utf-8", "vi": "utf-8", "zh_CN": "utf-8", "zh_TW": "utf-8",
}

// ErrNotConfig21 is a file that is no Mailman 2.1 list configuration.
var ErrNotConfig21 = errors.New("not a Mailman 2.1 list configuration")

// ReadConfig21 reads a list's config.pck. Its strings are decoded in the
// charset of the list's preferred language, as Mailman 2.1 wrote them;
// a string that is already UTF-8 (a Python unicode, or ASCII) is kept.
func ReadConfig21(r io.Reader) (*Config21, error) {
	v, err := readPickle(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotConfig21, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: a pickled %T, not a dict", ErrNotConfig21, v)
	}
	if _, ok := m["real_name"]; !ok {
		return nil, fmt.Errorf("%w: it has no real_name", ErrNotConfig21)
	}
	c := &Config21{values: m, charset: "us-ascii"}
	if lang, ok := m["preferred_language"].(pyStr); ok {
		if cs, ok := charsets21[string(lang)]; ok {
			c.charset = cs
		}
	}
	if e, err := htmlindex.Get(c.charset); err == nil && c.charset != "us-ascii" && c.charset != "utf-8" {
		c.decoder = e.NewDecoder()
	}
	return c, nil
}

// Charset is the charset the list's strings were read in.
func (c *Config21) Charset() string { return c.charset }

// Keys are the configuration's keys, sorted.
func (c *Config21) Keys() []string {
	keys := make([]string, 0, len(c.values))
	for k := range c.values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Has reports whether the configuration sets key.
func (c *Config21) Has(key string) bool {
	_, ok := c.values[key]
	return ok
}

// text decodes one of the list's strings.
func (c *Config21) text(s string) string {
	if utf8.ValidString(s) || c.decoder == nil {
		if !utf8.ValidString(s) {
			return strings.ToValidUTF8(s, "\uFFFD")
		}
		return s
	}
	out, err := c.decoder.String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}

// String is key's value as text, and whether it is a string.
func (c *Config21) String(key string) (string, bool) {
	return c.str(c.values[key])
}

// str is v as text: a str decoded, a unicode as it is.
func (c *Config21) str(v any) (string, bool) {
	switch x := v.(type) {
	case pyStr:
		return c.text(string(x)), true
	case string:
		return x, true
	}
	return "", false
}

// Int is key's value as a number (a bool is 0 or 1), and whether it is
// one.
func (c *Config21) Int(key string) (int, bool) {
	return asInt(c.values[key])
}

func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case float64:
		return int(x), true
	}
	return 0, false
}

// Float is key's value as a number.
func (c *Config21) Float(key string) (float64, bool) {
	switch x := c.values[key].(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// Strings is key's value as a list of texts: a list's strings, or a
// string's lines.
func (c *Config21) Strings(key string) []string {
	switch x := c.values[key].(type) {
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := c.str(e); ok {
				out = append(out, s)
			}
		}
		return out
	case pyStr, string:
		text, _ := c.str(x)
		var out []string
		for _, l := range strings.Split(text, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	return nil
}

// Dict is key's value as a dict by its keys, texts decoded.
func (c *Config21) Dict(key string) map[string]any {
	m, _ := c.values[key].(map[string]any)
	out := make(map[string]any, len(m))
	for k, v := range m {
		if s, ok := c.str(v); ok {
			v = s
		}
		out[c.text(k)] = v
	}
	return out
}

// raw is key's value as the pickle had it.
func (c *Config21) raw(key string) any { return c.values[key] }
