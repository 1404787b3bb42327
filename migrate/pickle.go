package migrate

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A pickle (protocols 0 to 2, as Mailman 2.1 writes config.pck; 3 to 5,
// as Python 3 writes them, for Mailman 3's pickled columns) is decoded
// here into Go values: nil, bool, int, float64, bytes (a
// Python str, its bytes as they are: in the list's charset), string (a
// Python unicode), []any (a list or a tuple), map[string]any (a dict) and
// *object (an instance: its class's name and its state; no class is
// run). gopickle, tried first, keeps a protocol 0 string's escapes
// (\xc1) undecoded and cannot tell a str from a unicode, which decide
// how the list's text is read.

// pyStr is a Python 2 str.
type pyStr string

// pyBytes is a Python 3 bytes or bytearray.
type pyBytes []byte

// object is an instance a pickle holds: its class and the state it was
// given (its __dict__).
type object struct {
	Class string
	State map[string]any
}

// pyList and pyDict are built in place as the pickle runs: a reference
// to one (the memo) sees what is added later.
type (
	pyList struct{ items []any }
	pyDict struct {
		keys   []any
		values []any
	}
	pyClass struct{ name string }
	pyInst  struct {
		class string
		state any
	}
	mark struct{}
)

// maxPickle bounds what one pickle may make: a config.pck is some
// kilobytes per member, and a file made to exhaust memory must fail.
const (
	maxDepth    = 64
	maxStack    = 1 << 22
	maxStringSz = 64 << 20
	// valuesPerByte bounds the values made for the bytes read: each value
	// takes at least one opcode, but one the memo shares is copied for
	// each reference, and a pickle whose lists hold each other twice over
	// would double them at each level.
	valuesPerByte = 2
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

var errPickle = errors.New("not a pickle this reader takes")

// readPickle decodes one pickle from r.
func readPickle(r io.Reader) (any, error) {
	counted := &countingReader{r: r}
	br := bufio.NewReader(counted)
	var stack []any
	memo := map[int]any{}
	pop := func() (any, error) {
		if len(stack) == 0 {
			return nil, fmt.Errorf("%w: stack empty", errPickle)
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v, nil
	}
	// top is the value on top of the stack, which op works on.
	top := func(op string) (any, error) {
		if len(stack) == 0 {
			return nil, fmt.Errorf("%w: %s of nothing", errPickle, op)
		}
		return stack[len(stack)-1], nil
	}
	popMark := func() ([]any, error) {
		for i := len(stack) - 1; i >= 0; i-- {
			if _, ok := stack[i].(mark); ok {
				items := append([]any(nil), stack[i+1:]...)
				stack = stack[:i]
				return items, nil
			}
		}
		return nil, fmt.Errorf("%w: no mark", errPickle)
	}
	line := func() (string, error) {
		s, err := br.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("%w: %v", errPickle, err)
		}
		return strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r"), nil
	}
	read := func(n int) ([]byte, error) {
		if n < 0 || n > maxStringSz {
			return nil, fmt.Errorf("%w: a length of %d", errPickle, n)
		}
		// Read, not allocated up front: a length is only a claim.
		b, err := io.ReadAll(io.LimitReader(br, int64(n)))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errPickle, err)
		}
		if len(b) < n {
			return nil, fmt.Errorf("%w: %d bytes where %d were announced", errPickle, len(b), n)
		}
		return b, nil
	}
	uint := func(n int) (int, error) {
		b, err := read(n)
		if err != nil {
			return 0, err
		}
		var v uint64
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return int(v), nil
	}
	// sized reads a length of size bytes and as many bytes.
	sized := func(size int) ([]byte, error) {
		n, err := uint(size)
		if err != nil {
			return nil, err
		}
		return read(n)
	}
	// memoIndex reads the memo index of PUT or GET: a line of text, one
	// byte or four.
	memoIndex := func(op byte) (int, error) {
		switch op {
		case 'p', 'g':
			s, err := line()
			if err != nil {
				return 0, err
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				return 0, fmt.Errorf("%w: memo index %q", errPickle, s)
			}
			return n, nil
		case 'q', 'h':
			return uint(1)
		}
		return uint(4)
	}
	for {
		if len(stack) > maxStack {
			return nil, fmt.Errorf("%w: too many values", errPickle)
		}
		op, err := br.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%w: no STOP: %v", errPickle, err)
		}
		switch op {
		case 0x80: // PROTO
			p, err := br.ReadByte()
			if err != nil || p > 5 {
				return nil, fmt.Errorf("%w: protocol %d (this reader takes 0 to 5)", errPickle, p)
			}
		case 0x95: // FRAME: its length, and its opcodes inline
			if _, err := uint(8); err != nil {
				return nil, err
			}
		case 0x94: // MEMOIZE
			v, err := top("MEMOIZE")
			if err != nil {
				return nil, err
			}
			memo[len(memo)] = v
		case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
			b, err := sized(map[byte]int{'B': 4, 'C': 1, 0x8e: 8, 0x96: 8}[op])
			if err != nil {
				return nil, err
			}
			stack = append(stack, pyBytes(b))
		case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
			b, err := sized(map[byte]int{'X': 4, 0x8c: 1, 0x8d: 8}[op])
			if err != nil {
				return nil, err
			}
			stack = append(stack, strings.ToValidUTF8(string(b), "\uFFFD"))
		case 0x8f: // EMPTY_SET, filled by ADDITEMS as a list by APPENDS
			stack = append(stack, &pyList{})
		case 0x91: // FROZENSET
			items, err := popMark()
			if err != nil {
				return nil, err
			}
			stack = append(stack, items)
		case 0x93: // STACK_GLOBAL
			name, err := pop()
			if err != nil {
				return nil, err
			}
			module, err := pop()
			if err != nil {
				return nil, err
			}
			m, okM := module.(string)
			n, okN := name.(string)
			if !okM || !okN {
				return nil, fmt.Errorf("%w: STACK_GLOBAL of a %T and a %T", errPickle, module, name)
			}
			stack = append(stack, &pyClass{m + "." + n})
		case 0x92: // NEWOBJ_EX: a class, its arguments and keyword arguments
			if len(stack) < 3 {
				return nil, fmt.Errorf("%w: NEWOBJ_EX of too little", errPickle)
			}
			class := className(stack[len(stack)-3])
			stack = append(stack[:len(stack)-3], &pyInst{class: class})
		case '.': // STOP
			v, err := pop()
			if err != nil {
				return nil, err
			}
			budget := valuesPerByte*counted.n + 1024
			return plain(v, 0, &budget)
		case '(':
			stack = append(stack, mark{})
		case '0':
			if _, err := pop(); err != nil {
				return nil, err
			}
		case '1':
			if _, err := popMark(); err != nil {
				return nil, err
			}
		case '2':
			v, err := top("DUP")
			if err != nil {
				return nil, err
			}
			stack = append(stack, v)
		case 'N':
			stack = append(stack, nil)
		case 0x88:
			stack = append(stack, true)
		case 0x89:
			stack = append(stack, false)
		case 'I':
			s, err := line()
			if err != nil {
				return nil, err
			}
			switch s {
			case "00":
				stack = append(stack, false)
			case "01":
				stack = append(stack, true)
			default:
				n, err := strconv.Atoi(s)
				if err != nil {
					return nil, fmt.Errorf("%w: INT %q", errPickle, s)
				}
				stack = append(stack, n)
			}
		case 'L':
			s, err := line()
			if err != nil {
				return nil, err
			}
			n, err := strconv.ParseInt(strings.TrimSuffix(s, "L"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: LONG %q", errPickle, s)
			}
			stack = append(stack, int(n))
		case 'J':
			n, err := uint(4)
			if err != nil {
				return nil, err
			}
			stack = append(stack, int(int32(uint32(n))))
		case 'K':
			n, err := uint(1)
			if err != nil {
				return nil, err
			}
			stack = append(stack, n)
		case 'M':
			n, err := uint(2)
			if err != nil {
				return nil, err
			}
			stack = append(stack, n)
		case 0x8a, 0x8b: // LONG1, LONG4
			b, err := sized(map[byte]int{0x8a: 1, 0x8b: 4}[op])
			if err != nil {
				return nil, err
			}
			v, err := longLE(b)
			if err != nil {
				return nil, err
			}
			stack = append(stack, v)
		case 'F':
			s, err := line()
			if err != nil {
				return nil, err
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: FLOAT %q", errPickle, s)
			}
			stack = append(stack, f)
		case 'G':
			b, err := read(8)
			if err != nil {
				return nil, err
			}
			stack = append(stack, math.Float64frombits(binary.BigEndian.Uint64(b)))
		case 'S':
			s, err := line()
			if err != nil {
				return nil, err
			}
			v, err := unquote(s)
			if err != nil {
				return nil, err
			}
			stack = append(stack, pyStr(v))
		case 'T', 'U':
			b, err := sized(map[byte]int{'T': 4, 'U': 1}[op])
			if err != nil {
				return nil, err
			}
			stack = append(stack, pyStr(b))
		case 'V':
			s, err := line()
			if err != nil {
				return nil, err
			}
			stack = append(stack, rawUnicode(s))
		case ']':
			stack = append(stack, &pyList{})
		case 'l':
			items, err := popMark()
			if err != nil {
				return nil, err
			}
			stack = append(stack, &pyList{items: items})
		case 'a', 'e', 0x90: // APPEND, APPENDS, ADDITEMS
			var items []any
			if op == 'a' {
				v, err := pop()
				if err != nil {
					return nil, err
				}
				items = []any{v}
			} else if items, err = popMark(); err != nil {
				return nil, err
			}
			v, err := top("APPEND")
			if err != nil {
				return nil, err
			}
			l, ok := v.(*pyList)
			if !ok {
				return nil, fmt.Errorf("%w: APPEND to a %T", errPickle, v)
			}
			l.items = append(l.items, items...)
		case ')':
			stack = append(stack, []any{})
		case 't':
			items, err := popMark()
			if err != nil {
				return nil, err
			}
			stack = append(stack, items)
		case 0x85, 0x86, 0x87:
			n := int(op-0x85) + 1
			if len(stack) < n {
				return nil, fmt.Errorf("%w: TUPLE%d of too little", errPickle, n)
			}
			t := append([]any(nil), stack[len(stack)-n:]...)
			stack = append(stack[:len(stack)-n], t)
		case '}':
			stack = append(stack, &pyDict{})
		case 'd':
			items, err := popMark()
			if err != nil {
				return nil, err
			}
			d := &pyDict{}
			if err := d.set(items); err != nil {
				return nil, err
			}
			stack = append(stack, d)
		case 's', 'u':
			var items []any
			if op == 's' {
				if len(stack) < 2 {
					return nil, fmt.Errorf("%w: SETITEM of too little", errPickle)
				}
				items = append([]any(nil), stack[len(stack)-2:]...)
				stack = stack[:len(stack)-2]
			} else if items, err = popMark(); err != nil {
				return nil, err
			}
			v, err := top("SETITEM")
			if err != nil {
				return nil, err
			}
			d, ok := v.(*pyDict)
			if !ok {
				return nil, fmt.Errorf("%w: SETITEM on a %T", errPickle, v)
			}
			if err := d.set(items); err != nil {
				return nil, err
			}
		case 'p', 'q', 'r':
			n, err := memoIndex(op)
			if err != nil {
				return nil, err
			}
			v, err := top("PUT")
			if err != nil {
				return nil, err
			}
			memo[n] = v
		case 'g', 'h', 'j':
			n, err := memoIndex(op)
			if err != nil {
				return nil, err
			}
			v, ok := memo[n]
			if !ok {
				return nil, fmt.Errorf("%w: GET %d of nothing", errPickle, n)
			}
			stack = append(stack, v)
		case 'c':
			module, err := line()
			if err != nil {
				return nil, err
			}
			name, err := line()
			if err != nil {
				return nil, err
			}
			stack = append(stack, &pyClass{module + "." + name})
		case 'i':
			module, err := line()
			if err != nil {
				return nil, err
			}
			name, err := line()
			if err != nil {
				return nil, err
			}
			if _, err := popMark(); err != nil {
				return nil, err
			}
			stack = append(stack, &pyInst{class: module + "." + name})
		case 'o':
			items, err := popMark()
			if err != nil {
				return nil, err
			}
			if len(items) == 0 {
				return nil, fmt.Errorf("%w: OBJ without a class", errPickle)
			}
			stack = append(stack, &pyInst{class: className(items[0])})
		case 'R', 0x81: // REDUCE, NEWOBJ: a class (or copy_reg._reconstructor) and its arguments
			args, err := pop()
			if err != nil {
				return nil, err
			}
			callable, err := pop()
			if err != nil {
				return nil, err
			}
			v, err := reduce(className(callable), args)
			if err != nil {
				return nil, err
			}
			stack = append(stack, v)
		case 'b':
			state, err := pop()
			if err != nil {
				return nil, err
			}
			v, err := top("BUILD")
			if err != nil {
				return nil, err
			}
			inst, ok := v.(*pyInst)
			if !ok {
				return nil, fmt.Errorf("%w: BUILD of a %T", errPickle, v)
			}
			inst.state = state
		default:
			return nil, fmt.Errorf("%w: opcode %q", errPickle, op)
		}
	}
}

