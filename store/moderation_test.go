package store

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestModeratorPassword(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		a := createList(t, s, "test@example.com").Address
		b2 := createList(t, s, "other@example.com").Address

		// A list without a password approves nothing, not even "".
		l, err := s.List(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{"", "x", "pbkdf2-sha256"} {
			if l.CheckModeratorPassword(pw) {
				t.Errorf("CheckModeratorPassword(%q) with no password set = true", pw)
			}
		}

		const pw = "Correct horse, ünïcödé"
		for _, la := range []ListAddress{a, b2} {
			if err := s.SetListSetting(ctx, la, "moderator_password", pw); err != nil {
				t.Fatalf("SetListSetting(moderator_password): %v", err)
			}
		}
		l, err = s.List(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.List(ctx, b2)
		if err != nil {
			t.Fatal(err)
		}
		// What is stored is a salted hash in the documented form, not the
		// password: straight from the column, not only through List.
		var stored string
		if err := s.db.QueryRowContext(ctx, `SELECT moderator_password FROM lists WHERE id = $1`, l.id).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		form := regexp.MustCompile(`^pbkdf2-sha256\$100000\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$`)
		if stored != l.ModeratorPassword || !form.MatchString(stored) || strings.Contains(stored, "horse") {
			t.Errorf("stored moderator_password = %q, want a pbkdf2-sha256 hash", stored)
		}
		if other.ModeratorPassword == l.ModeratorPassword {
			t.Errorf("the same password hashed twice gave the same hash (no salt?): %q", stored)
		}
		if j, err := json.Marshal(l); err != nil || strings.Contains(string(j), "pbkdf2") || strings.Contains(string(j), "moderator_password") {
			t.Errorf("the hash is in the list's JSON: %s, %v", j, err)
		}

		for _, c := range []struct {
			pw   string
			want bool
		}{
			{pw, true},
			{"", false},
			{"correct horse, ünïcödé", false},
			{pw + " ", false},
			{pw[:len(pw)-1], false},
			{"Correct horse", false},
			{stored, false}, // the hash is not the password
		} {
			if got := l.CheckModeratorPassword(c.pw); got != c.want {
				t.Errorf("CheckModeratorPassword(%q) = %v, want %v", c.pw, got, c.want)
			}
			if got := other.CheckModeratorPassword(c.pw); got != c.want {
				t.Errorf("other list: CheckModeratorPassword(%q) = %v, want %v", c.pw, got, c.want)
			}
		}

		// A damaged or foreign hash matches nothing, however it is damaged.
		for _, h := range []string{
			"x",
			pw,
			"pbkdf2-sha256$100000$c2FsdA==",
			strings.Replace(stored, "pbkdf2-sha256", "pbkdf2-sha1", 1),
			strings.Replace(stored, "$100000$", "$0$", 1),
			strings.Replace(stored, "$100000$", "$-5$", 1),
			strings.Replace(stored, "$100000$", "$99999999999$", 1),
			strings.Replace(stored, "$100000$", "$100001$", 1),
			stored[:strings.LastIndex(stored, "$")+1],
			stored + "!",
		} {
			if (&List{ModeratorPassword: h}).CheckModeratorPassword(pw) {
				t.Errorf("CheckModeratorPassword against the hash %q = true", h)
			}
		}

		// "" clears it.
		if err := s.SetListSetting(ctx, a, "moderator_password", ""); err != nil {
			t.Fatal(err)
		}
		if l, err := s.List(ctx, a); err != nil || l.ModeratorPassword != "" || l.CheckModeratorPassword(pw) {
			t.Errorf("after clearing the password: %q, %v", l.ModeratorPassword, err)
		}
	})
}

