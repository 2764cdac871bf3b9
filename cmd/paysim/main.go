// Command paysim runs the payment gateway simulator (package paysim) on
// PAYSIM_ADDR, 127.0.0.1:8090 by default. Every flag has an environment
// variable; flags win. SIGTERM or Ctrl-C drains in-flight requests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/evently/evently/api"
	"github.com/evently/evently/paysim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("paysim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var envErrs []error
	str := func(name, env, def, usage string) *string {
		if v := os.Getenv(env); v != "" {
			def = v
		}
		return fs.String(name, def, usage+" ($"+env+")")
	}
	dur := func(name, env string, def time.Duration, usage string) *time.Duration {
		if v := os.Getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s is not a valid duration", env))
			}
			def = d
		}
		return fs.Duration(name, def, usage+" ($"+env+")")
	}
	float := func(name, env string, def float64, usage string) *float64 {
		if v := os.Getenv(env); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s is not a valid number", env))
			}
			def = f
		}
		return fs.Float64(name, def, usage+" ($"+env+")")
	}
	boolean := func(name, env string, usage string) *bool {
		def := false
		if v := os.Getenv(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s is not a valid boolean", env))
			}
			def = b
		}
		return fs.Bool(name, def, usage+" ($"+env+")")
	}
	addr := str("addr", "PAYSIM_ADDR", "127.0.0.1:8090", "listen address")
	p50 := dur("latency", "PAYSIM_LATENCY", 0, "median latency of charges and refunds")
	p99 := dur("latency-p99", "PAYSIM_LATENCY_P99", 0, "99th percentile latency (log-normal between the two)")
	errRate := float("error-rate", "PAYSIM_ERROR_RATE", 0, "share of requests answered 503 before charging")
	timeoutRate := float("timeout-rate", "PAYSIM_TIMEOUT_RATE", 0, "share of charges that hang for -slow-delay, then happen")
	outage := boolean("outage", "PAYSIM_OUTAGE", "start in an outage (every request 503)")
	slow := dur("slow-delay", "PAYSIM_SLOW_DELAY", 5*time.Second, "how long tok_slow and timeouts hang")
	seedStr := str("seed", "PAYSIM_SEED", "0", "random seed (0: random)")
	drain := dur("drain", "PAYSIM_DRAIN_TIMEOUT", 10*time.Second, "how long SIGTERM waits for in-flight requests")
	level := str("log-level", "PAYSIM_LOG_LEVEL", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(envErrs) > 0 {
		fmt.Fprintln(stderr, "paysim: configuration:", errors.Join(envErrs...))
		return 2
	}
	seed, err := strconv.ParseUint(*seedStr, 10, 64)
	if err != nil {
		fmt.Fprintln(stderr, "paysim: configuration: PAYSIM_SEED must be a non-negative integer")
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(stderr, "paysim: configuration: PAYSIM_LOG_LEVEL must be debug, info, warn or error")
		return 2
	}
	b := paysim.Behaviour{
		LatencyP50Ms: int(p50.Milliseconds()),
		LatencyP99Ms: int(p99.Milliseconds()),
		ErrorRate:    *errRate,
		TimeoutRate:  *timeoutRate,
		Outage:       *outage,
	}
	if err := b.Validate(); err != nil {
		fmt.Fprintln(stderr, "paysim: configuration:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	sim := paysim.New(paysim.Options{Behaviour: b, Seed: seed, SlowDelay: *slow, Logger: log})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("paysim", "behaviour", fmt.Sprintf("%+v", sim.Behaviour()))
	// sim.Close ends hanging charges (tok_slow) so the drain is not held up.
	if err := api.Serve(ctx, log, *addr, sim, *drain, sim.Close); err != nil {
		fmt.Fprintln(stderr, "paysim:", err)
		return 1
	}
	return 0
}