// reduce is what calling class with args makes, for the few calls a
// pickle of plain data holds; any other is an instance named by its
// class, which is never run.
func reduce(class string, args any) (any, error) {
	t, _ := args.([]any)
	switch class {
	case "copy_reg._reconstructor", "copyreg._reconstructor":
		if len(t) > 0 {
			class = className(t[0])
		}
	case "_codecs.encode":
		// Python 3's bytes, pickled for protocol 2: its text in Latin-1.
		if len(t) == 2 && t[1] == "latin1" {
			if s, ok := t[0].(string); ok {
				b := make([]byte, 0, len(s))
				for _, r := range s {
					if r > 0xff {
						return nil, fmt.Errorf("%w: a byte of %U", errPickle, r)
					}
					b = append(b, byte(r))
				}
				return pyBytes(b), nil
			}
		}
	case "builtins.set", "__builtin__.set", "builtins.frozenset", "__builtin__.frozenset":
		if len(t) == 1 {
			if l, ok := t[0].(*pyList); ok {
				return &pyList{items: l.items}, nil
			}
		}
		if len(t) == 0 {
			return &pyList{}, nil
		}
	}
	return &pyInst{class: class}, nil
}

func className(v any) string {
	if c, ok := v.(*pyClass); ok {
		return c.name
	}
	return fmt.Sprintf("%T", v)
}

