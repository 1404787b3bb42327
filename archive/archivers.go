package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailman-go/mailman/internal/atomicfile"
	"github.com/mailman-go/mailman/store"
)

// prototype keeps each list's posts in a Maildir, as Mailman's
// prototype archiver: tmp/, new/, cur/ under dir/prototype/<posting
// address>/. A message is written to tmp, synced, and renamed into new,
// so that a reader never sees part of one (atomicfile). It gives no links.
type prototype struct{ dir string }

func (*prototype) Name() string                         { return "prototype" }
func (*prototype) ListURL(*store.List) string           { return "" }
func (*prototype) Permalink(*store.List, string) string { return "" }

func (p *prototype) Archive(_ context.Context, l *store.List, msg []byte) error {
	box := filepath.Join(p.dir, "prototype", l.PostingAddress)
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(box, sub), 0o750); err != nil {
			return err
		}
	}
	var r [8]byte
	rand.Read(r[:])
	host, _ := os.Hostname()
	name := fmt.Sprintf("%d.%s.%s", time.Now().UnixNano(), hex.EncodeToString(r[:]), strings.NewReplacer("/", "\\057", ":", "\\072").Replace(host))
	d, err := atomicfile.OpenDir(filepath.Join(box, "new"))
	if err != nil {
		return err
	}
	defer d.Close()
	// Written in tmp/, Maildir's folder for what is being delivered,
	// renamed into new/ once synced, and new/ synced.
	return d.WriteNew(filepath.Join("..", "tmp", name), name, msg, 0o640)
}

// mailArchive mails an undecorated copy of each post of a public list to
// an archiving service (The Mail Archive by default), as Mailman's
// mail-archive archiver; its links are the service's.
type mailArchive struct {
	base, recipient string
	send            Send
}

func (*mailArchive) Name() string { return "mail-archive" }

func (a *mailArchive) ListURL(l *store.List) string {
	return joinURL(a.base, url.QueryEscape(l.PostingAddress))
}

func (a *mailArchive) Permalink(_ *store.List, hash string) string {
	if hash == "" {
		return ""
	}
	return joinURL(a.base, hash)
}

func (a *mailArchive) Archive(ctx context.Context, l *store.List, msg []byte) error {
	return a.send(ctx, l, msg, a.recipient)
}

// mhonarc runs a command (MHonArc, or any) with the message on its
// standard input, as Mailman's mhonarc archiver; $listname in the command
// is the list's posting address, and its links are under base_url.
type mhonarc struct{ base, command string }

func (*mhonarc) Name() string { return "mhonarc" }

func (a *mhonarc) ListURL(l *store.List) string {
	return strings.ReplaceAll(a.base, "$listname", l.PostingAddress)
}

func (a *mhonarc) Permalink(l *store.List, hash string) string {
	if hash == "" {
		return ""
	}
	return joinURL(a.ListURL(l), hash)
}

func (a *mhonarc) Archive(ctx context.Context, l *store.List, msg []byte) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", a.command)
	cmd.Env = append(os.Environ(), "listname="+l.PostingAddress, "list_id="+l.ListID)
	cmd.Stdin = bytes.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("command %q: %v: %s", a.command, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// hyperKitty speaks HyperKitty's archiving protocol, as the
// mailman-hyperkitty plugin does: each post is POSTed, as a file with the
// list's posting address, to <base_url>api/mailman/archive with the API
// key (Authorization: Token). Its links are HyperKitty's own URLs, made
// here rather than asked of HyperKitty for each post: the list at
// <base_url>list/<address>/, a message at .../message/<hash>/.
type hyperKitty struct {
	base, key string
	client    *http.Client
}

func newHyperKitty(base, key string) *hyperKitty {
	return &hyperKitty{base: base, key: key, client: &http.Client{Timeout: 30 * time.Second}}
}

func (*hyperKitty) Name() string { return "hyperkitty" }

func (h *hyperKitty) ListURL(l *store.List) string {
	return joinURL(h.base, "list/"+listPart(l)+"/")
}

func (h *hyperKitty) Permalink(l *store.List, hash string) string {
	if hash == "" {
		return ""
	}
	return joinURL(h.base, "list/"+listPart(l)+"/message/"+hash+"/")
}

func (h *hyperKitty) Archive(ctx context.Context, l *store.List, msg []byte) error {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("mlist", l.PostingAddress)
	part, err := w.CreateFormFile("message", "message.txt")
	if err != nil {
		return err
	}
	part.Write(msg)
	w.Close()
	endpoint := joinURL(h.base, "api/mailman/archive")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, &body)
	if err != nil {
		return fmt.Errorf("base_url %q: %w", h.base, err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Token "+h.key)
	resp, err := h.client.Do(req)
	if err != nil {
		// The URL's error names the endpoint and says what failed (a
		// refused connection, a name not found, a certificate).
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var answer struct {
		URL   string `json:"url"`
		Error string `json:"error"`
	}
	json.Unmarshal(reply, &answer)
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("POST %s: 401: HyperKitty did not take the API key ([archiver.hyperkitty] api_key, MAILMAN_ARCHIVER_KEY)", endpoint)
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("POST %s: 403: HyperKitty does not take archiving from this host (MAILMAN_ARCHIVER_FROM)", endpoint)
	case resp.StatusCode == http.StatusBadRequest && answer.Error != "":
		return fmt.Errorf("POST %s: %w: %s", endpoint, ErrRefused, answer.Error)
	}
	return fmt.Errorf("POST %s: %s: %s", endpoint, resp.Status, strings.TrimSpace(string(reply[:min(len(reply), 200)])))
}
