package migrate

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/mailman-go/mailman/store"
)

// writePickle writes v as protocol 2 does, for the values a 2.1
// config.pck holds: dicts, lists, unicode, ints, bools and floats.
func writePickle(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		buf.WriteString("}(")
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			writePickle(buf, k)
			writePickle(buf, x[k])
		}
		buf.WriteByte('u')
	case []any:
		buf.WriteString("](")
		for _, e := range x {
			writePickle(buf, e)
		}
		buf.WriteByte('e')
	case string:
		buf.WriteByte('X')
		binary.Write(buf, binary.LittleEndian, uint32(len(x)))
		buf.WriteString(x)
	case int:
		buf.WriteByte('J')
		binary.Write(buf, binary.LittleEndian, int32(x))
	case bool:
		if x {
			buf.WriteByte(0x88)
		} else {
			buf.WriteByte(0x89)
		}
	case float64:
		buf.WriteByte('G')
		binary.Write(buf, binary.BigEndian, math.Float64bits(x))
	default:
		panic(fmt.Sprintf("writePickle: %T", v))
	}
}

// bigList21 is a 2.1 list of n members as such lists are: each with the
// options new members get (not receiving duplicates: 256), a third with a
// display name, a tenth taking digests.
func bigList21(n int) []byte {
	members, digests, options, names := map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}
	for i := range n {
		a := fmt.Sprintf("member%06d@example.net", i)
		if i%10 == 0 {
			digests[a] = 0
		} else {
			members[a] = 0
		}
		options[a] = 256
		if i%3 == 0 {
			names[a] = fmt.Sprintf("Member %d", i)
		}
	}
	var buf bytes.Buffer
	buf.WriteString("\x80\x02")
	writePickle(&buf, map[string]any{"real_name": "Big", "members": members, "digest_members": digests,
		"user_options": options, "usernames": names, "owner": []any{"owner@example.com"}})
	buf.WriteByte('.')
	return buf.Bytes()
}

// BenchmarkImport21 imports a 2.1 list of 100,000 members into a new
// SQLite site (Mailman 3.3.8's import21 takes about 9 minutes for 1,429).
func BenchmarkImport21(b *testing.B) {
	data := bigList21(100000)
	a, _ := store.ParseListAddress("big@example.com")
	for b.Loop() {
		b.StopTimer()
		ctx := context.Background()
		st, err := store.Open(ctx, "", b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c, err := ReadConfig21(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		r, err := Import21(ctx, st, a, c, Options21{TemplateDir: b.TempDir(), Create: create(st)})
		if err != nil {
			b.Fatal(err)
		}
		if r.Members["member"] != 100000 {
			b.Fatalf("%v members", r.Members)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*100000)/b.Elapsed().Seconds(), "members/s")
}