func TestBans(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		test := createList(t, s, "test@example.com").ListID
		other := createList(t, s, "other@example.com").ListID

		for _, b := range []struct{ list, pattern string }{
			{test, "Anne@Example.com"},
			{test, "^.*@spam\\.example$"},
			{test, "anne@example.com"}, // again, in another case: no error, one row
			{test, "  bob@example.com "},
			{"", "mallory@example.net"},
			{"", `^bot-[0-9]+@`},
			{"", "MALLORY@example.net"},
			{other, "carl@example.com"},
			{other, "mallory@example.net"}, // also site-wide: a row of its own
		} {
			if err := s.Ban(ctx, b.list, b.pattern); err != nil {
				t.Fatalf("Ban(%q, %q): %v", b.list, b.pattern, err)
			}
		}
		for _, c := range []struct {
			list string
			want []string
		}{
			{test, []string{"^.*@spam\\.example$", "anne@example.com", "bob@example.com"}},
			{other, []string{"carl@example.com", "mallory@example.net"}},
			{"", []string{"^bot-[0-9]+@", "mallory@example.net"}},
		} {
			if got, err := s.Bans(ctx, c.list); err != nil || !slices.Equal(got, c.want) {
				t.Errorf("Bans(%q) = %q, %v; want %q", c.list, got, err, c.want)
			}
		}

		for _, c := range []struct {
			list, address string
			want          bool
		}{
			{test, "anne@example.com", true},                  // exact
			{test, "ANNE@EXAMPLE.COM", true},                  // case
			{test, "anne@example.co", false},                  // an address is not a prefix
			{test, "xanne@example.com", false},                // nor a suffix
			{test, "bob@example.com", true},                   // trimmed when banned
			{test, "eve@spam.example", true},                  // list regex
			{test, "Eve@SPAM.Example", true},                  // regex ignores case
			{test, "eve@spam.example.org", false},             // $ anchors
			{test, "eve@spamXexample", false},                 // \. is a dot
			{test, "mallory@example.net", true},               // site address
			{test, "bot-17@example.org", true},                // site regex
			{test, "BOT-17@example.org", true},                // site regex, case
			{test, "robot-17@example.org", false},             // ^ anchors
			{test, "carl@example.com", false},                 // other list's ban
			{other, "carl@example.com", true},                 // that list
			{other, "anne@example.com", false},                // not test's bans
			{other, "eve@spam.example", false},                // nor its regexes
			{other, "bot-1@example.com", true},                // but the site's
			{"", "mallory@example.net", true},                 // site only
			{"", "anne@example.com", false},                   // not a list's
			{"", "bot-1@x", true},                             // site regex, no list
			{test, "", false},                                 // no address
			{test, "someone-else@example.com", false},         // banned nowhere
			{test, "anne@example.com\nx@spam.example", false}, // $ is the end, not a line's
		} {
			got, err := s.IsBanned(ctx, c.list, c.address)
			if err != nil || got != c.want {
				t.Errorf("IsBanned(%q, %q) = %v, %v; want %v", c.list, c.address, got, err, c.want)
			}
		}

		// Unban takes the pattern as Ban did, in any case; a ban not there,
		// or there only for another list or the site, is ErrNoSuchBan.
		for _, c := range []struct {
			list, pattern string
			want          error
		}{
			{test, "ANNE@example.com", nil},
			{test, "anne@example.com", ErrNoSuchBan},
			{test, "mallory@example.net", ErrNoSuchBan}, // a site ban
			{test, "carl@example.com", ErrNoSuchBan},    // other's
			{"", "carl@example.com", ErrNoSuchBan},      // other's
			{test, "^.*@SPAM\\.example$", ErrNoSuchBan}, // a regex is kept as given
			{test, "^.*@spam\\.example$", nil},
			{"", "mallory@example.net", nil},
			{other, "mallory@example.net", nil},
			{"", "^[", ErrBadValue},
			{"", "", ErrBadValue},
			{"missing.example.com", "x@example.com", ErrNoSuchList},
		} {
			if err := s.Unban(ctx, c.list, c.pattern); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Errorf("Unban(%q, %q) = %v, want %v", c.list, c.pattern, err, c.want)
			}
		}
		for _, c := range []struct {
			list, address string
			want          bool
		}{
			{test, "anne@example.com", false},
			{test, "eve@spam.example", false},
			{test, "mallory@example.net", false},
			{other, "mallory@example.net", false},
			{test, "bob@example.com", true},
			{test, "bot-2@example.com", true},
		} {
			if got, err := s.IsBanned(ctx, c.list, c.address); err != nil || got != c.want {
				t.Errorf("after Unban: IsBanned(%q, %q) = %v, %v; want %v", c.list, c.address, got, err, c.want)
			}
		}
		if got, err := s.Bans(ctx, test); err != nil || !slices.Equal(got, []string{"bob@example.com"}) {
			t.Errorf("Bans(%q) after Unban = %q, %v", test, got, err)
		}
		if got, err := s.Bans(ctx, other); err != nil || !slices.Equal(got, []string{"carl@example.com"}) {
			t.Errorf("Bans(%q) after Unban = %q, %v", other, got, err)
		}
	})
}

