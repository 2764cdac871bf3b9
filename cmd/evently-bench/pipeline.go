package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
	"github.com/evently/evently/cmd/evently-bench/bench"
	"github.com/evently/evently/topics"
)

// pipeline measures the booking pipeline behind the API: book commands are
// offered to Kafka at a fixed rate for one hot event (one partition), the
// real booking worker (in this process, the production code) commits them,
// and each booking's time from being offered to its committed status
// arriving on the Redis status feed is recorded. It answers "how many
// bookings per second can one event commit, and how does batch size trade
// throughput against latency", without the HTTP front end and the load
// generator competing for the same two cores.
func pipeline(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	adminURL := fs.String("db", defaultDB(), "PostgreSQL admin URL (a database evently_bench_pipeline is recreated on it)")
	rates := fs.String("rates", "2000", "offered bookings per second, comma-separated")
	batches := fs.String("batch-sizes", "200", "worker batch sizes, comma-separated")
	seats := fs.Int("seats", 20000, "seats of the hot event (each booking takes one)")
	duration := fs.Duration("duration", 5*time.Second, "offer load this long per run (capped by the seats)")
	out := fs.String("out", "", "also write the Markdown table here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rateList, err := intList(*rates)
	if err != nil {
		return fmt.Errorf("-rates: %w", err)
	}
	batchList, err := intList(*batches)
	if err != nil {
		return fmt.Errorf("-batch-sizes: %w", err)
	}
	cfg, err := app.LoadConfig()
	if err != nil {
		return err
	}
	dbURL, err := bench.RecreateDatabase(ctx, *adminURL, "evently_bench_pipeline")
	if err != nil {
		return err
	}
	cfg.DatabaseURL = dbURL
	var rows []pipelineRow
	for _, bs := range batchList {
		for _, rate := range rateList {
			row, err := pipelineRun(ctx, cfg, bs, rate, *seats, *duration)
			if err != nil {
				return fmt.Errorf("batch %d, rate %d: %w", bs, rate, err)
			}
			fmt.Fprintf(os.Stderr, "pipeline: batch %d, offered %d/s → committed %.0f/s, p50 %.1f ms, p99 %.1f ms\n",
				bs, rate, row.Committed, row.P50, row.P99)
			rows = append(rows, row)
		}
	}
	var b strings.Builder
	writePipelineTable(&b, rows)
	fmt.Print(b.String())
	if *out != "" {
		return os.WriteFile(*out, []byte(b.String()), 0o644)
	}
	return nil
}

type pipelineRow struct {
	BatchSize     int
	Offered       int
	Bookings      int
	Committed     float64 // bookings per second, first offer to last commit
	P50, P99, Max float64 // ms from offered to committed status on the feed
}

func writePipelineTable(w io.Writer, rows []pipelineRow) {
	fmt.Fprintln(w, "| batch size | offered /s | bookings | committed /s | p50 ms | p99 ms | max ms |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %d | %d | %.0f | %.1f | %.1f | %.1f |\n", r.BatchSize, r.Offered, r.Bookings, r.Committed, r.P50, r.P99, r.Max)
	}
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive whole number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func pipelineRun(ctx context.Context, base app.Config, batchSize, rate, seats int, duration time.Duration) (pipelineRow, error) {
	row := pipelineRow{BatchSize: batchSize, Offered: rate}
	c := base
	prefix := "pipe" + strings.ReplaceAll(uuid.NewString()[:8], "-", "") + "."
	c.TopicPrefix, c.GroupPrefix, c.RedisPrefix = prefix, prefix, prefix
	c.BatchSize = batchSize
	c.LogLevel = "warn"
	d, err := app.Connect(ctx, c)
	if err != nil {
		return row, err
	}
	defer d.Close()
	setup, err := bench.Setup(ctx, d.DB, bench.SetupOptions{Users: 1, Events: 1, Seats: seats})
	if err != nil {
		return row, err
	}
	event := setup.Events[0]
	var user uuid.UUID
	if err := d.DB.GetContext(ctx, &user, `SELECT id FROM users WHERE email = $1`, setup.Email(0)); err != nil {
		return row, err
	}
	var seatIDs []string
	if err := d.DB.SelectContext(ctx, &seatIDs, `SELECT seat_id FROM event_seats WHERE event_id = $1`, event); err != nil {
		return row, err
	}
	n := min(int(float64(rate)*duration.Seconds()), len(seatIDs))
	row.Bookings = n

	// Listen to the status feed before anything is offered.
	offered := make(map[uuid.UUID]time.Time, n)
	var mu sync.Mutex
	hist := hdrhistogram.New(1, 120_000_000, 3) // µs
	var last time.Time
	seen := 0
	done := make(chan struct{})
	sub := d.Redis.PSubscribe(ctx, d.Keys.Key("bkch", "*"))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		return row, err
	}
	go func() {
		for m := range sub.Channel() {
			at := time.Now()
			var ch evently.StatusChange
			if json.Unmarshal([]byte(m.Payload), &ch) != nil || !ch.Status.HoldsSeats() {
				continue
			}
			mu.Lock()
			if t, ok := offered[ch.BookingID]; ok {
				delete(offered, ch.BookingID)
				_ = hist.RecordValue(at.Sub(t).Microseconds())
				seen++
				last = at
				if seen == n {
					close(done)
				}
			}
			mu.Unlock()
		}
	}()

	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	set, err := app.Workers(d, c, []string{"booking"})
	if err != nil {
		return row, err
	}
	werr := make(chan error, 1)
	go func() { werr <- set.Run(wctx) }()
	for deadline := time.Now().Add(30 * time.Second); !set.Assigned(); {
		if time.Now().After(deadline) {
			return row, fmt.Errorf("the booking worker got no partition in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Offer n commands at the rate, in 5 ms ticks, like the API would.
	const tick = 5 * time.Millisecond
	start := time.Now()
	sent := 0
	for sent < n {
		due := min(n, int(time.Since(start).Seconds()*float64(rate))+1)
		var msgs []topics.Message
		now := time.Now()
		mu.Lock()
		for ; sent < due; sent++ {
			cmd := evently.BookCommand{BookingID: evently.NewID(), UserID: user, EventID: event,
				SeatIDs: []string{seatIDs[sent]}, AcceptedAt: now.UTC()}
			env, err := topics.NewEnvelope(evently.CmdBook, cmd)
			if err != nil {
				mu.Unlock()
				return row, err
			}
			offered[cmd.BookingID] = now
			msgs = append(msgs, topics.Message{Topic: topics.BookingCommands, Key: event.String(), Envelope: env})
		}
		mu.Unlock()
		if err := d.Producer.Publish(ctx, msgs...); err != nil {
			return row, err
		}
		time.Sleep(tick)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		return row, fmt.Errorf("only %d of %d bookings committed", seen, n)
	case err := <-werr:
		return row, fmt.Errorf("worker stopped: %v", err)
	}
	stopWorkers()
	<-werr
	mu.Lock()
	defer mu.Unlock()
	row.Committed = float64(n) / last.Sub(start).Seconds()
	row.P50 = float64(hist.ValueAtQuantile(50)) / 1000
	row.P99 = float64(hist.ValueAtQuantile(99)) / 1000
	row.Max = float64(hist.Max()) / 1000
	return row, nil
}
