package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
)

// SQLite only: it is about the file each sqlite: URL names.
func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	abs := filepath.Join(t.TempDir(), "elsewhere", "abs.db")
	for _, c := range []struct {
		name, url string
		file      func(varDir string) string
	}{
		{"empty", "", func(v string) string { return filepath.Join(v, "data", "mailman.db") }},
		{"relative", "sqlite:rel.db", func(v string) string { return filepath.Join(v, "rel.db") }},
		{"relative in a new directory", "sqlite:sub/dir/rel.db", func(v string) string { return filepath.Join(v, "sub", "dir", "rel.db") }},
		{"relative with //", "sqlite://rel2.db", func(v string) string { return filepath.Join(v, "rel2.db") }},
		{"absolute", "sqlite://" + abs, func(string) string { return abs }},
		{"absolute without //", "sqlite:" + abs + "2", func(string) string { return abs + "2" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			varDir := t.TempDir()
			want := c.file(varDir)
			if _, err := os.Stat(want); err == nil {
				t.Fatalf("%s exists before Open", want)
			}
			s, err := Open(ctx, c.url, varDir)
			if err != nil {
				t.Fatalf("Open(%q): %v", c.url, err)
			}
			defer s.Close()
			createList(t, s, "test@example.com")
			if fi, err := os.Stat(want); err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
				t.Fatalf("Open(%q) made no database at %s: %v", c.url, want, err)
			}
			// It is that file: a second store on it by absolute path sees the list.
			s2, err := Open(ctx, "sqlite://"+want, t.TempDir())
			if err != nil {
				t.Fatalf("Open(%s): %v", want, err)
			}
			defer s2.Close()
			if _, err := s2.List(ctx, listAddr(t, "test@example.com")); err != nil {
				t.Errorf("the list is not in %s: %v", want, err)
			}
			var mode string
			if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v; want wal", mode, err)
			}
		})
	}
}

// closedPort is a loopback address where nothing listens, so that a test
// of a failed connection contacts no other host and waits for nothing.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestOpenURLErrors(t *testing.T) {
	ctx := context.Background()
	nowhere := closedPort(t)
	for _, c := range []struct {
		url    string
		secret string // must not appear in the error
	}{
		{"postgres://u:secret@" + nowhere + "/db?connect_timeout=2", "secret"},
		{"postgresql://mailman:hunter2@" + nowhere + "/mailman?connect_timeout=2", "hunter2"},
		{"mysql://x", ""},
		{"mysql://u:secret@h/db", "secret"},
		{"sqlite:", ""},
		{"sqlite://", ""},
		{"SQLITE:x.db", ""},
		{"file:x.db", ""},
		{"x.db", ""},
	} {
		t.Run(c.url, func(t *testing.T) {
			varDir := t.TempDir()
			s, err := Open(ctx, c.url, varDir)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q): no error", c.url)
			}
			if c.secret != "" && strings.Contains(err.Error(), c.secret) {
				t.Errorf("Open(%q) error shows the password: %v", c.url, err)
			}
			if entries, _ := os.ReadDir(varDir); len(entries) != 0 {
				t.Errorf("Open(%q) failed but wrote %v", c.url, entries)
			}
		})
	}
}

// A PostgreSQL connection string may carry its password elsewhere than in
// the user information, as libpq allows: in the query
// (postgres://h/db?password=...) or as a keyword/value string
// (host=h password=...). Regression: Open echoed those into its error.
func TestOpenURLErrorsHideEveryPassword(t *testing.T) {
	ctx := context.Background()
	nowhere := closedPort(t)
	host, port, _ := net.SplitHostPort(nowhere)
	for _, url := range []string{
		"postgres://" + nowhere + "/db?password=secret&connect_timeout=2",
		"postgresql://u@" + nowhere + "/db?sslmode=require&password=secret&connect_timeout=2",
		"host=" + host + " port=" + port + " user=u password=secret dbname=mailman connect_timeout=2",
	} {
		s, err := Open(ctx, url, t.TempDir())
		if err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", url)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the password: %v", url, err)
		}
	}
}

