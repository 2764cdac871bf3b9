package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/evently/evently/gateway"
	"github.com/evently/evently/paysim"
)

type bundle struct {
	sim      *paysim.Server
	client   *gateway.Client
	requests *atomic.Int64 // HTTP requests that reached the simulator
	name     string        // the client's breaker name
}

// setup runs a simulator in-process and a client for it with fast backoffs.
func setup(t *testing.T, so paysim.Options, co gateway.Options) bundle {
	t.Helper()
	if so.Seed == 0 {
		so.Seed = 11
	}
	sim := paysim.New(so)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/admin") {
			n.Add(1)
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)
	co.Name = "test-" + uuid.NewString()
	if co.InitialBackoff == 0 {
		co.InitialBackoff = 2 * time.Millisecond
	}
	if co.MaxBackoff == 0 {
		co.MaxBackoff = 20 * time.Millisecond
	}
	c, err := gateway.New(srv.URL, co)
	if err != nil {
		t.Fatal(err)
	}
	return bundle{sim: sim, client: c, requests: &n, name: co.Name}
}

func chargeReq(token string, amount int64) gateway.ChargeRequest {
	return gateway.ChargeRequest{BookingID: uuid.New(), AmountCents: amount, Currency: "USD", Token: token}
}

func chargesFor(l []paysim.LedgerEntry, key string) int {
	n := 0
	for _, e := range l {
		if e.Kind == paysim.KindCharge && e.IdempotencyKey == key {
			n++
		}
	}
	return n
}

// metric reads one series of a gateway metric from the default registry.
func metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue series
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Counter != nil:
				return m.Counter.GetValue()
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == k && lp.GetValue() == v {
			return true
		}
	}
	return false
}

func TestChargeOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		token       string
		want        gateway.Outcome
		wantErr     error
		wantDecline string
		wantLedger  int
	}{
		{paysim.TokenVisa, gateway.Charged, nil, "", 1},
		{paysim.TokenOK, gateway.Charged, nil, "", 1},
		{paysim.TokenDecline, gateway.Declined, nil, gateway.CodeInsufficientFunds, 1},
		{paysim.TokenExpired, gateway.Declined, nil, gateway.CodeExpiredCard, 1},
		{"tok_unheard_of", gateway.Declined, nil, gateway.CodeInvalidToken, 0},
		{paysim.TokenError, gateway.Unavailable, gateway.ErrUnavailable, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			t.Parallel()
			b := setup(t, paysim.Options{}, gateway.Options{MaxAttempts: 3})
			req := chargeReq(tt.token, 2500)
			res, err := b.client.Charge(context.Background(), req)
			if res.Outcome != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("outcome %s, err %v; want %s, %v", res.Outcome, err, tt.want, tt.wantErr)
			}
			if res.DeclineCode != tt.wantDecline {
				t.Errorf("decline code %q, want %q", res.DeclineCode, tt.wantDecline)
			}
			if tt.want == gateway.Charged && (res.ChargeID == "" || res.AmountCents != 2500 || res.Currency != "USD") {
				t.Errorf("result %+v", res)
			}
			if n := chargesFor(b.sim.Ledger(""), gateway.ChargeKey(req.BookingID)); n != tt.wantLedger {
				t.Errorf("%d ledger charges, want %d", n, tt.wantLedger)
			}
			// 5xx is retried up to the bound; a decline never is.
			wantAttempts := 1
			if tt.want == gateway.Unavailable {
				wantAttempts = 3
			}
			if res.Attempts != wantAttempts || b.requests.Load() != int64(wantAttempts) {
				t.Errorf("%d attempts (%d requests), want %d", res.Attempts, b.requests.Load(), wantAttempts)
			}
		})
	}
}

