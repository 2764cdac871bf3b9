package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/evently/evently/app"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/store"
)

// runReconcile compares the payment gateway's ledger (at
// EVENTLY_PAYMENT_URL) with the bookings table, prints every mismatch and
// fails (exit 1) when there is one.
func runReconcile(ctx context.Context, c app.Config, args []string) error {
	return reconcile(ctx, c, args, os.Stdout)
}

func reconcile(ctx context.Context, c app.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	gatewayURL := fs.String("gateway", c.Payments.GatewayURL, "payment gateway base URL (default $EVENTLY_PAYMENT_URL)")
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Errorf("%w (flags: -gateway URL)", err)}
	}
	gw, err := gateway.New(*gatewayURL, gateway.Options{Name: "reconcile"})
	if err != nil {
		return usageError{err}
	}
	db, err := store.OpenPostgres(ctx, c.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	ledger, err := gw.Ledger(ctx)
	if err != nil {
		return fmt.Errorf("ledger from %s: %w", *gatewayURL, err)
	}
	mismatches, err := gateway.Reconcile(ctx, db, ledger)
	if err != nil {
		return err
	}
	for _, m := range mismatches {
		fmt.Fprintln(stdout, m)
	}
	if len(mismatches) > 0 {
		return fmt.Errorf("%d mismatches between the gateway ledger (%d entries) and the bookings", len(mismatches), len(ledger))
	}
	fmt.Fprintf(stdout, "reconcile: %d ledger entries agree with the bookings\n", len(ledger))
	return nil
}
