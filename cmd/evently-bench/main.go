// Command evently-bench is Evently's load and chaos harness.
//
//	evently-bench setup   -db URL [-recreate NAME] -users N -events K -seats S -out setup.json
//	evently-bench run     -target URL -api evently|naive -setup setup.json [load, chaos, audit flags] -out PREFIX
//	evently-bench compare -base naive.json -cand evently.json
//	evently-bench publish -file BENCHMARKS.md -section results.md
//	evently-bench pipeline -rates 1000,2000,4000 -batch-sizes 1,50,200
//
// All load goes to the -target (127.0.0.1 only unless -allow-remote), is
// bounded by -buyers and -duration, and stops by itself. `run` audits the
// database afterwards when -audit-db is given and exits 1 on any violation.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/evently/evently/cmd/evently-bench/bench"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/store"
)

const usage = `evently-bench: on-sale load generator, chaos harness and audit

usage:
  evently-bench setup   [flags]   buyers and published events straight in PostgreSQL
  evently-bench run     [flags]   drive the API, inject faults, report, audit
  evently-bench compare -base A.json -cand B.json   side-by-side ratios (Markdown)
  evently-bench publish -file BENCHMARKS.md -section S.md   replace the bench section
  evently-bench pipeline [flags]  the booking pipeline alone: offered rate vs committed rate and latency by batch size
  evently-bench server-time [flags]  request latency quantiles from the API's own histogram between two /metrics snapshots

Run evently-bench <command> -h for the flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmds := map[string]func(context.Context, []string) error{
		"setup": setup, "run": run, "compare": compare, "publish": publish, "pipeline": pipeline, "server-time": serverTime,
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprint(os.Stderr, usage)
		if os.Args[1] == "help" || os.Args[1] == "-h" {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if err := cmd(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "evently-bench %s: %v\n", os.Args[1], err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func defaultDB() string {
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://evently:evently@127.0.0.1:15432/evently?sslmode=disable"
}

func setup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	dbURL := fs.String("db", defaultDB(), "PostgreSQL URL (the server's admin database when -recreate is given)")
	recreate := fs.String("recreate", "", "drop, create and migrate this database on the -db server first, and set up in it")
	users := fs.Int("users", 1000, "buyer accounts")
	events := fs.Int("events", 1, "published events")
	seats := fs.Int("seats", 500, "seats per event")
	rowSize := fs.Int("row-size", 20, "seats per row")
	out := fs.String("out", "setup.json", "where to write what was made")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *users > 1_000_000 || *events > 1000 || *seats > 100_000 {
		return usageError{errors.New("at most 1,000,000 users, 1000 events, 100,000 seats per event")}
	}
	url := *dbURL
	if *recreate != "" {
		var err error
		if url, err = bench.RecreateDatabase(ctx, *dbURL, *recreate); err != nil {
			return fmt.Errorf("recreate %s: %w", *recreate, err)
		}
	}
	db, err := store.OpenPostgres(ctx, url, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	res, err := bench.Setup(ctx, db, bench.SetupOptions{Users: *users, Events: *events, Seats: *seats, RowSize: *rowSize})
	if err != nil {
		return err
	}
	if err := res.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "setup: %d buyers, %d events × %d seats in %s (%.1fs) → %s\n",
		*users, *events, *seats, redact(url), time.Since(start).Seconds(), *out)
	fmt.Println(url) // for scripts: the database set up
	return nil
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "database"
	}
	return p.Redacted()
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c bench.Config
	fs.StringVar(&c.Name, "name", "", "label in the reports (default api-scenario)")
	fs.StringVar(&c.Target, "target", "http://127.0.0.1:8080", "base URL of the API (without /api/v1)")
	fs.StringVar(&c.API, "api", "evently", "evently (holds, 202 + follow) or naive (synchronous 201/409)")
	fs.StringVar(&c.Scenario, "scenario", "onsale", "onsale, browse, mixed, waitlist or holds (holds only, at -rate)")
	setupFile := fs.String("setup", "setup.json", "file written by evently-bench setup")
	fs.IntVar(&c.Buyers, "buyers", 500, "buyer journeys (readers for browse)")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "most journeys in flight at once (with -rate 0: closed-loop buyers)")
	fs.IntVar(&c.Accounts, "accounts", 0, "journey i signs in as account i mod N (0: one account per journey, wrapping at the setup's users)")
	fs.Float64Var(&c.Rate, "rate", 0, "buyer arrivals per second (0: as fast as -concurrency allows)")
	fs.DurationVar(&c.Duration, "duration", 2*time.Minute, "hard limit of the load phase (with -drain: no journey starts after it)")
	fs.BoolVar(&c.Drain, "drain", false, "let journeys in flight at -duration finish (each bounded by -follow-timeout) instead of cutting them off")
	fs.StringVar(&c.Strategy, "strategy", "random", "seat choice: random, best (first available), front (fight for the front -front-seats), disjoint (journey i takes seat slot i: no contention)")
	fs.IntVar(&c.FrontSeats, "front-seats", 40, "how many best seats front buyers fight over")
	fs.IntVar(&c.MaxSeats, "max-seats", 4, "each buyer wants 1..N seats (N ≤ 10)")
	fs.IntVar(&c.Retries, "retries", 2, "new attempts (fresh seat map, new seats) after a 409")
	fs.Float64Var(&c.Abandon, "abandon", 0.1, "fraction of buyers who abandon their hold")
	fs.Float64Var(&c.Decline, "decline", 0, "fraction paying with tok_decline")
	fs.StringVar(&c.Follow, "follow", "poll", "follow bookings by poll or stream")
	fs.DurationVar(&c.PollEvery, "poll-every", 0, "fixed poll interval (0: 10 ms after the submit answer, then max(10 ms, age/4) capped at 250 ms)")
	cpuPids := fs.String("cpu-pidfiles", "", "comma-separated pid files or pids: the per-process CPU breakdown counts only these processes and their descendants (default: every process)")
	fs.BoolVar(&c.Pay, "pay", true, "book with a payment token and follow to a settled state (false: done at reserved, like the naive baseline)")
	fs.BoolVar(&c.SignInFirst, "sign-in-first", true, "log every buyer in before the on-sale starts (false: logins are part of the rush)")
	fs.DurationVar(&c.SeatMapTTL, "seat-map-ttl", 0, "share one seat map per event between buyers for this long (0: each buyer fetches its own)")
	fs.DurationVar(&c.SettleWait, "follow-timeout", 60*time.Second, "how long one buyer follows its booking")
	fs.Float64Var(&c.Skew, "skew", 1.1, "mixed: Zipf exponent of event popularity")
	fs.IntVar(&c.Reads, "reads", 10, "browse: reads per reader")
	fs.IntVar(&c.Waitlisters, "waitlisters", 20, "waitlist: buyers joining after the sell-out")
	fs.IntVar(&c.Cancels, "cancels", 10, "waitlist: confirmed bookings cancelled afterwards")
	fs.IntVar(&c.CancelRate, "cancel-rate", 50, "waitlist: cancellations a second")
	fs.Uint64Var(&c.Seed, "seed", 0, "random seed (0: from the clock)")
	out := fs.String("out", "", "write PREFIX.json, PREFIX.md and PREFIX.svg")
	quiet := fs.Bool("quiet", false, "no live progress line")
	allowRemote := fs.Bool("allow-remote", false, "allow a target that is not on loopback")
	auditDB := fs.String("audit-db", "", "PostgreSQL URL of the target's database: audit it after the run")
	settle := fs.Duration("settle-wait", 90*time.Second, "how long the audit waits for accepted bookings to settle")
	paysim := fs.String("paysim", "", "payment simulator base URL: reconcile its ledger in the audit; target of -outage-at")
	// Chaos.
	killEvery := fs.Duration("kill-every", 0, "SIGKILL one process from -kill-pidfiles this often (a supervisor restarts it)")
	killFrom := fs.Duration("kill-from", 3*time.Second, "first kill this long after the start")
	killPids := fs.String("kill-pidfiles", "", "comma-separated pid files (worker processes) for -kill-every")
	kafkaAt := fs.Duration("kafka-restart-at", 0, "stop the Kafka broker (SIGTERM) this long after the start, then restart it")
	redisAt := fs.Duration("redis-restart-at", 0, "SIGKILL Redis this long after the start, then restart it")
	outageAt := fs.Duration("outage-at", 0, "payment gateway outage (paysim /admin/behaviour) this long after the start")
	outageFor := fs.Duration("outage-for", 10*time.Second, "length of the payment outage")
	stackDir := fs.String("stack-dir", ".stack", "the stack's state folder (pid files)")
	stackScript := fs.String("stack-script", "deploy/stack.sh", "script whose `up` restarts a stopped broker or Redis")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's own CPU profile here")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := loopbackOnly(c.Target, *allowRemote); err != nil {
		return usageError{err}
	}
	set, err := bench.LoadSetup(*setupFile)
	if err != nil {
		return usageError{err}
	}
	c.Setup = set
	if !*quiet {
		c.Progress = os.Stderr
	}
	c.CPURoots = cpuRoots(*cpuPids)
	if *killEvery > 0 {
		if *killPids == "" {
			return usageError{errors.New("-kill-every needs -kill-pidfiles")}
		}
		c.Chaos = append(c.Chaos, bench.ChaosAction{Kind: "kill", At: *killFrom, Every: *killEvery, PidFiles: strings.Split(*killPids, ",")})
	}
	up := []string{"bash", *stackScript, "up"}
	if *kafkaAt > 0 {
		c.Chaos = append(c.Chaos, bench.ChaosAction{Kind: "restart", Name: "kafka", At: *kafkaAt, Signal: syscall.SIGTERM,
			PidFiles: []string{filepath.Join(*stackDir, "kafka", "kafka.pid")}, Cmd: up})
	}
	if *redisAt > 0 {
		c.Chaos = append(c.Chaos, bench.ChaosAction{Kind: "restart", Name: "redis", At: *redisAt, Signal: syscall.SIGKILL,
			PidFiles: []string{filepath.Join(*stackDir, "redis", "redis.pid")}, Cmd: up})
	}
	if *outageAt > 0 {
		if *paysim == "" {
			return usageError{errors.New("-outage-at needs -paysim")}
		}
		c.Chaos = append(c.Chaos, bench.ChaosAction{Kind: "outage", At: *outageAt, For: *outageFor,
			URL: strings.TrimRight(*paysim, "/") + "/admin/behaviour"})
	}
	if err := preflight(ctx, c); err != nil {
		return err
	}

	res, err := bench.Run(ctx, c)
	if err != nil {
		return err
	}
	var auditErr error
	if *auditDB != "" {
		auditErr = audit(ctx, *auditDB, set, res, *settle, c.API, *paysim)
	}
	fmt.Println(res.Markdown())
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		if err := res.WriteJSON(*out + ".json"); err != nil {
			return err
		}
		if err := os.WriteFile(*out+".md", []byte(res.Markdown()), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(*out+".svg", []byte(res.SVG()), 0o644); err != nil {
			return err
		}
		ids := strings.Join(res.AcceptedIDs, "\n")
		if err := os.WriteFile(*out+".accepted", []byte(ids+"\n"), 0o644); err != nil {
			return err
		}
	}
	if auditErr != nil {
		return auditErr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.Scenario != "browse" && c.Scenario != "holds" && res.Accepted == 0 {
		return fmt.Errorf("no booking was accepted; outcomes: %v; HTTP errors: %v", res.Outcomes, res.HTTPErrors)
	}
	return nil
}

func audit(ctx context.Context, dbURL string, set *bench.SetupResult, res *bench.Result, settle time.Duration, api, paysim string) error {
	db, err := store.OpenPostgres(ctx, dbURL, 4)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer db.Close()
	var reconcile func(context.Context) ([]string, error)
	if paysim != "" {
		reconcile = ledgerReconcile(db, paysim)
	}
	fmt.Fprintf(os.Stderr, "audit: waiting up to %s for %d accepted bookings to settle, then checking\n", settle, len(res.AcceptedIDs))
	rep := bench.Audit(ctx, db, set, res, settle, reconcile)
	switch {
	case rep.Error != "":
		return fmt.Errorf("audit could not run: %s", rep.Error)
	case len(rep.Violations) > 0:
		for _, v := range rep.Violations {
			fmt.Fprintln(os.Stderr, "VIOLATION", v)
		}
		return fmt.Errorf("audit: %d violations", len(rep.Violations))
	}
	fmt.Fprintf(os.Stderr, "audit: passed (%d accepted bookings, %.1fs)\n", rep.Checked, rep.TookS)
	return nil
}

// ledgerReconcile is the payments engineer's reconciliation of the
// gateway's ledger against the bookings, as an audit check.
func ledgerReconcile(db *sqlx.DB, paysim string) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		gw, err := gateway.New(paysim, gateway.Options{Name: "bench-audit"})
		if err != nil {
			return nil, err
		}
		ledger, err := gw.Ledger(ctx)
		if err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		ms, err := gateway.Reconcile(ctx, db, ledger)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.String()
		}
		return out, nil
	}
}

// cpuRoots reads pids (numbers or pid files whose first line is one);
// missing files are skipped.
func cpuRoots(list string) []int {
	var out []int
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if n, err := strconv.Atoi(strings.TrimSpace(line)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// loopbackOnly keeps the load on this machine unless told otherwise.
func loopbackOnly(target string, allow bool) error {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-target %q is not a URL", target)
	}
	if allow {
		return nil
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-target %s is not on loopback (use -allow-remote deliberately)", u.Host)
	}
	return nil
}

// preflight names the first missing piece of the target before any load.
func preflight(ctx context.Context, c bench.Config) error {
	missing, err := bench.Preflight(ctx, c)
	if err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("the target at %s is not ready for this run:\n  %s", c.Target, strings.Join(missing, "\n  "))
	}
	return nil
}

func compare(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	base := fs.String("base", "", "baseline result JSON (the naive server)")
	cand := fs.String("cand", "", "candidate result JSON (Evently)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	a, err := bench.LoadResult(*base)
	if err != nil {
		return usageError{err}
	}
	b, err := bench.LoadResult(*cand)
	if err != nil {
		return usageError{err}
	}
	fmt.Print(bench.Compare(a, b))
	return nil
}

// Markers around the generated section of BENCHMARKS.md.
const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

func publish(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	file := fs.String("file", "BENCHMARKS.md", "the document to update")
	section := fs.String("section", "", "Markdown to put between the bench markers")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	body, err := os.ReadFile(*section)
	if err != nil {
		return usageError{err}
	}
	doc, err := os.ReadFile(*file)
	if errors.Is(err, os.ErrNotExist) {
		doc = []byte("# Benchmarks\n\nFigures measured on this project's machines. `make bench` rewrites the section between the bench markers; other sections are written by hand.\n\n" +
			beginMarker + "\n" + endMarker + "\n")
	} else if err != nil {
		return err
	}
	s := string(doc)
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	if i < 0 || j < i {
		s = strings.TrimRight(s, "\n") + "\n\n" + beginMarker + "\n" + endMarker + "\n"
		i, j = strings.Index(s, beginMarker), strings.Index(s, endMarker)
	}
	s = s[:i+len(beginMarker)] + "\n" + strings.TrimSpace(string(body)) + "\n" + s[j:]
	return os.WriteFile(*file, []byte(s), 0o644)
}
