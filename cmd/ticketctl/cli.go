package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ticketledger/ticketledger/internal/dbconn"
)

// Defaults of the shared settings.
const (
	// DefaultServer is the ticketd that commands talk to when neither --server nor
	// TICKETLEDGER_SERVER says otherwise.
	DefaultServer = "http://127.0.0.1:8080"
	// DefaultDatabaseURL is ticketd's embedded default: the local PostgreSQL.
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/ticketledger?sslmode=disable"
	// DefaultTimeout bounds each HTTP request.
	DefaultTimeout = 30 * time.Second
)

// usageError reports a command line that cannot be run; ticketctl exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp is returned by parse after printing a command's help: the command stops with
// success.
var errHelp = errors.New("help shown")

// options are the settings every command shares, read from flags and the environment.
type options struct {
	server        string
	token         string
	databaseURL   string
	eventstoreURL string
	timeout       time.Duration
	json          bool

	stdout, stderr io.Writer
}

func newOptions(getenv func(string) string, stdout, stderr io.Writer) *options {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	return &options{server: env("TICKETLEDGER_SERVER", DefaultServer), token: getenv("TICKETLEDGER_TOKEN"),
		databaseURL: env("DATABASE_URL", DefaultDatabaseURL), eventstoreURL: getenv("EVENTSTORE_URL"),
		timeout: DefaultTimeout, stdout: stdout, stderr: stderr}
}

// command is one ticketctl command.
type command struct {
	name    string // "process apply"
	args    string // "FILE"
	summary string
	run     func(ctx context.Context, o *options, args []string) error
}

// commands returns every command, in the order help lists them.
func commands() []command {
	return []command{
		{"process validate", "FILE", "check a definition (YAML or JSON) without publishing it", processValidate},
		{"process apply", "FILE", "publish a definition as its process's next version", processApply},
		{"process simulate", "FILE --fields JSON --submitter ID", "route sample fields and a submitter through a definition (or a published one: --process KEY)", processSimulate},
		{"process list", "", "list the published processes", processList},
		{"principal create", "ID --kind user|service", "create a user or a business system's service principal", principalCreate},
		{"principal list", "", "list the principals", principalList},
		{"principal grant-role", "ID ROLE", "grant a role", principalRole(false)},
		{"principal revoke-role", "ID ROLE", "revoke a role", principalRole(true)},
		{"principal disable", "ID [--reason R]", "stop a principal authenticating and being routed new work", principalSwitch(false)},
		{"principal enable", "ID", "let a disabled principal in again", principalSwitch(true)},
		{"principal handover", "ID --to USER [--comment C]", "hand a principal's work on every open ticket to another user (离职交接)", principalHandover},
		{"token issue", "PRINCIPAL", "issue a bearer token (its secret is printed once)", tokenIssue},
		{"token list", "PRINCIPAL", "a principal's tokens: id, label, when issued, until when, and whether live", tokenList},
		{"token revoke", "PRINCIPAL TOKEN_ID", "revoke a token (its id from token list)", tokenRevoke},
		{"webhook register", "--system S --url U [--process P]... [--outcome O]...", "register a business system's webhook endpoint (its secret is printed once)", webhookRegister},
		{"webhook list", "", "list the webhook endpoints", webhookList},
		{"webhook show", "ID", "an endpoint, with its secrets' lifetimes", webhookShow},
		{"webhook enable", "ID", "enable an endpoint; its pending deliveries resume", webhookSwitch(false)},
		{"webhook disable", "ID [--reason R]", "pause an endpoint: its deliveries wait until it is enabled", webhookSwitch(true)},
		{"webhook delete", "ID", "delete an endpoint with its secrets and delivery records: it receives nothing more", webhookDelete},
		{"webhook rotate", "ID [--overlap 24h]", "give an endpoint a new secret (printed once); the old one signs during the overlap", webhookRotate},
		{"webhook deliveries", "ID [--state pending|delivered|dead]", "an endpoint's deliveries, newest first", webhookDeliveries},
		{"webhook attempts", "--ticket T", "a ticket's outcome, execution report, deliveries and every attempt", webhookAttempts},
		{"webhook redeliver", "DELIVERY_ID", "send one delivery again, with the same webhook-id", webhookRedeliver},
		{"webhook redeliver-dead", "ENDPOINT_ID", "send every dead-lettered delivery of an endpoint again", webhookRedeliverDead},
		{"webhook listen", "--secret-file F [--addr 127.0.0.1:9000] [--count N]", "receive, verify and print webhooks locally, as a business system would", webhookListen},
		{"projection status", "", "each read model's checkpoint, health and lag", projectionStatus},
		{"projection rebuild", "NAME", "rebuild a read model from the log (works on the stores)", projectionRebuild},
		{"audit verify", "TICKET_ID | --all", "verify the hash chain of a ticket, or of every ticket (works on the stores)", auditVerify},
		{"audit export", "TICKET_ID", "write a ticket's history as JSON lines (works on the stores)", auditExport},
	}
}

