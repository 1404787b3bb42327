// Package command is the runner of the command queue: the mail people send
// to a list's -request, -join, -leave and -confirm addresses. It runs the
// email commands (confirm, echo, end, help, join, leave, stop, subscribe,
// unsubscribe, who), carries out the subscription and unsubscription
// workflows with their confirmation tokens, confirms the moderation of a
// held post, and answers with "The results of your email commands".
//
// Commands are a table (commands.go): a name, what it takes, its help, and
// a function given the session and its words. A command says whether the
// next line is read. The package knows the store and the switchboard; what
// it sends goes through the virgin queue, and an approved held post goes to
// the pipeline queue through package moderation.
package command

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/moderation"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/mta"
	"github.com/mailman-go/mailman/notice"
	"github.com/mailman-go/mailman/runners"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// Settings are the site settings the runner applies.
type Settings struct {
	// PendingRequestLife is how long a token sent to a subscriber stays
	// valid; ModeratorRequestLife, one sent to the moderators.
	PendingRequestLife   time.Duration
	ModeratorRequestLife time.Duration
	// MaxAutoresponsesPerDay is how much mail the list writes to one
	// address in a day, counted with the incoming runner's held-post
	// notices; 0 means no limit.
	MaxAutoresponsesPerDay int
	// MaxReplySize is the most bytes of results a reply carries.
	MaxReplySize int
}

// Handler runs the commands of the entries of the command queue.
type Handler struct {
	Store     *store.Store
	Virgin    *switchboard.Switchboard
	Moderator *moderation.Moderator
	Settings  Settings
	// Now is the clock; tests set it.
	Now func() time.Time
}

// New is the runner's handler for a site.
func New(s *runners.Site) (runners.Handler, error) {
	st, err := s.Store()
	if err != nil {
		return nil, err
	}
	virgin, err := s.Queue("virgin")
	if err != nil {
		return nil, err
	}
	pipeline, err := s.Queue("pipeline")
	if err != nil {
		return nil, err
	}
	return &Handler{
		Store: st, Virgin: virgin,
		Moderator: &moderation.Moderator{Store: st, Pipeline: pipeline, Virgin: virgin},
		Settings: Settings{
			PendingRequestLife:     s.Config.Mailman.PendingRequestLife.D(),
			ModeratorRequestLife:   s.Config.Mailman.ModeratorRequestLife.D(),
			MaxAutoresponsesPerDay: s.Config.MTA.MaxAutoresponsesPerDay,
			MaxReplySize:           s.Config.Mailman.EmailCommandsMaxReplySize,
		},
	}, nil
}

// Dispose runs the commands of one message. A store that cannot be reached
// is a temporary failure (the loop decides): the message stays queued.
func (h *Handler) Dispose(ctx context.Context, e *switchboard.Entry, log *slog.Logger) (runners.Outcome, error) {
	list, err := runners.EntryList(ctx, h.Store, e)
	if err != nil {
		return runners.Done, err
	}
	msg, err := message.Parse(e.Message)
	if err != nil {
		return runners.Done, fmt.Errorf("entry %s: %w", e.Name, err)
	}
	log = log.With("list", list.ListID)
	if why := automatic(msg); why != "" {
		log.Info("command message discarded: it was sent automatically", "why", why)
		return runners.Done, nil
	}
	s := &session{h: h, ctx: ctx, list: list, msg: msg, md: e.Msgdata, now: h.now(), respond: true, log: log, seen: map[string]bool{}}
	if addrs := senders(msg); len(addrs) > 0 {
		s.sender = addrs[0]
	}
	return runners.Done, s.run()
}

// evictEvery is how often expired requests are removed, as Mailman's
// task runner does every run_tasks_every.
const evictEvery = time.Hour

// Every is how often Tick runs.
func (h *Handler) Every() time.Duration { return evictEvery }

