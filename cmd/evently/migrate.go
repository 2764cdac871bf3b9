package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/evently/evently/app"
	"github.com/evently/evently/store"
)

func migrateCommand(_ *flag.FlagSet, c *app.Config) action {
	return func(ctx context.Context, out io.Writer, args []string) error { return runMigrate(ctx, *c, out, args) }
}

func runMigrate(ctx context.Context, c app.Config, out io.Writer, args []string) error {
	sub := "up"
	if len(args) > 0 {
		sub = args[0]
	}
	// A typo is a usage error whether or not the database is up.
	if sub != "up" && sub != "status" {
		return usageError{fmt.Errorf("unknown migrate command %q (want up or status)", sub)}
	}
	if len(args) > 1 {
		return usageError{fmt.Errorf("unexpected argument %q", args[1])}
	}
	db, err := store.OpenPostgres(ctx, c.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "up" {
		n, err := store.Migrate(ctx, db.DB)
		if err != nil {
			return err
		}
		st, err := store.Migrations(ctx, db.DB)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "migrations: applied %d, now at version %d\n", n, st.Current)
		return nil
	}
	st, err := store.Migrations(ctx, db.DB)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "migrations: at version %d of %d", st.Current, st.Latest)
	if st.Pending() {
		fmt.Fprintln(out, " (pending: run evently migrate up)")
	} else {
		fmt.Fprintln(out, " (current)")
	}
	return nil
}
