package main

import (
	"context"
	"fmt"

	"github.com/evently/evently/app"
)

func runSeed(ctx context.Context, c app.Config, args []string) error {
	fmt.Println("seed: no demo data yet")
	return nil
}