// SQLite only: it is about files.
func TestOpenNotADirectory(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "file")
	// Long enough for SQLite to read a header (a shorter file reads as empty).
	if err := os.WriteFile(file, bytes.Repeat([]byte("not a database\n"), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, "", file); err == nil {
		s.Close()
		t.Errorf("Open under a regular file: no error")
	}
	if s, err := Open(ctx, "sqlite:"+file, t.TempDir()); err == nil {
		s.Close()
		t.Errorf("Open of a file that is not a database: no error")
	}
	if b, err := os.ReadFile(file); err != nil || !bytes.Equal(b, bytes.Repeat([]byte("not a database\n"), 100)) {
		t.Errorf("Open changed the file that is not a database (%v)", err)
	}
}

// The path goes into a "file:" URI. Regression: it was not escaped, so a
// var_dir or sqlite: path holding '?', '#' or '%' opened another file (and
// lost the pragmas after the '?'): SQLite reads "%41" as "A" and stops the
// path at '?' or '#'. SQLite only: it is about its file's path.
func TestOpenPathWithURICharacters(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ name, dir string }{
		{"percent", "100%41"},
		{"question mark", "what?"},
		{"hash", "issue#3"},
		{"space", "a b"},
	} {
		// The subtest's name has none of the characters, so that what
		// SQLite opens instead is still inside its temporary directory.
		t.Run(c.name, func(t *testing.T) {
			varDir := filepath.Join(t.TempDir(), c.dir)
			s, err := Open(ctx, "", varDir)
			if err != nil {
				t.Fatalf("Open(%q): %v", varDir, err)
			}
			defer s.Close()
			createList(t, s, "test@example.com")
			if _, err := os.Stat(config.PathsIn(varDir).Database); err != nil {
				t.Errorf("no database at %s: %v", config.PathsIn(varDir).Database, err)
			}
			var timeout int
			if err := s.db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout != 10000 {
				t.Errorf("busy_timeout = %d, %v; want 10000", timeout, err)
			}
		})
	}
}

