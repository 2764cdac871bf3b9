package bench_test

import (
	"context"
	"encoding/xml"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/evently/evently/cmd/evently-bench/bench"
	"github.com/evently/evently/cmd/evently-naive/naive"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/paysim"
)

// A handful of buyers against the naive server in-process: the generator
// logs in, reads the seat map, books, retries after 409s, and the audit
// passes afterwards.
func TestSmokeAgainstNaive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	set, err := bench.Setup(ctx, db, bench.SetupOptions{Users: 12, Events: 1, Seats: 16, RowSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	sim := httptest.NewServer(paysim.New(paysim.Options{Seed: 3}))
	defer sim.Close()
	ns := naive.New(db, nil)
	if ns.Pay, err = gateway.New(sim.URL, gateway.Options{Name: "bench-smoke"}); err != nil {
		t.Fatal(err)
	}
	if err := ns.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ns.Handler())
	defer srv.Close()
	var progress strings.Builder
	res, err := bench.Run(ctx, bench.Config{Target: srv.URL, API: "naive", Setup: set, Buyers: 12, Concurrency: 6, Accounts: 6,
		Strategy: "front", FrontSeats: 4, MaxSeats: 2, Retries: 2, Abandon: 0.1, Pay: true, Duration: 20 * time.Second, Seed: 7,
		Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range res.Outcomes {
		total += n
	}
	if total != 12 || res.Arrivals != 12 {
		t.Fatalf("outcomes %v (arrivals %d), want 12 buyers", res.Outcomes, res.Arrivals)
	}
	if res.Confirmed == 0 || res.Confirmed != res.Outcomes["confirmed"] || res.Accepted != res.Confirmed {
		t.Fatalf("confirmed %d accepted %d outcomes %v", res.Confirmed, res.Accepted, res.Outcomes)
	}
	if l := res.Latency["submit_to_confirmed"]; l.Count != int64(res.Confirmed) {
		t.Errorf("submit_to_confirmed %+v for %d confirmed", l, res.Confirmed)
	}
	if res.RequestsPerConfirmed < 3 || res.CPU == nil || res.CPU.MachineS <= 0 || res.CPUPerConfirmed <= 0 {
		t.Errorf("per confirmed: %.2f requests, cpu %+v %.4f", res.RequestsPerConfirmed, res.CPU, res.CPUPerConfirmed)
	}
	for k := range res.Outcomes {
		if strings.Contains(k, "error") {
			t.Errorf("outcome %s: %v", k, res.Outcomes)
		}
	}
	if l := res.Latency["submit"]; l.Count == 0 || l.P99 <= 0 || l.Max < l.P50 {
		t.Errorf("submit latency %+v", l)
	}
	if rep := bench.Audit(ctx, db, set, res, time.Second, nil); !rep.Passed() {
		t.Fatalf("audit: %+v", rep)
	}
	md := res.Markdown()
	if !strings.Contains(md, "| submit |") || !strings.Contains(md, "Audit: passed") {
		t.Errorf("markdown:\n%s", md)
	}
	if err := xml.Unmarshal([]byte(res.SVG()), new(struct{})); err != nil {
		t.Errorf("svg is not well-formed: %v", err)
	}
	if cmp := bench.Compare(res, res); !strings.Contains(cmp, "1.00×") {
		t.Errorf("compare:\n%s", cmp)
	}
	t.Logf("%s\n%s", progress.String(), md)
}

// Disjoint journeys never want the same seat: no 409, every journey that
// pays gets its own seat, over fewer accounts than journeys.
func TestDisjointAgainstNaive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := evtest.DB(t)
	set, err := bench.Setup(ctx, db, bench.SetupOptions{Users: 3, Events: 1, Seats: 20, RowSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	sim := httptest.NewServer(paysim.New(paysim.Options{Seed: 4}))
	defer sim.Close()
	ns := naive.New(db, nil)
	if ns.Pay, err = gateway.New(sim.URL, gateway.Options{Name: "bench-disjoint"}); err != nil {
		t.Fatal(err)
	}
	if err := ns.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ns.Handler())
	defer srv.Close()
	res, err := bench.Run(ctx, bench.Config{Target: srv.URL, API: "naive", Setup: set, Buyers: 15, Concurrency: 3, Accounts: 3,
		Strategy: "disjoint", MaxSeats: 1, Retries: 2, Pay: true, SeatMapTTL: time.Second, Duration: 20 * time.Second, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if res.HoldConflicts != 0 || res.Confirmed != 15 || res.Outcomes["confirmed"] != 15 {
		t.Fatalf("conflicts %d, confirmed %d, outcomes %v", res.HoldConflicts, res.Confirmed, res.Outcomes)
	}
	if rep := bench.Audit(ctx, db, set, res, time.Second, nil); !rep.Passed() {
		t.Fatalf("audit: %+v", rep)
	}
}
