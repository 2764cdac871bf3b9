// Command evently runs Evently: the HTTP API, the workers, migrations and
// demo data. Run `evently help` for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/caarlos0/env/v11"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // something went wrong while running
	exitUsage   = 2 // bad command line or configuration
)

// A command is one subcommand. Its flags are defined (setup) apart from
// running it so that `evently <command> -h` and a bad flag are answered
// before the configuration is loaded: help has to work in the broken
// environment someone is trying to fix.
type command struct {
	name     string
	synopsis string // after the name in `evently help`; defaults to args
	args     string // after the name in the usage line, e.g. "[up|status]"
	summary  string // one line, for `evently help` and the command's help
	about    string // more, for the command's help only
	// positional says the command takes arguments besides its flags.
	positional bool
	// noConfig runs the command without loading the configuration.
	noConfig bool
	// setup defines the command's flags on fs, defaults taken from c, and
	// returns what runs once they are parsed; by then *c is the loaded
	// configuration with the flags applied.
	setup func(fs *flag.FlagSet, c *app.Config) action
}

// An action runs a command with its non-flag arguments; out is standard
// output.
type action func(ctx context.Context, out io.Writer, args []string) error

// commands lists the subcommands in the order `evently help` shows them.
func commands() []command {
	return []command{
		{name: "api", summary: "serve the HTTP API", setup: apiCommand},
		{name: "work", args: "[flags]", summary: "run workers", setup: workCommand},
		{name: "dev", summary: "the API and every worker in one process (for make run)", setup: devCommand},
		{name: "migrate", args: "[up|status]", positional: true, summary: "apply (up, the default) or show (status) database migrations", setup: migrateCommand},
		{name: "seed", args: "[flags]", summary: "load demo data (idempotent)", setup: seedCommand},
		{name: "admin", synopsis: "create ...", args: "create --email EMAIL --password PASSWORD --name \"FULL NAME\"", positional: true,
			summary: "create an admin account", about: adminAbout, setup: adminCommand},
		{name: "reconcile", args: "[flags]", summary: "compare the payment gateway's ledger with the bookings (exit 1 on a mismatch)", setup: reconcileCommand},
		{name: "audit", args: "[flags]", summary: "check seats, bookings and payments agree (exit 1 on a violation)", about: auditAbout, setup: auditCommand},
		{name: "config", args: "[-json]", summary: "print the effective configuration, secrets redacted", about: configAbout, setup: configCommand},
		{name: "version", summary: "print the version, VCS revision and Go version", noConfig: true, setup: versionCommand},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage() string {
	var b strings.Builder
	b.WriteString("evently: event ticketing built for the on-sale rush\n\nusage: evently <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		syn := c.synopsis
		if syn == "" {
			syn = c.args
		}
		fmt.Fprintf(&b, "  %-19s %s\n", strings.TrimSpace(c.name+" "+syn), c.summary)
	}
	fmt.Fprintf(&b, "  %-19s %s\n", "help [command]", "this text, or a command's flags")
	b.WriteString("\nEvery command takes -h (or --help) for its flags. Configuration comes from\n" +
		"environment variables: evently config prints them, README.md explains them.\n")
	return b.String()
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] != "help" {
			cmd, ok := lookup(args[1])
			if !ok {
				fmt.Fprintf(stderr, "evently help: unknown command %q (evently help lists them)\n", args[1])
				return exitUsage
			}
			printHelp(stdout, cmd)
			return exitOK
		}
		fmt.Fprint(stdout, usage())
		return exitOK
	case "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
	}
	cmd, ok := lookup(args[0])
	if !ok {
		if strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "evently: unknown flag %s: flags follow the command (evently help lists the commands)\n", args[0])
		} else {
			fmt.Fprintf(stderr, "evently: unknown command %q (evently help lists the commands)\n", args[0])
		}
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "evently %s: %s\n", cmd.name, oneLine(err))
		var ue usageError
		if errors.As(err, &ue) || evently.ErrorCode(err) == evently.EINVALID {
			return exitUsage
		}
		return exitFailure
	}

	// The flags are parsed once against the built-in defaults first, so -h
	// and a bad flag never depend on the environment.
	defaults := defaultConfig()
	if _, _, err := parse(cmd, &defaults, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout, cmd)
			return exitOK
		}
		return fail(err)
	}
	var cfg app.Config
	if !cmd.noConfig {
		var err error
		if cfg, err = app.LoadConfig(); err != nil {
			fmt.Fprintln(stderr, "evently: configuration:", oneLine(err))
			return exitUsage
		}
	}
	// Again with the loaded configuration, whose values are the flags'
	// defaults.
	act, rest, err := parse(cmd, &cfg, args[1:])
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := act(ctx, stdout, rest); err != nil {
		return fail(err)
	}
	return exitOK
}

// newFlagSet defines cmd's flags with their defaults from c.
func newFlagSet(cmd command, c *app.Config) (*flag.FlagSet, action) {
	fs := flag.NewFlagSet("evently "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors come back as one line; printHelp prints help
	return fs, cmd.setup(fs, c)
}

// parse parses args for cmd and returns its action and its non-flag
// arguments. flag.ErrHelp comes back as is; other errors are usageErrors.
func parse(cmd command, c *app.Config, args []string) (action, []string, error) {
	fs, act := newFlagSet(cmd, c)
	rest, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("%w (evently %s -h lists the flags)", err, cmd.name)}
	}
	if len(rest) > 0 && !cmd.positional {
		return nil, nil, usageError{fmt.Errorf("unexpected argument %q (evently %s -h for usage)", rest[0], cmd.name)}
	}
	return act, rest, nil
}

// parseFlags parses flags anywhere among the arguments (`evently admin
// create --email ...`, `evently migrate status -h`): the flag package stops
// at the first non-flag, so parsing resumes after each. Everything after
// "--" is an argument.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, nil
		}
		if n := len(args) - len(left); n > 0 && args[n-1] == "--" {
			return append(rest, left...), nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

// printHelp prints cmd's usage line, description and every flag with its
// built-in default.
func printHelp(w io.Writer, cmd command) {
	defaults := defaultConfig()
	fs, _ := newFlagSet(cmd, &defaults)
	fmt.Fprintf(w, "usage: %s\n\n%s.\n", strings.TrimSpace("evently "+cmd.name+" "+cmd.args), upperFirst(cmd.summary))
	if cmd.about != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.about)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		fmt.Fprintln(w, "\nflags: none")
	} else {
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	switch {
	case !cmd.noConfig && n > 0:
		fmt.Fprintln(w, "\nConfiguration comes from environment variables (evently config prints them);\nthe flag defaults above are the built-in ones.")
	case !cmd.noConfig:
		fmt.Fprintln(w, "\nConfiguration comes from environment variables (evently config prints them).")
	}
}

// defaultConfig is the configuration with every variable unset: the
// defaults help shows, whatever the environment holds.
func defaultConfig() app.Config {
	var c app.Config
	_ = env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}}) // the defaults are tested
	return c
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// usageError is a bad command line.
type usageError struct{ error }

func oneLine(err error) string {
	first, _, _ := strings.Cut(err.Error(), "\n")
	return first
}
