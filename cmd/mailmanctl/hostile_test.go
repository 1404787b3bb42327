package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/store"
)

// TestHostileListNames checks that every command taking a list name refuses
// one that could be used as a path (CVE-2015-2775: Mailman 2 built file
// paths from list names), and that nothing is written outside var_dir.
func TestHostileListNames(t *testing.T) {
	names := []string{"../etc@example.com", "a/b@example.com", "a..b@example.com", "..@example.com", "/etc@example.com", "a\\b@example.com"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c := newCtl(t)
			c.check("", []string{"lists", "create", "good@example.com"}, exitOK, "Created mailing list")
			c.check("", []string{"lists", "create", name}, exitUsage, "is not a list address")
			c.check(message, []string{"inject", "--list", name, "-"}, exitUsage, "is not a list address")
			c.check("", []string{"members", "add", name, "anne@example.com"}, exitUsage, "is not a list address")
			// The refusals left nothing beside the configuration and var_dir.
			entries, err := os.ReadDir(c.dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Name() != "mailman.toml" && e.Name() != "var" {
					t.Errorf("%s appeared beside var_dir", e.Name())
				}
			}
			if leaked, _ := filepath.Glob(filepath.Join(c.dir, "var", "queue", "*", "*")); len(leaked) > 0 {
				t.Errorf("queued despite the refusal: %v", leaked)
			}
			code, out, _ := c.run("", "lists", "list")
			if code != exitOK || strings.Count(out, "@") != 1 {
				t.Errorf("lists after the refusals: %d %q", code, out)
			}
		})
	}
}

func TestTerminalSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, Grüße", "plain text, Grüße"},
		{"\x1b[2J\x1b]0;owned\x07", `\x1b[2J\x1b]0;owned\x07`},
		{"line\r\nbreak", `line\x0d\x0abreak`},
		{"tab\tbed", "tab bed"},
		{"\u202egnp.exe", `\u202egnp.exe`},
		{"c1 \u009b control", `c1 \x9b control`},
		{"del\x7f", `del\x7f`},
	}
	for _, tt := range tests {
		if got := terminalSafe(tt.in); got != tt.want {
			t.Errorf("terminalSafe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestHeldListIsTerminalSafe: a hostile subject or sender cannot reach the
// terminal of the moderator who lists the held posts; --json keeps them.
func TestHeldListIsTerminalSafe(t *testing.T) {
	c := newCtl(t)
	c.check("", []string{"lists", "create", "test@example.com"}, exitOK, "Created mailing list")
	st := c.store(t)
	subject := "\x1b[2J\x1b[31mURGENT\r\nID 7 accepted"
	_, _, err := st.Hold(context.Background(), &store.HeldMessage{ListID: "test.example.com", Sender: "x\x1b@example.org", Subject: subject,
		MessageID: "<h@example.org>", Reasons: []string{"test"}, Message: []byte("Subject: x\x1b[2J\r\n\r\nbody\x07\r\n")}, time.Hour)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"held", "list"}, {"held", "show", "1"}} {
		code, out, errOut := c.run("", args...)
		if code != exitOK {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
		if strings.ContainsAny(out, "\x1b\x07") || strings.Contains(out, "\r\nID 7") {
			t.Errorf("%v prints control characters: %q", args, out)
		}
	}
	code, out, _ := c.run("", "held", "list", "--json")
	var hs []struct{ Subject string }
	if err := json.Unmarshal([]byte(out), &hs); code != exitOK || err != nil || len(hs) != 1 || hs[0].Subject != subject {
		t.Errorf("held list --json: %v %q", err, out)
	}
	// The list as the table names it, by its list-id, or by its address.
	for _, list := range []string{"test.example.com", "test@example.com"} {
		if code, out, errOut := c.run("", "held", "list", list, "--json"); code != exitOK || !strings.Contains(out, `"list": "test.example.com"`) {
			t.Errorf("held list %s: %d %s%s", list, code, out, errOut)
		}
	}
}

// TestModerationIsLogged: a decision made with mailmanctl is in the site's
// log, as one made by mail is, with who made it.
func TestModerationIsLogged(t *testing.T) {
	for _, verb := range []string{"accept", "reject", "discard"} {
		t.Run(verb, func(t *testing.T) {
			c := newCtl(t)
			c.check("", []string{"lists", "create", "test@example.com"}, exitOK, "Created mailing list")
			st := c.store(t)
			id, _, err := st.Hold(context.Background(), &store.HeldMessage{ListID: "test.example.com", Sender: "zoe@example.org", Subject: "hi",
				MessageID: "<held@example.org>", Reasons: []string{"test"}, Message: []byte("Message-ID: <held@example.org>\r\nSubject: hi\r\n\r\nbody\r\n")}, time.Hour)
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
			c.check("", []string{"held", verb, fmt.Sprint(id)}, exitOK, "held message")
			cfg, err := config.Load(c.config)
			if err != nil {
				t.Fatal(err)
			}
			log, err := os.ReadFile(cfg.Paths().Log)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf(`msg="held message %sed" runner=mailmanctl`, strings.TrimSuffix(verb, "e"))
			if !strings.Contains(string(log), want) || !strings.Contains(string(log), "held_message_id=<held@example.org>") || !strings.Contains(string(log), " user=") {
				t.Errorf("the log does not hold %q with the post and the user:\n%s", want, log)
			}
		})
	}
}
