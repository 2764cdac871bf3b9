package workers_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/paysim"
)

type saga struct {
	a   *apptest.App
	sim *paysim.Server
	gw  *gateway.Client
	url string
}

// startSaga runs Evently with the booking, payment and reaper workers
// against an in-process payment gateway simulator.
func startSaga(t *testing.T, b paysim.Behaviour, configure func(*app.Config), workers ...string) *saga {
	t.Helper()
	return startSagaWith(t, b, apptest.Options{Workers: workers, Configure: configure})
}

// startSagaWith is startSaga with apptest's other options (a broker of the
// test's own, say); o.Configure runs after the saga's settings.
func startSagaWith(t *testing.T, b paysim.Behaviour, o apptest.Options) *saga {
	t.Helper()
	sim := paysim.New(paysim.Options{Behaviour: b, SlowDelay: 1500 * time.Millisecond})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	if o.Workers == nil {
		o.Workers = []string{"booking", "payment", "reaper"}
	}
	configure := o.Configure
	o.Configure = func(c *app.Config) {
		c.Payments.GatewayURL = srv.URL
		c.Payments.Timeout = 500 * time.Millisecond
		// One buyer books dozens of times at once here; unpaid bookings
		// count against the per-user cap, which is not under test.
		c.Bookings.MaxHoldsPerUser = 0
		if configure != nil {
			configure(c)
		}
	}
	a := apptest.Start(t, o)
	gw, err := gateway.New(srv.URL, gateway.Options{Name: "test-" + uuid.NewString()})
	must(t, err)
	return &saga{a: a, sim: sim, gw: gw, url: srv.URL}
}

type bookingView struct {
	ID     uuid.UUID `json:"id"`
	Status string    `json:"status"`
	Reason string    `json:"reason"`
}

func (s *saga) book(t *testing.T, token string, event uuid.UUID, seatIDs []string, payToken string) uuid.UUID {
	t.Helper()
	body := map[string]any{"event_id": event, "seat_ids": seatIDs}
	if payToken != "" {
		body["payment"] = map[string]any{"token": payToken}
	}
	res := s.a.Do("POST", "/api/v1/bookings", token, body)
	if res.Status != 202 {
		t.Fatalf("book: %d %s", res.Status, res.Body)
	}
	var b bookingView
	res.JSON(t, &b)
	return b.ID
}

