// Package config owns the TOML configuration: its schema, built-in defaults,
// loading and validation. It knows nothing of queues' contents or lists.
//
// The schema is the Config struct itself: every field with a toml tag is a
// key, so a new setting is a new field, its default in Default, and its line
// in etc/mailman.toml.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Config is one site's configuration.
type Config struct {
	// File is the absolute path of the file loaded, so that relative paths in
	// it keep their meaning if the process changes directory; "" for the
	// built-in defaults.
	File         string            `toml:"-"`
	Mailman      Mailman           `toml:"mailman"`
	PathSettings PathSettings      `toml:"paths"`
	MTA          MTA               `toml:"mta"`
	Database     Database          `toml:"database"`
	Master       Master            `toml:"master"`
	Bounces      Bounces           `toml:"bounces"`
	Digests      Digests           `toml:"digests"`
	DMARC        DMARC             `toml:"dmarc"`
	Unsubscribe  Unsubscribe       `toml:"unsubscribe"`
	Scheduler    Scheduler         `toml:"scheduler"`
	Webservice   Webservice        `toml:"webservice"`
	Antispam     Antispam          `toml:"antispam"`
	Archiver     Archivers         `toml:"archiver"`
	Runner       map[string]Runner `toml:"runner"` // holds every name in RunnerNames after Load or Default
}

// Mailman holds site-wide settings of the list server itself.
type Mailman struct {
	SiteOwner            string   `toml:"site_owner"`             // who gets mail about the site, and the sender of mail that has no list
	PendingRequestLife   Duration `toml:"pending_request_life"`   // how long a token sent to confirm a subscription or unsubscription stays valid
	ModeratorRequestLife Duration `toml:"moderator_request_life"` // how long a token sent to the moderators (a held post, a request to approve) stays valid
	RunAsUser            string   `toml:"run_as_user"`            // the user a command started by root becomes; "root" stays root (see internal/runas)
	// EmailCommandsMaxReplySize bounds, in bytes, the results of email
	// commands: a reply is cut there, so that no message makes the list
	// send back more than this.
	EmailCommandsMaxReplySize int `toml:"email_commands_max_reply_size"`
	// RunTasksEvery is how often the scheduler evicts expired requests
	// and discards posts held past their list's max_days_to_hold.
	RunTasksEvery Duration `toml:"run_tasks_every"`
}

// Digests is the site's part of digests: when the periodic ones go.
type Digests struct {
	SendAt Schedule `toml:"send_at"` // what Mailman's crontab runs `mailman digests --periodic` for
}

// DMARC is how the DMARC policies of posters' domains are looked up
// (Mailman's [dmarc] section).
type DMARC struct {
	// Resolver is the DNS server asked, host:port; "" for the system's
	// (the first name server of /etc/resolv.conf).
	Resolver         string   `toml:"resolver"`
	ResolverTimeout  Duration `toml:"resolver_timeout"`  // each query
	ResolverLifetime Duration `toml:"resolver_lifetime"` // the whole lookup
	// OrgDomainDataFile is a Public Suffix List file to use in place of
	// the copy built in.
	OrgDomainDataFile string `toml:"org_domain_data_file"`
	// NewListAction is the dmarc_mitigate_action a new list starts with.
	NewListAction string `toml:"new_list_action"`
}

// Unsubscribe is where the one-click unsubscribe links (RFC 8058) are
// answered and what they look like.
type Unsubscribe struct {
	// Listen is the unsubscribe runner's host:port.
	Listen string `toml:"listen"`
	// BaseURL is the links' public start, the site's reverse proxy
	// passing what follows to Listen; "" sends no links.
	BaseURL string `toml:"base_url"`
}