// Tick removes the pending requests whose time ran out, so that no token
// outlives its pending_request_life (or moderator_request_life) even if
// no one ever tries it.
func (h *Handler) Tick(ctx context.Context, log *slog.Logger) error {
	n, err := h.Store.EvictExpired(ctx, h.now())
	if err != nil {
		return fmt.Errorf("evict expired requests: %w", err)
	}
	if n > 0 {
		log.Info("expired requests removed", "count", n)
	}
	return nil
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// automatic says why msg must get neither an answer nor an action, or "":
// it is bulk, junk or list mail that did not ask for an acknowledgement, or
// was sent automatically (RFC 3834). Answering those is how two robots
// start writing to each other forever.
func automatic(msg *message.Message) string {
	if why := notice.BulkPrecedence(msg); why != "" {
		return why
	}
	return notice.AutoSubmitted(msg)
}

// senders are the message's sender addresses in Mailman's order: From,
// the envelope sender (X-MailFrom), Reply-To, Sender. The first is whom
// the results go to and whom leave removes.
func senders(msg *message.Message) []string {
	var out []string
	for _, a := range msg.Addresses("From", "X-MailFrom", "Reply-To", "Sender") {
		if strings.Contains(a, "@") {
			out = append(out, a)
		}
	}
	return out
}

// session is one message's commands being run, with the results so far.
type session struct {
	h    *Handler
	ctx  context.Context
	list *store.List
	msg  *message.Message
	md   switchboard.Msgdata
	now  time.Time
	log  *slog.Logger

	sender string
	out    strings.Builder
	// respond says whether the results are sent: not for a bare -join,
	// -leave or -confirm message, unless something went wrong that the
	// sender must hear about.
	respond bool
	// seen are the tokens confirmed and the addresses joined or left by
	// this message, so that a command given twice (in the Subject and the
	// body, say) acts once.
	seen map[string]bool
}

// printf adds a line to the results.
func (s *session) printf(format string, args ...any) {
	fmt.Fprintf(&s.out, format+"\n", args...)
}

// once reports whether what is named by key is met for the first time in
// this message.
func (s *session) once(key string) bool {
	if s.seen[key] {
		return false
	}
	s.seen[key] = true
	return true
}

// run answers an automatic response to -request mail when the list sends
// one, runs the commands, and sends the results.
func (s *session) run() error {
	if s.md.Bool(msgdata.ToRequest) && s.list.AutorespondRequests != "none" {
		if err := s.autorespond(); err != nil {
			return err
		}
		if s.list.AutorespondRequests == "respond_and_discard" {
			s.log.Info("request message answered automatically and discarded")
			return nil
		}
	}
	var remaining []string
	ignored := 0
	var err error
	switch sub := s.md.String(msgdata.Subaddress); sub {
	case "join", "leave", "confirm":
		// The address is the command: nothing else in the message is read,
		// and all went well unless a command says otherwise.
		s.respond = false
		args := []string{sub}
		if sub == "confirm" {
			token, ok := confirmToken(s.msg.Get("To"))
			if !ok {
				s.log.Info("confirmation message without a token in its To header")
				return nil
			}
			args = append(args, strings.ToLower(token))
		}
		s.results()
		_, err = s.execute(args)
	default:
		sc := findScript(s.msg)
		s.results()
		if sc.partial || sc.noText {
			s.printf("Ignoring non-text/plain MIME parts")
		}
		remaining, err = s.runLines(sc.lines)
		ignored = sc.ignored
	}
	if err != nil {
		return err
	}
	s.section("Unprocessed", remaining)
	if ignored > 0 {
		s.printf("\n- Ignored:\n%d more lines, after the first %d, not read", ignored, maxBodyLines)
	}
	s.printf("\n- Done.")
	if !s.respond {
		return nil
	}
	if s.sender == "" {
		s.log.Info("command results not sent: the message has no sender address")
		return nil
	}
	fields := notice.Fields(s.list, notice.Address(s.list, mta.Bounces), s.sender, "The results of your email commands", s.now)
	return s.tell(s.sender, "command results", message.NewText(fields, s.cutResults()))
}

// cutResults returns the results, cut at a line break to fit the site's
// email_commands_max_reply_size with a line that says so.
func (s *session) cutResults() string {
	out, limit := s.out.String(), s.h.Settings.MaxReplySize
	if limit <= 0 || len(out) <= limit {
		return out
	}
	note := fmt.Sprintf("\n[The results are cut here: a reply carries at most %d bytes of them.]\n", limit)
	cut := strings.LastIndexByte(out[:max(limit-len(note), 0)], '\n') + 1
	s.log.Info("command results cut", "count", len(out))
	return out[:cut] + note
}

// mayMail counts one more message the list writes to addr today and
// reports whether it is within [mta] max_autoresponses_per_day, the count
// the held-post notices keep too: a forged command names anyone, and
// without it every one would make the list write to them.
func (s *session) mayMail(addr, what string) (bool, error) {
	limit := s.h.Settings.MaxAutoresponsesPerDay
	if limit <= 0 {
		return true, nil
	}
	n, err := s.h.Store.CountAutoresponse(s.ctx, s.list.ListID, addr, s.now)
	if err != nil {
		return false, err
	}
	if n > limit {
		s.log.Info(what+" not sent: the address has had the most mail the list writes to one in a day", "rcpt", addr, "count", n)
		return false, nil
	}
	return true, nil
}

// tell sends msg, which says what, to addr, within the daily limit.
func (s *session) tell(addr, what string, msg []byte) error {
	ok, err := s.mayMail(addr, what)
	if err != nil || !ok {
		return err
	}
	s.log.Info(what+" sent", "rcpt", addr)
	return s.send(msg, addr)
}

// results starts the results with the original's details, as Mailman's
// reply does; the original itself is not sent back, which would make the
// list a relay for whatever it carried.
func (s *session) results() {
	s.printf("The results of your email command are provided below.\n")
	s.printf("- Original message details:")
	for _, name := range []string{"From", "Subject", "Date", "Message-ID"} {
		v := clip(strings.TrimSpace(s.msg.Decoded(name)))
		if v == "" {
			v = "n/a"
		}
		s.printf("    %s: %s", name, v)
	}
	s.printf("\n- Results:")
}

// runLines runs the command of each line until one says stop, and returns
// the lines left.
func (s *session) runLines(lines []string) ([]string, error) {
	for i, line := range lines {
		ws := words(asciiOnly(line))
		if len(ws) == 0 {
			continue
		}
		goOn, err := s.execute(ws)
		if err != nil {
			return nil, err
		}
		if !goOn {
			return lines[i+1:], nil
		}
	}
	return nil, nil
}

// execute runs the command named by the first word or, failing that, the
// second (for "Re: confirm TOKEN"); it reports whether to go on.
func (s *session) execute(ws []string) (bool, error) {
	name := ws[0]
	c, ok := commands[name]
	args := ws[1:]
	if !ok && len(ws) > 1 {
		name, args = ws[1], ws[2:]
		c, ok = commands[name]
	}
	if !ok {
		s.printf("No such command: %s", name)
		return true, nil
	}
	s.log.Info("command", "command", name, "sender", s.sender)
	return c.run(s, name, args)
}

// section adds the non-blank lines under a heading, when there are any.
func (s *session) section(heading string, lines []string) {
	var kept []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			kept = append(kept, l)
		}
	}
	if len(kept) == 0 {
		return
	}
	s.printf("\n- %s:", heading)
	for _, l := range kept {
		s.printf("%s", l)
	}
}

