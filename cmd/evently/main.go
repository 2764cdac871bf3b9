// Command evently runs Evently: the HTTP API, the workers, migrations and
// demo data. Run `evently help` for the subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
)

const usage = `evently: event ticketing built for the on-sale rush

usage: evently <command> [flags]

commands:
  api                 serve the HTTP API
  work [flags]        run workers (evently work -h for flags)
  dev                 api and every worker in one process (for make run)
  migrate [up|status] apply or show database migrations
  seed [flags]        load demo data (idempotent)
  admin create ...    create an admin account (--email, --password, --name)
  reconcile [flags]   compare the payment gateway's ledger with the bookings (exit 1 on a mismatch)
  audit [flags]       check seats, bookings and payments agree (exit 1 on a violation)
  help                this text

Configuration comes from environment variables; see README.md.
`

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // something went wrong while running
	exitUsage   = 2 // bad command line or configuration
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cfg, err := app.LoadConfig()
	if err != nil {
		fmt.Fprintln(stderr, "evently: configuration:", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmds := map[string]func(context.Context, app.Config, []string) error{
		"api":     runAPI,
		"work":    runWork,
		"dev":     runDev,
		"migrate": runMigrate,
		"seed":    runSeed,
		"admin":   runAdmin,

		// Payments: compares the gateway's ledger with the bookings.
		"reconcile": runReconcile,
		"audit":     runAudit,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "evently: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	if err := cmd(ctx, cfg, args[1:]); err != nil {
		fmt.Fprintf(stderr, "evently %s: %s\n", args[0], oneLine(err))
		var ue usageError
		if errors.As(err, &ue) || evently.ErrorCode(err) == evently.EINVALID {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// usageError is a bad command line.
type usageError struct{ error }

func oneLine(err error) string {
	first, _, _ := strings.Cut(err.Error(), "\n")
	return first
}
