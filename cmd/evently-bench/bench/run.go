package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Config is one run.
type Config struct {
	Name     string // label in reports
	Target   string // base URL, e.g. http://127.0.0.1:8080
	API      string // "evently" (bookings settle asynchronously) or "naive" (the booking answer is final)
	Scenario string // onsale, browse, mixed, waitlist, holds
	Setup    *SetupResult

	Buyers      int // buyer journeys (readers for browse)
	Concurrency int // most journeys in flight at once (closed loop: the buyers)
	// Accounts > 0 makes journey i sign in as account i mod Accounts, so
	// Concurrency buyers reuse a fixed set of accounts for many journeys;
	// 0 gives every journey its own account (wrapping at the setup's users).
	Accounts int
	Rate     float64       // buyer arrivals per second; 0 = as fast as Concurrency allows
	Duration time.Duration // hard limit for the whole load phase (with Drain: for arrivals)
	// Drain lets the journeys in flight at Duration finish (each bounded
	// by SettleWait while it follows its booking) instead of cutting them
	// off: every journey started is counted whole, its work and its
	// confirmation alike, and the load phase ends when the last one ends.
	Drain      bool
	Strategy   string  // random, best, front, disjoint
	FrontSeats int     // how many best seats "front" buyers fight over
	MaxSeats   int     // each buyer wants 1..MaxSeats seats
	Retries    int     // new attempts after a 409
	Abandon    float64 // fraction that abandon their hold
	Decline    float64 // fraction paying with tok_decline
	Follow     string  // poll or stream
	// PollEvery > 0 polls at that fixed interval; 0 (the default) polls as
	// a buyer's app does: 10 ms after the submit answer, then every
	// max(10 ms, age/4) capped at 250 ms, age being the time since submit.
	PollEvery time.Duration
	// CPURoots limit the per-process CPU breakdown to these pids and their
	// descendants (this suite's processes); none counts every process.
	CPURoots []int
	// SeatMapTTL > 0 lets buyers share one seat map per event, refetched at
	// most this often (as a CDN in front of the API would); 0 makes every
	// buyer fetch its own. Sharing keeps a 20,000-seat map from dominating a
	// throughput run.
	SeatMapTTL time.Duration
	// SignInFirst logs every buyer in before the clock starts, as people
	// are already signed in when an on-sale opens; logins are then not part
	// of the measured rush.
	SignInFirst bool
	// Pay books with a payment token and follows to a settled state; without
	// it a buyer is done once the booking is committed (reserved), the
	// point the naive baseline's synchronous booking reaches.
	Pay         bool
	SettleWait  time.Duration // how long one buyer follows its booking
	Skew        float64       // mixed: Zipf exponent of event popularity
	Reads       int           // browse: reads per reader
	Waitlisters int           // waitlist: buyers joining the waitlist after the sell-out
	Cancels     int           // waitlist: confirmed buyers who cancel afterwards
	CancelRate  int           // waitlist: cancellations a second
	Seed        uint64

	Progress io.Writer // live line once a second (nil: none)
	Chaos    []ChaosAction
}

