package workers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/evently/evently/gateway"
	"github.com/evently/evently/store"
)

// How often a worker process renews its report, and how long a report
// outlives its last renewal (a killed process drops out of the view then).
const (
	reportEvery = 2 * time.Second
	reportTTL   = 10 * time.Second
)

// DefaultInstance names a process: host, pid and a random part (pids repeat
// across containers).
func DefaultInstance() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b)
}

// reporter keeps this process's report in Redis while it runs: the
// pipeline view reads the payment breakers' states from it, since they
// live in the worker processes' memory.
type reporter struct {
	reports  *store.WorkerReports
	report   store.WorkerReport
	breakers map[string]*gateway.Client
	cfg      Config
}

func newReporter(cfg Config, kinds []string) *reporter {
	host, _ := os.Hostname()
	r := &reporter{cfg: cfg, reports: &store.WorkerReports{Redis: cfg.Redis, Keys: cfg.Keys},
		breakers: map[string]*gateway.Client{},
		report: store.WorkerReport{Instance: cfg.Instance, Kinds: slices.Clone(kinds), Host: host, PID: os.Getpid(),
			StartedAt: time.Now().UTC()}}
	if cfg.Gateway != nil && slices.Contains(kinds, "payment") {
		r.breakers["payment"] = cfg.Gateway
	}
	if cfg.ChargeAtCommit != nil && slices.Contains(kinds, "booking") {
		r.breakers["charge_at_commit"] = cfg.ChargeAtCommit
	}
	return r
}

// Run renews the report until ctx ends, then withdraws it. Redis errors
// are only logged: the report is a view, never needed to work.
func (r *reporter) Run(ctx context.Context) error {
	t := time.NewTicker(reportEvery)
	defer t.Stop()
	for {
		r.renew(ctx)
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = r.reports.Withdraw(wctx, r.report.Instance)
			cancel()
			return nil
		case <-t.C:
		}
	}
}

func (r *reporter) renew(ctx context.Context) {
	rep := r.report
	rep.SeenAt = time.Now().UTC()
	rep.Breakers = map[string]string{}
	for name, gw := range r.breakers {
		rep.Breakers[name] = gw.BreakerState().String()
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := r.reports.Report(ctx, rep, reportTTL); err != nil && ctx.Err() == nil {
		r.cfg.Logger.Debug("worker report not renewed", "err", err)
	}
}
