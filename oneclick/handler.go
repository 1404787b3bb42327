package oneclick

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/subscription"
)

// Handler answers the links: a POST of List-Unsubscribe=One-Click (what
// a mailbox provider sends, RFC 8058 §3.2, and what the page's button
// sends) removes the member at once, and says so again for one already
// gone; a GET shows the page with the button and changes nothing, for
// link scanners follow every GET; a link whose token is not good gets 400
// and nothing else happens.
type Handler struct {
	Keys     *Keys
	Store    *store.Store
	Workflow *subscription.Workflow
	Log      *slog.Logger
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}}</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto">
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{if .Button}}<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe {{.Address}}</button></form>{{end}}
</body></html>
`))

type pageData struct {
	Title, Text, Address string
	Button               bool
}

func (h *Handler) show(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	page.Execute(w, d)
}

// ServeHTTP answers one link.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	listID, address, token, err := ParsePath(r.URL.Path)
	if err == nil {
		err = h.Keys.Check(listID, address, token)
	}
	if err != nil {
		h.show(w, http.StatusBadRequest, pageData{Title: "Not an unsubscribe link", Text: "This link is not one the list sent, or it was changed on the way."})
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.show(w, http.StatusOK, pageData{Title: "Unsubscribe from " + listID,
			Text: "Press the button to stop the mail of " + listID + " to " + address + ".", Address: address, Button: true})
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if err := r.ParseForm(); err != nil || r.PostForm.Get("List-Unsubscribe") != "One-Click" {
			h.show(w, http.StatusBadRequest, pageData{Title: "Not a one-click request", Text: "The request must carry List-Unsubscribe=One-Click (RFC 8058)."})
			return
		}
		gone, err := h.unsubscribe(r.Context(), listID, address)
		if err != nil {
			h.Log.Error("one-click unsubscribe failed", "list", listID, "address", address, "error", err)
			h.show(w, http.StatusServiceUnavailable, pageData{Title: "Not now", Text: "The list cannot take the request now; please try again later."})
			return
		}
		text := address + " will get no more mail from " + listID + "."
		if !gone {
			text = address + " is not a member of " + listID + " (any more)."
		}
		h.show(w, http.StatusOK, pageData{Title: "Unsubscribed", Text: text})
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.show(w, http.StatusMethodNotAllowed, pageData{Title: "Not allowed", Text: "A link is opened (GET) or sent (POST), nothing else."})
	}
}

// unsubscribe removes address from the list at once, as confirmed and
// approved: the link is the member's own, and RFC 8058 asks for no more.
// gone is false when there was no such member (or list) to remove.
func (h *Handler) unsubscribe(ctx context.Context, listID, address string) (gone bool, err error) {
	l, err := h.Store.ListByID(ctx, listID)
	if errors.Is(err, store.ErrNoSuchList) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = h.Workflow.Unsubscribe(ctx, l, address, subscription.Flags{PreConfirmed: true, PreApproved: true})
	switch {
	case errors.Is(err, store.ErrNoSuchMember):
		return false, nil
	case errors.Is(err, subscription.ErrUnsubPending):
		// A request by mail or on the web waits for its confirmation:
		// the click is one.
		p, perr := h.Store.PendingFor(ctx, listID, subscription.PendingUnsubscription, address)
		if perr != nil {
			return false, perr
		}
		if err := h.Store.DeletePending(ctx, p.Token); err != nil {
			return false, err
		}
		_, err = h.Workflow.Unsubscribe(ctx, l, address, subscription.Flags{PreConfirmed: true, PreApproved: true})
	}
	if err != nil {
		return false, err
	}
	h.Log.Info("one-click unsubscribe", "list", listID, "address", address)
	return true, nil
}
