package lmtp

import "bytes"

// corrected are go-smtp's replies that RFC 5321 and RFC 3463 word
// otherwise, by the start of the reply line as go-smtp writes it (one line
// per Write). Each is a go-smtp bug still there in v0.26.0;
// TestCorrectedRepliesAreGoSMTPs fails when go-smtp stops writing one.
var corrected = []struct{ from, to string }{
	// go-smtp answers a command out of order with 502 ("not implemented");
	// it is 503, and RFC 2033 insists on 503 for DATA with no accepted
	// recipient.
	{"502 5.5.1 Please introduce yourself first.", "503 5.5.1 Please introduce yourself first."},
	{"502 5.5.1 Missing MAIL FROM command.", "503 5.5.1 Missing MAIL FROM command."},
	{"502 5.5.1 Missing RCPT TO command.", "503 5.5.1 Missing RCPT TO command."},
	// go-smtp gives an unknown command X.5.2 (syntax error); it is X.5.1,
	// an invalid command.
	{"500 5.5.2 Syntax errors, ", "500 5.5.1 Syntax errors, "},
	// go-smtp answers a line that is no command at all with 501 (a bad
	// argument); it is a syntax error, 500.
	{"501 5.5.2 Bad command", "500 5.5.2 Bad command"},
	// go-smtp closes the connection after too many errors with a 500,
	// which tells the MTA to bounce the mail it has not sent yet; it is a
	// 421, as for every closing by the server.
	{"500 5.5.1 Too many errors. Quiting now", "421 4.7.0 Too many errors, closing connection"},
	// go-smtp calls a line over its limit a network error (X.4.0); it is a
	// syntax error. (Only a message line gets to go-smtp's limit: a
	// command line over RFC 5321's gets replyTooLong.)
	{"500 5.4.0 Too long line", "500 5.5.2 Too long line"},
	// go-smtp answers an unknown MAIL or RCPT parameter with 500; it is 555
	// (RFC 5321 §4.1.1.11).
	{"500 5.5.4 Unknown ", "555 5.5.4 Unknown "},
	// go-smtp gives a bad sender and a bad recipient address X.5.2, and
	// accepting them X.0.0; RFC 3463 has codes of their own.
	{"501 5.5.2 Was expecting MAIL arg syntax", "501 5.1.7 Was expecting MAIL arg syntax"},
	{"501 5.5.2 Was expecting RCPT arg syntax", "501 5.1.3 Was expecting RCPT arg syntax"},
	{"250 2.0.0 Roger, accepting mail from ", "250 2.1.0 Roger, accepting mail from "},
	{"250 2.0.0 I'll make sure <", "250 2.1.5 I'll make sure <"},
}

// Replies limitConn gives in go-smtp's place (see readCommand).
const (
	// A command line over the limit (RFC 5321 §4.2.2); see maxCommandLine.
	replyTooLong = "500 5.5.2 Command line too long\r\n"
	// CHUNKING is not offered (correct drops it from the LHLO reply), and
	// BDAT is refused: go-smtp's BDAT answers a failure once instead of
	// once per recipient, and its goroutine for the message panics when
	// the client goes away first. go-smtp never sees a BDAT; the bytes
	// that follow one are commands, as for any server without CHUNKING
	// (RFC 3030 §2).
	replyNoBDAT = "502 5.5.1 BDAT not offered, use DATA\r\n"
	// go-smtp answers a VRFY without an argument as one with it (252);
	// VRFY takes a string (RFC 5321 §4.1.1.6), and a missing argument is
	// 501, X.5.4 (invalid command arguments, RFC 3463).
	replyVRFY = "501 5.5.4 Syntax: VRFY <address>\r\n"
	// A session over its bounds (see limitConn.overLimit) is closed with
	// a 421, as every closing by the server: the MTA tries again on a new
	// connection.
	replyOverLimit = "421 4.7.0 Session limit reached, closing connection\r\n"
)

// answer is limitConn's reply to a whole command line that go-smtp would
// answer wrongly, or "" for one go-smtp answers itself.
func answer(line []byte) string {
	text := bytes.TrimRight(line, "\r\n")
	if len(text) < 4 || len(text) > 4 && text[4] != ' ' && text[4] != '\t' {
		return ""
	}
	switch verb := text[:4]; {
	case bytes.EqualFold(verb, []byte("BDAT")):
		return replyNoBDAT
	case bytes.EqualFold(verb, []byte("VRFY")) && len(bytes.TrimSpace(text[4:])) == 0:
		return replyVRFY
	}
	return ""
}

// correct returns the reply line go-smtp wrote in p as the client gets it,
// or nil for none.
func (c *limitConn) correct(p []byte) []byte {
	// go-smtp's own size limit is off (see newSMTPServer), so it
	// advertises SIZE without a number; the LHLO reply gets the real one,
	// and no CHUNKING (see replyNoBDAT). TestRewrittenLinesAreGoSMTPs checks
	// that go-smtp writes both lines.
	if s := bytes.TrimRight(p, "\r\n"); len(s) > 4 && bytes.HasPrefix(s, []byte("250")) && (s[3] == '-' || s[3] == ' ') {
		switch string(s[4:]) {
		case "SIZE":
			return append(s[:4:4], c.size+"\r\n"...)
		case "CHUNKING":
			if s[3] == '-' { // never the last line: SIZE follows
				return nil
			}
		}
	}
	for _, r := range corrected {
		if bytes.HasPrefix(p, []byte(r.from)) {
			return append([]byte(r.to), p[len(r.from):]...)
		}
	}
	return p
}

// sanitize makes a reply line 7-bit text. go-smtp puts what the client
// sent into some replies (the unknown verb, the addresses): a CR in them
// would end the reply line early for the client, a byte over 127 is not
// text without SMTPUTF8.
func sanitize(line []byte) {
	text := bytes.TrimSuffix(line, []byte("\r\n"))
	for i, b := range text {
		if (b < ' ' && b != '\t') || b > '~' {
			text[i] = '?'
		}
	}
}