func TestBanErrors(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		test := createList(t, s, "test@example.com").ListID
		for _, c := range []struct {
			list, pattern string
			want          error
		}{
			{test, "^(unclosed", ErrBadValue},
			{test, "^a[b", ErrBadValue},
			{"", "^x**", ErrBadValue},
			{"", `^(?<=a)b`, ErrBadValue}, // Python's syntax, not RE2's
			{test, "", ErrBadValue},
			{test, "  ", ErrBadValue},
			{test, "anne @example.com", ErrBadValue},
			{"missing.example.com", "x@example.com", ErrNoSuchList},
			{"test@example.com", "x@example.com", ErrNoSuchList}, // an address, not a list-id
		} {
			if err := s.Ban(ctx, c.list, c.pattern); !errors.Is(err, c.want) {
				t.Errorf("Ban(%q, %q) = %v, want %v", c.list, c.pattern, err, c.want)
			}
		}
		if n := countRows(t, s, "bans", ""); n != 0 {
			t.Errorf("%d bans after failed Bans, want 0", n)
		}
		for _, list := range []string{"missing.example.com", "test@example.com"} {
			if got, err := s.Bans(ctx, list); !errors.Is(err, ErrNoSuchList) {
				t.Errorf("Bans(%q) = %q, %v; want ErrNoSuchList", list, got, err)
			}
			if got, err := s.IsBanned(ctx, list, "x@example.com"); !errors.Is(err, ErrNoSuchList) || got {
				t.Errorf("IsBanned(%q) = %v, %v; want ErrNoSuchList", list, got, err)
			}
		}
		if got, err := s.Bans(ctx, test); err != nil || got != nil {
			t.Errorf("Bans of a list without any = %q, %v; want none", got, err)
		}
	})
}

