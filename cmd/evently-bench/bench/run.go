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
	API      string // "evently" (holds, async bookings) or "naive" (synchronous bookings)
	Scenario string // onsale, browse, mixed, waitlist, holds
	Setup    *SetupResult

	Buyers      int           // simulated buyers (readers for browse)
	Concurrency int           // most buyers in flight at once
	Rate        float64       // buyer arrivals per second; 0 = as fast as Concurrency allows
	Duration    time.Duration // hard limit for the whole load phase
	Strategy    string        // random, best, front
	FrontSeats  int           // how many best seats "front" buyers fight over
	MaxSeats    int           // each buyer wants 1..MaxSeats seats
	Retries     int           // new attempts after a 409
	Abandon     float64       // fraction that abandon their hold
	Decline     float64       // fraction paying with tok_decline
	Follow      string        // poll or stream
	PollEvery   time.Duration
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
	case "random", "best", "front":
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
	if c.PollEvery <= 0 {
		c.PollEvery = 100 * time.Millisecond
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
	maps   map[uuid.UUID]sharedMap
	tokens []string // by buyer, with SignInFirst
}

type sharedMap struct {
	free    []seat
	fetched time.Time
}

type ownedBooking struct{ id, token string }

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
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
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

	arrivalsEnd := r.arrive(ctx, cfg.Buyers, func(ctx context.Context, i int, rnd *rand.Rand) {
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
	if cfg.Scenario == "waitlist" && ctx.Err() == nil {
		r.waitlist(ctx)
	}
	chaosEvents := chaos.wait()
	close(stopProg)
	<-progDone
	if cfg.Progress != nil {
		fmt.Fprintln(cfg.Progress, rec.progress(cfg.Buyers, 0, rec.requests.Load()))
	}
	res := r.result(started, arrivalsEnd, loadEnd)
	res.Chaos = chaosEvents
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		res.CutOff = true
	}
	return res, nil
}

// arrive starts n actors at the configured rate, at most Concurrency at
// once, and waits for all of them. It returns when the last one arrived.
func (r *runner) arrive(ctx context.Context, n int, actor func(context.Context, int, *rand.Rand)) time.Time {
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
			actor(ctx, i, rnd)
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
	r.tokens = make([]string, r.cfg.Buyers)
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

// token returns buyer i's access token: signed in beforehand, or now.
func (r *runner) token(ctx context.Context, i int) (string, error) {
	if r.tokens != nil {
		return r.tokens[i], nil
	}
	return r.login(ctx, i)
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
// buyer, or shared between buyers for up to SeatMapTTL.
func (r *runner) seatMap(ctx context.Context, token string, event uuid.UUID) ([]seat, int, error) {
	if r.cfg.SeatMapTTL <= 0 {
		return r.fetchSeatMap(ctx, token, event)
	}
	r.mapsMu.Lock()
	defer r.mapsMu.Unlock()
	if m, ok := r.maps[event]; ok && time.Since(m.fetched) < r.cfg.SeatMapTTL {
		return m.free, 200, nil
	}
	free, st, err := r.fetchSeatMap(ctx, token, event)
	if err != nil {
		return nil, st, err
	}
	if r.maps == nil {
		r.maps = map[uuid.UUID]sharedMap{}
	}
	r.maps[event] = sharedMap{free: free, fetched: time.Now()}
	return free, st, nil
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
	free := all[:0]
	for _, s := range all {
		if s.Status == "available" || s.Status == "" {
			free = append(free, s)
		}
	}
	rankSeats(free)
	return free, 200, nil
}

// pick chooses k seats by the strategy.
func (r *runner) pick(free []seat, k int, rnd *rand.Rand) []string {
	k = min(k, len(free))
	var from []seat
	if r.cfg.Strategy == "random" || r.cfg.Strategy == "" {
		// k distinct random seats without copying a large map.
		ids := make([]string, 0, k)
		seen := map[int]bool{}
		for len(ids) < k {
			if i := rnd.IntN(len(free)); !seen[i] {
				seen[i] = true
				ids = append(ids, free[i].ID)
			}
		}
		return ids
	}
	switch r.cfg.Strategy {
	case "best":
		from = free[:k]
	case "front":
		from = append([]seat(nil), free[:min(len(free), max(k, r.cfg.FrontSeats))]...)
	default:
		from = append([]seat(nil), free...)
	}
	if r.cfg.Strategy != "best" {
		rnd.Shuffle(len(from), func(i, j int) { from[i], from[j] = from[j], from[i] })
	}
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
		if len(free) == 0 {
			return "sold_out"
		}
		seats = r.pick(free, want, rnd)
		if r.cfg.API == "naive" {
			if abandon {
				return "abandoned"
			}
			out, retry := r.bookNaive(ctx, token, event, seats)
			if retry {
				continue
			}
			return out
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
	if len(free) == 0 {
		r.rec.outcome("sold_out")
		return
	}
	id, out, _ := r.hold(ctx, token, event, r.pick(free, 1+rnd.IntN(r.cfg.MaxSeats), rnd))
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
			return out.ID, "", false
		case 409:
			r.rec.latency(latHold, res.latency)
			r.rec.count("hold_conflicts", 1)
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
		var out bookingView
		if err := res.decode(&out); err != nil || out.ID == "" {
			return "submit_error_body"
		}
		id = out.ID
		break
	}
	r.rec.accept(id)
	v, ok := r.follow(ctx, token, id, submitStart)
	if !ok {
		return "unsettled_" + v.Status
	}
	r.rec.latency(latCheckout, time.Since(holdStart))
	if v.Status == "confirmed" {
		r.mu.Lock()
		r.confirmed = append(r.confirmed, ownedBooking{id, token})
		r.mu.Unlock()
	}
	if v.Reason != nil && *v.Reason != "" {
		return v.Status + "/" + *v.Reason
	}
	return v.Status
}

// follow watches a booking until it settles (stream or poll), recording
// time-to-committed and time-to-terminal from the submit.
func (r *runner) follow(ctx context.Context, token, id string, submitStart time.Time) (bookingView, bool) {
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
			}
		}
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
	var last bookingView
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
		if !sleep(ctx, r.cfg.PollEvery) {
			return last, false
		}
	}
}