func (d *pyDict) set(items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("%w: a dict of %d items", errPickle, len(items))
	}
	for i := 0; i < len(items); i += 2 {
		d.keys = append(d.keys, items[i])
		d.values = append(d.values, items[i+1])
	}
	return nil
}

// longLE is a little-endian two's complement integer (LONG1, LONG4).
func longLE(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	n := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if !n.IsInt64() {
		return 0, fmt.Errorf("%w: an integer of %d bytes", errPickle, len(b))
	}
	return int(n.Int64()), nil
}

// unquote reads a protocol 0 STRING: Python 2's repr of a str, in single
// or double quotes, with its backslash escapes.
func unquote(s string) (string, error) {
	if len(s) < 2 || s[0] != s[len(s)-1] || s[0] != '\'' && s[0] != '"' {
		return "", fmt.Errorf("%w: STRING %.40q is not quoted", errPickle, s)
	}
	s = s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'x':
			if i+3 > len(s) {
				return "", fmt.Errorf("%w: a \\x escape cut short", errPickle)
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("%w: \\x%s", errPickle, s[i+1:i+3])
			}
			b.WriteByte(byte(n))
			i += 2
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			n, _ := strconv.ParseUint(s[i:j], 8, 16)
			b.WriteByte(byte(n))
			i = j - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String(), nil
}

