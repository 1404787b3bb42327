// Package oneclick owns the one-click unsubscribe links of RFC 8058: the
// URL each copy of a post names its member by, with a token that is a
// keyed MAC of the list and the address (nothing is written per message),
// the site's keys under var_dir that make and check it (a new key signs,
// the old ones still check the links already sent), and the page and
// the POST that the URL answers. It unsubscribes through the
// subscription workflow; it does not know how copies are delivered.
package oneclick

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailman-go/mailman/internal/atomicfile"
)

// macSize is the MAC's length: 128 bits, beyond guessing.
const macSize = 16

// ErrBadToken is a link whose token was not made by any of the site's
// keys for its list and address: forged, altered or cut short.
var ErrBadToken = errors.New("not a valid unsubscribe link")

// Keys are the site's keys, the newest last: it signs, all check.
type Keys struct {
	path string
	ids  []string
	keys map[string][]byte
}

// KeysFile is where a site keeps its keys, under var_dir.
func KeysFile(varDir string) string { return filepath.Join(varDir, "oneclick-keys") }

// LoadKeys reads the keys at path, making the first when there is no
// file yet. Processes starting at once agree on it: the first to make
// the file wins, the others read it.
func LoadKeys(path string) (*Keys, error) {
	k, err := readKeys(path)
	if !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	k = &Keys{path: path, keys: map[string][]byte{}}
	if err := k.add(); err != nil {
		return nil, err
	}
	err = createFile(path, k.text())
	if errors.Is(err, os.ErrExist) {
		return readKeys(path)
	}
	return k, err
}

func readKeys(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	k := &Keys{path: path, keys: map[string][]byte{}}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, hexKey, ok := strings.Cut(line, " ")
		key, err := hex.DecodeString(strings.TrimSpace(hexKey))
		if !ok || err != nil || len(key) < 32 || strings.ContainsAny(id, ".") {
			return nil, fmt.Errorf("%s:%d: not a key line (ID, a space, 64 hexadecimal digits)", path, n)
		}
		k.ids = append(k.ids, id)
		k.keys[id] = key
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(k.ids) == 0 {
		return nil, fmt.Errorf("%s: no key", path)
	}
	return k, nil
}

// createFile makes path hold data whole, unless it exists (os.ErrExist).
func createFile(path string, data []byte) error {
	var r [8]byte
	rand.Read(r[:])
	tmp := fmt.Sprintf("%s.%x.new", path, r)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path)
	}
	os.Remove(tmp)
	if err != nil {
		return err
	}
	d, err := atomicfile.OpenDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// add makes a new key, which signs from now on.
func (k *Keys) add() error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	id := fmt.Sprintf("k%d", len(k.ids)+1)
	for k.keys[id] != nil {
		id += "x"
	}
	k.ids = append(k.ids, id)
	k.keys[id] = key
	return nil
}

func (k *Keys) text() []byte {
	var b strings.Builder
	b.WriteString("# The keys of the one-click unsubscribe links (mailmanctl unsubscribe rotate-key): the last signs, every one checks.\n")
	for _, id := range k.ids {
		fmt.Fprintf(&b, "%s %s\n", id, hex.EncodeToString(k.keys[id]))
	}
	return []byte(b.String())
}

// Rotate adds a new key, which signs from now on, and writes the file.
// Processes that read the file before go on signing with the key before
// until they restart; their links stay good.
func (k *Keys) Rotate() error {
	if err := k.add(); err != nil {
		return err
	}
	return atomicfile.WriteFile(k.path, k.text(), 0o600)
}

// Count is how many keys there are.
func (k *Keys) Count() int { return len(k.ids) }

func mac(key []byte, listID, address string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(listID + "\x00" + strings.ToLower(address)))
	return h.Sum(nil)[:macSize]
}

// Token is the token of the link for address on the list listID.
func (k *Keys) Token(listID, address string) string {
	id := k.ids[len(k.ids)-1]
	return id + "." + base64.RawURLEncoding.EncodeToString(mac(k.keys[id], listID, address))
}

// Check reports whether token was made for address on listID by one of
// the keys. A key it does not know sends it to the file again, for one
// added since it was read.
func (k *Keys) Check(listID, address, token string) error {
	id, sum, ok := strings.Cut(token, ".")
	key := k.keys[id]
	if key == nil && ok {
		if fresh, err := readKeys(k.path); err == nil {
			key = fresh.keys[id]
		}
	}
	got, err := base64.RawURLEncoding.DecodeString(sum)
	if !ok || key == nil || err != nil || !hmac.Equal(got, mac(key, listID, address)) {
		return ErrBadToken
	}
	return nil
}

// Link is a member's one-click URL under baseURL:
// BASE/LIST_ID/ADDRESS/TOKEN, the address in base64url, as it may hold
// characters a path does not.
func (k *Keys) Link(baseURL, listID, address string) string {
	return strings.TrimRight(baseURL, "/") + "/" + listID + "/" + base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(address))) +
		"/" + k.Token(listID, address)
}

// ParsePath reads the list-id, the address and the token of a link's
// path, the part after the base URL's.
func ParsePath(path string) (listID, address, token string, err error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) != 3 {
		return "", "", "", ErrBadToken
	}
	a, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !strings.Contains(string(a), "@") {
		return "", "", "", ErrBadToken
	}
	return parts[0], string(a), parts[2], nil
}