func (c *Config) defaults() error {
	if c.Target == "" || c.Setup == nil {
		return errors.New("run: target and setup are required")
	}
	if c.API == "" {
		c.API = "evently"
	}
	if c.API != "evently" && c.API != "naive" {
		return fmt.Errorf("run: api %q: want evently or naive", c.API)
	}
	if c.Scenario == "" {
		c.Scenario = "onsale"
	}
	switch c.Scenario {
	case "onsale", "browse", "mixed", "waitlist", "holds":
	default:
		return fmt.Errorf("run: unknown scenario %q", c.Scenario)
	}
	switch c.Strategy {
	case "":
		c.Strategy = "random"
	case "random", "best", "front", "disjoint":
	default:
		return fmt.Errorf("run: unknown strategy %q", c.Strategy)
	}
	if c.Follow == "" {
		c.Follow = "poll"
	}
	if c.Follow != "poll" && c.Follow != "stream" {
		return fmt.Errorf("run: follow %q: want poll or stream", c.Follow)
	}
	if c.Buyers <= 0 {
		c.Buyers = 100
	}
	if c.Buyers > 1_000_000 {
		return errors.New("run: at most 1,000,000 buyers")
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.Concurrency > 10_000 {
		return errors.New("run: concurrency at most 10,000")
	}
	if c.Duration <= 0 || c.Duration > time.Hour {
		c.Duration = 2 * time.Minute
	}
	if c.MaxSeats <= 0 {
		c.MaxSeats = 4
	}
	c.MaxSeats = min(c.MaxSeats, 10)
	if c.FrontSeats <= 0 {
		c.FrontSeats = 40
	}
	if c.Accounts < 0 || c.Accounts > c.Buyers {
		c.Accounts = 0
	}
	if c.SettleWait <= 0 {
		c.SettleWait = 30 * time.Second
	}
	if c.Skew <= 0 {
		c.Skew = 1.1
	}
	if c.Reads <= 0 {
		c.Reads = 10
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Name == "" {
		c.Name = c.API + "-" + c.Scenario
	}
	return nil
}

// runner is one run in progress.
type runner struct {
	cfg    Config
	c      *client
	rec    *recorder
	active atomic.Int64
	zipf   []float64 // cumulative event weights (mixed)

	mu        sync.Mutex
	confirmed []ownedBooking // for the waitlist scenario's cancellations

	mapsMu sync.Mutex
	maps   map[uuid.UUID]*sharedMap
	tokens []string // by account, with SignInFirst
	// all is every seat of the event, best first, as first seen (disjoint);
	// under allMu, since the seat map is fetched with mapsMu held.
	allMu sync.Mutex
	all   map[uuid.UUID][]seat
}

type sharedMap struct {
	free       []seat
	fetched    time.Time
	refreshing atomic.Bool // a buyer is fetching its successor
	// at finds a seat's place in free; gone marks, by place, the seats
	// buyers learned are taken since the fetch. A flag per place, not a
	// concurrent map of ids: a front pick looks at hundreds of seats, and
	// the generator's own CPU counts against both servers.
	at   map[string]int
	gone []atomic.Bool
	// front is how many of the first free seats are all gone: gone only
	// grows while the map is shared, so picks start there instead of
	// looking the same sold front up again (a cost that grew with the
	// server's rate, not the buyer's journey).
	front *atomic.Int64
}

func newSharedMap(free []seat) *sharedMap {
	at := make(map[string]int, len(free))
	for i, s := range free {
		at[s.ID] = i
	}
	return &sharedMap{free: free, fetched: time.Now(), at: at, gone: make([]atomic.Bool, len(free)), front: &atomic.Int64{}}
}

func (m *sharedMap) view() seatView { return seatView{m.free, m.gone, m.front} }

// seatView is a buyer's look at a seat map: the free seats when it was
// fetched, less those learned gone since (nil: none).
type seatView struct {
	free  []seat
	gone  []atomic.Bool // by place in free
	front *atomic.Int64
}

// skipGone returns the index of the first free seat not known gone, and
// remembers it for the next buyer of the same map.
func (v seatView) skipGone() int {
	if v.front == nil {
		return 0
	}
	i := v.front.Load()
	start := i
	for int(i) < len(v.free) && v.isGone(int(i)) {
		i++
	}
	for i > start && !v.front.CompareAndSwap(start, i) {
		if start = v.front.Load(); start >= i {
			break
		}
	}
	return int(i)
}

// isGone reports whether free[i] is known gone.
func (v seatView) isGone(i int) bool { return v.gone != nil && v.gone[i].Load() }

type ownedBooking struct {
	id, token string
	seats     []string
}

// Run drives the target and returns the figures. It stops by itself: after
// Buyers buyers, or at Duration, whichever is first.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	rec := newRecorder()
	r := &runner{cfg: cfg, rec: rec, c: newClient(cfg.Target, cfg.Concurrency, rec)}
	r.zipf = zipfWeights(len(cfg.Setup.Events), cfg.Skew)

	if cfg.SignInFirst && cfg.Scenario != "browse" {
		if err := r.signInAll(ctx); err != nil {
			return nil, err
		}
	}
	jctx, jcancel := context.WithTimeout(ctx, cfg.Duration)
	if cfg.Drain {
		// A backstop only: each journey's follow is bounded by SettleWait.
		jcancel()
		jctx, jcancel = context.WithTimeout(ctx, cfg.Duration+2*cfg.SettleWait+time.Minute)
	}
	defer jcancel()
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	cpu0 := takeCPUSnapshot()
	started := time.Now()

	// Live progress, and per-second request counts for the timeline.
	progDone := make(chan struct{})
	stopProg := make(chan struct{})
	go func() {
		defer close(progDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-stopProg:
				return
			case <-t.C:
				line := rec.progress(cfg.Buyers, r.active.Load(), last)
				last = rec.requests.Load()
				if cfg.Progress != nil {
					fmt.Fprintln(cfg.Progress, line)
				}
			}
		}
	}()
	chaos := startChaos(ctx, cfg.Chaos, rec.start, cfg.Progress)

	arrivalsEnd := r.arrive(ctx, jctx, cfg.Buyers, func(ctx context.Context, i int, rnd *rand.Rand) {
		switch cfg.Scenario {
		case "browse":
			r.reader(ctx, i, rnd)
		case "holds":
			r.holdOnly(ctx, i, rnd)
		default:
			r.buyer(ctx, i, rnd)
		}
	})
	loadEnd := time.Now()
	cpu1 := takeCPUSnapshot()
	if cfg.Scenario == "waitlist" && jctx.Err() == nil {
		r.waitlist(jctx)
	}
	chaosEvents := chaos.wait()
	close(stopProg)
	<-progDone
	if cfg.Progress != nil {
		fmt.Fprintln(cfg.Progress, rec.progress(cfg.Buyers, 0, rec.requests.Load()))
	}
	res := r.result(started, arrivalsEnd, loadEnd)
	res.Chaos = chaosEvents
	res.CPU = cpuBetween(cpu0, cpu1, cfg.CPURoots)
	res.finishPerConfirmed()
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		res.CutOff = true
	}
	return res, nil
}

