package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/evently/evently/api"
	"github.com/evently/evently/workers"
)

func runWork(ctx context.Context, c config, args []string) error {
	fs := flag.NewFlagSet("work", flag.ContinueOnError)
	kinds := fs.String("kinds", strings.Join(workers.Kinds(), ","), "worker kinds to run, comma-separated")
	addr := fs.String("addr", c.WorkerAddr, "address for /healthz, /readyz and /metrics")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "most booking commands per transaction")
	fs.DurationVar(&c.BatchWait, "batch-wait", c.BatchWait, "longest wait for a batch to fill")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	chosen, err := workers.ParseKinds(*kinds)
	if err != nil {
		return usageError{err}
	}
	d, err := connect(ctx, c)
	if err != nil {
		return err
	}
	defer d.close()
	w, err := newWorkers(d, c, chosen)
	if err != nil {
		return err
	}
	d.log.Info("workers starting", "kinds", chosen)
	return group(ctx,
		w.Run,
		func(ctx context.Context) error {
			return serveHTTP(ctx, d.log, *addr, api.Probes(checks(d, c)), c.DrainTimeout)
		},
	)
}

// newWorkers wires the chosen worker kinds.
func newWorkers(d *deps, c config, kinds []string) (*workers.Set, error) {
	if len(kinds) == 0 {
		return nil, fmt.Errorf("no worker kinds chosen")
	}
	return workers.NewSet(workers.Config{
		Brokers: c.KafkaBrokers, Names: d.names, Logger: d.log,
		DB: d.db, Producer: d.producer,
		BatchSize: c.BatchSize, BatchWait: c.BatchWait, MaxAttempts: c.MaxAttempts,
		SessionTimeout: c.SessionTimeout,
	}, kinds)
}

func runDev(ctx context.Context, c config, _ []string) error {
	d, err := connect(ctx, c)
	if err != nil {
		return err
	}
	defer d.close()
	w, err := newWorkers(d, c, workers.Kinds())
	if err != nil {
		return err
	}
	return group(ctx,
		w.Run,
		func(ctx context.Context) error {
			return serveHTTP(ctx, d.log, c.HTTPAddr, newAPI(d, c).Handler(), c.DrainTimeout)
		},
	)
}
