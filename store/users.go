package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of the user model callers branch on.
var (
	ErrNoSuchUser      = errors.New("no such user")
	ErrNoSuchAddress   = errors.New("no such address")
	ErrAddressExists   = errors.New("address already exists")
	ErrAddressTaken    = errors.New("address belongs to another user")
	ErrUnverified      = errors.New("address is not verified")
	ErrNoPreferredAddr = errors.New("user has no preferred address")
)

// User is one person, with one or more addresses, as Mailman's users.
type User struct {
	UserID        string // 32 hex digits
	DisplayName   string
	Password      string // the stored hash, "" when none is set
	IsServerOwner bool
	// PreferredAddress is the key of one of the user's verified
	// addresses, or "".
	PreferredAddress string
	CreatedAt        time.Time
}

// Address is an email address the site knows.
type Address struct {
	Email         string // lower-cased: the key
	OriginalEmail string
	DisplayName   string
	RegisteredOn  time.Time
	VerifiedOn    time.Time // zero while unverified
	UserID        string    // "" when no user holds it
}

// newUserID is a user id as Mailman's: 128 random bits, in hex.
func newUserID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

const userColumns = `user_id, display_name, password, is_server_owner, preferred_address_key, created_at`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var created int64
	if err := row.Scan(&u.UserID, &u.DisplayName, &u.Password, &u.IsServerOwner, &u.PreferredAddress, &created); err != nil {
		return nil, err
	}
	u.CreatedAt = fromNanos(created)
	return &u, nil
}

const addressColumns = `address_key, address, display_name, created_at, verified_at, user_id`

func scanAddress(row interface{ Scan(...any) error }) (*Address, error) {
	var a Address
	var created, verified int64
	if err := row.Scan(&a.Email, &a.OriginalEmail, &a.DisplayName, &created, &verified, &a.UserID); err != nil {
		return nil, err
	}
	a.RegisteredOn, a.VerifiedOn = fromNanos(created), fromNanos(verified)
	return &a, nil
}

// NewUser describes a user to create.
type NewUser struct {
	Email         string // optional: the user's first address
	DisplayName   string
	Password      string // cleartext, hashed before it is stored; "" for none
	IsServerOwner bool
}

// CreateUser makes a user and, when n.Email is set, its first address,
// unverified. An address already held by a user is ErrAddressExists; one
// the site knew without a user joins the new user.
func (s *Store) CreateUser(ctx context.Context, n NewUser) (*User, error) {
	var addr string
	if n.Email != "" {
		a, name, err := ParseMemberAddress(n.Email)
		if err != nil {
			return nil, err
		}
		addr = a
		if n.DisplayName == "" {
			n.DisplayName = name
		}
	}
	hash := ""
	if n.Password != "" {
		h, err := hashPassword(n.Password)
		if err != nil {
			return nil, err
		}
		hash = h
	}
	id := newUserID()
	now := time.Now().UnixNano()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (user_id, display_name, password, is_server_owner, created_at) VALUES ($1, $2, $3, $4, $5)`,
			id, n.DisplayName, hash, boolColumn(n.IsServerOwner), now); err != nil {
			return err
		}
		if addr == "" {
			return nil
		}
		return addUserAddress(ctx, tx, id, addr, n.DisplayName, false, now)
	})
	if err != nil {
		return nil, err
	}
	return s.User(ctx, id)
}

// addUserAddress gives address to the user id: a new address, or one
// without a user. One held by another user is ErrAddressExists, unless
// absorb moves it (with its memberships, which follow the address).
func addUserAddress(ctx context.Context, tx *sql.Tx, id, address, displayName string, absorb bool, now int64) error {
	var owner string
	err := tx.QueryRowContext(ctx, `SELECT user_id FROM addresses WHERE address_key = $1`, key(address)).Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO addresses (address_key, address, display_name, created_at, user_id) VALUES ($1, $2, $3, $4, $5)`,
			key(address), address, displayName, now, id)
		return err
	case err != nil:
		return err
	case owner == id:
		return fmt.Errorf("%s: %w", address, ErrAddressExists)
	case owner != "" && !absorb:
		return fmt.Errorf("%s: %w", address, ErrAddressExists)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE addresses SET user_id = $1 WHERE address_key = $2`, id, key(address)); err != nil {
		return err
	}
	if owner != "" {
		// The absorbed user's preferred address went with it.
		_, err = tx.ExecContext(ctx, `UPDATE users SET preferred_address_key = '' WHERE user_id = $1 AND preferred_address_key = $2`, owner, key(address))
	}
	return err
}

// User returns the user with id userID.
func (s *Store) User(ctx context.Context, userID string) (*User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE user_id = $1`, strings.ToLower(userID)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %s: %w", userID, ErrNoSuchUser)
	}
	return u, wrap(err)
}

