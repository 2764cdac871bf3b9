package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/evently/evently/app"
	"github.com/evently/evently/store"
)

func seedCommand(fs *flag.FlagSet, c *app.Config) action {
	large := fs.Bool("large", false, "also load 1,000 events with 1,000,000 event seats for benchmarks")
	return func(ctx context.Context, out io.Writer, _ []string) error { return runSeed(ctx, *c, out, *large) }
}

// runSeed loads the demo data (idempotent) and prints the demo accounts.
func runSeed(ctx context.Context, c app.Config, out io.Writer, large bool) error {
	db, err := store.OpenPostgres(ctx, c.DatabaseURL, 4)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := store.Migrations(ctx, db.DB)
	if err != nil {
		return err
	}
	if st.Pending() {
		return fmt.Errorf("migrations pending (at %d of %d): run evently migrate first", st.Current, st.Latest)
	}
	start := time.Now()
	p := newProgress(out)
	rep, err := store.Seed(ctx, db, store.SeedOptions{Large: large, Progress: p.report})
	p.done()
	if err != nil {
		return err
	}
	if rep.Changed() {
		fmt.Fprintf(out, "seed: added %d users, %d venues, %d events, %d event seats in %.1fs\n",
			rep.Users, rep.Venues, rep.Events, rep.EventSeats, time.Since(start).Seconds())
	} else {
		fmt.Fprintf(out, "seed: nothing to do, the demo data is already there (%.1fs)\n", time.Since(start).Seconds())
	}
	fmt.Fprintln(out, "demo accounts (email / password / role):")
	for _, cr := range rep.Credentials {
		fmt.Fprintf(out, "  %-26s %-24s %s\n", cr.Email, cr.Password, cr.Role)
	}
	return nil
}

// progress draws one \r-updated line on a terminal and plain lines (one
// per stage and every tenth) elsewhere, so logs stay readable.
type progress struct {
	w        io.Writer
	tty      bool
	stage    string
	lastTick int
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	if !ok {
		return &progress{w: w}
	}
	fi, err := f.Stat()
	return &progress{w: f, tty: err == nil && fi.Mode()&os.ModeCharDevice != 0}
}

func (p *progress) report(stage string, done, total int) {
	if total == 0 {
		return
	}
	pct := 100
	if total > 0 {
		pct = done * 100 / total
	}
	if p.tty {
		const width = 30
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < pct*width/100 {
				bar[i] = '='
			}
		}
		if stage != p.stage && p.stage != "" {
			fmt.Fprintln(p.w) // keep the finished stage's line
		}
		fmt.Fprintf(p.w, "\r%-22s [%s] %3d%% (%d/%d)  ", stage, bar, pct, done, total)
		p.stage = stage
		return
	}
	if stage != p.stage {
		p.stage, p.lastTick = stage, -1
	}
	// Small stages get one line when done; large ones one per tenth.
	if total == 0 || (total < 10000 && done < total) {
		return
	}
	if tick := pct / 10; tick != p.lastTick {
		p.lastTick = tick
		fmt.Fprintf(p.w, "%s: %d%% (%d/%d)\n", stage, pct, done, total)
	}
}

func (p *progress) done() {
	if p.tty && p.stage != "" {
		fmt.Fprintln(p.w)
	}
}
