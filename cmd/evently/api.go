package main

import (
	"context"
	"flag"
	"io"

	"github.com/evently/evently/api"
	"github.com/evently/evently/app"
)

func apiCommand(_ *flag.FlagSet, c *app.Config) action {
	return func(ctx context.Context, _ io.Writer, _ []string) error { return runAPI(ctx, *c) }
}

func runAPI(ctx context.Context, c app.Config) error {
	d, err := app.Connect(ctx, c)
	if err != nil {
		return err
	}
	defer d.Close()
	s, err := app.API(d, c)
	if err != nil {
		return usageError{err}
	}
	return group(ctx, append(s.Background, func(ctx context.Context) error {
		return api.Serve(ctx, d.Log, c.HTTPAddr, s.Handler(), c.DrainTimeout, nil)
	})...)
}
