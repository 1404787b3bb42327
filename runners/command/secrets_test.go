package command

import (
	"bytes"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// anyToken is the form of every token the store makes.
var anyToken = regexp.MustCompile(`[0-9a-f]{40}`)

// TestTokensAreNotLogged: a confirmation token is a password for one
// request; whoever reads mailman.log must not be able to confirm a join or
// a leave with it. The log still says what happened, and to whom.
func TestTokensAreNotLogged(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	f.log = slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), nil))
	f.set(t, "send_welcome_message", "false")

	f.dispose(t, letter("", ""), "join")
	_, joinToken := confirmation(t, f.sent(t))
	f.dispose(t, letter("To: test-confirm+"+joinToken+"@example.com\r\n", ""), "confirm")
	if f.isMember(t, "anne@example.org") == nil {
		t.Fatal("not a member after confirming")
	}
	f.dispose(t, letter("", ""), "leave")
	_, leaveToken := confirmation(t, f.sent(t))
	f.dispose(t, letter("Subject: Re: confirm "+leaveToken+"\r\n", ""), "request")

	// A moderated join: the moderators get a token of their own.
	f.set(t, "subscription_policy", "confirm_then_moderate")
	f.dispose(t, letter("From: bart@example.org\r\n", ""), "join")
	_, bartToken := confirmation(t, f.sent(t))
	f.dispose(t, letter("From: bart@example.org\r\nTo: test-confirm+"+bartToken+"@example.com\r\n", ""), "confirm")
	if !strings.Contains(logs.String(), "moderators asked") {
		t.Fatalf("the moderators were not asked:\n%s", logs.String())
	}
	if tokens := anyToken.FindAllString(logs.String(), -1); len(tokens) > 0 {
		t.Errorf("the log shows tokens %q:\n%s", tokens, logs.String())
	}
	if !strings.Contains(logs.String(), "anne@example.org") {
		t.Errorf("the log does not say whom the requests were for:\n%s", logs.String())
	}
}