// send queues a message the runner wrote for the virgin runner.
func (s *session) send(msg []byte, recipients ...string) error {
	_, err := s.h.Virgin.Enqueue(msg, notice.Msgdata(s.list, recipients))
	return err
}

// autorespond sends the list's automatic answer to -request mail, at most
// once in the list's grace period to one address, and never to mail that
// asked for no acknowledgement.
func (s *session) autorespond() error {
	if s.sender == "" || strings.EqualFold(strings.TrimSpace(s.msg.Get("X-Ack")), "no") || s.msg.Has("X-No-Ack") {
		return nil
	}
	grace := time.Duration(s.list.AutoresponseGracePeriod) * 24 * time.Hour
	due, err := s.h.Store.AutoresponseDue(s.ctx, s.list.ListID, s.sender, "request", grace, s.now)
	if err != nil || !due {
		return err
	}
	subject := fmt.Sprintf("Auto-response for your message to the \"%s\" mailing list", s.list.DisplayName)
	fields := append(notice.Fields(s.list, notice.Address(s.list, mta.Bounces), s.sender, subject, s.now),
		message.Field{Name: "X-Mailer", Value: "mailman-go replybot"},
		message.Field{Name: "X-Ack", Value: "No"})
	text := s.list.AutoresponseRequestText
	if strings.TrimSpace(text) == "" {
		text = fmt.Sprintf("Your message to %s has been received.\n", notice.Address(s.list, mta.Request))
	}
	return s.tell(s.sender, "automatic answer to a request message", message.NewText(fields, text))
}