// A write for a list that another store removes meanwhile fails with
// ErrNoSuchList. Regression: on PostgreSQL the write read the list before
// the removal was committed, and then failed on the foreign key.
func TestWriteToListBeingRemoved(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.newDB(t)
		s, remover := db.open(t), db.open(t)
		for i, write := range []func(listID string) error{
			func(listID string) error {
				_, err := s.AddPending(ctx, listID, "subscription", "x", time.Hour)
				return err
			},
			func(listID string) error {
				_, err := s.AddMembers(ctx, listAddr(t, strings.Replace(listID, ".", "@", 1)), Regular, []string{"anne@example.com"}, nil)
				return err
			},
			func(listID string) error {
				_, _, err := s.Hold(ctx, &HeldMessage{ListID: listID, Message: []byte("x")}, time.Hour)
				return err
			},
			func(listID string) error {
				_, err := s.Subscribe(ctx, listID, Subscription{Address: "anne@example.com"}, "")
				return err
			},
			func(listID string) error {
				_, err := s.CountAutoresponse(ctx, listID, "anne@example.com", time.Now())
				return err
			},
		} {
			l := createList(t, s, fmt.Sprintf("list%d@example.com", i))
			tx, err := remover.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM lists WHERE id = $1`, l.id); err != nil {
				t.Fatal(err)
			}
			done := make(chan error)
			go func() { done <- write(l.ListID) }()
			// Long enough, mostly, for the write to read the list and
			// wait for the removal's lock; if not, it reads no list.
			time.Sleep(100 * time.Millisecond)
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, ErrNoSuchList) {
				t.Errorf("write %d to %s while it was removed: %v, want ErrNoSuchList", i, l.ListID, err)
			}
		}
	})
}

// Nothing is cached: what one store writes, another store on the same
// database reads at its next look-up.
func TestTwoStoresSeeEachOther(t *testing.T) {
	forBackends(t, testTwoStoresSeeEachOther)
}

func testTwoStoresSeeEachOther(t *testing.T, b backend) {
	ctx := context.Background()
	db := b.newDB(t)
	s1, s2 := db.open(t), db.open(t)
	a := listAddr(t, "test@example.com")

	// Warm s2 up on the list's absence first, so a cache would show.
	if _, err := s2.ListByID(ctx, "test.example.com"); !errors.Is(err, ErrNoSuchList) {
		t.Fatalf("ListByID before creation: %v", err)
	}
	if _, err := s2.Member(ctx, "test.example.com", "anne@example.com", Regular); !errors.Is(err, ErrNoSuchMember) {
		t.Fatalf("Member before creation: %v", err)
	}

	createList(t, s1, "test@example.com")
	if _, err := s2.ListByID(ctx, "test.example.com"); err != nil {
		t.Errorf("list created in s1 not seen by s2: %v", err)
	}

	addMembers(t, s1, a, Regular, "anne@example.com")
	if _, err := s2.Member(ctx, "test.example.com", "anne@example.com", Regular); err != nil {
		t.Errorf("member added in s1 not seen by s2: %v", err)
	}

	if err := s2.SetListSetting(ctx, a, "emergency", "yes"); err != nil {
		t.Fatal(err)
	}
	if l, err := s1.ListByID(ctx, "test.example.com"); err != nil || !l.Emergency {
		t.Errorf("setting changed in s2 not seen by s1: %+v, %v", l, err)
	}

	if err := s2.RemoveMembers(ctx, a, Regular, []string{"anne@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Member(ctx, "test.example.com", "anne@example.com", Regular); !errors.Is(err, ErrNoSuchMember) {
		t.Errorf("member removed in s2 still seen by s1: %v", err)
	}

	tok, err := s1.AddPending(ctx, "test.example.com", "subscription", "x", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.TakePending(ctx, tok); err != nil {
		t.Errorf("request added in s1 not taken by s2: %v", err)
	}
	if _, err := s1.TakePending(ctx, tok); !errors.Is(err, ErrNoSuchToken) {
		t.Errorf("request taken in s2 taken again in s1: %v", err)
	}

	id, _, err := s2.Hold(ctx, &HeldMessage{ListID: "test.example.com", Message: []byte("x")}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.HeldMessage(ctx, id); err != nil {
		t.Errorf("message held in s2 not seen by s1: %v", err)
	}

	if err := s1.RemoveList(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.List(ctx, a); !errors.Is(err, ErrNoSuchList) {
		t.Errorf("list removed in s1 still seen by s2: %v", err)
	}
	if _, err := s2.HeldMessage(ctx, id); !errors.Is(err, ErrNoSuchHeld) {
		t.Errorf("held message of a list removed in s1 still seen by s2: %v", err)
	}
}

// A write that cannot get the write lock in time fails with ErrUnavailable
// (to be retried), not as the message's fault. SQLite only: it is about
// its one write lock and busy_timeout; TestUnavailablePostgres is
// PostgreSQL's.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	db := sqliteBackend.newDB(t)
	s := db.open(t)
	a := createList(t, s, "test@example.com").Address

	// Hold the write lock from another store.
	holder := db.open(t)
	tx, err := holder.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE lists SET description = 'locked'`); err != nil {
		t.Fatal(err)
	}

	// One connection, told not to wait for the lock.
	s.db.SetMaxOpenConns(1)
	if _, err := s.db.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"SetListSetting": func() error { return s.SetListSetting(ctx, a, "emergency", "yes") },
		"AddMembers": func() error {
			_, err := s.AddMembers(ctx, a, Regular, []string{"anne@example.com"}, nil)
			return err
		},
		"AddPending": func() error {
			_, err := s.AddPending(ctx, "", "x", "x", time.Hour)
			return err
		},
		"RemoveList": func() error { return s.RemoveList(ctx, a) },
	} {
		if err := f(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s while another store holds the write lock = %v, want ErrUnavailable", name, err)
		}
	}
	// Reads go on (WAL): they see the last commit.
	if l, err := s.List(ctx, a); err != nil || l.Description != "" {
		t.Errorf("List while another store holds the write lock = %+v, %v", l, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetListSetting(ctx, a, "emergency", "yes"); err != nil {
		t.Errorf("SetListSetting once the lock is released: %v", err)
	}

	// Errors of the package itself are not ErrUnavailable.
	for _, err := range []error{
		func() error { _, err := s.ListByID(ctx, "missing.example.com"); return err }(),
		s.SetListSetting(ctx, a, "nonexistent", "x"),
		func() error { _, err := s.CreateList(ctx, NewList{Address: a}); return err }(),
	} {
		if err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("error %v marked unavailable", err)
		}
	}
}

