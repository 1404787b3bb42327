package config

import (
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// keyLines maps every key a TOML document defines, spelled by toml.Key.String,
// to the line that first mentions it. The decoder keeps key positions to
// itself, and the problems found after decoding still need a line.
//
// The document has already parsed, so the scanner only tells keys from
// values, never judges either; on anything it does not follow it skips a
// line, leaving some keys without one rather than failing.
func keyLines(text string) map[string]int {
	s := &scanner{text: text, line: 1, lines: map[string]int{}}
	var table toml.Key
	for !s.eof() {
		s.blank()
		switch s.peek() {
		case '\n', '\r':
			s.next()
		case '#':
			s.skipLine()
		case '[':
			s.next()
			if s.peek() == '[' {
				s.next()
			}
			table = s.key()
			s.define(table)
			s.skipLine()
		default:
			start := s.pos
			s.keyValue(table, true)
			if s.pos == start {
				s.skipLine()
			}
		}
	}
	return s.lines
}

type scanner struct {
	text  string
	pos   int
	line  int
	lines map[string]int
}

func (s *scanner) eof() bool { return s.pos >= len(s.text) }

func (s *scanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.text[s.pos]
}

func (s *scanner) next() {
	if s.eof() {
		return
	}
	if s.text[s.pos] == '\n' {
		s.line++
	}
	s.pos++
}

// blank skips spaces and tabs.
func (s *scanner) blank() {
	for s.peek() == ' ' || s.peek() == '\t' {
		s.next()
	}
}

// gap skips what may separate the parts of an array or inline table: blanks,
// newlines and comments.
func (s *scanner) gap() {
	for {
		switch s.peek() {
		case ' ', '\t', '\r', '\n':
			s.next()
		case '#':
			s.skipLine()
		default:
			return
		}
	}
}

func (s *scanner) skipLine() {
	for !s.eof() && s.peek() != '\n' {
		s.next()
	}
	s.next()
}

// define records the line of key and of each table it implies.
func (s *scanner) define(key toml.Key) {
	for n := 1; n <= len(key); n++ {
		k := key[:n].String()
		if _, ok := s.lines[k]; !ok {
			s.lines[k] = s.line
		}
	}
}

// keyValue reads "key = value" inside table. record is false within arrays,
// whose tables' keys have no path of their own.
func (s *scanner) keyValue(table toml.Key, record bool) {
	k := s.key()
	if k == nil {
		return
	}
	full := append(slices.Clip(table), k...)
	if record {
		s.define(full)
	}
	s.blank()
	if s.peek() != '=' {
		return
	}
	s.next()
	s.blank()
	s.value(full, record)
}

// key reads a dotted key, or returns nil if there is none here.
func (s *scanner) key() toml.Key {
	var k toml.Key
	for {
		s.blank()
		part, ok := s.keyPart()
		if !ok {
			return nil
		}
		k = append(k, part)
		s.blank()
		if s.peek() != '.' {
			return k
		}
		s.next()
	}
}

func (s *scanner) keyPart() (string, bool) {
	start := s.pos
	switch s.peek() {
	case '"':
		s.basic()
		quoted := s.text[start:s.pos]
		if part, err := strconv.Unquote(quoted); err == nil {
			return part, true
		}
		// An escape Go lacks, such as TOML's \e: near enough to find no line.
		return strings.Trim(quoted, `"`), true
	case '\'':
		s.literal()
		return strings.Trim(s.text[start:s.pos], "'"), true
	}
	for c := s.peek(); c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'; c = s.peek() {
		s.next()
	}
	return s.text[start:s.pos], s.pos > start
}

// value skips the value of key, recording the keys of inline tables.
func (s *scanner) value(key toml.Key, record bool) {
	rest := s.text[s.pos:]
	switch {
	case strings.HasPrefix(rest, `"""`), strings.HasPrefix(rest, `'''`):
		s.multiline(rest[:3])
	case s.peek() == '"':
		s.basic()
	case s.peek() == '\'':
		s.literal()
	case s.peek() == '[':
		s.next()
		s.items(']', func() { s.value(nil, false) })
	case s.peek() == '{':
		s.next()
		s.items('}', func() { s.keyValue(key, record) })
	default:
		for !s.eof() && !strings.ContainsRune(",]}#\r\n", rune(s.peek())) {
			s.next()
		}
	}
}

// items skips comma-separated items up to and including end.
func (s *scanner) items(end byte, item func()) {
	for {
		s.gap()
		if s.eof() || s.peek() == end {
			s.next()
			return
		}
		start := s.pos
		item()
		s.gap()
		if s.peek() == ',' {
			s.next()
		}
		if s.pos == start {
			s.next()
		}
	}
}

// basic skips a "string", escapes included.
func (s *scanner) basic() {
	s.next()
	for !s.eof() && s.peek() != '\n' {
		c := s.peek()
		s.next()
		switch c {
		case '\\':
			s.next()
		case '"':
			return
		}
	}
}

// literal skips a 'string', which has no escapes.
func (s *scanner) literal() {
	s.next()
	for !s.eof() && s.peek() != '\n' {
		c := s.peek()
		s.next()
		if c == '\'' {
			return
		}
	}
}

// multiline skips a string opened by delim, three quotes of either kind,
// across lines.
func (s *scanner) multiline(delim string) {
	s.pos += len(delim)
	for !s.eof() {
		if strings.HasPrefix(s.text[s.pos:], delim) {
			s.pos += len(delim)
			// Up to two quotes right before the delimiter belong to the
			// string, so the delimiter is the last three.
			for range 2 {
				if s.peek() == delim[0] {
					s.next()
				}
			}
			return
		}
		if delim == `"""` && s.peek() == '\\' {
			s.next()
		}
		s.next()
	}
}