// run parses the command line and runs the command it names. Its error is a *usageError
// when the command line cannot be run.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o := newOptions(getenv, stdout, stderr)
	fs := o.flagSet("ticketctl")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return nil
		}
		return usagef("%v", err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		printUsage(stderr)
		return usagef("no command given")
	}
	if rest[0] == "help" {
		switch {
		case len(rest) == 1:
			printUsage(stdout)
			return nil
		case subcommands(rest[1]) == "":
			return usagef("unknown command %q", rest[1])
		case len(rest) == 2:
			printGroupUsage(stdout, rest[1])
			return nil
		}
		if c, ok := findCommand(rest[1] + " " + rest[2]); ok {
			return ignoreHelp(c.run(ctx, o, []string{"-h"}))
		}
		return usagef("unknown command %q: %s", rest[1]+" "+rest[2], subcommands(rest[1]))
	}
	if subcommands(rest[0]) == "" {
		return usagef("unknown command %q", rest[0])
	}
	if len(rest) < 2 {
		return usagef("%q needs a subcommand: %s", rest[0], subcommands(rest[0]))
	}
	c, ok := findCommand(rest[0] + " " + rest[1])
	if !ok {
		if subs := subcommands(rest[0]); subs != "" {
			return usagef("unknown command %q: %s", rest[0]+" "+rest[1], subs)
		}
		return usagef("unknown command %q", rest[0])
	}
	return ignoreHelp(c.run(ctx, o, rest[2:]))
}

func ignoreHelp(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// subcommands lists the commands of a group, e.g. "process validate, process apply".
func subcommands(group string) string {
	var out []string
	for _, c := range commands() {
		if strings.HasPrefix(c.name, group+" ") {
			out = append(out, c.name)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "want one of " + strings.Join(out, ", ")
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "usage: ticketctl [flags] COMMAND [flags] [ARGS]\n\ncommands:\n")
	printCommands(w, "")
	fmt.Fprint(w, sharedFlags)
}

// printGroupUsage prints the commands of group (such as "audit") and the shared flags.
func printGroupUsage(w io.Writer, group string) {
	fmt.Fprintf(w, "usage: ticketctl [flags] %s COMMAND [flags] [ARGS]\n\ncommands:\n", group)
	printCommands(w, group)
	fmt.Fprint(w, sharedFlags)
}

// printCommands lists the commands of group, or every command when group is empty.
func printCommands(w io.Writer, group string) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, c := range commands() {
		if group == "" || strings.HasPrefix(c.name, group+" ") {
			fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
		}
	}
	tw.Flush()
}

// sharedFlags describes the flags every command takes.
const sharedFlags = "\nflags of every command (environment variable):\n" +
	"  --server URL          ticketd's base URL (TICKETLEDGER_SERVER; default " + DefaultServer + ")\n" +
	"  --token TOKEN         bearer token (TICKETLEDGER_TOKEN)\n" +
	"  --database-url URL    PostgreSQL, for the commands that work on the stores (DATABASE_URL)\n" +
	"  --eventstore-url URL  EventStoreDB, when it is the event store (EVENTSTORE_URL)\n" +
	"  --timeout DURATION    bound on each HTTP request (default 30s)\n" +
	"  --json                print the server's JSON instead of text\n" +
	"\nrun 'ticketctl help COMMAND' for a command's own flags.\n"

// flagSet returns a flag set holding the shared flags, bound to o.
func (o *options) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.server, "server", o.server, "ticketd's base URL (TICKETLEDGER_SERVER)")
	fs.StringVar(&o.token, "token", o.token, "bearer token (TICKETLEDGER_TOKEN)")
	fs.StringVar(&o.databaseURL, "database-url", o.databaseURL, "PostgreSQL URL (DATABASE_URL)")
	fs.StringVar(&o.eventstoreURL, "eventstore-url", o.eventstoreURL, "EventStoreDB URL (EVENTSTORE_URL)")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "bound on each HTTP request")
	fs.BoolVar(&o.json, "json", o.json, "print the server's JSON instead of text")
	// Help shows where a default comes from, never a secret.
	if o.token != "" {
		fs.Lookup("token").DefValue = "$TICKETLEDGER_TOKEN"
	}
	fs.Lookup("database-url").DefValue = dbconn.Redact(o.databaseURL)
	fs.Lookup("eventstore-url").DefValue = dbconn.Redact(o.eventstoreURL)
	return fs
}

// parse parses a command's flags, which may come before, between and after its
// positional arguments, and checks the number of positional arguments against
// [minArgs, maxArgs] (maxArgs < 0: no limit). On -h it prints the command's help and
// returns errHelp.
func (o *options) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	c, _ := findCommand(fs.Name())
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				o.commandHelp(fs, c)
				return nil, errHelp
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case len(pos) < minArgs:
		return nil, usagef("%s: missing arguments: want %s", fs.Name(), c.args)
	case maxArgs >= 0 && len(pos) > maxArgs:
		return nil, usagef("%s: unexpected arguments %q: want %s", fs.Name(), pos[maxArgs:], argsOrNone(c.args))
	}
	return pos, nil
}

func argsOrNone(a string) string {
	if a == "" {
		return "none"
	}
	return a
}

func (o *options) commandHelp(fs *flag.FlagSet, c command) {
	fmt.Fprintf(o.stdout, "usage: ticketctl %s [flags] %s\n\n%s.\n\nflags:\n", c.name, c.args, c.summary)
	fs.SetOutput(o.stdout)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// stringList is a repeatable flag; each value may also hold a comma-separated list.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