// arrive starts n actors at the configured rate, at most Concurrency at
// once, until ctx ends, and waits for all of them; the actors run under
// jctx. It returns when the last one arrived.
func (r *runner) arrive(ctx, jctx context.Context, n int, actor func(context.Context, int, *rand.Rand)) time.Time {
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	last := start
	for i := 0; i < n; i++ {
		if r.cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / r.cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
		}
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
		}
		if ctx.Err() != nil {
			r.rec.mu.Lock()
			r.rec.outcomes["not_started"] += n - i
			r.rec.mu.Unlock()
			break
		}
		last = time.Now()
		r.rec.count("arrivals", 1)
		r.active.Add(1)
		wg.Add(1)
		rnd := rand.New(rand.NewPCG(r.cfg.Seed, uint64(i)))
		go func() {
			defer wg.Done()
			defer func() { <-sem; r.active.Add(-1) }()
			actor(jctx, i, rnd)
		}()
	}
	wg.Wait()
	return last
}

func zipfWeights(n int, s float64) []float64 {
	cum := make([]float64, n)
	total := 0.0
	for i := range n {
		total += 1 / math.Pow(float64(i+1), s)
		cum[i] = total
	}
	for i := range cum {
		cum[i] /= total
	}
	return cum
}

func (r *runner) pickEvent(rnd *rand.Rand) uuid.UUID {
	ev := r.cfg.Setup.Events
	if r.cfg.Scenario != "mixed" || len(ev) == 1 {
		return ev[0]
	}
	x := rnd.Float64()
	for i, c := range r.zipf {
		if x <= c {
			return ev[i]
		}
	}
	return ev[len(ev)-1]
}

// login signs buyer i in and returns its access token.
// signInAll logs every buyer in, Concurrency at a time, with a client whose
// figures are not recorded.
func (r *runner) signInAll(ctx context.Context) error {
	start := time.Now()
	timed, timedRec := r.c, r.rec
	r.rec = newRecorder()
	r.c = newClient(r.cfg.Target, r.cfg.Concurrency, r.rec)
	defer func() {
		// The measured rush starts now: nothing of the sign-in counts.
		r.c, r.rec = timed, timedRec
		r.rec.start = time.Now()
	}()
	r.tokens = make([]string, r.accounts())
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range r.tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tok, err := r.login(ctx, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("sign-in of buyer %d: %w", i, err)
			}
			r.tokens[i] = tok
		}()
	}
	wg.Wait()
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "signed in %d buyers before the on-sale in %.1fs\n", len(r.tokens), time.Since(start).Seconds())
	}
	return firstErr
}

// accounts is how many accounts the journeys share.
func (r *runner) accounts() int {
	if r.cfg.Accounts > 0 {
		return r.cfg.Accounts
	}
	return r.cfg.Buyers
}

// token returns journey i's access token (account i mod accounts): signed
// in beforehand, or now.
func (r *runner) token(ctx context.Context, i int) (string, error) {
	a := i % r.accounts()
	if r.tokens != nil {
		return r.tokens[a], nil
	}
	return r.login(ctx, a)
}