// FindUser returns the user named by an id or by one of its addresses, as
// Mailman's API names users.
func (s *Store) FindUser(ctx context.Context, idOrEmail string) (*User, error) {
	if !strings.Contains(idOrEmail, "@") {
		return s.User(ctx, idOrEmail)
	}
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT user_id FROM addresses WHERE address_key = $1`, key(idOrEmail)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) || err == nil && id == "" {
		return nil, fmt.Errorf("user %s: %w", idOrEmail, ErrNoSuchUser)
	}
	if err != nil {
		return nil, wrap(err)
	}
	return s.User(ctx, id)
}

// Users returns a page of users in the order they were made, and how many
// there are; limit < 0 means all.
func (s *Store) Users(ctx context.Context, offset, limit int) ([]*User, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&total); err != nil {
		return nil, 0, wrap(err)
	}
	us, err := s.queryUsers(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at, user_id LIMIT $1 OFFSET $2`, s.pageLimit(limit), offset)
	return us, total, err
}

// UserUpdate says what UpdateUser changes: nil fields stay.
type UserUpdate struct {
	DisplayName   *string
	Password      *string // cleartext
	IsServerOwner *bool
}

// UpdateUser changes a user's name, password or server-owner flag.
func (s *Store) UpdateUser(ctx context.Context, userID string, up UserUpdate) error {
	var sets []string
	var args []any
	add := func(column string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", column, len(args)))
	}
	if up.DisplayName != nil {
		add("display_name", *up.DisplayName)
	}
	if up.Password != nil {
		h, err := hashPassword(*up.Password)
		if err != nil {
			return err
		}
		add("password", h)
	}
	if up.IsServerOwner != nil {
		add("is_server_owner", boolColumn(*up.IsServerOwner))
	}
	if len(sets) == 0 {
		_, err := s.User(ctx, userID)
		return err
	}
	args = append(args, strings.ToLower(userID))
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+fmt.Sprintf(` WHERE user_id = $%d`, len(args)), args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %s: %w", userID, ErrNoSuchUser)
		}
		return nil
	})
}

// CheckUserPassword reports whether pw is the user's password.
func (s *Store) CheckUserPassword(ctx context.Context, userID, pw string) (bool, error) {
	u, err := s.User(ctx, userID)
	if err != nil {
		return false, err
	}
	return u.Password != "" && checkPassword(u.Password, pw), nil
}

// DeleteUser removes a user with its addresses, their memberships and
// the preferences set for them, as Mailman does.
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	id := strings.ToLower(userID)
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE user_id = $1`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %s: %w", userID, ErrNoSuchUser)
		}
		for _, q := range []string{
			`DELETE FROM preferences WHERE owner = 'user:' || $1
				OR owner IN (SELECT 'address:' || address_key FROM addresses WHERE user_id = $1)`,
			`DELETE FROM members WHERE role <> 'nonmember' AND address_key IN (SELECT address_key FROM addresses WHERE user_id = $1)`,
			`DELETE FROM addresses WHERE user_id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// Address returns the address email.
