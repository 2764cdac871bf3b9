package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/app"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/store"
)

// runAudit checks the database's integrity (store.CheckIntegrity): no seat
// sold twice, sold seats and seat-holding bookings agree, every accepted
// booking exists and settled, the payment ledger reconciles. It prints
// every violation and fails (exit 1) when there is one.
func runAudit(ctx context.Context, c app.Config, args []string) error {
	return auditDB(ctx, c, args, os.Stdout)
}

func auditDB(ctx context.Context, c app.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	acceptedFile := fs.String("accepted", "", "file of booking ids a client was given 202 for, one per line (evently-bench writes PREFIX.accepted)")
	events := fs.String("events", "", "comma-separated event ids to check (default all)")
	settle := fs.Duration("settle-wait", 0, "wait this long for accepted bookings to settle")
	gatewayURL := fs.String("gateway", "", "payment gateway base URL: also reconcile its ledger (e.g. $EVENTLY_PAYMENT_URL)")
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Errorf("audit: %w (flags: -accepted FILE -events IDS -settle-wait D -gateway URL)", err)}
	}
	var o store.IntegrityOptions
	o.SettleWait = *settle
	for _, s := range strings.Split(*events, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		id, err := uuid.Parse(s)
		if err != nil {
			return usageError{fmt.Errorf("audit: event id %q: %w", s, err)}
		}
		o.EventIDs = append(o.EventIDs, id)
	}
	if *acceptedFile != "" {
		ids, err := readIDs(*acceptedFile)
		if err != nil {
			return usageError{fmt.Errorf("audit: %w", err)}
		}
		o.Accepted = ids
	}
	db, err := store.OpenPostgres(ctx, c.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	if *gatewayURL != "" {
		gw, err := gateway.New(*gatewayURL, gateway.Options{Name: "audit"})
		if err != nil {
			return usageError{err}
		}
		o.Reconcile = func(ctx context.Context) ([]string, error) {
			ledger, err := gw.Ledger(ctx)
			if err != nil {
				return nil, fmt.Errorf("ledger from %s: %w", *gatewayURL, err)
			}
			ms, err := gateway.Reconcile(ctx, db, ledger)
			out := make([]string, len(ms))
			for i, m := range ms {
				out[i] = m.String()
			}
			return out, err
		}
	}
	start := time.Now()
	vs, err := store.CheckIntegrity(ctx, db, o)
	if err != nil {
		return err
	}
	for _, v := range vs {
		fmt.Fprintln(stdout, v)
	}
	if len(vs) > 0 {
		return fmt.Errorf("%d integrity violations", len(vs))
	}
	fmt.Fprintf(stdout, "audit: passed (%d accepted bookings checked, %.1fs)\n", len(o.Accepted), time.Since(start).Seconds())
	return nil
}

func readIDs(path string) ([]uuid.UUID, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []uuid.UUID
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		id, err := uuid.Parse(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		ids = append(ids, id)
	}
	return ids, sc.Err()
}
