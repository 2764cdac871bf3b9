// Command evently-naive is the conventional baseline for the on-sale
// benchmark: a synchronous booking server (one request, one transaction,
// SELECT … FOR UPDATE; holds in PostgreSQL; the charge made against -paysim
// inside the booking transaction) over Evently's PostgreSQL schema, in a
// database of its own that `evently-bench setup` prepares. See package naive.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/evently/evently/api"
	"github.com/evently/evently/cmd/evently-naive/naive"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/store"
)

func main() {
	fs := flag.NewFlagSet("evently-naive", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8180", "listen address")
	dbURL := fs.String("db", os.Getenv("NAIVE_DATABASE_URL"), "PostgreSQL URL of the naive database (or NAIVE_DATABASE_URL)")
	conns := fs.Int("conns", 20, "connection pool size")
	paysim := fs.String("paysim", "http://127.0.0.1:8090", "payment gateway (paysim) base URL, charged inside the booking transaction")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *dbURL == "" {
		fmt.Fprintln(os.Stderr, "evently-naive: -db or NAIVE_DATABASE_URL is required")
		os.Exit(2)
	}
	if err := run(*addr, *dbURL, *paysim, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "evently-naive:", err)
		os.Exit(1)
	}
}

func run(addr, dbURL, paysim string, conns int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := store.OpenPostgres(ctx, dbURL, conns)
	if err != nil {
		return err
	}
	defer db.Close()
	srv := naive.New(db, log)
	if srv.Pay, err = gateway.New(paysim, gateway.Options{Name: "naive"}); err != nil {
		return err
	}
	if err := srv.Migrate(ctx); err != nil {
		return fmt.Errorf("hold tables: %w", err)
	}
	return api.Serve(ctx, log, addr, srv.Handler(), 10*time.Second, nil)
}
