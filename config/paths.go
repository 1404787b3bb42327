package config

import (
	"fmt"
	"path/filepath"
)

// Paths is the layout of var_dir: every file and folder a site keeps there,
// named once. Everything that reads or writes one of them takes its path
// from here.
type Paths struct {
	VarDir string

	// Queues holds one folder per queue (Queue).
	Queues string
	// LMTPJournal is the LMTP runner's write-ahead journal: what it has
	// acknowledged and not yet put into its queues.
	LMTPJournal string

	// Locks holds the flock files: the master's and one per runner slice
	// (RunnerLock).
	Locks      string
	MasterLock string
	// MasterPID and MasterState are what a running master publishes for
	// stop and status.
	MasterPID   string
	MasterState string

	// Log is the one log file, which only the master writes.
	Log string

	// Data holds the SQLite database (Database) and the Postfix maps.
	Data     string
	Database string

	// Archives holds the archives kept on this host: the prototype
	// archiver's Maildirs, Archives/prototype/<posting address>/.
	Archives string
}

// PathsIn returns the layout of the var_dir varDir.
func PathsIn(varDir string) Paths {
	data := filepath.Join(varDir, "data")
	locks := filepath.Join(varDir, "locks")
	return Paths{
		VarDir:      varDir,
		Queues:      filepath.Join(varDir, "queue"),
		LMTPJournal: filepath.Join(varDir, "journal", "lmtp.jnl"),
		Locks:       locks,
		MasterLock:  filepath.Join(locks, "master.lck"),
		MasterPID:   filepath.Join(varDir, "master.pid"),
		MasterState: filepath.Join(varDir, "master.state.json"),
		Log:         filepath.Join(varDir, "logs", "mailman.log"),
		Data:        data,
		Database:    filepath.Join(data, "mailman.db"),
		Archives:    filepath.Join(varDir, "archives"),
	}
}

// Paths returns the layout of the site's var_dir.
func (c *Config) Paths() Paths { return PathsIn(c.VarDir()) }

// Queue is the folder of the named queue.
func (p Paths) Queue(name string) string { return filepath.Join(p.Queues, name) }

// RunnerLock is the lock a runner process holds on its slice SLICE of
// COUNT, so that one process at a time serves it.
func (p Paths) RunnerLock(name string, slice, count int) string {
	return filepath.Join(p.Locks, fmt.Sprintf("runner-%s-%d-%d.lck", name, slice, count))
}
