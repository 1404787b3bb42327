package main

import (
	"context"
	"fmt"

	"github.com/mailman-go/mailman/store"
)

func cmdMembersSet(e *env, args []string) error {
	fs, cfgPath := e.flags("members set")
	role := roleFlag(fs)
	a, rest, st, err := listCommand(e, fs, cfgPath, args, 3, 3)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := store.ParseRole(*role)
	if err != nil {
		return usageError{err.Error()}
	}
	if err := st.SetMemberOption(context.Background(), a, rest[0], r, rest[1], rest[2]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Set %s of %s %s in %s to %q\n", rest[1], r, rest[0], a, rest[2])
	return nil
}