func (s *Store) Address(ctx context.Context, email string) (*Address, error) {
	a, err := scanAddress(s.db.QueryRowContext(ctx, `SELECT `+addressColumns+` FROM addresses WHERE address_key = $1`, key(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("address %s: %w", email, ErrNoSuchAddress)
	}
	return a, wrap(err)
}

// Addresses returns a page of the site's addresses, by original address,
// and how many there are; userID, when set, keeps one user's. limit < 0
// means all.
func (s *Store) Addresses(ctx context.Context, userID string, offset, limit int) ([]*Address, int, error) {
	where := ``
	args := []any{}
	if userID != "" {
		where, args = ` WHERE user_id = $1`, append(args, strings.ToLower(userID))
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM addresses`+where, args...).Scan(&total); err != nil {
		return nil, 0, wrap(err)
	}
	n := len(args)
	rows, err := s.db.QueryContext(ctx, `SELECT `+addressColumns+` FROM addresses`+where+
		fmt.Sprintf(` ORDER BY address, address_key LIMIT $%d OFFSET $%d`, n+1, n+2), append(args, s.pageLimit(limit), offset)...)
	if err != nil {
		return nil, 0, wrap(err)
	}
	defer rows.Close()
	var as []*Address
	for rows.Next() {
		a, err := scanAddress(rows)
		if err != nil {
			return nil, 0, wrap(err)
		}
		as = append(as, a)
	}
	return as, total, wrap(rows.Err())
}

// AddUserAddress gives a user another address (see addUserAddress for
// absorb).
func (s *Store) AddUserAddress(ctx context.Context, userID, email, displayName string, absorb bool) (*Address, error) {
	addr, name, err := ParseMemberAddress(email)
	if err != nil {
		return nil, err
	}
	if displayName == "" {
		displayName = name
	}
	u, err := s.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := addUserAddress(ctx, tx, u.UserID, addr, displayName, absorb, time.Now().UnixNano()); err != nil {
			return err
		}
		// Its memberships now follow the user's preferences.
		return s.refreshLevel(ctx, tx, AddressPrefs(addr))
	})
	if err != nil {
		return nil, err
	}
	return s.Address(ctx, addr)
}

// SetAddressVerified marks an address verified now, or unverified (which
// also stops it being its user's preferred address).
func (s *Store) SetAddressVerified(ctx context.Context, email string, verified bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var q string
		var args []any
		if verified {
			q, args = `UPDATE addresses SET verified_at = $2 WHERE address_key = $1 AND verified_at = 0`, []any{key(email), time.Now().UnixNano()}
		} else {
			q, args = `UPDATE addresses SET verified_at = 0 WHERE address_key = $1`, []any{key(email)}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM addresses WHERE address_key = $1`, key(email)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("address %s: %w", email, ErrNoSuchAddress)
		}
		if !verified {
			_, err := tx.ExecContext(ctx, `UPDATE users SET preferred_address_key = '' WHERE preferred_address_key = $1`, key(email))
			return err
		}
		return nil
	})
}

// SetAddressDisplayName changes the name an address is shown with.
func (s *Store) SetAddressDisplayName(ctx context.Context, email, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE addresses SET display_name = $1 WHERE address_key = $2`, name, key(email))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("address %s: %w", email, ErrNoSuchAddress)
		}
		return nil
	})
}

// DeleteAddress forgets an address with its memberships and preferences.
func (s *Store) DeleteAddress(ctx context.Context, email string) error {
	k := key(email)
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM addresses WHERE address_key = $1`, k)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("address %s: %w", email, ErrNoSuchAddress)
		}
		for _, q := range []string{
			`DELETE FROM members WHERE address_key = $1`,
			`DELETE FROM preferences WHERE owner = 'address:' || $1`,
			`UPDATE users SET preferred_address_key = '' WHERE preferred_address_key = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetPreferredAddress makes one of a user's verified addresses its
// preferred one; email "" clears it.
func (s *Store) SetPreferredAddress(ctx context.Context, userID, email string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if email != "" {
			var owner string
			var verified int64
			err := tx.QueryRowContext(ctx, `SELECT user_id, verified_at FROM addresses WHERE address_key = $1`, key(email)).Scan(&owner, &verified)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("address %s: %w", email, ErrNoSuchAddress)
			}
			if err != nil {
				return err
			}
			if owner != strings.ToLower(userID) {
				return fmt.Errorf("%s: %w", email, ErrAddressTaken)
			}
			if verified == 0 {
				return fmt.Errorf("%s: %w", email, ErrUnverified)
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET preferred_address_key = $1 WHERE user_id = $2`, key(email), strings.ToLower(userID))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %s: %w", userID, ErrNoSuchUser)
		}
		if email == "" {
			return nil
		}
		// The user's memberships (as_user) follow their preferred
		// address, but where that address is already in the roster.
		if _, err := tx.ExecContext(ctx, `UPDATE members SET address_key = $1, address = (SELECT address FROM addresses WHERE address_key = $1)
			WHERE subscription_mode = 'as_user' AND address_key <> $1
			AND address_key IN (SELECT address_key FROM addresses WHERE user_id = $2)
			AND NOT EXISTS (SELECT 1 FROM members o WHERE o.list_id = members.list_id AND o.role = members.role AND o.address_key = $1)`,
			key(email), strings.ToLower(userID)); err != nil {
			return err
		}
		return s.refreshLevel(ctx, tx, AddressPrefs(email))
	})
}