// Scheduler is how the scheduler runner runs the site's periodic jobs.
type Scheduler struct {
	// CheckEvery is how often it looks for a job due: the most a job
	// starts late.
	CheckEvery Duration `toml:"check_every"`
	// NotifyAt is when the moderators of lists with requests waiting are
	// reminded (Mailman's `mailman notify`, from its crontab).
	NotifyAt Schedule `toml:"notify_at"`
}

// PathSettings is the [paths] section: where the site keeps its files.
// Paths is what lies in var_dir.
type PathSettings struct {
	VarDir string `toml:"var_dir"` // relative to the folder of Config.File; see Config.VarDir
}

// MTA says how Mailman and the mail transport agent reach each other.
type MTA struct {
	LMTPHost string `toml:"lmtp_host"`
	LMTPPort int    `toml:"lmtp_port"`
	SMTPHost string `toml:"smtp_host"`
	SMTPPort int    `toml:"smtp_port"`

	LMTPSocket          string   `toml:"lmtp_socket"`            // also listen on this unix socket when set
	MaxMessageSize      int      `toml:"max_message_size"`       // bytes; LMTP answers 552 above it
	LMTPMaxConnections  int      `toml:"lmtp_max_connections"`   // beyond it, new connections get 421
	LMTPMaxRecipients   int      `toml:"lmtp_max_recipients"`    // per transaction; RFC 5321 wants at least 100
	LMTPTimeout         Duration `toml:"lmtp_timeout"`           // for a command, and for a whole message's data
	LMTPMaxSessionTime  Duration `toml:"lmtp_max_session_time"`  // a session this old gets 421 at its next command
	LMTPMaxJunkCommands int      `toml:"lmtp_max_junk_commands"` // commands in a row with no recipient accepted and no message sent; one more gets 421

	MaxAutoresponsesPerDay int `toml:"max_autoresponses_per_day"` // mail the list writes to one address a day (held-post notices, command results, confirmations); 0 means no limit

	MaxRecipients        int      `toml:"max_recipients"`              // RCPTs in one SMTP transaction to the MTA
	SMTPConnections      int      `toml:"smtp_connections"`            // connections at once for copies sent one member at a time
	MaxSessionsPerConn   int      `toml:"max_sessions_per_connection"` // SMTP transactions on one connection before it is closed and another opened; 0 means no limit
	VERPDeliveryInterval int      `toml:"verp_delivery_interval"`      // 0: never VERP; 1: always; N: every Nth post
	VERPProbes           bool     `toml:"verp_probes"`                 // at the bounce score threshold, probe the address before turning its delivery off
	DeliveryRetryPeriod  Duration `toml:"delivery_retry_period"`       // how long a message the MTA keeps deferring is retried
	DeliveryRetryDelay   Duration `toml:"delivery_retry_delay"`        // the first wait before a retry; it doubles per attempt, up to an hour
	SMTPUser             string   `toml:"smtp_user"`                   // with smtp_pass, log in to the MTA (a smarthost)
	SMTPPass             string   `toml:"smtp_pass" secret:"true"`     // never shown in an error
	SMTPSecureMode       string   `toml:"smtp_secure_mode"`            // smtp, starttls or smtps
	SMTPTimeout          Duration `toml:"smtp_timeout"`                // how long the MTA may take to connect, to answer a command or to read the next piece of a message

	Incoming          string `toml:"incoming"`            // "postfix": keep Postfix's maps of the lists; "exim": Exim's list file; "none"
	TransportFileType string `toml:"transport_file_type"` // "hash" (postmap'd) or "regex" Postfix tables
	PostmapCommand    string `toml:"postmap_command"`     // run on a hash table after it is written; arguments split at spaces
	MapsGroup         string `toml:"maps_group"`          // a group let in to read the maps in var_dir/data (Exim's); "" for none
}

// Database says where lists and members are stored.
type Database struct {
	URL string `toml:"url" secret:"true"` // "" is SQLite under var_dir; sqlite:PATH; postgres://... (may hold a password: never shown in an error)
}

