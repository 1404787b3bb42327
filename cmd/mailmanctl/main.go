// Command mailmanctl runs and inspects the mail list server: the master and
// its runners, the queues, and (as they are built) lists and members. Its
// verbs follow Mailman's where Mailman has one.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/internal/runas"
	"github.com/mailman-go/mailman/internal/version"
	"github.com/mailman-go/mailman/master"
)

// Exit statuses. The master reads a runner's status to decide whether to
// restart it.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one verb of mailmanctl.
type command struct {
	name    string // "queues", or "lists create" for a noun and its verb
	args    string // synopsis of its arguments
	summary string
	run     func(env *env, args []string) error
}

// commands is every verb, in one table; main dispatches on the longest
// matching name, and help lists them sorted.
var commands = []command{
	{"start", "[-f] [NAME[:SLICE:COUNT]...]", "start the master and its runners (all with start = true when none is named)", cmdStart},
	{"stop", "", "stop the master and every runner, and wait until they have exited", cmdStop},
	{"restart", "", "restart every runner (no failure is counted)", cmdRestart},
	{"reopen", "", "reopen the log file (after logrotate)", cmdReopen},
	{"status", "[--json]", "show the master and each runner: pid, state, restarts, uptime", cmdStatus},
	{"runner", "NAME[:SLICE:COUNT]", "run one runner (or one slice of it) in the foreground", cmdRunner},
	{"queues", "[--json]", "count the entries in every queue, bad and shunt included", cmdQueues},
	{"qfile", "[--json] FILE", "show the metadata and the message of one queue entry", cmdQfile},
	{"inject", "[--queue NAME] [--list LIST] [FILE|-]", "enqueue a message (standard input when no file)", cmdInject},
	{"unshunt", "[--discard]", "put every shunt entry back in the queue it came from, or drop them", cmdUnshunt},
	{"digests", "[--list LIST]... [--send | --periodic] [--bump] [--dry-run] [--json]", "show each list's digest; send it now (--send), as the periodic run does (--periodic), or start a new volume (--bump)", cmdDigests},
	{"export", "[-o FILE]", "write the whole site (every list, member, user, held post, setting, and the one-click link keys) as one JSON file: a backup, or SQLite to PostgreSQL with import json", cmdExport},
	{"import json", "FILE", "restore what export wrote into this site, which must be new", cmdImportJSON},
	{"import21", "LIST config.pck | --all LISTS_DIR [--dry-run] [--json]", "import a Mailman 2.1 list (its settings, members with their options, owners, moderators, nonmember rules, bans and texts) into LIST, made if there is none; --all: every list of a 2.1 site, each at its host_name", cmdImport21},
	{"unsubscribe rotate-key", "", "add a key for the one-click unsubscribe links; the links already sent stay good", cmdUnsubscribeRotateKey},
	{"tasks", "[--run NAME] [--json]", "show the scheduler's jobs (digests, upkeep, notify): their schedule, last run and result, next run; --run makes one due now", cmdTasks},
	{"archive", "retry", "archive now the posts kept for an archiver that failed (it is back), rather than at their next try", cmdArchive},
	{"domains create", "HOST [--description TEXT] [--alias-domain HOST]", "add a domain lists can be made in", cmdDomainsCreate},
	{"domains remove", "HOST [--with-lists]", "remove a domain (with its lists, if asked)", cmdDomainsRemove},
	{"domains list", "[--json]", "show every domain and how many lists it has", cmdDomainsList},
	{"users create", "ADDR [--display-name NAME] [--server-owner] [--password-file FILE|-]", "make a user with one address", cmdUsersCreate},
	{"users remove", "USER", "remove a user (by id or address) with its addresses and their memberships", cmdUsersRemove},
	{"users list", "[--json]", "show every user with its addresses", cmdUsersList},
	{"users show", "USER [--json]", "show one user, by id or address", cmdUsersShow},
	{"lists create", "ADDR [--owner ADDR]... [--display-name NAME] [--style STYLE]", "create a mailing list", cmdListsCreate},
	{"lists remove", "LIST", "remove a mailing list with its members and held messages", cmdListsRemove},
	{"lists list", "[--json]", "show every mailing list", cmdListsList},
	{"lists show", "LIST [--json]", "show a list's settings", cmdListsShow},
	{"lists set", "LIST KEY VALUE", "change one setting of a list", cmdListsSet},
	{"members add", "LIST ADDR... [--role ROLE] [--file FILE|-]", "subscribe addresses (one per line in FILE)", cmdMembersAdd},
	{"members remove", "LIST ADDR... [--role ROLE]", "unsubscribe addresses", cmdMembersRemove},
	{"members list", "LIST [--role ROLE] [--json]", "show a list's members", cmdMembersList},
	{"members show", "LIST ADDR [--role ROLE] [--json]", "show a member's settings and bounce history", cmdMembersShow},
	{"members set", "LIST ADDR KEY VALUE [--role ROLE]", "change one setting of a member (moderation_action, delivery_enabled, delivery_mode, receive_own_postings, receive_list_copy)", cmdMembersSet},
	{"held list", "[LIST] [--json]", "show the posts held for a moderator", cmdHeldList},
	{"held show", "ID", "show a held post whole", cmdHeldShow},
	{"held accept", "ID", "post a held message to its list", cmdHeldAccept},
	{"held reject", "ID [--reason TEXT]", "bounce a held message to its sender", cmdHeldReject},
	{"held discard", "ID", "drop a held message", cmdHeldDiscard},
	{"bans list", "[LIST] [--json]", "show the addresses banned from a list (no LIST: from every list)", cmdBansList},
	{"bans add", "LIST|--site PATTERN", "ban an address or a ^regex from a list, or from every list", cmdBansAdd},
	{"bans remove", "LIST|--site PATTERN", "lift a ban", cmdBansRemove},
	{"bounces scan", "FILE... [--json]", "read bounce messages as the bounces runner does: the addresses, permanent or not, and which format said so", cmdBouncesScan},
	{"version", "", "show the version of this build", cmdVersion},
	{"aliases", "[--directory DIR]", "write the MTA's maps of every list: Postfix's (transport_maps, relay_domains; postmap run on them) or, with [mta] incoming \"exim\", Exim's list file", cmdAliases},
}