// linkUsersSQL gives each address subscribed to the list $1 at the
// time $2 (the subscribed_at of one AddMembers call, which no earlier
// membership shares) its address row and a user, as Mailman does when it
// subscribes an address: set-based, for a bulk addition. newID is the
// backend's expression for a fresh user id.
func linkUsersSQL(newID string) []string {
	const added = `SELECT address_key FROM members WHERE list_id = $1 AND subscribed_at = $2 AND role <> 'nonmember'`
	return []string{
		`INSERT INTO addresses (address_key, address, display_name, verified_at, created_at)
			SELECT address_key, min(address), max(display_name), $2, $2
			FROM members WHERE list_id = $1 AND subscribed_at = $2 AND role <> 'nonmember' GROUP BY address_key
			ON CONFLICT (address_key) DO NOTHING`,
		`UPDATE addresses SET user_id = ` + newID + ` WHERE user_id = '' AND address_key IN (` + added + `)`,
		`INSERT INTO users (user_id, display_name, created_at)
			SELECT a.user_id, a.display_name, a.created_at FROM addresses a
			WHERE a.user_id <> '' AND a.address_key IN (` + added + `)
			ON CONFLICT (user_id) DO NOTHING`,
	}
}

const (
	sqliteNewID   = `lower(hex(randomblob(16)))`
	postgresNewID = `replace(gen_random_uuid()::text, '-', '')`
)

// bulkLink is how many addresses an addition takes before their users
// are made set-based rather than one by one.
const bulkLink = 100

// linkUsers runs linkUsersSQL in tx for the members added at now.
func (s *Store) linkUsers(ctx context.Context, tx *sql.Tx, listRow, now int64) error {
	newID := sqliteNewID
	if s.backend == "postgres" {
		newID = postgresNewID
	}
	for _, q := range linkUsersSQL(newID) {
		if _, err := tx.ExecContext(ctx, q, listRow, now); err != nil {
			return err
		}
	}
	return nil
}

// linkAddress gives one subscribed address its address row, verified,
// and a user, unless it has them.
func linkAddress(ctx context.Context, tx *sql.Tx, address, displayName string) error {
	now := time.Now().UnixNano()
	if _, err := tx.ExecContext(ctx, `INSERT INTO addresses (address_key, address, display_name, verified_at, created_at) VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (address_key) DO NOTHING`, key(address), address, displayName, now); err != nil {
		return err
	}
	id := newUserID()
	res, err := tx.ExecContext(ctx, `UPDATE addresses SET user_id = $1 WHERE address_key = $2 AND user_id = ''`, id, key(address))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO users (user_id, display_name, created_at) VALUES ($1, $2, $3)`, id, displayName, now)
	return err
}

// SearchUsers returns the users whose display name or one of whose
// addresses holds q (in any case), in the order they were made.
func (s *Store) SearchUsers(ctx context.Context, q string) ([]*User, error) {
	like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q)) + "%"
	return s.queryUsers(ctx, `SELECT `+userColumns+` FROM users WHERE lower(display_name) LIKE $1 ESCAPE '\'
		OR user_id IN (SELECT user_id FROM addresses WHERE address_key LIKE $1 ESCAPE '\') ORDER BY created_at, user_id`, like)
}

// ServerOwners returns the users who own the site.
func (s *Store) ServerOwners(ctx context.Context) ([]*User, error) {
	return s.queryUsers(ctx, `SELECT `+userColumns+` FROM users WHERE is_server_owner = 1 ORDER BY created_at, user_id`)
}

// queryUsers runs a query of userColumns and returns its users.
func (s *Store) queryUsers(ctx context.Context, query string, args ...any) ([]*User, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var us []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap(err)
		}
		us = append(us, u)
	}
	return us, wrap(rows.Err())
}

// UnlinkAddress takes an address from its user, who keeps the others.
func (s *Store) UnlinkAddress(ctx context.Context, email string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE addresses SET user_id = '' WHERE address_key = $1 AND user_id <> ''`, key(email))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("address %s: %w", email, ErrNoSuchUser)
		}
		if _, err = tx.ExecContext(ctx, `UPDATE users SET preferred_address_key = '' WHERE preferred_address_key = $1`, key(email)); err != nil {
			return err
		}
		// Its memberships no longer follow the user's preferences.
		return s.refreshLevel(ctx, tx, AddressPrefs(email))
	})
}