// Master is how the master supervises its runners.
type Master struct {
	StartTimeout  Duration `toml:"start_timeout"`  // how long start waits for every runner to be ready
	StopTimeout   Duration `toml:"stop_timeout"`   // how long a runner has to stop after SIGTERM before SIGKILL
	RestartWindow Duration `toml:"restart_window"` // a runner failing more than max_restarts times within it is given up
}

// Bounces is the site's part of bounce processing: how large a bounce may
// be, and how often the bounces runner does its periodic work.
type Bounces struct {
	MaxSize int `toml:"max_size"` // bytes; LMTP answers 552 to a -bounces recipient of a larger message
	// RegisterBouncesEvery is how often the bounces runner scores the
	// refusals the outgoing runner recorded, sends the warnings due and
	// removes the members due (Mailman's name; declared there, unused).
	RegisterBouncesEvery Duration `toml:"register_bounces_every"`
}

// Webservice is the [webservice] section: Mailman's REST API, which the
// rest runner serves.
type Webservice struct {
	Hostname   string `toml:"hostname"`    // the address it listens on, and the host of the links it writes
	Port       int    `toml:"port"`        // its port, also in its links
	UseHTTPS   bool   `toml:"use_https"`   // links say https: a proxy in front speaks TLS
	APIVersion string `toml:"api_version"` // the version / answers with: 3.0 or 3.1
	AdminUser  string `toml:"admin_user"`
	AdminPass  string `toml:"admin_pass" secret:"true"` // never shown, not even by /system/configuration
	// RosterCacheSize bounds, in bytes, the whole rosters' encodings
	// the rest runner keeps while their lists do not change; 0 keeps none.
	RosterCacheSize int `toml:"roster_cache_size"`
}

// Antispam is the [antispam] section, Mailman's: header checks made of
// every list's posts, before the list's own header matches.
type Antispam struct {
	// HeaderChecks are lines "Header: regex", as Mailman's: a post with
	// a header of that name (in any part) whose decoded value the regex
	// finds, case-insensitively, goes to JumpChain. Go's regular
	// expressions (RE2): no backreferences or lookarounds.
	HeaderChecks string `toml:"header_checks"`
	JumpChain    string `toml:"jump_chain"` // hold, reject, discard or accept; also where a list's header match with no action sends a post
}

// Archivers are the [archiver.NAME] sections, Mailman's four archivers;
// each is off until enabled, and then used by every list that has not
// turned it off (REST archivers).
type Archivers struct {
	Prototype   PrototypeArchiver   `toml:"prototype"`
	MailArchive MailArchiveArchiver `toml:"mail-archive"`
	MHonArc     MHonArcArchiver     `toml:"mhonarc"`
	HyperKitty  HyperKittyArchiver  `toml:"hyperkitty"`
}

// Clobbering is Mailman's date clobbering of what an archiver is given:
// never, always, or maybe (when the Date is missing, unreadable or further
// than ClobberSkew from the time the post is archived).
type Clobbering struct {
	ClobberDate string
	ClobberSkew Duration
}

// Archiving says whether the archiver called name (one of Mailman's
// names) is enabled, and how it clobbers dates.
func (a Archivers) Archiving(name string) (enabled bool, c Clobbering) {
	switch name {
	case "prototype":
		return a.Prototype.Enable, Clobbering{a.Prototype.ClobberDate, a.Prototype.ClobberSkew}
	case "mail-archive":
		return a.MailArchive.Enable, Clobbering{a.MailArchive.ClobberDate, a.MailArchive.ClobberSkew}
	case "mhonarc":
		return a.MHonArc.Enable, Clobbering{a.MHonArc.ClobberDate, a.MHonArc.ClobberSkew}
	case "hyperkitty":
		return a.HyperKitty.Enable, Clobbering{a.HyperKitty.ClobberDate, a.HyperKitty.ClobberSkew}
	}
	return false, Clobbering{}
}