func (r *runner) login(ctx context.Context, i int) (string, error) {
	body := map[string]string{"email": r.cfg.Setup.Email(i), "password": r.cfg.Setup.Password}
	for attempt := 0; ; attempt++ {
		res, err := r.c.do(ctx, "login", "POST", "/auth/login", "", body)
		if err != nil {
			return "", err
		}
		if res.status == 429 && attempt < 5 {
			if !sleep(ctx, res.retryAfter()) {
				return "", ctx.Err()
			}
			continue
		}
		if res.status != 200 {
			return "", fmt.Errorf("login %d", res.status)
		}
		r.rec.latency(latLogin, res.latency)
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := res.decode(&out); err != nil || out.AccessToken == "" {
			return "", fmt.Errorf("login: no access token")
		}
		return out.AccessToken, nil
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// seatMap returns the event's available seats, best first: fetched by the
// buyer, or shared between buyers for up to SeatMapTTL. A stale shared map
// is refreshed by one buyer while the others go on with the stale copy
// (stale-while-revalidate, as a CDN serves it): only the event's first map
// is waited for. Holding every buyer until the refresh was fetched and
// decoded (a 20,000-seat map: ~100 ms of the generator's CPU) stalled the
// whole closed loop for a tenth of every second, and idled the machine.
func (r *runner) seatMap(ctx context.Context, token string, event uuid.UUID) (seatView, int, error) {
	if r.cfg.SeatMapTTL <= 0 {
		free, st, err := r.fetchSeatMap(ctx, token, event)
		return seatView{free: free}, st, err
	}
	r.mapsMu.Lock()
	m, ok := r.maps[event]
	switch {
	case ok && (time.Since(m.fetched) < r.cfg.SeatMapTTL || m.refreshing.Load()):
		r.mapsMu.Unlock()
		return m.view(), 200, nil
	case ok:
		m.refreshing.Store(true)
		r.mapsMu.Unlock()
		free, st, err := r.fetchSeatMap(ctx, token, event)
		if err != nil {
			m.refreshing.Store(false)
			return seatView{}, st, err
		}
		fresh := newSharedMap(free)
		r.mapsMu.Lock()
		r.maps[event] = fresh
		r.mapsMu.Unlock()
		return fresh.view(), st, nil
	}
	defer r.mapsMu.Unlock()
	free, st, err := r.fetchSeatMap(ctx, token, event)
	if err != nil {
		return seatView{}, st, err
	}
	if r.maps == nil {
		r.maps = map[uuid.UUID]*sharedMap{}
	}
	m = newSharedMap(free)
	r.maps[event] = m
	return m.view(), st, nil
}

// fetchSeatMap fetches the event's seats and returns the available ones, best first.
func (r *runner) fetchSeatMap(ctx context.Context, token string, event uuid.UUID) ([]seat, int, error) {
	res, err := r.c.do(ctx, "seat_map", "GET", "/events/"+event.String()+"/seats", token, nil)
	if err != nil {
		return nil, 0, err
	}
	if res.status != 200 {
		return nil, res.status, fmt.Errorf("seat map %d", res.status)
	}
	r.rec.latency(latSeatMap, res.latency)
	all, err := decodeSeats(res.body)
	if err != nil {
		return nil, 200, err
	}
	if r.cfg.Strategy == "disjoint" {
		r.keepAll(event, all)
	}
	free := all[:0]
	for _, s := range all {
		if s.Status == "available" || s.Status == "" {
			free = append(free, s)
		}
	}
	rankSeats(free)
	return free, 200, nil
}

// keepAll remembers the event's whole seat list, best first, the first
// time it is seen: the disjoint strategy deals slots of it out.
func (r *runner) keepAll(event uuid.UUID, all []seat) {
	r.allMu.Lock()
	defer r.allMu.Unlock()
	if _, ok := r.all[event]; ok {
		return
	}
	if r.all == nil {
		r.all = map[uuid.UUID][]seat{}
	}
	cp := append([]seat(nil), all...)
	rankSeats(cp)
	r.all[event] = cp
}

// disjointSeats is journey i's own slot of the event's seats: seats
// i·MaxSeats … i·MaxSeats+k−1, which no other journey takes (nil once the
// event has no slot left for it).
func (r *runner) disjointSeats(event uuid.UUID, i, k int) []string {
	r.allMu.Lock()
	all := r.all[event]
	r.allMu.Unlock()
	from := i * r.cfg.MaxSeats
	if from+k > len(all) {
		return nil
	}
	ids := make([]string, k)
	for j := range k {
		ids[j] = all[from+j].ID
	}
	return ids
}

// forget drops seats from the shared seat map until its next refresh: the
// buyer's app greys out seats it just held or learned (409) are gone.
func (r *runner) forget(event uuid.UUID, ids []string) {
	if r.cfg.SeatMapTTL <= 0 || len(ids) == 0 {
		return
	}
	r.mapsMu.Lock()
	m, ok := r.maps[event]
	r.mapsMu.Unlock()
	if !ok {
		return
	}
	for _, id := range ids {
		if i, ok := m.at[id]; ok {
			m.gone[i].Store(true)
		}
	}
}

// pick chooses k seats by the strategy.
func (r *runner) pick(v seatView, k int, rnd *rand.Rand) []string {
	free := v.free
	k = min(k, len(free))
	if r.cfg.Strategy == "random" || r.cfg.Strategy == "" {
		// k distinct random seats without copying a large map; seats known
		// gone are passed over (a bounded number of tries).
		ids := make([]string, 0, k)
		seen := map[int]bool{}
		for tries := 0; len(ids) < k && tries < 64*k; tries++ {
			if i := rnd.IntN(len(free)); !seen[i] && !v.isGone(i) {
				seen[i] = true
				ids = append(ids, free[i].ID)
			}
		}
		return ids
	}
	// The first seats not known gone, best first: k of them for "best",
	// the front block for "front", all for any other strategy.
	want := len(free)
	switch r.cfg.Strategy {
	case "best":
		want = k
	case "front":
		want = max(k, r.cfg.FrontSeats)
	}
	from := make([]seat, 0, min(want, len(free)))
	for i := v.skipGone(); i < len(free) && len(from) < want; i++ {
		if !v.isGone(i) {
			from = append(from, free[i])
		}
	}
	if r.cfg.Strategy != "best" {
		rnd.Shuffle(len(from), func(i, j int) { from[i], from[j] = from[j], from[i] })
	}
	k = min(k, len(from))
	ids := make([]string, k)
	for i := range k {
		ids[i] = from[i].ID
	}
	return ids
}

// buyer is one simulated person in an on-sale.
func (r *runner) buyer(ctx context.Context, i int, rnd *rand.Rand) {
	outcome := r.buy(ctx, i, rnd)
	if ctx.Err() != nil && !settled(strings.SplitN(outcome, "/", 2)[0]) {
		outcome = "cut_off"
	}
	r.rec.outcome(outcome)
}

// buy runs the buyer's whole journey and names its outcome: the booking's
// settled status (with the reason), or where the journey ended.
func (r *runner) buy(ctx context.Context, i int, rnd *rand.Rand) string {
	token, err := r.token(ctx, i)
	if err != nil {
		return "login_error"
	}
	event := r.pickEvent(rnd)
	want := 1 + rnd.IntN(r.cfg.MaxSeats)
	if r.cfg.Strategy == "disjoint" {
		want = r.cfg.MaxSeats
	}
	abandon := rnd.Float64() < r.cfg.Abandon
	payToken := "tok_visa"
	if rnd.Float64() < r.cfg.Decline {
		payToken = "tok_decline"
	}
	var holdID string
	var seats []string
	var holdStart time.Time
	for attempt := 0; attempt <= r.cfg.Retries; attempt++ {
		free, st, err := r.seatMap(ctx, token, event)
		if err != nil {
			return fmt.Sprintf("seat_map_error_%d", st)
		}
		if len(free.free) == 0 {
			return "sold_out"
		}
		if r.cfg.Strategy == "disjoint" {
			if seats = r.disjointSeats(event, i, want); seats == nil {
				return "sold_out"
			}
		} else if seats = r.pick(free, want, rnd); len(seats) == 0 {
			return "sold_out"
		}
		id, out, retry := r.hold(ctx, token, event, seats)
		if retry {
			continue
		}
		if id == "" {
			return out
		}
		holdID, holdStart = id, time.Now()
		break
	}
	if holdID == "" {
		return "gave_up_after_409"
	}
	if abandon {
		// Half walk away leaving the hold to expire, half release it.
		if rnd.IntN(2) == 0 {
			_, _ = r.c.do(ctx, "release", "DELETE", "/holds/"+holdID, token, nil)
		}
		return "abandoned"
	}
	return r.bookAsync(ctx, token, holdID, payToken, holdStart)
}

// holdOnly takes one hold and lets it be: the "holds" scenario measures the
// hold path alone at an offered rate (with -rate), as in the first seconds
// of an on-sale when everyone is picking seats.
func (r *runner) holdOnly(ctx context.Context, i int, rnd *rand.Rand) {
	token, err := r.token(ctx, i)
	if err != nil {
		r.rec.outcome("login_error")
		return
	}
	event := r.pickEvent(rnd)
	free, st, err := r.seatMap(ctx, token, event)
	if err != nil {
		r.rec.outcome(fmt.Sprintf("seat_map_error_%d", st))
		return
	}
	seats := r.pick(free, 1+rnd.IntN(r.cfg.MaxSeats), rnd)
	if len(seats) == 0 {
		r.rec.outcome("sold_out")
		return
	}
	id, out, _ := r.hold(ctx, token, event, seats)
	if id != "" {
		out = "held"
	}
	r.rec.outcome(out)
}

// hold takes a hold; retry reports a 409 worth another attempt.
func (r *runner) hold(ctx context.Context, token string, event uuid.UUID, seats []string) (id, outcome string, retry bool) {
	for limited := 0; ; limited++ {
		res, err := r.c.do(ctx, "hold", "POST", "/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seats})
		if err != nil {
			return "", "hold_error_transport", false
		}
		switch res.status {
		case 201, 200:
			r.rec.latency(latHold, res.latency)
			r.rec.count("holds", 1)
			var out struct {
				ID string `json:"id"`
			}
			if err := res.decode(&out); err != nil || out.ID == "" {
				return "", "hold_error_body", false
			}
			r.forget(event, seats)
			return out.ID, "", false
		case 409:
			r.rec.latency(latHold, res.latency)
			r.rec.count("hold_conflicts", 1)
			var p struct {
				Conflicts []string `json:"conflicts"`
			}
			if res.decode(&p) == nil {
				r.forget(event, p.Conflicts)
			}
			return "", "gave_up_after_409", true
		case 429, 503:
			if limited < 5 && sleep(ctx, res.retryAfter()) {
				continue
			}
			return "", fmt.Sprintf("hold_error_%d", res.status), false
		default:
			return "", fmt.Sprintf("hold_error_%d", res.status), false
		}
	}
}

// bookAsync submits the hold and follows the booking to a settled state.
func (r *runner) bookAsync(ctx context.Context, token, holdID, payToken string, holdStart time.Time) string {
	key := uuid.NewString()
	body := map[string]any{"hold_id": holdID}
	if r.cfg.Pay {
		body["payment"] = map[string]string{"token": payToken}
	}
	submitStart := time.Now()
	var id string
	var answer bookingView
	for attempt := 0; ; attempt++ {
		res, err := r.c.do(ctx, "submit", "POST", "/bookings", token, body, "Idempotency-Key", key)
		if err != nil {
			// The answer was lost: the same key makes a retry safe.
			if ctx.Err() == nil && attempt < 5 && sleep(ctx, 200*time.Millisecond) {
				continue
			}
			return "submit_error_transport"
		}
		if (res.status == 503 || res.status == 429) && attempt < 10 {
			if !sleep(ctx, res.retryAfter()) {
				return "submit_error_503"
			}
			continue
		}
		if res.status != 202 && res.status != 201 && res.status != 200 {
			return fmt.Sprintf("submit_error_%d", res.status)
		}
		r.rec.latency(latSubmit, time.Since(submitStart))
		if err := res.decode(&answer); err != nil || answer.ID == "" {
			return "submit_error_body"
		}
		id = answer.ID
		break
	}
	r.rec.accept(id)
	v, ok := r.follow(ctx, token, answer, submitStart)
	if !ok {
		return "unsettled_" + v.Status
	}
	r.rec.latency(latCheckout, time.Since(holdStart))
	if v.Status == "confirmed" {
		r.mu.Lock()
		r.confirmed = append(r.confirmed, ownedBooking{id, token, v.SeatIDs})
		r.mu.Unlock()
	}
	if v.Reason != nil && *v.Reason != "" {
		return v.Status + "/" + *v.Reason
	}
	return v.Status
}

// follow watches a booking until it settles (stream or poll), recording
// time-to-committed, time-to-terminal and submit-to-confirmed from the
// submit. answer is the submit's own answer: when it already says the
// booking is done (a synchronous server, or Evently settling within its
// short wait), the buyer neither streams nor polls.
func (r *runner) follow(ctx context.Context, token string, answer bookingView, submitStart time.Time) (bookingView, bool) {
	id := answer.ID
	ctx, cancel := context.WithTimeout(ctx, r.cfg.SettleWait)
	defer cancel()
	// done: settled, or committed when the buyer does not pay.
	done := func(status string) bool { return settled(status) || (!r.cfg.Pay && committed(status)) }
	sawCommit := false
	seen := func(v bookingView) {
		if committed(v.Status) && !sawCommit {
			sawCommit = true
			r.rec.latency(latCommitted, time.Since(submitStart))
			r.rec.count("committed", 1)
		}
		if settled(v.Status) {
			r.rec.latency(latTerminal, time.Since(submitStart))
			r.rec.count("settled", 1)
			if v.Status == "confirmed" {
				r.rec.count("confirmed", 1)
				r.rec.latency(latConfirmed, time.Since(submitStart))
			}
		}
	}
	seen(answer)
	if done(answer.Status) {
		return answer, true
	}
	if r.cfg.Follow == "stream" {
		sctx, stop := context.WithCancel(ctx)
		var last bookingView
		_, _, _ = r.c.stream(sctx, token, id, func(v bookingView) {
			seen(v)
			last = v
			if done(v.Status) {
				stop() // a buyer who does not pay is done at reserved
			}
		})
		stop()
		if done(last.Status) {
			return last, true
		}
		// No stream, or it ended early: poll the rest of the way.
	}
	last := answer
	if !sleep(ctx, r.pollWait(submitStart, true)) {
		return last, false
	}
	for {
		res, err := r.c.do(ctx, "poll", "GET", "/bookings/"+id, token, nil)
		if err == nil && res.status == 200 {
			var v bookingView
			if res.decode(&v) == nil {
				last = v
				seen(v)
				if done(v.Status) {
					return v, true
				}
			}
		}
		if !sleep(ctx, r.pollWait(submitStart, false)) {
			return last, false
		}
	}
}

// pollWait is how long a polling buyer waits before its next poll: the
// first 10 ms after the submit answer, then max(10 ms, age/4) capped at
// 250 ms (age: time since the submit), or the fixed -poll-every.
func (r *runner) pollWait(submitStart time.Time, first bool) time.Duration {
	if r.cfg.PollEvery > 0 {
		return r.cfg.PollEvery
	}
	if first {
		return 10 * time.Millisecond
	}
	return min(max(10*time.Millisecond, time.Since(submitStart)/4), 250*time.Millisecond)
}

// reader browses: event details and seat maps.
func (r *runner) reader(ctx context.Context, i int, rnd *rand.Rand) {
	for n := 0; n < r.cfg.Reads && ctx.Err() == nil; n++ {
		event := r.pickEvent(rnd)
		if n%2 == 0 {
			res, err := r.c.do(ctx, "event", "GET", "/events/"+event.String(), "", nil)
			if err == nil && res.status == 200 {
				r.rec.latency(latEvent, res.latency)
			}
			continue
		}
		if _, st, err := r.seatMap(ctx, "", event); err != nil && ctx.Err() == nil {
			r.rec.outcome(fmt.Sprintf("seat_map_error_%d", st))
			return
		}
	}
	if ctx.Err() != nil {
		r.rec.outcome("cut_off")
		return
	}
	r.rec.outcome("browsed")
}

// waitlist is the second act of the waitlist scenario, on the event the
// first act sold out: Waitlisters people (accounts no buyer uses) join its
// waitlist, one seat each, and follow their notifications stream; then
// Cancels confirmed bookings are cancelled at CancelRate a second. For
// each cancellation it measures cancel_to_offered: from the cancel's
// answer (accepted) until a waitlist.offered notification of one of its
// seats arrives on a waiting person's stream.
func (r *runner) waitlist(ctx context.Context) {
	event := r.cfg.Setup.Events[0]
	base := r.accounts()
	offers := newOfferClock()
	sctx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	var streams sync.WaitGroup
	var joined atomic.Int64
	sem := make(chan struct{}, 64) // sign-ins and joins at a time
	var wg sync.WaitGroup
	for j := 0; j < r.cfg.Waitlisters; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			token, err := r.login(ctx, base+j)
			if err != nil {
				r.rec.outcome("waitlist_login_error")
				return
			}
			res, err := r.c.do(ctx, "waitlist", "POST", "/events/"+event.String()+"/waitlist", token, map[string]int{"party_size": 1})
			if err != nil {
				r.rec.outcome("waitlist_error_transport")
				return
			}
			r.rec.outcome(fmt.Sprintf("waitlist_join_%d", res.status))
			if res.status != 201 {
				return
			}
			open := make(chan bool, 1)
			streams.Add(1)
			go func() {
				defer streams.Done()
				err := r.c.notifications(sctx, token, open, func(n notificationView) {
					if n.Type == "waitlist.offered" {
						offers.offered(n.Data.SeatIDs, time.Now(), r.rec)
					}
				})
				if err != nil && sctx.Err() == nil {
					r.rec.outcome("notifications_stream_ended")
				}
			}()
			if <-open {
				joined.Add(1)
			}
		}()
	}
	wg.Wait()
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "%d waiting with their notifications stream open\n", joined.Load())
	}
	r.mu.Lock()
	cancels := r.confirmed[:min(len(r.confirmed), r.cfg.Cancels)]
	r.mu.Unlock()
	every := time.Second / time.Duration(max(r.cfg.CancelRate, 1))
	tick := time.NewTicker(every)
	defer tick.Stop()
	for _, b := range cancels {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.c.do(ctx, "cancel", "POST", "/bookings/"+b.id+"/cancel", b.token, nil)
			if err != nil {
				r.rec.outcome("cancel_error_transport")
				return
			}
			r.rec.outcome(fmt.Sprintf("cancel_%d", res.status))
			if res.status/100 == 2 {
				offers.cancelled(b.seats, time.Now(), r.rec)
			}
		}()
	}
	wg.Wait()
	// Every cancelled seat's offer, or the deadline.
	deadline := time.Now().Add(r.cfg.SettleWait)
	for offers.waiting() > 0 && time.Now().Before(deadline) && sleep(ctx, 50*time.Millisecond) {
	}
	r.classifyUnoffered(ctx, event, offers.unoffered())
	stopStreams()
	streams.Wait()
}

