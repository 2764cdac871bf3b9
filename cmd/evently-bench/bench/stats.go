package bench

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency names.
const (
	latLogin     = "login"
	latSeatMap   = "seat_map"
	latEvent     = "event_read"
	latHold      = "hold"
	latSubmit    = "submit"
	latCommitted = "time_to_committed"
	latTerminal  = "time_to_terminal"
	latCheckout  = "checkout"
	// latConfirmed runs from the start of the submit (POST /bookings) until
	// the buyer saw the booking confirmed: in the submit's answer, a poll or
	// the stream.
	latConfirmed = "submit_to_confirmed"
	// latOffered runs from a cancellation's answer until the waitlist.offered
	// notification of its seat arrived on a waiting person's stream.
	latOffered = "cancel_to_offered"
)

var latencyOrder = []string{latLogin, latSeatMap, latEvent, latHold, latSubmit, latCommitted, latTerminal, latConfirmed, latCheckout, latOffered}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 120_000_000, 3) } // µs, up to 2 min

// recorder collects everything a run measures. Safe for concurrent use.
type recorder struct {
	start    time.Time
	requests atomic.Int64

	mu       sync.Mutex
	hists    map[string]*hdrhistogram.Histogram
	outcomes map[string]int
	http     map[string]int // "op status" → count, for statuses >= 400 and transport errors (0)
	counts   map[string]int // arrivals, done, holds, hold_conflicts, accepted, committed, confirmed, settled
	accepted []string
	seconds  []*second
}

// second is one second of the run's timeline.
type second struct {
	counts   map[string]int
	requests int64
	hold     *hdrhistogram.Histogram
	submit   *hdrhistogram.Histogram
	terminal *hdrhistogram.Histogram
}

func newRecorder() *recorder {
	r := &recorder{start: time.Now(), hists: map[string]*hdrhistogram.Histogram{},
		outcomes: map[string]int{}, http: map[string]int{}, counts: map[string]int{}}
	for _, n := range latencyOrder {
		r.hists[n] = newHist()
	}
	return r
}

func (r *recorder) secondLocked(at time.Time) *second {
	i := max(0, int(at.Sub(r.start)/time.Second))
	for len(r.seconds) <= i {
		r.seconds = append(r.seconds, &second{counts: map[string]int{}, hold: newHist(), submit: newHist(), terminal: newHist()})
	}
	return r.seconds[i]
}

func (r *recorder) request() {
	r.requests.Add(1)
}

func (r *recorder) httpStatus(op string, status int) {
	if status != 0 && status < 400 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.http[fmt.Sprintf("%s %d", op, status)]++
	r.secondLocked(time.Now()).counts["http_errors"]++
}

// latency records one measurement (and into the timeline for the main ones).
func (r *recorder) latency(name string, d time.Duration) {
	us := max(1, d.Microseconds())
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.hists[name].RecordValue(us)
	s := r.secondLocked(time.Now())
	switch name {
	case latHold:
		_ = s.hold.RecordValue(us)
	case latSubmit:
		_ = s.submit.RecordValue(us)
	case latTerminal:
		_ = s.terminal.RecordValue(us)
	}
}

func (r *recorder) count(name string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[name] += n
	r.secondLocked(time.Now()).counts[name] += n
}

func (r *recorder) outcome(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes[name]++
	r.counts["done"]++
	r.secondLocked(time.Now()).counts["done"]++
}

func (r *recorder) accept(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.accepted = append(r.accepted, id)
	r.counts["accepted"]++
	r.secondLocked(time.Now()).counts["accepted"]++
}

// LatencySummary is one latency distribution in milliseconds.
type LatencySummary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func summarize(h *hdrhistogram.Histogram) LatencySummary {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return LatencySummary{Count: h.TotalCount(), Mean: h.Mean() / 1000,
		P50: ms(h.ValueAtQuantile(50)), P95: ms(h.ValueAtQuantile(95)), P99: ms(h.ValueAtQuantile(99)), Max: ms(h.Max())}
}

// Point is one second of the timeline.
type Point struct {
	T          int     `json:"t"`
	Arrivals   int     `json:"arrivals"`
	Done       int     `json:"done"`
	Accepted   int     `json:"accepted"`
	Committed  int     `json:"committed"`
	Confirmed  int     `json:"confirmed"`
	HTTPErrors int     `json:"http_errors"`
	Requests   int64   `json:"requests"`
	HoldP50    float64 `json:"hold_p50_ms"`
	HoldP99    float64 `json:"hold_p99_ms"`
	SubmitP50  float64 `json:"submit_p50_ms"`
	SubmitP99  float64 `json:"submit_p99_ms"`
	TermP50    float64 `json:"terminal_p50_ms"`
	TermP99    float64 `json:"terminal_p99_ms"`
}

func (r *recorder) timeline() []Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Point, len(r.seconds))
	for i, s := range r.seconds {
		q := func(h *hdrhistogram.Histogram, p float64) float64 { return float64(h.ValueAtQuantile(p)) / 1000 }
		out[i] = Point{T: i, Arrivals: s.counts["arrivals"], Done: s.counts["done"], Accepted: s.counts["accepted"],
			Committed: s.counts["committed"], Confirmed: s.counts["confirmed"], HTTPErrors: s.counts["http_errors"], Requests: s.requests,
			HoldP50: q(s.hold, 50), HoldP99: q(s.hold, 99), SubmitP50: q(s.submit, 50), SubmitP99: q(s.submit, 99),
			TermP50: q(s.terminal, 50), TermP99: q(s.terminal, 99)}
	}
	return out
}

// progress is the live line.
func (r *recorder) progress(total int, active int64, lastReq int64) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts
	req := r.requests.Load()
	if s := r.secondLocked(time.Now()); s != nil {
		s.requests += req - lastReq
	}
	p99 := func(n string) string {
		h := r.hists[n]
		if h.TotalCount() == 0 {
			return "-"
		}
		return fmtMS(float64(h.ValueAtQuantile(99)) / 1000)
	}
	var errs []string
	keys := make([]string, 0, len(r.http))
	for k := range r.http {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		errs = append(errs, fmt.Sprintf("%s×%d", strings.ReplaceAll(k, " ", ":"), r.http[k]))
	}
	if len(errs) > 4 {
		errs = append(errs[:4], "…")
	}
	return fmt.Sprintf("[%4ds] buyers %d/%d active %d | holds %d (409 %d) | accepted %d committed %d confirmed %d | %d req/s | p99 hold %s submit %s terminal %s | http %s",
		int(time.Since(r.start).Seconds()), c["done"], total, active, c["holds"], c["hold_conflicts"], c["accepted"], c["committed"], c["confirmed"],
		req-lastReq, p99(latHold), p99(latSubmit), p99(latTerminal), strings.Join(errs, " "))
}

func fmtMS(ms float64) string {
	switch {
	case ms >= 10000:
		return fmt.Sprintf("%.0fs", ms/1000)
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.1fms", ms)
	}
}