// rawUnicode reads a protocol 0 UNICODE: raw-unicode-escape, in which
// only \uXXXX and \UXXXXXXXX are escapes and the other bytes are Latin-1.
func rawUnicode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+6 <= len(s) && s[i+1] == 'u' {
			if n, err := strconv.ParseUint(s[i+2:i+6], 16, 32); err == nil {
				b.WriteRune(rune(n))
				i += 5
				continue
			}
		}
		if s[i] == '\\' && i+10 <= len(s) && s[i+1] == 'U' {
			if n, err := strconv.ParseUint(s[i+2:i+10], 16, 32); err == nil && utf8.ValidRune(rune(n)) {
				b.WriteRune(rune(n))
				i += 9
				continue
			}
		}
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// plain turns what the pickle built into the values readPickle
// promises, dict keys as text.
func plain(v any, depth int, budget *int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: values nested deeper than %d", errPickle, maxDepth)
	}
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("%w: more values than its size allows (values shared over and over)", errPickle)
	}
	switch x := v.(type) {
	case *pyList:
		return plainSlice(x.items, depth, budget)
	case []any:
		return plainSlice(x, depth, budget)
	case *pyDict:
		out := make(map[string]any, len(x.keys))
		for i, k := range x.keys {
			key, err := plain(k, depth+1, budget)
			if err != nil {
				return nil, err
			}
			val, err := plain(x.values[i], depth+1, budget)
			if err != nil {
				return nil, err
			}
			out[keyText(key)] = val
		}
		return out, nil
	case *pyInst:
		o := &object{Class: x.class, State: map[string]any{}}
		if x.state != nil {
			s, err := plain(x.state, depth+1, budget)
			if err != nil {
				return nil, err
			}
			if m, ok := s.(map[string]any); ok {
				o.State = m
			} else {
				o.State["__state__"] = s
			}
		}
		return o, nil
	case *pyClass:
		return x.name, nil
	case mark:
		return nil, fmt.Errorf("%w: a mark left on the stack", errPickle)
	}
	return v, nil
}

func plainSlice(s []any, depth int, budget *int) ([]any, error) {
	out := make([]any, len(s))
	for i, e := range s {
		p, err := plain(e, depth+1, budget)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// keyText is a dict key as the map's key: a str's bytes as they are (the
// reader decodes them with the list's charset).
func keyText(k any) string {
	switch x := k.(type) {
	case pyStr:
		return string(x)
	case string:
		return x
	}
	return fmt.Sprint(k)
}