// bookNaive is the naive server's synchronous booking.
func (r *runner) bookNaive(ctx context.Context, token string, event uuid.UUID, seats []string) (outcome string, retry bool) {
	start := time.Now()
	res, err := r.c.do(ctx, "submit", "POST", "/bookings", token, map[string]any{"event_id": event, "seat_ids": seats},
		"Idempotency-Key", uuid.NewString())
	if err != nil {
		return "submit_error_transport", false
	}
	switch res.status {
	case 201, 200:
		d := time.Since(start)
		for _, n := range []string{latSubmit, latCommitted, latTerminal, latCheckout} {
			r.rec.latency(n, d)
		}
		var v bookingView
		if err := res.decode(&v); err != nil || v.ID == "" {
			return "submit_error_body", false
		}
		r.rec.accept(v.ID)
		r.rec.count("committed", 1)
		r.rec.count("confirmed", 1)
		r.rec.count("settled", 1)
		r.mu.Lock()
		r.confirmed = append(r.confirmed, ownedBooking{v.ID, token})
		r.mu.Unlock()
		return v.Status, false
	case 409:
		r.rec.latency(latSubmit, time.Since(start))
		r.rec.count("hold_conflicts", 1)
		return "gave_up_after_409", true
	default:
		return fmt.Sprintf("submit_error_%d", res.status), false
	}
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

// waitlist is the second act of the waitlist scenario: late buyers join
// the waitlist of the sold-out event, then some confirmed buyers cancel so
// that seats flow back. Minimal: it reports what the API answered.
func (r *runner) waitlist(ctx context.Context) {
	event := r.cfg.Setup.Events[0]
	base := r.cfg.Buyers
	var wg sync.WaitGroup
	for j := 0; j < r.cfg.Waitlisters; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
		}()
	}
	wg.Wait()
	r.mu.Lock()
	cancels := r.confirmed[:min(len(r.confirmed), r.cfg.Cancels)]
	r.mu.Unlock()
	for _, b := range cancels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.c.do(ctx, "cancel", "POST", "/bookings/"+b.id+"/cancel", b.token, nil)
			if err != nil {
				r.rec.outcome("cancel_error_transport")
				return
			}
			r.rec.outcome(fmt.Sprintf("cancel_%d", res.status))
		}()
	}
	wg.Wait()
}