// PrototypeArchiver keeps a Maildir per list under var_dir/archives.
type PrototypeArchiver struct {
	Enable      bool     `toml:"enable"`
	ClobberDate string   `toml:"clobber_date"`
	ClobberSkew Duration `toml:"clobber_skew"`
}

// MailArchiveArchiver mails each post of a public list to an archiving
// service.
type MailArchiveArchiver struct {
	Enable      bool     `toml:"enable"`
	ClobberDate string   `toml:"clobber_date"`
	ClobberSkew Duration `toml:"clobber_skew"`
	BaseURL     string   `toml:"base_url"`  // the service's archives, for the links
	Recipient   string   `toml:"recipient"` // the service's address
}

// MHonArcArchiver gives each post to a command on its standard input.
type MHonArcArchiver struct {
	Enable      bool     `toml:"enable"`
	ClobberDate string   `toml:"clobber_date"`
	ClobberSkew Duration `toml:"clobber_skew"`
	BaseURL     string   `toml:"base_url"` // the archives' links; $listname is the posting address
	Command     string   `toml:"command"`  // run by /bin/sh, $listname and $list_id in its environment
}

// HyperKittyArchiver speaks HyperKitty's archiving protocol.
type HyperKittyArchiver struct {
	Enable      bool     `toml:"enable"`
	ClobberDate string   `toml:"clobber_date"`
	ClobberSkew Duration `toml:"clobber_skew"`
	BaseURL     string   `toml:"base_url"`              // HyperKitty's root, .../hyperkitty/
	APIKey      string   `toml:"api_key" secret:"true"` // HyperKitty's MAILMAN_ARCHIVER_KEY
}

// HeaderCheck is one line of [antispam] header_checks, or one of a list's
// header matches: a header name, lower-cased, and its pattern.
type HeaderCheck struct {
	Header  string
	Pattern *regexp.Regexp
}

// ParseHeaderCheck reads a header name and a regex as Mailman matches
// them: the pattern searched, case-insensitively.
func ParseHeaderCheck(header, pattern string) (HeaderCheck, error) {
	header = strings.ToLower(strings.TrimSpace(header))
	if !headerName.MatchString(header) {
		return HeaderCheck{}, fmt.Errorf("%q is not a header name", header)
	}
	re, err := regexp.Compile("(?i)" + pattern)
	if err != nil {
		return HeaderCheck{}, fmt.Errorf("%q is not a regular expression: %v", pattern, err)
	}
	return HeaderCheck{Header: header, Pattern: re}, nil
}

// headerName is a header field name (RFC 5322 ftext): printable ASCII but
// the colon.
var headerName = regexp.MustCompile(`^[!-9;-~]+$`)

