package moderation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailman-go/mailman/internal/runnertest"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/store"
)

// hold holds a post from sender, with the headers extra, as the incoming
// runner does.
func hold(t *testing.T, site *runnertest.Site, sender, extra string) *store.HeldMessage {
	t.Helper()
	raw := "From: " + sender + "\r\nTo: test@example.com\r\nSubject: Hi\r\nMessage-ID: <held@example.org>\r\n" + extra + "\r\nHello\r\n"
	h := &store.HeldMessage{ListID: "test.example.com", Sender: sender, Subject: "Hi", Reasons: []string{"Post by non-member"},
		Message: []byte(raw), Msgdata: []byte(`{"listid":"test.example.com","to_list":true}`)}
	id, token, err := site.Store.Hold(context.Background(), h, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h.ID, h.Token = id, token
	return h
}

func TestModerator(t *testing.T) {
	tests := []struct {
		name     string
		extra    string // header fields of the held post
		decide   func(m *Moderator, id int64) (*store.HeldMessage, error)
		pipeline int // entries queued for the pipeline
		notices  int // notices queued for virgin
	}{
		{"accept", "", func(m *Moderator, id int64) (*store.HeldMessage, error) { return m.Accept(context.Background(), id) }, 1, 0},
		{"reject", "", func(m *Moderator, id int64) (*store.HeldMessage, error) {
			return m.Reject(context.Background(), id, "Off topic")
		}, 0, 1},
		{"reject an automatic reply", "Auto-Submitted: auto-replied\r\n", func(m *Moderator, id int64) (*store.HeldMessage, error) {
			return m.Reject(context.Background(), id, "")
		}, 0, 0},
		{"discard", "", func(m *Moderator, id int64) (*store.HeldMessage, error) { return m.Discard(context.Background(), id) }, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			site := runnertest.New(t, map[store.Role][]string{store.Owner: {"owner@example.com"}})
			pipeline, virgin := site.Queue("pipeline"), site.Queue("virgin")
			m := &Moderator{Store: site.Store, Pipeline: pipeline, Virgin: virgin}
			h := hold(t, site, "zoe@example.org", tt.extra)
			if _, err := tt.decide(m, h.ID); err != nil {
				t.Fatal(err)
			}
			out := runnertest.Queued(t, pipeline)
			if len(out) != tt.pipeline {
				t.Fatalf("pipeline has %d entries, want %d", len(out), tt.pipeline)
			}
			for _, e := range out {
				if !e.Msgdata.Bool(msgdata.ModeratorApproved) || e.Msgdata.String(msgdata.ListID) != "test.example.com" {
					t.Errorf("accepted post's metadata: %v", e.Msgdata)
				}
			}
			ns := runnertest.Queued(t, virgin)
			if len(ns) != tt.notices {
				t.Fatalf("virgin has %d notices, want %d", len(ns), tt.notices)
			}
			for _, n := range ns {
				msg, err := message.Parse(n.Message)
				if err != nil {
					t.Fatal(err)
				}
				if msg.Get("To") != "zoe@example.org" || msg.Get("From") != "test-owner@example.com" || !strings.Contains(string(n.Message), "Off topic") {
					t.Errorf("rejection notice:\n%s", n.Message)
				}
			}
			if _, err := m.Accept(ctx, h.ID); !errors.Is(err, store.ErrNoSuchHeld) {
				t.Errorf("deciding twice: %v, want ErrNoSuchHeld", err)
			}
			if _, err := site.Store.TakePending(ctx, h.Token); !errors.Is(err, store.ErrNoSuchToken) {
				t.Errorf("the decided post's token: %v, want it gone", err)
			}
		})
	}
}