func TestCountAutoresponse(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		test := createList(t, s, "test@example.com")
		other := createList(t, s, "other@example.com")
		// 23:30 in New York on the 1st is the 2nd in UTC.
		ny := time.FixedZone("EST", -5*3600)
		day1 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
		day2 := time.Date(2025, 3, 1, 23, 30, 0, 0, ny)
		day3 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

		for i, c := range []struct {
			list    string
			address string
			day     time.Time
			want    int
		}{
			{test.ListID, "anne@example.com", day1, 1},
			{test.ListID, "anne@example.com", day1, 2},
			{test.ListID, "Anne@EXAMPLE.com", day1.Add(13 * time.Hour), 3}, // same address, same UTC day
			{test.ListID, "bob@example.com", day1, 1},                      // per address
			{other.ListID, "anne@example.com", day1, 1},                    // per list
			{test.ListID, "anne@example.com", day2, 1},                     // a new day (in UTC)
			{test.ListID, "bob@example.com", day2, 1},
			{test.ListID, "anne@example.com", day2, 2},
			{other.ListID, "anne@example.com", day1, 2}, // the other list kept its day
			{test.ListID, "anne@example.com", day3, 1},
		} {
			n, err := s.CountAutoresponse(ctx, c.list, c.address, c.day)
			if err != nil || n != c.want {
				t.Errorf("#%d: CountAutoresponse(%s, %s, %v) = %d, %v; want %d", i, c.list, c.address, c.day, n, err, c.want)
			}
		}
		// Only the last day's rows of each list are left.
		for _, c := range []struct {
			list *List
			days []string
		}{
			{test, []string{"2025-03-03"}},
			{other, []string{"2025-03-01"}},
		} {
			rows, err := s.db.QueryContext(ctx, `SELECT day FROM autoresponses WHERE list_id = $1`, c.list.id)
			if err != nil {
				t.Fatal(err)
			}
			var days []string
			for rows.Next() {
				var d string
				rows.Scan(&d)
				days = append(days, d)
			}
			rows.Close()
			if !slices.Equal(days, c.days) {
				t.Errorf("autoresponse days of %s = %q, want %q", c.list.ListID, days, c.days)
			}
		}

		// A missing list counts nothing.
		if n, err := s.CountAutoresponse(ctx, "missing.example.com", "anne@example.com", day3); !errors.Is(err, ErrNoSuchList) || n != 0 {
			t.Errorf("CountAutoresponse for a missing list = %d, %v; want ErrNoSuchList", n, err)
		}
		if n := countRows(t, s, "autoresponses", ""); n != 2 {
			t.Errorf("%d autoresponse rows, want 2", n)
		}
	})
}

// Counts made at once, by two stores on one database as by two runner
// processes, are each counted once: every count from 1 to n is returned
// exactly once.
func TestCountAutoresponseConcurrent(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.newDB(t)
		stores := []*Store{db.open(t), db.open(t)}
		l := createList(t, stores[0], "test@example.com")
		const workers, each = 8, 25
		day := time.Now()
		counts := make([][]int, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for range each {
					n, err := stores[w%2].CountAutoresponse(ctx, l.ListID, "Anne@example.com", day)
					if err != nil {
						t.Errorf("worker %d: CountAutoresponse: %v", w, err)
						return
					}
					counts[w] = append(counts[w], n)
				}
			})
		}
		wg.Wait()
		var all []int
		for _, c := range counts {
			all = append(all, c...)
		}
		slices.Sort(all)
		for i, n := range all {
			if n != i+1 {
				t.Fatalf("the counts returned, sorted, are %v; want 1 to %d", all, workers*each)
			}
		}
		if len(all) != workers*each {
			t.Errorf("%d counts returned, want %d", len(all), workers*each)
		}
	})
}

