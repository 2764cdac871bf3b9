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

const auditAbout = `No seat sold twice, sold seats and seat-holding bookings agree, every
accepted booking exists and settled and, with -gateway, the payment ledger
reconciles. Prints every violation.`

func auditCommand(fs *flag.FlagSet, c *app.Config) action {
	var f auditFlags
	fs.StringVar(&f.accepted, "accepted", "", "file of booking ids a client was given 202 for, one per line (evently-bench writes PREFIX.accepted)")
	fs.StringVar(&f.events, "events", "", "comma-separated event ids to check (default all)")
	fs.DurationVar(&f.settleWait, "settle-wait", 0, "wait this long for accepted bookings to settle")
	fs.StringVar(&f.gateway, "gateway", "", "payment gateway base URL: also reconcile its ledger (e.g. $EVENTLY_PAYMENT_URL)")
	return func(ctx context.Context, out io.Writer, _ []string) error { return auditDB(ctx, *c, f, out) }
}

type auditFlags struct {
	accepted, events, gateway string
	settleWait                time.Duration
}

// auditDB checks the database's integrity (store.CheckIntegrity) and fails
// (exit 1) on a violation.
func auditDB(ctx context.Context, c app.Config, f auditFlags, stdout io.Writer) error {
	var o store.IntegrityOptions
	o.SettleWait = f.settleWait
	for _, s := range strings.Split(f.events, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		id, err := uuid.Parse(s)
		if err != nil {
			return usageError{fmt.Errorf("event id %q: %w", s, err)}
		}
		o.EventIDs = append(o.EventIDs, id)
	}
	if f.accepted != "" {
		ids, err := readIDs(f.accepted)
		if err != nil {
			return usageError{err}
		}
		o.Accepted = ids
	}
	db, err := store.OpenPostgres(ctx, c.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	if f.gateway != "" {
		gw, err := gateway.New(f.gateway, gateway.Options{Name: "audit"})
		if err != nil {
			return usageError{err}
		}
		o.Reconcile = func(ctx context.Context) ([]string, error) {
			ledger, err := gw.Ledger(ctx)
			if err != nil {
				return nil, fmt.Errorf("ledger from %s: %w", f.gateway, err)
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