// Checks reads HeaderChecks, blank lines skipped; Load has refused a
// line it cannot read.
func (a Antispam) Checks() ([]HeaderCheck, error) {
	var checks []HeaderCheck
	for i, line := range strings.Split(a.HeaderChecks, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, pattern, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d, %q: not Header: regex", i+1, line)
		}
		c, err := ParseHeaderCheck(name, strings.TrimLeft(pattern, " \t"))
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// DefaultAdminPass is Mailman's admin_pass: the rest runner serves only
// loopback while it is in use.
const DefaultAdminPass = "restpass"

// Runner is the [runner.NAME] section of one runner.
type Runner struct {
	Instances   int      `toml:"instances"`    // processes sharing the queue; a power of 2, at most maxInstances
	SleepTime   Duration `toml:"sleep_time"`   // pause between scans of an empty queue
	MaxRestarts int      `toml:"max_restarts"` // failures within [master] restart_window before the master gives up
	// MessageTimeout bounds one message's time in the runner's handler;
	// past it the runner exits and is restarted, and the message is
	// retried, then kept in bad/ after its third try.
	MessageTimeout Duration `toml:"message_timeout"`
	Start          bool     `toml:"start"` // whether `start` with no runner names starts it
}

// RunnerInfo describes one runner. Runners is the one description of them
// all: RunnerNames, QueueNames and the defaults of every [runner.NAME]
// section come from it, etc/mailman.toml is kept in step with it by a
// test, and the registry has a builder for each runner it says is built.
type RunnerInfo struct {
	Name string
	// Queue says the runner serves the queue of its name; a server (lmtp,
	// which fills other queues) has none.
	Queue bool
	// Start is the default of its start key: true once it is built.
	Start bool
}

// Runners are every runner, in the order they start.
var Runners = []RunnerInfo{
	{Name: "lmtp", Start: true},
	{Name: "incoming", Queue: true, Start: true},
	{Name: "command", Queue: true, Start: true},
	{Name: "pipeline", Queue: true, Start: true},
	{Name: "outgoing", Queue: true, Start: true},
	{Name: "virgin", Queue: true, Start: true},
	{Name: "bounces", Queue: true, Start: true},
	{Name: "retry", Queue: true, Start: true},
	{Name: "archive", Queue: true, Start: true},
	{Name: "rest", Start: true},
	{Name: "scheduler", Start: true},
	{Name: "unsubscribe", Start: true},
}

// QueuesWithoutRunner hold what a person must look at: shunt (what a
// runner failed on) and bad (what was corrupt or crashed its runner).
var QueuesWithoutRunner = []string{"shunt", "bad"}

// RunnerNames lists every runner, in the order they start.
var RunnerNames = func() []string {
	var names []string
	for _, r := range Runners {
		names = append(names, r.Name)
	}
	return names
}()

// QueueNames lists every queue directory: those of the runners that serve
// one, then QueuesWithoutRunner.
var QueueNames = func() []string {
	var names []string
	for _, r := range Runners {
		if r.Queue {
			names = append(names, r.Name)
		}
	}
	return append(names, QueuesWithoutRunner...)
}()

// DefaultRunner is the [runner.NAME] section every runner starts from;
// Start is each runner's own (RunnerInfo.Start).
func DefaultRunner() Runner {
	return Runner{
		Instances:   1,
		SleepTime:   Duration(time.Second),
		MaxRestarts: 10,
		// Far beyond any message's normal time (a post to 100,000
		// members takes seconds), and beyond smtp_timeout, which
		// bounds a stalled MTA on its own.
		MessageTimeout: Duration(30 * time.Minute),
	}
}

// Default returns the built-in configuration, Mailman's own defaults where it
// has the same setting.
func Default() *Config {
	c := &Config{
		Mailman: Mailman{
			SiteOwner:            "changeme@example.com",
			PendingRequestLife:   Duration(3 * 24 * time.Hour),
			ModeratorRequestLife: Duration(180 * 24 * time.Hour),
			// A who of some 1,500 members, far beyond any other reply.
			EmailCommandsMaxReplySize: 64 << 10,
			RunTasksEvery:             Duration(time.Hour),
		},
		PathSettings: PathSettings{VarDir: "var"},
		MTA: MTA{
			LMTPHost: "127.0.0.1",
			LMTPPort: 8024,
			SMTPHost: "localhost",
			SMTPPort: 25,

			MaxMessageSize:     32 << 20,
			LMTPMaxConnections: 100,
			LMTPMaxRecipients:  1000,
			LMTPTimeout:        Duration(10 * time.Minute),
			// Twice the 300 s Postfix's LMTP client keeps a connection
			// for reuse, and Postfix's smtpd_junk_command_limit: a
			// session of Postfix's never meets them.
			LMTPMaxSessionTime:  Duration(10 * time.Minute),
			LMTPMaxJunkCommands: 100,

			MaxAutoresponsesPerDay: 10,

			MaxRecipients:       500,
			SMTPConnections:     4,
			DeliveryRetryPeriod: Duration(5 * 24 * time.Hour),
			DeliveryRetryDelay:  Duration(time.Minute),
			SMTPSecureMode:      "smtp",
			SMTPTimeout:         Duration(5 * time.Minute),

			Incoming:          "postfix",
			TransportFileType: "hash",
			PostmapCommand:    "/usr/sbin/postmap",
		},
		Master: Master{
			StartTimeout:  Duration(30 * time.Second),
			StopTimeout:   Duration(10 * time.Second),
			RestartWindow: Duration(10 * time.Minute),
		},
		Bounces: Bounces{
			// A bounce is a report and at most part of the message
			// returned: Postfix returns 50,000 octets of it
			// (bounce_size_limit), Exim 100 KiB
			// (bounce_return_size_limit); 256 KiB leaves room for
			// the report and base64 around either.
			MaxSize: 256 << 10,
			// Mailman's bounce_info_stale_after: a bounce older than
			// that no longer counts towards a member's score.
			RegisterBouncesEvery: Duration(time.Minute),
		},
		Digests:     Digests{SendAt: Schedule{Times: []int{12 * 60}}},
		DMARC:       DMARC{ResolverTimeout: Duration(3 * time.Second), ResolverLifetime: Duration(5 * time.Second), NewListAction: "munge_from"},
		Unsubscribe: Unsubscribe{Listen: "127.0.0.1:8026"},
		Scheduler:   Scheduler{CheckEvery: Duration(30 * time.Second), NotifyAt: Schedule{Times: []int{8 * 60}}},
		Webservice: Webservice{
			Hostname:        "127.0.0.1",
			Port:            8001,
			APIVersion:      "3.1",
			AdminUser:       "restadmin",
			AdminPass:       DefaultAdminPass,
			RosterCacheSize: 256 << 20,
		},
		Antispam: Antispam{JumpChain: "hold"},
		Archiver: Archivers{
			Prototype:   PrototypeArchiver{ClobberDate: "maybe", ClobberSkew: Duration(24 * time.Hour)},
			MailArchive: MailArchiveArchiver{ClobberDate: "maybe", ClobberSkew: Duration(24 * time.Hour), BaseURL: "https://www.mail-archive.com/", Recipient: "archive@mail-archive.com"},
			MHonArc:     MHonArcArchiver{ClobberDate: "maybe", ClobberSkew: Duration(24 * time.Hour), BaseURL: "http://localhost/archives/$listname"},
			HyperKitty:  HyperKittyArchiver{ClobberDate: "maybe", ClobberSkew: Duration(24 * time.Hour), BaseURL: "http://localhost/mailman3/hyperkitty/"},
		},
		Runner: make(map[string]Runner, len(RunnerNames)),
	}
	for _, r := range Runners {
		settings := DefaultRunner()
		settings.Start = r.Start
		c.Runner[r.Name] = settings
	}
	return c
}

// Load reads the TOML file at path over the defaults and validates the
// result. A mistake in the file is reported as an *Error; path "" means the
// built-in defaults.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c := Default()
	c.File = abs
	if err := c.decode(path, string(text)); err != nil {
		return nil, err
	}
	return c, nil
}

// FromEnvironment loads the configuration a command should use: flagPath
// (from -C) if given, else $MAILMAN_CONFIG if set and not empty, else the
// built-in defaults.
func FromEnvironment(flagPath string) (*Config, error) {
	if flagPath != "" {
		return Load(flagPath)
	}
	return Load(os.Getenv("MAILMAN_CONFIG"))
}

// VarDir returns the absolute path of var_dir. A relative var_dir is taken
// from the folder of the configuration file, so that a site can be moved
// whole, or from the current directory for the built-in defaults.
func (c *Config) VarDir() string {
	dir := c.PathSettings.VarDir
	if c.File != "" && !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(c.File), dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		// The current directory is gone; the relative path is all there is.
		return filepath.Clean(dir)
	}
	return abs
}
