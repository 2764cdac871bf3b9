package main

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// group runs fns together; the first to fail stops the others.
func group(ctx context.Context, fns ...func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, fn := range fns {
		g.Go(func() error { return fn(ctx) })
	}
	return g.Wait()
}