// 30% transient 503s: with retries (and redelivery of what still ends
// Unavailable) every charge ends as its token says, and each idempotency key
// has exactly one charge in the ledger.
func TestTransientErrorsStillChargeOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{Behaviour: paysim.Behaviour{ErrorRate: 0.3, LatencyP50Ms: 1, LatencyP99Ms: 10}}, gateway.Options{})
	tokens := []struct {
		token string
		want  gateway.Outcome
	}{
		{paysim.TokenVisa, gateway.Charged},
		{paysim.TokenOK, gateway.Charged},
		{paysim.TokenDecline, gateway.Declined},
		{paysim.TokenExpired, gateway.Declined},
	}
	const bookings = 80
	before := metric(t, "evently_gateway_retries_total", map[string]string{"op": "charge"})
	reqs := make([]gateway.ChargeRequest, bookings)
	var wg sync.WaitGroup
	for i := range reqs {
		tok := tokens[i%len(tokens)]
		reqs[i] = chargeReq(tok.token, int64(100+i))
		wg.Go(func() {
			var res gateway.Result
			var err error
			// A message redelivered after Unavailable repeats the call with
			// the same key.
			for delivery := 0; delivery < 5; delivery++ {
				if res, err = b.client.Charge(context.Background(), reqs[i]); res.Final() {
					break
				}
			}
			if res.Outcome != tok.want {
				t.Errorf("booking %d (%s): %s (%v), want %s", i, tok.token, res.Outcome, err, tok.want)
			}
		})
	}
	wg.Wait()
	ledger := b.sim.Ledger("")
	for i, r := range reqs {
		if n := chargesFor(ledger, gateway.ChargeKey(r.BookingID)); n != 1 {
			t.Errorf("booking %d: %d ledger charges, want 1", i, n)
		}
	}
	if len(ledger) != bookings {
		t.Errorf("%d ledger entries, want %d", len(ledger), bookings)
	}
	if after := metric(t, "evently_gateway_retries_total", map[string]string{"op": "charge"}); after <= before {
		t.Errorf("no retries counted (%v before, %v after)", before, after)
	}
	if s := b.client.BreakerState(); s != gateway.BreakerClosed {
		t.Errorf("breaker %s at a 30%% error rate, want closed", s)
	}
}

// An answer slower than the client's timeout is Unknown (the gateway may
// have charged); FindCharge resolves it, and repeating the charge with the
// same key returns the same charge: never two.
func TestTimeoutIsUnknownThenResolved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		behaviour paysim.Behaviour
		token     string
	}{
		{"tok_slow", paysim.Behaviour{}, paysim.TokenSlow},
		{"timeout rate", paysim.Behaviour{TimeoutRate: 1}, paysim.TokenVisa},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, paysim.Options{Behaviour: tt.behaviour, SlowDelay: 400 * time.Millisecond},
				gateway.Options{Timeout: 100 * time.Millisecond})
			ctx := context.Background()
			req := chargeReq(tt.token, 4200)
			key := gateway.ChargeKey(req.BookingID)
			res, err := b.client.Charge(ctx, req)
			if res.Outcome != gateway.Unknown || !errors.Is(err, gateway.ErrUnknown) {
				t.Fatalf("outcome %s (%v), want unknown", res.Outcome, err)
			}
			if res.Attempts != 1 {
				t.Errorf("%d attempts, want 1 (a timed-out charge is resolved, not re-sent)", res.Attempts)
			}
			// Resolve: pending while the gateway works, then charged.
			var found gateway.Result
			deadline := time.Now().Add(10 * time.Second)
			for {
				found, err = b.client.FindCharge(ctx, key)
				if found.Final() || time.Now().After(deadline) {
					break
				}
				if !errors.Is(err, gateway.ErrUnknown) {
					t.Fatalf("pending lookup: %s (%v), want unknown", found.Outcome, err)
				}
				time.Sleep(25 * time.Millisecond)
			}
			if found.Outcome != gateway.Charged || err != nil || found.AmountCents != 4200 {
				t.Fatalf("resolved %+v (%v), want charged 4200", found, err)
			}
			again, err := b.client.Charge(ctx, req)
			if again.Outcome != gateway.Charged || again.ChargeID != found.ChargeID || err != nil {
				t.Errorf("repeat: %+v (%v), want charged %s", again, err, found.ChargeID)
			}
			if n := chargesFor(b.sim.Ledger(""), key); n != 1 {
				t.Errorf("%d ledger charges, want 1", n)
			}
		})
	}
}

// While the gateway is still working on a key, repeating the charge meets
// 409 "in progress": the outcome stays Unknown, never Unavailable.
func TestRepeatWhilePendingIsUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{SlowDelay: 2 * time.Second}, gateway.Options{Timeout: 50 * time.Millisecond, MaxAttempts: 2})
	req := chargeReq(paysim.TokenSlow, 100)
	if res, _ := b.client.Charge(context.Background(), req); res.Outcome != gateway.Unknown {
		t.Fatalf("first: %s, want unknown", res.Outcome)
	}
	res, err := b.client.Charge(context.Background(), req)
	if res.Outcome != gateway.Unknown || !errors.Is(err, gateway.ErrUnknown) {
		t.Errorf("repeat while pending: %s (%v), want unknown", res.Outcome, err)
	}
}

func TestFindChargeNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{}, gateway.Options{})
	res, err := b.client.FindCharge(context.Background(), gateway.ChargeKey(uuid.New()))
	if res.Outcome != gateway.NotFound || !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("%s (%v), want not found", res.Outcome, err)
	}
}

// A run of failures in a window that mostly succeeded does not open the
// breaker: a gateway failing 30% of calls under load shows such runs.
func TestFailureRunAmongSuccessesKeepsBreakerClosed(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{}, gateway.Options{MaxAttempts: 1, BreakerFailures: 3})
	ctx := context.Background()
	for i := range 10 {
		if res, err := b.client.Charge(ctx, chargeReq(paysim.TokenVisa, 100)); res.Outcome != gateway.Charged {
			t.Fatalf("charge %d: %s (%v), want charged", i, res.Outcome, err)
		}
	}
	if err := b.sim.SetBehaviour(paysim.Behaviour{Outage: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if res, err := b.client.Charge(ctx, chargeReq(paysim.TokenVisa, 100)); !errors.Is(err, gateway.ErrUnavailable) {
			t.Fatalf("charge %d in the outage: %s (%v), want unavailable", i, res.Outcome, err)
		}
	}
	if s := b.client.BreakerState(); s != gateway.BreakerClosed {
		t.Errorf("breaker %s after 3 failures among 13 calls, want closed", s)
	}
}