func (s *saga) waitStatus(t *testing.T, token string, id uuid.UUID, want ...string) bookingView {
	t.Helper()
	var b bookingView
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.a.Do("GET", "/api/v1/bookings/"+id.String(), token, nil).JSON(t, &b)
		for _, w := range want {
			if b.Status == w {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("booking %s is %s (%s), want %v", id, b.Status, b.Reason, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reconcile asserts the gateway's ledger and the bookings agree.
func (s *saga) reconcile(t *testing.T) {
	t.Helper()
	ledger, err := s.gw.Ledger(context.Background())
	must(t, err)
	mm, err := gateway.Reconcile(context.Background(), s.a.DB, ledger)
	must(t, err)
	for _, m := range mm {
		t.Errorf("mismatch: %s", m)
	}
}

func (s *saga) charges(t *testing.T, booking uuid.UUID) int {
	n := 0
	for _, e := range s.sim.Ledger(booking.String()) {
		if e.Kind == "charge" && e.Status == "succeeded" {
			n++
		}
	}
	return n
}

func TestSagaOutcomes(t *testing.T) {
	t.Parallel()
	s := startSaga(t, paysim.Behaviour{}, nil)
	event := s.a.Event(20)
	_, token := s.a.User(evently.RoleUser)

	paid := s.book(t, token, event, seats(1, 2), "tok_visa")
	if b := s.waitStatus(t, token, paid, "confirmed", "failed"); b.Status != "confirmed" {
		t.Fatalf("paid booking: %+v", b)
	}
	declined := s.book(t, token, event, seats(3), "tok_decline")
	if b := s.waitStatus(t, token, declined, "confirmed", "failed"); b.Reason != evently.ReasonPaymentDeclined {
		t.Fatalf("declined booking: %+v", b)
	}
	// Its seat is on sale again.
	apptest.Eventually(t, "declined seat back on sale", func() bool {
		var n int
		must(t, s.a.DB.Get(&n, `SELECT count(*) FROM event_seats WHERE event_id = $1 AND seat_id = 'A-3' AND status = 'available'`, event))
		return n == 1
	})
	later := s.book(t, token, event, seats(4), "")
	s.waitStatus(t, token, later, "reserved")
	if res := s.a.Do("POST", "/api/v1/bookings/"+later.String()+"/confirm", token, map[string]any{"payment": map[string]any{"token": "tok_visa"}}); res.Status != 202 {
		t.Fatalf("confirm later: %d %s", res.Status, res.Body)
	}
	s.waitStatus(t, token, later, "confirmed")
	if res := s.a.Do("POST", "/api/v1/bookings/"+later.String()+"/confirm", token, map[string]any{"payment": map[string]any{"token": "tok_visa"}}); res.Status != 409 {
		t.Fatalf("confirm twice: %d", res.Status)
	}
	// Cancel a confirmed booking: refunded, seats back.
	if res := s.a.Do("POST", "/api/v1/bookings/"+paid.String()+"/cancel", token, nil); res.Status != 202 {
		t.Fatalf("cancel: %d %s", res.Status, res.Body)
	}
	s.waitStatus(t, token, paid, "cancelled")
	apptest.Eventually(t, "refund", func() bool {
		for _, e := range s.sim.Ledger(paid.String()) {
			if e.Kind == "refund" && e.Status == "succeeded" {
				return true
			}
		}
		return false
	})
	s.reconcile(t)
}

func TestSagaSurvivesTransientErrorsAndTimeouts(t *testing.T) {
	t.Parallel()
	s := startSaga(t, paysim.Behaviour{ErrorRate: 0.3, TimeoutRate: 0.1}, nil)
	event := s.a.Event(60)
	_, token := s.a.User(evently.RoleUser)
	var ids []uuid.UUID
	for i := range 30 {
		ids = append(ids, s.book(t, token, event, seats(i+1), "tok_visa"))
	}
	slow := s.book(t, token, event, seats(40), "tok_slow") // longer than the client's timeout
	ids = append(ids, slow)
	for _, id := range ids {
		if b := s.waitStatus(t, token, id, "confirmed", "failed"); b.Status != "confirmed" {
			t.Errorf("booking %s: %+v", id, b)
		}
		if n := s.charges(t, id); n != 1 {
			t.Errorf("booking %s charged %d times", id, n)
		}
	}
	s.reconcile(t)
}

// A full outage: the breaker opens and calls fail fast, bookings fail with
// payment_unavailable at their deadline and their seats return; when the
// gateway is back, the breaker closes and bookings confirm again.
func TestSagaOutageAndRecovery(t *testing.T) {
	t.Parallel()
	s := startSaga(t, paysim.Behaviour{Outage: true}, func(c *app.Config) { c.PaymentWindow = 4 * time.Second })
	event := s.a.Event(40)
	_, token := s.a.User(evently.RoleUser)
	var ids []uuid.UUID
	for i := range 12 {
		ids = append(ids, s.book(t, token, event, seats(i+1), "tok_visa"))
	}
	for _, id := range ids {
		if b := s.waitStatus(t, token, id, "confirmed", "failed"); b.Reason != evently.ReasonPaymentUnavailable {
			t.Fatalf("booking %s: %+v", id, b)
		}
	}
	var sold int
	must(t, s.a.DB.Get(&sold, `SELECT count(*) FROM event_seats WHERE event_id = $1 AND status = 'sold'`, event))
	if sold != 0 {
		t.Fatalf("%d seats still sold after the outage", sold)
	}
	if n := counterValue(t, "evently_gateway_breaker_transitions_total", "to", "open"); n == 0 {
		t.Fatal("the breaker never opened")
	}
	must(t, s.sim.SetBehaviour(paysim.Behaviour{}))
	apptest.Eventually(t, "a booking confirms after recovery", func() bool {
		id := s.book(t, token, event, seats(30+time.Now().Nanosecond()%10), "tok_visa")
		b := s.waitStatus(t, token, id, "confirmed", "failed")
		return b.Status == "confirmed"
	})
	s.reconcile(t)
}

// A payment worker killed with SIGKILL in the middle of charges: after a
// restart nobody is charged twice and every booking settles.
func TestPaymentWorkerKilledMidCharge(t *testing.T) {
	t.Parallel()
	// The booking worker would charge these itself: the payment worker is
	// what is under test here.
	s := startSaga(t, paysim.Behaviour{LatencyP50Ms: 150}, func(c *app.Config) { c.Payments.ChargeAtCommit = false }, "booking", "reaper")
	bin := buildEvently(t)
	worker := func() *exec.Cmd {
		cmd := exec.Command(bin, "work", "-kinds", "payment", "-addr", "127.0.0.1:0")
		cmd.Env = append(os.Environ(),
			"DATABASE_URL="+s.a.DBURL, "REDIS_URL="+evtest.RedisURL(), "EVENTLY_REDIS_PREFIX="+s.a.Config.RedisPrefix,
			"KAFKA_BROKERS="+s.a.Config.KafkaBrokers[0], "EVENTLY_TOPIC_PREFIX="+s.a.Config.TopicPrefix,
			"EVENTLY_GROUP_PREFIX="+s.a.Config.GroupPrefix, "EVENTLY_SESSION_TIMEOUT=6s", "EVENTLY_LOG_LEVEL=warn",
			"EVENTLY_PARTITIONS=3", "EVENTLY_PAYMENT_URL="+s.url)
		cmd.Stderr = os.Stderr
		must(t, cmd.Start())
		return cmd
	}
	event := s.a.Event(100)
	_, token := s.a.User(evently.RoleUser)
	first := worker()
	var ids []uuid.UUID
	for i := range 40 {
		ids = append(ids, s.book(t, token, event, seats(i+1), "tok_visa"))
	}
	apptest.Eventually(t, "some charges", func() bool {
		ledger, _ := s.gw.Ledger(context.Background())
		return len(ledger) >= 5
	})
	must(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	second := worker()
	defer func() { _ = second.Process.Signal(syscall.SIGTERM); _ = second.Wait() }()
	for _, id := range ids {
		s.waitStatus(t, token, id, "confirmed", "failed")
		if n := s.charges(t, id); n > 1 {
			t.Errorf("booking %s charged %d times", id, n)
		}
	}
	s.reconcile(t)
}

// An organizer cancelling an event cancels every booking, refunds the paid
// ones and puts every seat back.
func TestEventCancellationRefundsEveryBooking(t *testing.T) {
	t.Parallel()
	s := startSaga(t, paysim.Behaviour{}, nil)
	event := s.a.Event(20)
	_, token := s.a.User(evently.RoleUser)
	paid := s.book(t, token, event, seats(1, 2), "tok_visa")
	reserved := s.book(t, token, event, seats(3), "")
	s.waitStatus(t, token, paid, "confirmed")
	s.waitStatus(t, token, reserved, "reserved")
	var org uuid.UUID
	must(t, s.a.DB.Get(&org, `SELECT organizer_id FROM events WHERE id = $1`, event))
	orgToken, _, _, err := s.a.Server.Tokens.Issue(org, evently.RoleOrganizer)
	must(t, err)
	if res := s.a.Do("POST", "/api/v1/events/"+event.String()+"/cancel", orgToken, nil); res.Status != 200 {
		t.Fatalf("cancel event: %d %s", res.Status, res.Body)
	}
	for _, id := range []uuid.UUID{paid, reserved} {
		if b := s.waitStatus(t, token, id, "cancelled"); b.Reason != evently.ReasonEventCancelled {
			t.Errorf("booking %s: %+v", id, b)
		}
	}
	apptest.Eventually(t, "refund of the paid booking", func() bool {
		for _, e := range s.sim.Ledger(paid.String()) {
			if e.Kind == "refund" && e.Status == "succeeded" {
				return true
			}
		}
		return false
	})
	var sold int
	must(t, s.a.DB.Get(&sold, `SELECT count(*) FROM event_seats WHERE event_id = $1 AND status = 'sold'`, event))
	if sold != 0 {
		t.Fatalf("%d seats still sold", sold)
	}
	s.reconcile(t)
}

// The booking worker charges what it has just committed: with no payment
// worker running at all, a paid booking confirms, a declined one fails,
// and nothing is left in the outbox for the saga.
func TestChargeAtCommitSettlesWithoutThePaymentWorker(t *testing.T) {
	t.Parallel()
	s := startSaga(t, paysim.Behaviour{}, nil, "booking")
	event := s.a.Event(10)
	_, token := s.a.User(evently.RoleUser)
	paid := s.book(t, token, event, seats(1, 2), "tok_visa")
	declined := s.book(t, token, event, seats(3), "tok_decline")
	if b := s.waitStatus(t, token, paid, "confirmed", "failed"); b.Status != "confirmed" {
		t.Fatalf("paid booking: %+v", b)
	}
	if b := s.waitStatus(t, token, declined, "confirmed", "failed"); b.Reason != evently.ReasonPaymentDeclined {
		t.Fatalf("declined booking: %+v", b)
	}
	if n := s.charges(t, paid); n != 1 {
		t.Fatalf("paid booking charged %d times", n)
	}
	apptest.Eventually(t, "no charge request left in the outbox", func() bool {
		var n int
		must(t, s.a.DB.Get(&n, `SELECT count(*) FROM outbox WHERE type = $1`, evently.PayCharge))
		return n == 0
	})
	s.reconcile(t)
}

// What the booking worker cannot settle at once (the gateway down) it
// leaves to the saga: the bookings stay paying until a payment worker
// runs, which charges each exactly once.
func TestChargeAtCommitLeavesTheUnsettledToTheSaga(t *testing.T) {
	t.Parallel()
	s := startSaga(t, paysim.Behaviour{Outage: true}, nil, "booking")
	event := s.a.Event(10)
	_, token := s.a.User(evently.RoleUser)
	var ids []uuid.UUID
	for i := range 3 {
		ids = append(ids, s.book(t, token, event, seats(i+1), "tok_visa"))
	}
	for _, id := range ids {
		s.waitStatus(t, token, id, "paying")
	}
	must(t, s.sim.SetBehaviour(paysim.Behaviour{}))
	s.a.StartWorkers("payment")
	for _, id := range ids {
		if b := s.waitStatus(t, token, id, "confirmed", "failed"); b.Status != "confirmed" {
			t.Fatalf("booking %s: %+v", id, b)
		}
		if n := s.charges(t, id); n != 1 {
			t.Errorf("booking %s charged %d times", id, n)
		}
	}
	s.reconcile(t)
}