func cmdVersion(e *env, args []string) error {
	fs, _ := e.flags("version")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "mailmanctl %s (%s)\n", version.String(), runtime.Version())
	return nil
}

// env is what a command runs with: where it writes and how it finds its
// configuration.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	configFlag     string // -C given before the verb
	runAsRoot      bool   // --run-as-root given before the verb
}

// config loads the configuration at path and, in a process started by
// root, becomes [mailman] run_as_user (see internal/runas) before the
// command touches a file, so that what it makes belongs to the user the
// runners run as.
func (e *env) config(path string) (*config.Config, error) {
	cfg, err := config.FromEnvironment(path)
	if err != nil {
		return nil, err
	}
	// A runner started by a master that stays root was allowed by it.
	fromMaster := os.Getenv(master.EnvMasterPID) == strconv.Itoa(os.Getppid())
	who, err := runas.Decide(os.Geteuid(), cfg.Mailman.RunAsUser, e.runAsRoot || fromMaster)
	if err != nil {
		return nil, err
	}
	if who != "" {
		if err := runas.Become(who); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// usageError is a mistake in the command line: it is reported with the
// command's synopsis and exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	os.Exit(run(os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}

func run(args []string, e *env) int {
	top := flag.NewFlagSet("mailmanctl", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	top.StringVar(&e.configFlag, "C", "", "configuration file")
	top.BoolVar(&e.runAsRoot, "run-as-root", false, "stay root when started by root (Mailman's --run-as-root)")
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(e.stdout)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "mailmanctl: %v\n", err)
		printUsage(e.stderr)
		return exitUsage
	}
	args = top.Args()
	if len(args) == 0 || args[0] == "help" {
		printUsage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, rest := lookup(args)
	if c == nil && isNoun(args[0]) {
		// "lists", "lists --help": the noun's verbs.
		if len(args) > 1 && (args[1] == "--help" || args[1] == "-help" || args[1] == "-h" || args[1] == "help") {
			printVerbs(e.stdout, args[0])
			return exitOK
		}
		fmt.Fprintf(e.stderr, "mailmanctl %s: need a command: one of these\n", args[0])
		printVerbs(e.stderr, args[0])
		return exitUsage
	}
	if c == nil {
		fmt.Fprintf(e.stderr, "mailmanctl: unknown command %q\n", strings.Join(args[:min(len(args), 2)], " "))
		printUsage(e.stderr)
		return exitUsage
	}
	err := c.run(e, rest)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(e.stdout, "usage: mailmanctl %s %s\n  %s\n", c.name, c.args, c.summary)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "mailmanctl %s: %v\nusage: mailmanctl %s %s\n", c.name, err, c.name, c.args)
		return exitUsage
	default:
		var ec exitCoder
		if msg := err.Error(); msg != "" {
			fmt.Fprintf(e.stderr, "mailmanctl %s: %s\n", c.name, msg)
		}
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		return exitError
	}
}

// exitCoder is an error that chooses the exit status.
type exitCoder interface{ ExitCode() int }

func lookup(args []string) (*command, []string) {
	var best *command
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(words) <= len(args) && strings.Join(args[:len(words)], " ") == commands[i].name {
			if best == nil || len(words) > len(strings.Fields(best.name)) {
				best = &commands[i]
			}
		}
	}
	if best == nil {
		return nil, nil
	}
	return best, args[len(strings.Fields(best.name)):]
}

// isNoun reports whether word is the noun of commands such as
// "lists create".
func isNoun(word string) bool {
	for _, c := range commands {
		if strings.HasPrefix(c.name, word+" ") {
			return true
		}
	}
	return false
}

// printVerbs lists the commands of the noun.
func printVerbs(w io.Writer, noun string) {
	for _, c := range sortedCommands() {
		if strings.HasPrefix(c.name, noun+" ") {
			fmt.Fprintf(w, "  %-46s %s\n", c.name+" "+c.args, c.summary)
		}
	}
}

func sortedCommands() []command {
	cs := append([]command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	return cs
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: mailmanctl [-C FILE] [--run-as-root] COMMAND [ARGS]")
	fmt.Fprintln(w, "\nThe configuration is FILE, else $MAILMAN_CONFIG, else the built-in defaults.")
	fmt.Fprintln(w, "A LIST is a list's posting address (test@example.com) or its list-id (test.example.com).")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range sortedCommands() {
		fmt.Fprintf(w, "  %-46s %s\n", c.name+" "+c.args, c.summary)
	}
}

// flags makes a command's flag set; every command also takes -C.
// warn prints a warning the application code returned, if any.
func (e *env) warn(warning string) {
	if warning != "" {
		fmt.Fprintf(e.stderr, "mailmanctl: %s\n", warning)
	}
}

func (e *env) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := fs.String("C", e.configFlag, "configuration file")
	return fs, cfg
}

// parseArgs parses flags wherever they stand among the arguments, as people
// type them (`inject FILE --queue retry`), and returns the other arguments.
// Everything after "--" is an argument.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos, tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, tail...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseNoArgs parses args, which must hold flags only.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	return nil
}
