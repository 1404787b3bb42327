package store

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
)

// passwordIterations is the PBKDF2 cost of a new hash. OWASP asks 600,000
// for SHA-256; a moderator password is checked for each post that carries
// an Approved header, and the tests hash many, so this is lower. The count
// is stored with each hash, so raising it leaves old hashes valid.
const passwordIterations = 100_000

// passwordScheme starts every hash: "pbkdf2-sha256$ITERATIONS$SALT$HASH",
// the salt and hash in standard base64.
const passwordScheme = "pbkdf2-sha256"

// hashPassword hashes pw with a new random salt.
func hashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	sum, err := pbkdf2.Key(sha256.New, pw, salt, passwordIterations, sha256.Size)
	if err != nil {
		return "", err
	}
	return passwordScheme + "$" + strconv.Itoa(passwordIterations) + "$" +
		base64.StdEncoding.EncodeToString(salt) + "$" + base64.StdEncoding.EncodeToString(sum), nil
}

// checkPassword reports whether pw is the password hashed as hash; a hash
// not in the form hashPassword writes matches nothing.
func checkPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != passwordScheme {
		return false
	}
	// A bound on the count, so that a damaged row cannot stall a runner.
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	want, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, pw, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// CheckModeratorPassword reports whether pw is the list's moderator
// password, comparing in constant time. It is false when the list has no
// password or pw is empty: an empty Approved header approves nothing.
func (l *List) CheckModeratorPassword(pw string) bool {
	if l.ModeratorPassword == "" || pw == "" {
		return false
	}
	return checkPassword(l.ModeratorPassword, pw)
}
