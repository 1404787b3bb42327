package main

import (
	"fmt"

	"github.com/mailman-go/mailman/oneclick"
)

// cmdUnsubscribeRotateKey adds a key for the one-click unsubscribe links:
// it signs the links from then on (the outgoing runner's, once it
// restarts), and the older keys still check the links already sent.
func cmdUnsubscribeRotateKey(e *env, args []string) error {
	fs, cfgPath := e.flags("unsubscribe rotate-key")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, st, err := e.openSite(*cfgPath)
	if err != nil {
		return err
	}
	st.Close()
	path := oneclick.KeysFile(cfg.VarDir())
	keys, err := oneclick.LoadKeys(path)
	if err != nil {
		return err
	}
	if err := keys.Rotate(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s holds %d keys; the newest signs the links once the outgoing runner restarts (mailmanctl restart), all of them check\n", path, keys.Count())
	return nil
}
