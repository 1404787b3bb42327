package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
)

// migrationFiles reads migrations/<backend> from the source tree, not
// through the embedded copy the code under test uses, and returns the file
// names by version.
func migrationFiles(t *testing.T, backend string) map[int]string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("migrations", backend))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)
	files := map[int]string{}
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("migration file %s is not named NNNN_name.sql", e.Name())
			continue
		}
		v, _ := strconv.Atoi(m[1])
		if files[v] != "" {
			t.Errorf("migrations %s and %s have the same version", files[v], e.Name())
		}
		files[v] = e.Name()
	}
	return files
}

// latestVersion is the highest migration number in the source tree (the
// same for every backend: TestMigrationFiles).
func latestVersion(t *testing.T) int {
	t.Helper()
	files := migrationFiles(t, "sqlite")
	if len(files) == 0 {
		t.Fatal("no migrations")
	}
	return slices.Max(slices.Collect(maps.Keys(files)))
}

type appliedMigration struct {
	Version   int
	Name      string
	AppliedAt int64
}

// applied reads schema_migrations.
func applied(t *testing.T, s *Store) []appliedMigration {
	t.Helper()
	rows, err := s.db.QueryContext(context.Background(), `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ms []appliedMigration
	for rows.Next() {
		var m appliedMigration
		if err := rows.Scan(&m.Version, &m.Name, &m.AppliedAt); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ms
}

// tables lists the tables of the database, sorted, without SQLite's own
// (sqlite_sequence, which AUTOINCREMENT keeps).
func tables(t *testing.T, s *Store) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`
	if s.backend == "postgres" {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`
	}
	rows, err := s.db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ts []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		ts = append(ts, n)
	}
	return ts
}

// The migrations are numbered 1, 2, … without a gap, the embedded set is
// the set in the source tree, and every backend has the same history.
func TestMigrationFiles(t *testing.T) {
	forBackends(t, testMigrationFiles)
	if _, err := loadMigrations("nosuchbackend"); err == nil {
		t.Errorf("loadMigrations of an unknown backend: no error")
	}
}

func testMigrationFiles(t *testing.T, b backend) {
	files := migrationFiles(t, b.name)
	for v := 1; v <= len(files); v++ {
		if files[v] == "" {
			t.Errorf("no migration %04d (versions: %v)", v, files)
		}
	}
	if sqlite := migrationFiles(t, "sqlite"); !maps.Equal(files, sqlite) {
		t.Errorf("migrations %v, but SQLite's are %v", files, sqlite)
	}
	ms, err := loadMigrations(b.name)
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	if len(ms) != len(files) {
		t.Fatalf("%d embedded migrations, %d files", len(ms), len(files))
	}
	for i, m := range ms {
		if m.version != i+1 || m.name != files[m.version] || m.sql == "" {
			t.Errorf("embedded migration %d = %d %s (%d bytes), want %d %s", i, m.version, m.name, len(m.sql), i+1, files[i+1])
		}
	}
}

func TestMigrateEmptyDatabase(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		before := time.Now()
		s := newStore(t, b)
		after := time.Now()

		want := latestVersion(t)
		if v, err := s.SchemaVersion(ctx); err != nil || v != want {
			t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, want)
		}
		files := migrationFiles(t, b.name)
		ms := applied(t, s)
		if len(ms) != want {
			t.Fatalf("schema_migrations = %+v, want %d rows", ms, want)
		}
		for i, m := range ms {
			if m.Version != i+1 || m.Name != files[i+1] || m.AppliedAt < before.UnixNano() || m.AppliedAt > after.UnixNano() {
				t.Errorf("schema_migrations row %d = %+v, want version %d, %s, applied at Open", i, m, i+1, files[i+1])
			}
		}
		if got := tables(t, s); !slices.Equal(got, []string{"addresses", "autoresponse_log", "autoresponses", "bans", "bounce_events", "digest_issues", "digest_posts", "domain_owners", "domains", "header_matches", "held_messages", "list_settings", "lists", "members", "pending", "preferences", "schema_migrations", "tasks", "templates", "users"}) {
			t.Errorf("tables = %q", got)
		}

		// Every table is usable.
		l := createList(t, s, "test@example.com", "owner@example.com")
		addMembers(t, s, l.Address, Regular, "anne@example.com")
		tok, err := s.AddPending(ctx, l.ListID, "subscription", "x", time.Hour)
		if err != nil {
			t.Fatalf("AddPending: %v", err)
		}
		if _, err := s.TakePending(ctx, tok); err != nil {
			t.Fatalf("TakePending: %v", err)
		}
		id, _, err := s.Hold(ctx, &HeldMessage{ListID: l.ListID, Message: []byte("x")}, time.Hour)
		if err != nil {
			t.Fatalf("Hold: %v", err)
		}
		if err := s.DeleteHeld(ctx, id); err != nil {
			t.Fatalf("DeleteHeld: %v", err)
		}
		if err := s.Ban(ctx, l.ListID, "eve@example.com"); err != nil {
			t.Fatalf("Ban: %v", err)
		}
		if _, err := s.CountAutoresponse(ctx, l.ListID, "eve@example.com", time.Now()); err != nil {
			t.Fatalf("CountAutoresponse: %v", err)
		}
	})
}

// openUpTo opens d, creating it if need be, migrated up to version upTo.
func openUpTo(ctx context.Context, d testDB, upTo int) (*Store, error) {
	if isPostgres(d.url) {
		return openPostgres(ctx, d.url, upTo)
	}
	file, err := sqlitePath(d.url, d.varDir)
	if err != nil {
		return nil, err
	}
	return openSQLite(ctx, file, upTo, true)
}

func TestMigrateToVersion(t *testing.T) {
	forBackends(t, testMigrateToVersion)
}

func testMigrateToVersion(t *testing.T, b backend) {
	ctx := context.Background()
	for upTo, want := range map[int][]string{
		0: {"schema_migrations"},
		1: {"lists", "members", "schema_migrations"},
		2: {"held_messages", "lists", "members", "pending", "schema_migrations"},
		3: {"autoresponses", "bans", "held_messages", "lists", "members", "pending", "schema_migrations"},
		6: {"addresses", "autoresponse_log", "autoresponses", "bans", "bounce_events", "held_messages", "lists", "members", "pending", "schema_migrations"},
	} {
		t.Run(fmt.Sprint(upTo), func(t *testing.T) {
			s, err := openUpTo(ctx, b.newDB(t), upTo)
			if err != nil {
				t.Fatalf("open at version %d: %v", upTo, err)
			}
			defer s.Close()
			if v, err := s.SchemaVersion(ctx); err != nil || v != upTo {
				t.Errorf("SchemaVersion = %d, %v; want %d", v, err, upTo)
			}
			if got := tables(t, s); !slices.Equal(got, want) {
				t.Errorf("tables at version %d = %q, want %q", upTo, got, want)
			}
		})
	}
}

// createOldList creates a list as CreateList did before migration 3, whose
// List cannot be read at those versions: the list row, and an owner.
func createOldList(t *testing.T, s *Store, addr, display string, created time.Time) ListAddress {
	t.Helper()
	ctx := context.Background()
	a := listAddr(t, addr)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO lists (list_name, mail_host, list_id, display_name, subject_prefix, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, a.Name, a.Domain, a.ListID(), display, "["+display+"] ", created.UnixNano()); err != nil {
		t.Fatalf("creating %s at an old version: %v", addr, err)
	}
	addOldMembers(t, s, a, Owner, "Owner <owner@example.com>")
	return a
}

// addOldMembers adds members with the columns of version 1, as a release
// of that version added them.
func addOldMembers(t *testing.T, s *Store, a ListAddress, role Role, addresses ...string) {
	t.Helper()
	for _, raw := range addresses {
		addr, name, err := ParseMemberAddress(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.ExecContext(context.Background(), `INSERT INTO members (list_id, address_key, address, display_name, role, subscribed_at)
			VALUES ((SELECT id FROM lists WHERE list_name = $1 AND mail_host = $2), $3, $4, $5, $6, $7)`,
			a.Name, a.Domain, key(addr), addr, name, string(role), time.Now().UnixNano()); err != nil {
			t.Fatalf("adding %s at an old version: %v", addr, err)
		}
	}
}

// oldMembersOf reads a list's members with the columns every version has,
// as Members returns them with the later columns at their defaults.
func oldMembersOf(t *testing.T, s *Store, a ListAddress) []Member {
	t.Helper()
	rows, err := s.db.QueryContext(context.Background(), `SELECT m.id, m.address, m.display_name, m.role, m.delivery_enabled,
		m.moderation_action, m.receive_own_postings, m.subscribed_at
		FROM members m JOIN lists l ON l.id = m.list_id WHERE l.list_name = $1 AND l.mail_host = $2 ORDER BY m.role, m.address_key`, a.Name, a.Domain)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ms []Member
	for rows.Next() {
		m := Member{ReceiveListCopy: true, DeliveryMode: "regular", SubscriptionMode: "as_address"}
		var at, id int64
		if err := rows.Scan(&id, &m.Address, &m.DisplayName, &m.Role, &m.DeliveryEnabled, &m.ModerationAction, &m.ReceiveOwnPostings, &at); err != nil {
			t.Fatal(err)
		}
		m.SubscribedAt, m.MemberID = fromNanos(at), MemberID(id)
		m.DeliveryStatus = "enabled"
		if !m.DeliveryEnabled {
			m.DeliveryStatus = ByModerator
		}
		ms = append(ms, m)
	}
	return ms
}

// A database made by an earlier release (version 1, or 2) is brought up to
// date by Open, its lists, members, requests and held posts kept, and the
// new settings take Mailman's defaults.
func TestMigrateFromPreviousVersion(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		for _, from := range []int{1, 2} {
			t.Run(fmt.Sprint(from), func(t *testing.T) { testMigrateFrom(t, b, from) })
		}
	})
}

func testMigrateFrom(t *testing.T, b backend, from int) {
	ctx := context.Background()
	db := b.newDB(t)
	old, err := openUpTo(ctx, db, from)
	if err != nil {
		t.Fatalf("open at version %d: %v", from, err)
	}
	if v, err := old.SchemaVersion(ctx); err != nil || v != from {
		t.Fatalf("SchemaVersion of the old database = %d, %v; want %d", v, err, from)
	}
	created := time.Unix(1700000000, 123456789).UTC()
	a := createOldList(t, old, "test@example.com", "Old Test", created)
	addOldMembers(t, old, a, Regular, "Anne <Anne@example.com>", "bob@example.com")
	addOldMembers(t, old, a, Nonmember, "eve@example.com")
	if err := old.SetListSetting(ctx, a, "max_message_size", "100"); err != nil {
		t.Fatal(err)
	}
	oldMembers := oldMembersOf(t, old, a)
	var oldToken string
	var oldHeld int64
	if from == 1 {
		// Without the version 2 tables, their operations fail.
		if _, err := old.AddPending(ctx, "", "x", "x", time.Hour); err == nil {
			t.Errorf("AddPending at version 1: no error")
		}
	} else {
		// A request, and a post held as version 2 held it: with no token.
		if oldToken, err = old.AddPending(ctx, a.ListID(), "subscription", "carl@example.com", time.Hour); err != nil {
			t.Fatalf("AddPending at version 2: %v", err)
		}
		if err := old.db.QueryRowContext(ctx, `INSERT INTO held_messages (list_id, sender, subject, message_id, reasons, message, msgdata, held_at)
			VALUES ((SELECT id FROM lists), 'eve@example.com', 'old', '<old@example.com>', '["old"]', $1, '{}', 1) RETURNING id`, []byte("x")).Scan(&oldHeld); err != nil {
			t.Fatalf("holding at version 2: %v", err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	latest := latestVersion(t)
	var firstApplied []appliedMigration
	var first *List
	for i := range 3 { // the upgrade, then twice more: nothing changes.
		s, err := Open(ctx, db.url, db.varDir)
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		if v, err := s.SchemaVersion(ctx); err != nil || v != latest {
			t.Errorf("Open #%d: SchemaVersion = %d, %v; want %d", i+1, v, err, latest)
		}
		ms := applied(t, s)
		if i == 0 {
			firstApplied = ms
			if len(ms) != latest {
				t.Errorf("schema_migrations = %+v, want %d rows", ms, latest)
			}
		} else if !reflect.DeepEqual(ms, firstApplied) {
			t.Errorf("Open #%d changed schema_migrations:\n%+v\nwas\n%+v", i+1, ms, firstApplied)
		}

		l, err := s.List(ctx, a)
		if err != nil {
			t.Fatalf("Open #%d: the list did not survive: %v", i+1, err)
		}
		if i == 0 {
			first = l
			if l.DisplayName != "Old Test" || l.SubjectPrefix != "[Old Test] " || l.MaxMessageSize != 100 ||
				l.DefaultNonmemberAction != "hold" || !l.CreatedAt.Equal(created) {
				t.Errorf("the list's old settings changed: %+v", *l)
			}
			if l.ModeratorPassword != "" || !l.AdminImmedNotify || !l.RespondToPostRequests ||
				!slices.Equal(l.AcceptableAliases, []string{}) || !slices.Equal(l.BounceMatchingHeaders, []string{}) {
				t.Errorf("the new settings of an old list are not Mailman's defaults: %+v", *l)
			}
		} else if !reflect.DeepEqual(l, first) {
			t.Errorf("Open #%d: list is\n%+v\nwas\n%+v", i+1, *l, *first)
		}
		members, err := s.Members(ctx, l.Address, "")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(members, oldMembers) {
			t.Errorf("Open #%d: members are\n%+v\nwere\n%+v", i+1, members, oldMembers)
		}
		// Each subscribed address has a user of its own; the nonmember
		// has none.
		for _, m := range members {
			u, err := s.FindUser(ctx, m.Address)
			switch {
			case m.Role == Nonmember && !errors.Is(err, ErrNoSuchUser):
				t.Errorf("Open #%d: FindUser(nonmember %s) = %+v, %v; want ErrNoSuchUser", i+1, m.Address, u, err)
			case m.Role != Nonmember && (err != nil || len(u.UserID) != 32):
				t.Errorf("Open #%d: FindUser(%s) = %+v, %v; want a user", i+1, m.Address, u, err)
			}
		}
		for _, table := range []string{"bans", "autoresponses"} {
			if n := countRows(t, s, table, ""); n != 0 {
				t.Errorf("Open #%d: %d %s rows, want 0", i+1, n, table)
			}
		}
		if i == 0 && from == 2 {
			// The old post, without a token, is there; no token finds it,
			// and deleting it leaves the other requests alone.
			h, err := s.HeldMessage(ctx, oldHeld)
			if err != nil || h.Token != "" || h.Subject != "old" {
				t.Errorf("HeldMessage of a post held at version 2 = %+v, %v", h, err)
			}
			if h, err := s.HeldByToken(ctx, ""); !errors.Is(err, ErrNoSuchHeld) {
				t.Errorf(`HeldByToken("") = %+v, %v; want ErrNoSuchHeld`, h, err)
			}
			if err := s.DeleteHeld(ctx, oldHeld); err != nil {
				t.Errorf("DeleteHeld of a post held at version 2: %v", err)
			}
			if p, err := s.TakePending(ctx, oldToken); err != nil || p.Type != "subscription" {
				t.Errorf("TakePending of a request made at version 2 = %+v, %v", p, err)
			}
		}
		if n := countRows(t, s, "pending", ""); n != 0 {
			t.Errorf("Open #%d: %d pending rows, want 0", i+1, n)
		}
		if n := countRows(t, s, "held_messages", ""); n != 0 {
			t.Errorf("Open #%d: %d held rows, want 0", i+1, n)
		}

		// The new tables and columns work, with the old list.
		tok, err := s.AddPending(ctx, l.ListID, "subscription", map[string]string{"address": "carl@example.com"}, time.Hour)
		if err != nil {
			t.Fatalf("AddPending after the upgrade: %v", err)
		}
		if p, err := s.TakePending(ctx, tok); err != nil || p.ListID != l.ListID {
			t.Fatalf("TakePending after the upgrade = %+v, %v", p, err)
		}
		id, tok, err := s.Hold(ctx, &HeldMessage{ListID: l.ListID, Sender: "eve@example.com", Message: []byte("x")}, time.Hour)
		if err != nil {
			t.Fatalf("Hold after the upgrade: %v", err)
		}
		if h, err := s.HeldByToken(ctx, tok); err != nil || h.ID != id || h.ListID != l.ListID {
			t.Fatalf("HeldByToken after the upgrade = %+v, %v", h, err)
		}
		if err := s.DeleteHeld(ctx, id); err != nil {
			t.Fatalf("DeleteHeld after the upgrade: %v", err)
		}
		if err := s.Ban(ctx, l.ListID, "eve@example.com"); err != nil {
			t.Fatalf("Ban after the upgrade: %v", err)
		}
		if ok, err := s.IsBanned(ctx, l.ListID, "Eve@example.com"); err != nil || !ok {
			t.Fatalf("IsBanned after the upgrade = %v, %v", ok, err)
		}
		if err := s.Unban(ctx, l.ListID, "eve@example.com"); err != nil {
			t.Fatalf("Unban after the upgrade: %v", err)
		}
		if n, err := s.CountAutoresponse(ctx, l.ListID, "eve@example.com", time.Now()); err != nil || n != 1 {
			t.Fatalf("CountAutoresponse after the upgrade = %d, %v", n, err)
		}
		if _, err := s.db.ExecContext(ctx, `DELETE FROM autoresponses`); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// openAtOnce opens n stores on d at the same moment and returns the first
// error.
func openAtOnce(t *testing.T, d testDB, n int) error {
	t.Helper()
	ctx := context.Background()
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(ctx, d.url, d.varDir)
		})
	}
	close(start)
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			defer s.Close()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	latest := latestVersion(t)
	for i, s := range stores {
		if v, err := s.SchemaVersion(ctx); err != nil || v != latest {
			t.Errorf("store %d: SchemaVersion = %d, %v; want %d", i, v, err, latest)
		}
	}
	if ms := applied(t, stores[0]); len(ms) != latest {
		t.Errorf("schema_migrations = %+v, want %d rows", ms, latest)
	}
	return nil
}

// Processes started at once on an existing database all open it.
func TestConcurrentOpensExisting(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		db := b.newDB(t)
		db.open(t)
		for round := range 20 {
			if err := openAtOnce(t, db, 6); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	})
}

// Processes started at once on a new database (the first start of an
// installation, every runner opening the store) all open it. Regression: the
// journal_mode(WAL) pragma run as each connection opens upgrades a shared
// lock, where SQLite answers SQLITE_BUSY at once instead of calling the busy
// handler (to avoid a deadlock), so Open failed with "database is locked"
// now and then. It is a race; this tries 40 new databases. On PostgreSQL
// the stores take turns on the advisory lock and each migration is applied
// once. Regression: two CREATE TABLE IF NOT EXISTS schema_migrations at
// once, before the lock, failed one Open on the catalogue's unique index,
// in nearly every round; 10 rounds do there, a new database costing more.
func TestMigrateConcurrentOpensNew(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		rounds := 40
		if b.name == "postgres" {
			rounds = 10
		}
		for round := range rounds {
			if err := openAtOnce(t, b.newDB(t), 4); err != nil {
				t.Fatalf("round %d: Open of a new database by 4 stores at once: %v", round, err)
			}
		}
	})
}

// The same, deterministically: while another connection holds the write
// lock of a database not yet in WAL mode (as a process does while it
// converts a new database), Open waits for the lock as busy_timeout
// promises. Regression: it failed at once with SQLITE_BUSY. SQLite only:
// it is about SQLite's lock on a new file.
func TestOpenWaitsForWriteLockOnNewDatabase(t *testing.T) {
	ctx := context.Background()
	varDir := t.TempDir()
	file := config.PathsIn(varDir).Database
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE other (x)`); err != nil { // takes the write lock
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		tx.Rollback()
		close(released)
	}()
	t0 := time.Now()
	s, err := Open(ctx, "", varDir)
	took := time.Since(t0)
	<-released
	if err != nil {
		t.Fatalf("Open while another connection held the write lock for 300ms failed after %v: %v", took.Round(time.Millisecond), err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != latestVersion(t) {
		t.Errorf("SchemaVersion = %d, %v", v, err)
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}