// A full outage opens the breaker; calls then fail fast without reaching
// the gateway; when the outage ends the breaker goes half-open, then closed.
func TestOutageOpensBreakerThenRecovers(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{Behaviour: paysim.Behaviour{Outage: true}},
		gateway.Options{MaxAttempts: 3, BreakerFailures: 6, BreakerTimeout: 150 * time.Millisecond, BreakerProbes: 2})
	ctx := context.Background()
	state := func() float64 {
		return metric(t, "evently_gateway_breaker_state", map[string]string{"breaker": b.name})
	}
	moves := func(from, to string) float64 {
		return metric(t, "evently_gateway_breaker_transitions_total", map[string]string{"breaker": b.name, "from": from, "to": to})
	}

	var res gateway.Result
	var err error
	for i := 0; i < 10 && !errors.Is(err, gateway.ErrBreakerOpen); i++ {
		res, err = b.client.Charge(ctx, chargeReq(paysim.TokenVisa, 100))
		if res.Outcome != gateway.Unavailable || !errors.Is(err, gateway.ErrUnavailable) {
			t.Fatalf("charge %d in an outage: %s (%v), want unavailable", i, res.Outcome, err)
		}
	}
	if !errors.Is(err, gateway.ErrBreakerOpen) {
		t.Fatalf("the breaker never opened: %v", err)
	}
	if s := b.client.BreakerState(); s != gateway.BreakerOpen {
		t.Fatalf("breaker %s, want open", s)
	}
	if state() != 2 || moves("closed", "open") != 1 {
		t.Errorf("metrics: state %v, closed→open %v; want 2 and 1", state(), moves("closed", "open"))
	}
	// Open: no request reaches the gateway.
	seen := b.requests.Load()
	for range 5 {
		res, err = b.client.Charge(ctx, chargeReq(paysim.TokenVisa, 100))
		if res.Outcome != gateway.Unavailable || !errors.Is(err, gateway.ErrBreakerOpen) || res.Attempts != 0 {
			t.Errorf("charge while open: %+v (%v), want unavailable at once", res, err)
		}
	}
	if n := b.requests.Load() - seen; n != 0 {
		t.Errorf("%d requests reached the gateway while the breaker was open", n)
	}

	if err := b.sim.SetBehaviour(paysim.Behaviour{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.client.BreakerState() != gateway.BreakerHalfOpen && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := b.client.BreakerState(); s != gateway.BreakerHalfOpen {
		t.Fatalf("breaker %s after its timeout, want half-open", s)
	}
	if state() != 1 || moves("open", "half-open") != 1 {
		t.Errorf("metrics: state %v, open→half-open %v; want 1 and 1", state(), moves("open", "half-open"))
	}
	for i := range 2 {
		if res, err = b.client.Charge(ctx, chargeReq(paysim.TokenVisa, 100)); res.Outcome != gateway.Charged {
			t.Fatalf("probe %d: %s (%v), want charged", i, res.Outcome, err)
		}
	}
	if s := b.client.BreakerState(); s != gateway.BreakerClosed {
		t.Errorf("breaker %s after successful probes, want closed", s)
	}
	if state() != 0 || moves("half-open", "closed") != 1 {
		t.Errorf("metrics: state %v, half-open→closed %v; want 0 and 1", state(), moves("half-open", "closed"))
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		token    string
		refunds  []int64 // amounts, each with its own key
		want     []gateway.Outcome
		wantCode string // of the last refund, when rejected
	}{
		{"full", paysim.TokenVisa, []int64{1000}, []gateway.Outcome{gateway.Refunded}, ""},
		{"partial twice", paysim.TokenVisa, []int64{300, 700}, []gateway.Outcome{gateway.Refunded, gateway.Refunded}, ""},
		{"more than charged", paysim.TokenVisa, []int64{1001}, []gateway.Outcome{gateway.Rejected}, "refund_exceeds_charge"},
		{"declined charge", paysim.TokenDecline, []int64{1000}, []gateway.Outcome{gateway.Rejected}, "charge_not_refundable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, paysim.Options{Behaviour: paysim.Behaviour{ErrorRate: 0.2}}, gateway.Options{MaxAttempts: 10})
			ctx := context.Background()
			req := chargeReq(tt.token, 1000)
			ch, _ := b.client.Charge(ctx, req)
			if !ch.Final() || ch.ChargeID == "" {
				t.Fatalf("charge: %+v", ch)
			}
			for i, amount := range tt.refunds {
				rr := gateway.RefundRequest{BookingID: req.BookingID, ChargeID: ch.ChargeID, AmountCents: amount,
					IdempotencyKey: fmt.Sprintf("%s:%d", gateway.RefundKey(req.BookingID), i)}
				res, err := b.client.Refund(ctx, rr)
				if res.Outcome != tt.want[i] {
					t.Fatalf("refund %d: %s (%v), want %s", i, res.Outcome, err, tt.want[i])
				}
				if res.Outcome == gateway.Rejected && (res.Code != tt.wantCode || !errors.Is(err, gateway.ErrRejected)) {
					t.Errorf("refund %d: code %q (%v), want %q", i, res.Code, err, tt.wantCode)
				}
				if res.Outcome == gateway.Refunded {
					// The same key again refunds nothing more.
					again, err := b.client.Refund(ctx, rr)
					if again.RefundID != res.RefundID || err != nil {
						t.Errorf("refund %d repeated: %+v (%v), want %s", i, again, err, res.RefundID)
					}
				}
			}
			var refunds int
			for _, e := range b.sim.Ledger(req.BookingID.String()) {
				if e.Kind == paysim.KindRefund {
					refunds++
				}
			}
			want := 0
			for _, o := range tt.want {
				if o == gateway.Refunded {
					want++
				}
			}
			if refunds != want {
				t.Errorf("%d refunds in the ledger, want %d", refunds, want)
			}
		})
	}
}

func TestLedger(t *testing.T) {
	t.Parallel()
	b := setup(t, paysim.Options{}, gateway.Options{})
	ctx := context.Background()
	req := chargeReq(paysim.TokenVisa, 500)
	ch, _ := b.client.Charge(ctx, req)
	if _, err := b.client.Refund(ctx, gateway.RefundRequest{BookingID: req.BookingID, ChargeID: ch.ChargeID, AmountCents: 500}); err != nil {
		t.Fatal(err)
	}
	l, err := b.client.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || l[0].Kind != gateway.KindCharge || l[1].Kind != gateway.KindRefund ||
		l[0].Reference != req.BookingID.String() || l[1].ChargeID != ch.ChargeID ||
		l[0].IdempotencyKey != gateway.ChargeKey(req.BookingID) || l[1].IdempotencyKey != gateway.RefundKey(req.BookingID) {
		t.Errorf("ledger %+v", l)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "localhost:8090", "ftp://x", "http://"} {
		if _, err := gateway.New(u, gateway.Options{}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}
