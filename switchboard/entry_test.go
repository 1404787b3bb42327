package switchboard

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		msg  []byte
		md   Msgdata
	}{
		{"empty", nil, nil},
		{"plain", testMessage("x"), Msgdata{"listid": []byte(`"a.example.com"`), "to_list": []byte("true")}},
		{"8bit and invalid utf-8", []byte("Subject: \xa0\xff\r\n\r\n\x00\x80body\n\n\n"), Msgdata{"n": []byte("3")}},
		{"looks like a header", []byte("Mailman-Queue-Entry: 1\n\n{}\n"), Msgdata{"nested": []byte(`{"a":[1,2,{"b":null}]}`)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := Encode(c.msg, c.md)
			if err != nil {
				t.Fatal(err)
			}
			msg, md, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(msg, c.msg) {
				t.Errorf("message = %q, want %q", msg, c.msg)
			}
			if len(md) != len(c.md) {
				t.Errorf("msgdata = %v, want %v", md, c.md)
			}
			for k := range c.md {
				var a, b any
				md.Get(k, &a)
				c.md.Get(k, &b)
				if !equalJSON(a, b) {
					t.Errorf("msgdata[%s] = %s, want %s", k, md[k], c.md[k])
				}
			}
		})
	}
}

func equalJSON(a, b any) bool {
	x, _ := Encode(nil, Msgdata{"v": mustJSON(a)})
	y, _ := Encode(nil, Msgdata{"v": mustJSON(b)})
	return bytes.Equal(x, y)
}

func mustJSON(v any) []byte {
	m := Msgdata{}
	m.Set("v", v)
	return m["v"]
}

func TestDecodeRejects(t *testing.T) {
	good, _ := Encode([]byte("Subject: x\n\nbody\n"), Msgdata{"a": []byte("1")})
	cases := []struct {
		name string
		data string
		want string
	}{
		{"empty", "", "not a queue entry"},
		{"no end of header", "Mailman-Queue-Entry: 1\n", "no end of entry header"},
		{"not an entry", "From: a\n\nbody", "not a queue entry"},
		{"truncated", string(good[:len(good)-1]), "does not match the lengths"},
		{"padded", string(good) + "x", "does not match the lengths"},
		{"future version", strings.Replace(string(good), "Entry: 1", "Entry: 2", 1), "unsupported entry format version"},
		{"negative length", strings.Replace(string(good), "Message-Length: 17", "Message-Length: -1", 1), "bad Message-Length"},
		{"length with sign", strings.Replace(string(good), "Message-Length: 17", "Message-Length: +17", 1), "bad Message-Length"},
		{"missing length", "Mailman-Queue-Entry: 1\nMsgdata-Length: 2\n\n{}\n", "missing Message-Length"},
		{"extra field", "Mailman-Queue-Entry: 1\nMsgdata-Length: 2\nMessage-Length: 0\nX: y\n\n{}\n", "unknown entry header"},
		{"duplicate field", "Mailman-Queue-Entry: 1\nMsgdata-Length: 2\nMsgdata-Length: 2\nMessage-Length: 0\n\n{}\n", "given twice"},
		{"bad json", "Mailman-Queue-Entry: 1\nMsgdata-Length: 2\nMessage-Length: 0\n\n{x\n", "msgdata"},
		{"json array", "Mailman-Queue-Entry: 1\nMsgdata-Length: 2\nMessage-Length: 0\n\n[]\n", "msgdata"},
		{"json null", "Mailman-Queue-Entry: 1\nMsgdata-Length: 4\nMessage-Length: 0\n\nnull\n", "null"},
		{"json trailing", "Mailman-Queue-Entry: 1\nMsgdata-Length: 3\nMessage-Length: 0\n\n{}}\n", "msgdata"},
		{"no newline after msgdata", "Mailman-Queue-Entry: 1\nMsgdata-Length: 2\nMessage-Length: 1\n\n{}xy", "not followed by a newline"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Decode([]byte(c.data))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestMessageID(t *testing.T) {
	cases := []struct{ msg, want string }{
		{"Message-ID: <a@b>\r\n\r\n", "<a@b>"},
		{"message-id:<a@b>\n\n", "<a@b>"},
		{"Subject: x\nMessage-Id:\n <folded@b>\nTo: y\n\n", "<folded@b>"},
		{"Subject: x\n\nMessage-ID: <in-body>\n", ""},
		{"", ""},
	}
	for _, c := range cases {
		e := &Entry{Message: []byte(c.msg)}
		if got := e.MessageID(); got != c.want {
			t.Errorf("MessageID(%q) = %q, want %q", c.msg, got, c.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode(testMessage("seed"), Msgdata{"listid": []byte(`"test.example.com"`), "to_list": []byte("true")})
	f.Add(good)
	f.Add([]byte("Mailman-Queue-Entry: 1\nMsgdata-Length: 2\nMessage-Length: 0\n\n{}\n"))
	f.Add([]byte("Mailman-Queue-Entry: 1\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, md, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		// Whatever decodes must encode back to something that decodes to
		// the same entry.
		again, err := Encode(msg, md)
		if err != nil {
			t.Fatal(err)
		}
		msg2, md2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if !bytes.Equal(msg, msg2) || len(md) != len(md2) {
			t.Fatal("round trip changed the entry")
		}
	})
}
