package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDumpTablesAreEveryTable: the dump names every table of the schema,
// so that a table a migration adds is not left out of backups.
func TestDumpTablesAreEveryTable(t *testing.T) {
	s := newStore(t, sqliteBackend)
	rows, err := s.db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('schema_migrations', 'sqlite_sequence') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var schema []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		schema = append(schema, n)
	}
	var dumped []string
	for _, d := range dumpTables {
		dumped = append(dumped, d.name)
	}
	slices.Sort(dumped)
	if !slices.Equal(schema, dumped) {
		t.Errorf("dumpTables %v, the schema's %v", dumped, schema)
	}
}

// populate gives a site one of everything a dump carries.
func populate(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	l := createList(t, s, "ant@example.com", "owen@example.com")
	createList(t, s, "bee@example.org")
	addMembers(t, s, l.Address, Regular, "Anne Ö <anne@example.com>", "bob@example.com")
	addMembers(t, s, l.Address, Nonmember, "spam@example.net")
	if err := s.SetListSetting(ctx, l.Address, "info", "Ünïcode info"); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, NewUser{Email: "cris@example.com", DisplayName: "Cris", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPreferences(ctx, UserPrefs(u.UserID), map[string]string{"receive_list_copy": "false"}, false); err != nil {
		t.Fatal(err)
	}
	m, err := s.Member(ctx, l.ListID, "bob@example.com", Regular)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetMemberSettings(ctx, []MemberSettings{{MemberID: m.MemberID, Prefs: map[string]string{"delivery_mode": MIMEDigests}, ModerationAction: "hold"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Ban(ctx, l.ListID, `^.*@banned\.example$`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddHeaderMatch(ctx, l.ListID, HeaderMatch{Header: "x-spam", Pattern: "yes", Action: "discard"}, -1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTemplates(ctx, ListTemplates(l.ListID), []Template{{Name: "list:member:regular:footer", URI: "https://example.com/f", Username: "u", Password: "p"}}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Hold(ctx, &HeldMessage{ListID: l.ListID, Sender: "x@example.net", Subject: "Held", MessageID: "<h@x>", Reasons: []string{"Post by non-member"},
		Message: []byte("Subject: Held\r\n\r\n\xff\xfe binary\r\n")}, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordBounce(ctx, BounceEvent{ListID: l.ListID, Address: "anne@example.com", MessageID: "<p@x>", Reason: "550 no", Status: "5.1.1", Kind: BounceNormal}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDigestPost(ctx, l.ListID, "key-1", []byte("Subject: d\r\n\r\nd\r\n"), time.Unix(1700000000, 123456789)); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureTask(ctx, "digests", time.Unix(1700000000, 0), time.Unix(1700003600, 0)); err != nil {
		t.Fatal(err)
	}
}

// TestDumpRestore: a site dumped and restored into a new one dumps the
// same, on SQLite and, restored there, on PostgreSQL; the restored site
// works on (members counted, new rows numbered after the old); a site
// that is not new is refused, and so is a file that is no dump, leaving
// the site as it was.
func TestDumpRestore(t *testing.T) {
	ctx := context.Background()
	src := newStore(t, sqliteBackend)
	populate(t, src)
	var want bytes.Buffer
	if err := src.Dump(ctx, &want, map[string]string{"oneclick-keys": "k1 secret\n"}); err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dst := newStore(t, b)
			files, err := dst.Restore(ctx, bytes.NewReader(want.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if files["oneclick-keys"] != "k1 secret\n" {
				t.Errorf("files %v", files)
			}
			var got bytes.Buffer
			if err := dst.Dump(ctx, &got, map[string]string{"oneclick-keys": "k1 secret\n"}); err != nil {
				t.Fatal(err)
			}
			if g, w := strings.Split(got.String(), "\n"), strings.Split(want.String(), "\n"); !slices.Equal(g, w) {
				for i := range min(len(g), len(w)) {
					if g[i] != w[i] {
						t.Errorf("the restored site dumps otherwise at line %d:\n%.300s\nwas\n%.300s", i+1, g[i], w[i])
					}
				}
			}
			l, err := dst.ListByID(ctx, "ant.example.com")
			if err != nil {
				t.Fatal(err)
			}
			if ants, err := dst.Members(ctx, l.Address, Regular); err != nil || len(ants) != 2 || l.MemberCount != 2 {
				t.Fatalf("members of ant after the restore: %d (counted %d), %v", len(ants), l.MemberCount, err)
			}
			addMembers(t, dst, l.Address, Regular, "new@example.com")
			createList(t, dst, "cat@example.com")
			if _, err := dst.RecordBounce(ctx, BounceEvent{ListID: l.ListID, Address: "new@example.com", Reason: "550", Status: "5.0.0", Kind: BounceNormal}); err != nil {
				t.Errorf("a row after the restored ones: %v", err)
			}
			if ok, err := dst.CheckUserPassword(ctx, mustUser(t, dst, "cris@example.com"), "s3cret"); err != nil || !ok {
				t.Errorf("the restored user's password: %v %v", ok, err)
			}
			if _, err := dst.Restore(ctx, bytes.NewReader(want.Bytes())); !errors.Is(err, ErrNotEmpty) {
				t.Errorf("restore into a site with lists: %v", err)
			}
		})
	}
	for _, tc := range []struct{ name, data string }{
		{"not JSON", "Subject: no\n"},
		{"another format", `{"format":"something","version":1,"schema":13,"tables":[]}`},
		{"another schema", strings.Replace(want.String(), `"schema":`, `"schema":9`, 1)},
		{"a column that is no name", strings.Replace(want.String(), `"columns":["id"`, `"columns":["id; DROP TABLE lists"`, 1)},
		{"cut short", want.String()[:want.Len()/2]},
	} {
		dst := newStore(t, sqliteBackend)
		if _, err := dst.Restore(ctx, strings.NewReader(tc.data)); !errors.Is(err, ErrBadDump) {
			t.Errorf("%s: %v, want ErrBadDump", tc.name, err)
		}
		if ls, _ := dst.Lists(ctx); len(ls) != 0 {
			t.Errorf("%s: a failed restore left %d lists", tc.name, len(ls))
		}
	}
}

func mustUser(t *testing.T, s *Store, email string) string {
	t.Helper()
	u, err := s.FindUser(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.UserID
}

// SetListHistory carries a list's dates and next post number; a list
// there is not is an error.
func TestSetListHistory(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "ant@example.com")
		made, last := time.Date(2010, 4, 4, 22, 39, 37, 274485000, time.UTC), time.Date(2015, 3, 26, 11, 23, 13, 0, time.UTC)
		if err := s.SetListHistory(ctx, l.ListID, ListHistory{CreatedAt: made, LastPostAt: last, PostID: 248}); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListByID(ctx, l.ListID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(made) || !got.LastPostAt.Equal(last) || got.PostID != 248 {
			t.Errorf("history %v %v %d", got.CreatedAt, got.LastPostAt, got.PostID)
		}
		if id, err := s.NextPostID(ctx, l.ListID, time.Now()); err != nil || id != 248 {
			t.Errorf("the next post is %d (%v), want 248", id, err)
		}
		if err := s.SetListHistory(ctx, "nope.example.com", ListHistory{CreatedAt: made}); !errors.Is(err, ErrNoSuchList) {
			t.Errorf("no such list: %v", err)
		}
	})
}
