package main

import (
	"context"
	"fmt"

	"github.com/evently/evently/app"
	"github.com/evently/evently/store"
)

func runMigrate(ctx context.Context, c app.Config, args []string) error {
	sub := "up"
	if len(args) > 0 {
		sub = args[0]
	}
	db, err := store.OpenPostgres(ctx, c.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "up":
		n, err := store.Migrate(ctx, db.DB)
		if err != nil {
			return err
		}
		st, err := store.Migrations(ctx, db.DB)
		if err != nil {
			return err
		}
		fmt.Printf("migrations: applied %d, now at version %d\n", n, st.Current)
	case "status":
		st, err := store.Migrations(ctx, db.DB)
		if err != nil {
			return err
		}
		fmt.Printf("migrations: at version %d of %d", st.Current, st.Latest)
		if st.Pending() {
			fmt.Println(" (pending: run evently migrate up)")
		} else {
			fmt.Println(" (current)")
		}
	default:
		return usageError{fmt.Errorf("unknown migrate command %q (want up or status)", sub)}
	}
	return nil
}
