package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mailman-go/mailman/store"
)

// userEntry is a user as `users list --json` and `users show --json`
// print it: never its password, whose hash stays in the store.
type userEntry struct {
	UserID           string   `json:"user_id"`
	DisplayName      string   `json:"display_name"`
	Addresses        []string `json:"addresses"`
	PreferredAddress string   `json:"preferred_address,omitempty"`
	IsServerOwner    bool     `json:"is_server_owner"`
	HasPassword      bool     `json:"has_password"`
	CreatedAt        string   `json:"created_at"`
}

func userEntryOf(ctx context.Context, st *store.Store, u *store.User) (userEntry, error) {
	as, _, err := st.Addresses(ctx, u.UserID, 0, -1)
	if err != nil {
		return userEntry{}, err
	}
	addrs := []string{}
	for _, a := range as {
		addrs = append(addrs, a.OriginalEmail)
	}
	return userEntry{u.UserID, u.DisplayName, addrs, u.PreferredAddress, u.IsServerOwner, u.Password != "", store.FormatTime(u.CreatedAt)}, nil
}

func cmdUsersList(e *env, args []string) error {
	fs, cfgPath := e.flags("users list")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	st, err := e.openStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	us, _, err := st.Users(ctx, 0, -1)
	if err != nil {
		return err
	}
	out := []userEntry{}
	for _, u := range us {
		ue, err := userEntryOf(ctx, st, u)
		if err != nil {
			return err
		}
		out = append(out, ue)
	}
	if *asJSON {
		return writeJSON(e.stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stdout, "No users")
		return nil
	}
	t := newTable(e.stdout, "USER ID", "DISPLAY NAME", "ADDRESSES", "SERVER OWNER")
	for _, u := range out {
		t.row(u.UserID, u.DisplayName, strings.Join(u.Addresses, ", "), yesNo(u.IsServerOwner))
	}
	return t.flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func cmdUsersShow(e *env, args []string) error {
	fs, cfgPath := e.flags("users show")
	asJSON := fs.Bool("json", false, "print a JSON array with the user")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("wrong number of arguments")
	}
	st, err := e.openStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	u, err := st.FindUser(ctx, rest[0])
	if err != nil {
		return err
	}
	ue, err := userEntryOf(ctx, st, u)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, []userEntry{ue})
	}
	t := newTable(e.stdout, "FIELD", "VALUE")
	for _, r := range [][2]string{
		{"user_id", ue.UserID}, {"display_name", ue.DisplayName}, {"addresses", strings.Join(ue.Addresses, ", ")},
		{"preferred_address", ue.PreferredAddress}, {"is_server_owner", yesNo(ue.IsServerOwner)},
		{"password", map[bool]string{true: "set", false: "none"}[ue.HasPassword]}, {"created_at", ue.CreatedAt},
	} {
		t.row(r[0], r[1])
	}
	return t.flush()
}

func cmdUsersCreate(e *env, args []string) error {
	fs, cfgPath := e.flags("users create")
	display := fs.String("display-name", "", "the user's name")
	owner := fs.Bool("server-owner", false, "the user owns the site (Postorius shows them every list)")
	pwFile := fs.String("password-file", "", "read the password from the first line of this file (- for standard input); never on the command line, where ps shows it")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("wrong number of arguments")
	}
	addr, _, err := store.ParseMemberAddress(rest[0])
	if err != nil {
		return usageError{err.Error()}
	}
	var pw string
	if *pwFile != "" {
		var r io.Reader = e.stdin
		if *pwFile != "-" {
			f, err := os.Open(*pwFile)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		line, err := bufio.NewReader(r).ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		if pw = strings.TrimRight(line, "\r\n"); pw == "" {
			return usagef("the password file's first line is empty")
		}
	}
	st, err := e.openStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.CreateUser(context.Background(), store.NewUser{Email: rest[0], DisplayName: *display, Password: pw, IsServerOwner: *owner})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Created user %s with address %s\n", u.UserID, addr)
	return nil
}

func cmdUsersRemove(e *env, args []string) error {
	fs, cfgPath := e.flags("users remove")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("wrong number of arguments")
	}
	st, err := e.openStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	u, err := st.FindUser(ctx, rest[0])
	if err != nil {
		return err
	}
	if err := st.DeleteUser(ctx, u.UserID); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Removed user %s with its addresses and their memberships\n", u.UserID)
	return nil
}
