package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"github.com/evently/evently/api"
	"github.com/evently/evently/app"
	"github.com/evently/evently/workers"
)

func workCommand(fs *flag.FlagSet, c *app.Config) action {
	// deploy/bench.sh reads the -kinds default from `evently work -h`.
	kinds := fs.String("kinds", strings.Join(workers.Kinds(), ","), "worker kinds to run, comma-separated")
	addr := fs.String("addr", c.WorkerAddr, "address for /healthz, /readyz and /metrics (env EVENTLY_WORKER_ADDR)")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "most booking commands per transaction (env EVENTLY_BATCH_SIZE)")
	fs.DurationVar(&c.BatchWait, "batch-wait", c.BatchWait, "longest wait for a batch to fill (env EVENTLY_BATCH_WAIT)")
	return func(ctx context.Context, _ io.Writer, _ []string) error {
		return runWork(ctx, *c, *kinds, *addr)
	}
}

func runWork(ctx context.Context, c app.Config, kinds, addr string) error {
	chosen, err := workers.ParseKinds(kinds)
	if err != nil {
		return usageError{err}
	}
	d, err := app.Connect(ctx, c)
	if err != nil {
		return err
	}
	defer d.Close()
	w, err := app.Workers(d, c, chosen)
	if err != nil {
		return err
	}
	d.Log.Info("workers starting", "kinds", chosen)
	return group(ctx,
		w.Run,
		func(ctx context.Context) error {
			return api.Serve(ctx, d.Log, addr, api.Probes(app.Checks(d, c), c.Pprof), c.DrainTimeout, nil)
		},
	)
}

func devCommand(_ *flag.FlagSet, c *app.Config) action {
	return func(ctx context.Context, _ io.Writer, _ []string) error { return runDev(ctx, *c) }
}

func runDev(ctx context.Context, c app.Config) error {
	d, err := app.Connect(ctx, c)
	if err != nil {
		return err
	}
	defer d.Close()
	s, err := app.API(d, c)
	if err != nil {
		return usageError{err}
	}
	w, err := app.Workers(d, c, workers.Kinds())
	if err != nil {
		return err
	}
	return group(ctx, append(s.Background, w.Run,
		func(ctx context.Context) error {
			return api.Serve(ctx, d.Log, c.HTTPAddr, s.Handler(), c.DrainTimeout, nil)
		},
	)...)
}
