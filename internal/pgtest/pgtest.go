// Package pgtest runs a private PostgreSQL cluster for tests, as
// net/http/httptest runs a server: initdb in a temporary folder, the server
// on a loopback port chosen at run time (and its socket in that folder),
// nothing of the machine's own PostgreSQL service used or started. Each
// test gets a database of its own. Run as root (as CI is), the cluster
// belongs to the unprivileged postgres user, since PostgreSQL refuses to
// run as root.
package pgtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled is returned by Start when PostgreSQL's server programs
// are not on this machine.
var ErrNotInstalled = errors.New("PostgreSQL is not installed (apt-get install postgresql)")

// Cluster is one running private cluster.
type Cluster struct {
	Dir  string // data/ and the socket
	Port int
	bin  string
	cred *syscall.Credential // the user the server runs as; nil when not root
	dbs  atomic.Int64
}

// Options tune the cluster.
type Options struct {
	// Durable keeps PostgreSQL's fsyncs, for benchmarks; tests run without
	// them, as nothing they check needs a machine crash survived.
	Durable bool
}

// Start makes and starts a cluster.
func Start(opts Options) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			u, err = user.Lookup("nobody")
		}
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: no unprivileged user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if out, err := c.command("initdb", "-D", c.data(), "-U", "mailman", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	if c.Port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	settings := []string{"listen_addresses='127.0.0.1'", "unix_socket_directories='" + dir + "'", "max_connections=200", "shared_buffers=32MB"}
	if !opts.Durable {
		settings = append(settings, "fsync=off", "full_page_writes=off")
	}
	conf := "port = " + strconv.Itoa(c.Port) + "\n" + strings.Join(settings, "\n") + "\n"
	if err := appendFile(filepath.Join(c.data(), "postgresql.conf"), conf); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.StartServer(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

// command runs one of PostgreSQL's programs as the cluster's user.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// StartServer starts the server and waits until it takes connections.
func (c *Cluster) StartServer() error {
	if out, err := c.command("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.Dir, "server.log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.Dir, "server.log"))
		return fmt.Errorf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// StopServer stops the server at once (as a crash would, mode immediate)
// or, with fast, after ending the sessions cleanly.
func (c *Cluster) StopServer(fast bool) error {
	mode := "immediate"
	if fast {
		mode = "fast"
	}
	if out, err := c.command("pg_ctl", "-D", c.data(), "-w", "-m", mode, "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Stop stops the server and removes the cluster.
func (c *Cluster) Stop() {
	c.StopServer(false)
	os.RemoveAll(c.Dir)
}

// URL is the address of database db, as [database] url takes it.
func (c *Cluster) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User("mailman"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDatabase makes a new empty database and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), c.dbs.Add(1))
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.URL(name), nil
}

// NewDatabase is CreateDatabase for a test, which it fails on error.
func (c *Cluster) NewDatabase(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := c.CreateDatabase(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// Main starts a cluster for the tests of a package, runs them and stops
// it; call it from TestMain. Where PostgreSQL is not installed the cluster
// is nil and the tests that need it skip (or fail, under CI, which
// installs it); any other failure to start it ends the run.
func Main(m *testing.M, opts Options, cluster **Cluster) int {
	flag.Parse()
	if testing.Short() {
		// PostgreSQL is the long tier: -short runs over SQLite alone.
		return m.Run()
	}
	c, err := Start(opts)
	switch {
	case errors.Is(err, ErrNotInstalled):
		fmt.Fprintln(os.Stderr, "pgtest:", err)
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	default:
		*cluster = c
		defer c.Stop()
	}
	return m.Run()
}

// Need skips tb when there is no cluster, or fails it under CI unless
// -short asked for the unit tier.
func Need(tb testing.TB, c *Cluster) {
	tb.Helper()
	if c != nil {
		return
	}
	if testing.Short() {
		tb.Skip("PostgreSQL is the long tier (go test without -short)")
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("PostgreSQL is not installed: .ci/run installs Debian's postgresql")
	}
	tb.Skip(ErrNotInstalled.Error())
}

// binDir finds initdb, pg_ctl and postgres: Debian keeps them in
// /usr/lib/postgresql/VERSION/bin, off the PATH.
func binDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
