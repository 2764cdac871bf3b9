package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/evently/evently/app"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/store"
)

// reconcile compares the payment gateway's ledger (at
// EVENTLY_PAYMENT_URL) with the bookings table, prints every mismatch and
// fails (exit 1) when there is one.
func reconcileCommand(fs *flag.FlagSet, c *app.Config) action {
	gatewayURL := fs.String("gateway", c.Payments.GatewayURL, "payment gateway base URL (env EVENTLY_PAYMENT_URL)")
	return func(ctx context.Context, out io.Writer, _ []string) error {
		return reconcile(ctx, *c, *gatewayURL, out)
	}
}

func reconcile(ctx context.Context, c app.Config, gatewayURL string, stdout io.Writer) error {
	gw, err := gateway.New(gatewayURL, gateway.Options{Name: "reconcile"})
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
		return fmt.Errorf("ledger from %s: %w", gatewayURL, err)
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
