package main

import (
	"context"

	"github.com/evently/evently/api"
)

func runAPI(ctx context.Context, c config, _ []string) error {
	d, err := connect(ctx, c)
	if err != nil {
		return err
	}
	defer d.close()
	return serveHTTP(ctx, d.log, c.HTTPAddr, newAPI(d, c).Handler(), c.DrainTimeout)
}

// newAPI wires the HTTP API's services.
func newAPI(d *deps, c config) *api.Server {
	return &api.Server{Logger: d.log, Checks: checks(d, c)}
}