// checkOpenExistingWaits opens the unavailable store at dbURL with
// OpenExisting and a retry func, gives it back with restore 400 ms later,
// and checks that OpenExisting waited, doubling its waits, and opened the
// store with its list test@example.com.
func checkOpenExistingWaits(t *testing.T, dbURL, varDir string, restore func()) {
	t.Helper()
	ctx := context.Background()
	var retries []time.Duration
	back := make(chan struct{})
	go func() {
		time.Sleep(400 * time.Millisecond)
		restore()
		close(back)
	}()
	st, err := OpenExisting(ctx, dbURL, varDir, func(err error, wait time.Duration) {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("retry told %v, want ErrUnavailable", err)
		}
		retries = append(retries, wait)
	})
	<-back
	if err != nil {
		t.Fatalf("OpenExisting once the database is back: %v", err)
	}
	defer st.Close()
	if l, err := st.ListByID(ctx, "test.example.com"); err != nil || l == nil {
		t.Errorf("the list after the database came back: %v, %v", l, err)
	}
	if len(retries) < 2 || retries[1] != 2*retries[0] {
		t.Errorf("waits %v: want at least two, doubling", retries)
	}
}

// A runner's store is never made anew: with the database missing,
// OpenExisting fails as unavailable (and makes no file), waits for it when
// asked to, and opens it once it is back. SQLite only: it is about a file
// gone; TestOpenExistingPostgres is a server down.
func TestOpenExisting(t *testing.T) {
	ctx := context.Background()
	varDir := t.TempDir()
	file := config.PathsIn(varDir).Database
	if _, err := OpenExisting(ctx, "", varDir, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("OpenExisting of no database: %v, want ErrUnavailable", err)
	}
	if _, err := os.Stat(filepath.Dir(file)); !os.IsNotExist(err) {
		t.Fatalf("OpenExisting made %s: %v", filepath.Dir(file), err)
	}
	made, err := Open(ctx, "", varDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := made.CreateList(ctx, NewList{Address: ListAddress{Name: "test", Domain: "example.com"}}); err != nil {
		t.Fatal(err)
	}
	made.Close()

	// The folder moved away, as by a postmaster, then back.
	moved := filepath.Join(varDir, "elsewhere")
	if err := os.Rename(filepath.Dir(file), moved); err != nil {
		t.Fatal(err)
	}
	checkOpenExistingWaits(t, "", varDir, func() { os.Rename(moved, filepath.Dir(file)) })

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := OpenExisting(cancelled, "", t.TempDir(), func(error, time.Duration) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("OpenExisting with ctx done: %v, want context.Canceled", err)
	}
}

// TestDatabaseFilesArePrivate: the SQLite files are no more readable than
// the rest of var_dir (0660 less the umask), not 0644.
func TestDatabaseFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	varDir := t.TempDir()
	s, err := Open(context.Background(), "", varDir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	createList(t, s, "test@example.com")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		path := config.PathsIn(varDir).Database + suffix
		info, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode&0o007 != 0 {
			t.Errorf("%s has mode %v: others may read it", path, mode)
		}
	}
}
