package main

import (
	"context"
	"fmt"
)

func runSeed(ctx context.Context, c config, args []string) error {
	fmt.Println("seed: no demo data yet")
	return nil
}