// offerClock pairs cancelled seats with the offers that name them, in
// whichever order the two are seen.
type offerClock struct {
	mu      sync.Mutex
	pending map[string]time.Time // seat -> its cancel's answer, not yet offered
	early   map[string]time.Time // seat -> offer seen before its cancel's answer
}

func newOfferClock() *offerClock {
	return &offerClock{pending: map[string]time.Time{}, early: map[string]time.Time{}}
}

func (o *offerClock) cancelled(seats []string, at time.Time, rec *recorder) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range seats {
		if t, ok := o.early[s]; ok {
			delete(o.early, s)
			rec.latency(latOffered, max(t.Sub(at), 0))
			continue
		}
		o.pending[s] = at
	}
}

func (o *offerClock) offered(seats []string, at time.Time, rec *recorder) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range seats {
		if t, ok := o.pending[s]; ok {
			delete(o.pending, s)
			rec.latency(latOffered, at.Sub(t))
			continue
		}
		o.early[s] = at
	}
}

// unoffered lists the cancelled seats whose offer was not seen.
func (o *offerClock) unoffered() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, 0, len(o.pending))
	for s := range o.pending {
		out = append(out, s)
	}
	return out
}

// classifyUnoffered records each cancelled seat whose offer no stream
// showed, by what the seat map says of it now: held or sold means it was
// offered (or sold) and only the notification was not seen; available
// means it went back on open sale with people waiting, which the waitlist
// must never do.
func (r *runner) classifyUnoffered(ctx context.Context, event uuid.UUID, seats []string) {
	if len(seats) == 0 {
		return
	}
	status := map[string]string{}
	if res, err := r.c.do(ctx, "seat_map", "GET", "/events/"+event.String()+"/seats", "", nil); err == nil && res.status == 200 {
		if all, err := decodeSeats(res.body); err == nil {
			for _, st := range all {
				status[st.ID] = st.Status
			}
		}
	}
	for _, id := range seats {
		st := status[id]
		if st == "" {
			st = "unknown"
		}
		r.rec.outcome("cancelled_seat_never_offered/seat_" + st)
	}
}

// waiting counts cancelled seats not offered yet.
func (o *offerClock) waiting() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}