func TestHoldToken(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newStore(t, b)
		l := createList(t, s, "test@example.com")
		hex40 := regexp.MustCompile(`^[0-9a-f]{40}$`)

		before := time.Now()
		var ids []int64
		var tokens []string
		for i := range 3 {
			id, tok, err := s.Hold(ctx, &HeldMessage{ListID: l.ListID, Sender: "eve@example.com", Subject: string(rune('a' + i)), Message: []byte("x")}, time.Hour)
			if err != nil {
				t.Fatalf("Hold: %v", err)
			}
			if !hex40.MatchString(tok) || slices.Contains(tokens, tok) {
				t.Fatalf("Hold returned the token %q, want 40 new hex digits (have %q)", tok, tokens)
			}
			ids, tokens = append(ids, id), append(tokens, tok)
		}
		after := time.Now()

		for i, id := range ids {
			h, err := s.HeldMessage(ctx, id)
			if err != nil || h.Token != tokens[i] {
				t.Errorf("HeldMessage(%d) = %+v, %v; want token %s", id, h, err, tokens[i])
			}
			h, err = s.HeldByToken(ctx, tokens[i])
			if err != nil || h.ID != id || h.Token != tokens[i] || h.ListID != l.ListID {
				t.Errorf("HeldByToken(%s) = %+v, %v; want held message %d", tokens[i], h, err, id)
			}
		}
		if hs, err := s.HeldMessages(ctx, l.ListID); err != nil || len(hs) != 3 || hs[2].Token != tokens[2] {
			t.Errorf("HeldMessages = %+v, %v; want the tokens", hs, err)
		}
		for _, tok := range []string{"", "0123456789012345678901234567890123456789", strings.ToUpper(tokens[0]), tokens[0][:39]} {
			if h, err := s.HeldByToken(ctx, tok); !errors.Is(err, ErrNoSuchHeld) || h != nil {
				t.Errorf("HeldByToken(%q) = %+v, %v; want ErrNoSuchHeld", tok, h, err)
			}
		}

		// The token is a pending request's, for the list, about the message.
		p, err := s.TakePending(ctx, tokens[0])
		if err != nil {
			t.Fatalf("TakePending(%s): %v", tokens[0], err)
		}
		var payload struct {
			ID *int64 `json:"id"`
		}
		if err := json.Unmarshal(p.Payload, &payload); err != nil || payload.ID == nil || *payload.ID != ids[0] {
			t.Errorf("pending payload = %s, %v; want {\"id\": %d}", p.Payload, err, ids[0])
		}
		if PendingHeld != "held message" {
			t.Errorf("PendingHeld = %q, want Mailman's %q", PendingHeld, "held message")
		}
		if p.Type != PendingHeld || p.ListID != l.ListID || p.Token != tokens[0] {
			t.Errorf("pending = %+v, want a %q request of %s", p, PendingHeld, l.ListID)
		}
		if !within(p.CreatedAt, before, after) || !within(p.ExpiresAt, before.Add(time.Hour), after.Add(time.Hour)) {
			t.Errorf("pending made %v, expiring %v; want made now, expiring in an hour", p.CreatedAt, p.ExpiresAt)
		}
		// Taking the request leaves the message for DeleteHeld, and its token.
		if h, err := s.HeldByToken(ctx, tokens[0]); err != nil || h.ID != ids[0] {
			t.Errorf("HeldByToken after TakePending = %+v, %v", h, err)
		}
		if err := s.DeleteHeld(ctx, ids[0]); err != nil {
			t.Errorf("DeleteHeld of a message whose request was taken: %v", err)
		}

		// DeleteHeld removes the request with the message, and no other.
		if err := s.DeleteHeld(ctx, ids[1]); err != nil {
			t.Fatalf("DeleteHeld: %v", err)
		}
		if n := countRows(t, s, "pending", "token = $1", tokens[1]); n != 0 {
			t.Errorf("DeleteHeld left the message's pending request")
		}
		if _, err := s.TakePending(ctx, tokens[1]); !errors.Is(err, ErrNoSuchToken) {
			t.Errorf("TakePending after DeleteHeld = %v, want ErrNoSuchToken", err)
		}
		if h, err := s.HeldByToken(ctx, tokens[1]); !errors.Is(err, ErrNoSuchHeld) {
			t.Errorf("HeldByToken after DeleteHeld = %+v, %v; want ErrNoSuchHeld", h, err)
		}
		if n := countRows(t, s, "pending", "token = $1", tokens[2]); n != 1 {
			t.Errorf("DeleteHeld of another message removed this one's request")
		}

		// A request that expired is evicted; its message stays for a moderator.
		id, tok, err := s.Hold(ctx, &HeldMessage{ListID: l.ListID, Message: []byte("x")}, -time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.TakePending(ctx, tok); !errors.Is(err, ErrTokenExpired) {
			t.Errorf("TakePending of an expired held request = %v, want ErrTokenExpired", err)
		}
		if h, err := s.HeldByToken(ctx, tok); err != nil || h.ID != id {
			t.Errorf("HeldByToken after the request expired = %+v, %v", h, err)
		}
	})
}
