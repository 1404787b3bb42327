package runners

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// logKeys is the one vocabulary of the keys of log lines, across the
// module: a key means the same thing in every line that has it, so that
// `grep list=test.example.com` finds every line about a list and nothing
// else. A new key is added here, with what it means.
var logKeys = map[string]string{
	// What a line is about.
	"list":            "a list-id (test.example.com), never a posting address",
	"entry":           "the name of the queue entry being handled",
	"new_entry":       "the name of the entry written to the next queue",
	"retry_entry":     "the name of the entry parked in the retry queue",
	"shunt_entry":     "the name of the entry written to the shunt queue",
	"file":            "a queue file not yet read as an entry",
	"queue":           "a queue's name",
	"message_id":      "the Message-ID of the message being handled",
	"held_id":         "the number of a held post",
	"held_message_id": "the Message-ID of a held post, when another message is being handled",
	"rcpt":            "a recipient's address",
	"recipients":      "the recipients of a delivery, or how many",
	"sender":          "the sender of the message being handled (envelope or header)",
	"address":         "a member's address",
	"subaddress":      "the list sub-address a message was sent to",
	"type":            "the type of a pending request",
	"command":         "an email command",
	"delivery_mode":   "a member's delivery mode",
	"role":            "a member's role: member, owner, moderator or nonmember",
	"domain":          "a domain's mail host",
	"style":           "the style a list was made with",
	"archiver":        "one of Mailman's archivers: prototype, mail-archive, mhonarc, hyperkitty",
	"attempt":         "the how-manyth try of an archiver this is",
	"position":        "a header match's place in its list's order",
	"method":          "the HTTP method of a REST request",
	"path":            "the path of a REST request",
	"api_version":     "the REST API version the root answers with",
	// Who logs.
	"runner":    "the runner (its name), or master",
	"slice":     "the runner's slice, SLICE:COUNT",
	"pid":       "the logging process",
	"child":     "the runner slice a master line is about, NAME:SLICE:COUNT",
	"child_pid": "that runner's process",
	"runners":   "the runner slices the master starts",
	"user":      "the user who ran a mailmanctl command that changed something",
	"by":        "the interface a change came through (rest), when not the logging runner's own doing",
	// What happened.
	"error":         "what went wrong",
	"cause":         "why a message was shunted, when error says why shunting failed",
	"reason":        "why something was decided (preserved, given up, sent without a footer)",
	"reasons":       "why a post was held or rejected",
	"why":           "why a message got no answer, or a digest was sent (size, periodic, forced)",
	"task":          "a scheduler job (digests, upkeep, notify)",
	"personalize":   "a list's personalize setting as a delivery applied it (none, individual, full)",
	"policy":        "a From domain's DMARC policy (reject, quarantine; unknown when the lookup failed)",
	"action":        "what a list does about it (its dmarc_mitigate_action)",
	"template":      "a template's name, as Mailman names them (list:member:digest:header)",
	"result":        "what a scheduler job did, in a few words",
	"next":          "when a scheduler job is due next (RFC 3339)",
	"volume":        "a digest's volume",
	"number":        "a digest's issue number in its volume",
	"posts":         "how many posts a digest holds",
	"reply":         "the mail server's reply",
	"exit":          "how a runner process ended",
	"restarts":      "how often a runner was restarted",
	"last_output":   "the last lines a runner wrote before it ended",
	"line":          "one line a runner wrote",
	"hits":          "the rules that matched",
	"count":         "how many",
	"size":          "a message's size in bytes",
	"status":        "an RFC 3463 status code (5.1.1) a bounce or a refusal gave",
	"score":         "a member's bounce score",
	"threshold":     "a list's bounce_score_threshold",
	"warnings":      "how many bounce warnings a member was sent",
	"attempts":      "how many attempts so far",
	"delivered":     "recipients the mail server took",
	"refused":       "recipients it refused for good",
	"deferred":      "recipients it refused for now",
	"verp":          "whether the delivery was VERPed",
	"duration":      "how long it took",
	"due":           "when a deferred entry is due",
	"until":         "until when an entry is kept",
	"deliver_until": "when retrying a delivery stops",
	"pause":         "how long the runner pauses",
	"delay":         "how long before the next try",
	"retry_in":      "how long before the next try",
	"after":         "how long it took before this happened",
	"sleep_time":    "[runner.NAME] sleep_time",
	"stop_timeout":  "[master] stop_timeout",
	// Where.
	"var_dir": "the site's var_dir",
	"listen":  "the address a server listens on",
	"remote":  "the address of a server's client",
	"socket":  "the unix socket it also listens on",
	"host":    "the mail server's host",
	"port":    "the mail server's port",
}

// TestLogKeysAreOneVocabulary reads every log call of the module's
// programs (not tests or developer tools) and fails on a key not in
// logKeys.
func TestLogKeysAreOneVocabulary(t *testing.T) {
	root := filepath.Join("..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || path == filepath.Join(root, "internal")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			first := 0
			switch sel.Sel.Name {
			case "Info", "Warn", "Error", "Debug":
				first = 1 // after the message
			case "With":
			default:
				return true
			}
			for i := first; i < len(call.Args); i += 2 {
				lit, ok := call.Args[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				key, _ := strconv.Unquote(lit.Value)
				if _, ok := logKeys[key]; !ok {
					t.Errorf("%s: log key %q is not in the vocabulary (runners/logkeys_test.go)", path, key)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
