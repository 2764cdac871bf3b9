package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest/apptest"
)

// gatedQueue holds each book command's produce until the test lets it go
// on (to the real queue) or fail: a produce still running.
type gatedQueue struct {
	real    api.CommandQueue
	entered chan uuid.UUID
	release chan bool // true: fail the produce
}

func (q *gatedQueue) Enqueue(ctx context.Context, stream, key, typ string, payload any) error {
	if cmd, ok := payload.(evently.BookCommand); ok {
		q.entered <- cmd.BookingID
		if <-q.release {
			return refusingQueue{}.Enqueue(ctx, stream, key, typ, payload)
		}
	}
	return q.real.Enqueue(ctx, stream, key, typ, payload)
}

// readCounting counts the reads of each booking's status record.
type readCounting struct {
	api.StatusFeed
	mu    sync.Mutex
	reads map[uuid.UUID]int
}

func (f *readCounting) Current(ctx context.Context, id uuid.UUID) (*evently.StatusChange, error) {
	f.mu.Lock()
	f.reads[id]++
	f.mu.Unlock()
	return f.StatusFeed.Current(ctx, id)
}

func (f *readCounting) count(id uuid.UUID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[id]
}

// A retry with the same key that arrives while the first request is still
// producing waits for it and answers its true outcome (issue 15): the
// booking when the produce succeeds, the failure when it fails; never 202
// pending for a booking that will not exist.
func TestRetryWaitsForAProduceInFlight(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		name := map[bool]string{false: "produce succeeds", true: "produce fails"}[fail]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := apptest.Options{}
			if !fail {
				o.Workers = []string{"booking"}
			}
			a := apptest.Start(t, o)
			event := a.Event(10)
			_, token := a.User(evently.RoleUser)
			_, other := a.User(evently.RoleUser)
			gate := &gatedQueue{real: a.Server.Bookings.Queue, entered: make(chan uuid.UUID, 1), release: make(chan bool, 1)}
			feed := &readCounting{StatusFeed: a.Server.Bookings.Feed, reads: map[uuid.UUID]int{}}
			a.Server.Bookings.Queue, a.Server.Bookings.Feed = gate, feed
			// A test that fails early lets the first request go, or the
			// server would wait for it forever when it closes.
			t.Cleanup(func() {
				select {
				case gate.release <- true:
				default:
				}
			})
			seats := seatsOf(1, 2)
			var h holdBody
			a.Do("POST", "/api/v1/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seats}).JSON(t, &h)
			body := map[string]any{"hold_id": h.ID}

			first, retry := make(chan apptest.Response, 1), make(chan apptest.Response, 1)
			go func() { first <- a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "in-flight") }()
			var id uuid.UUID
			select {
			case id = <-gate.entered:
			case <-time.After(30 * time.Second):
				t.Fatal("the first request never produced")
			}
			go func() { retry <- a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "in-flight") }()
			// Read twice: the retry found the record in flight and is waiting.
			apptest.Eventually(t, "the retry waits on the record in flight", func() bool { return feed.count(id) >= 2 })
			select {
			case res := <-retry:
				t.Fatalf("the retry answered while the first request was producing: %d %s", res.Status, res.Body)
			default:
			}
			gate.release <- fail
			r1, r2 := <-first, <-retry
			var b1, b2 bookingBody
			r2.JSON(t, &b2)
			if fail {
				if r1.Status != 503 {
					t.Fatalf("first request, produce failed: %d %s", r1.Status, r1.Body)
				}
				if r2.Status != 202 || b2.ID != id || b2.Status != "failed" || b2.Reason != evently.ReasonNotAccepted {
					t.Fatalf("retry of a failed produce: %d %s (want 202 %s failed/not_accepted)", r2.Status, r2.Body, id)
				}
				if !seatsFree(t, a, event, other, seats) {
					t.Fatal("the seats of a refused submission are still held")
				}
				return
			}
			r1.JSON(t, &b1)
			if r1.Status != 202 || b1.ID != id {
				t.Fatalf("first request: %d %s", r1.Status, r1.Body)
			}
			if r2.Status != 202 || b2.ID != id || b2.Status == "failed" {
				t.Fatalf("retry of an accepted submission: %d %s", r2.Status, r2.Body)
			}
			apptest.Eventually(t, "the booking is written", func() bool {
				var got bookingBody
				a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "in-flight").JSON(t, &got)
				return got.ID == id && got.Status == "reserved"
			})
		})
	}
}

// dyingQueue ends the request's goroutine where it would produce, as if
// its process died after recording the booking and before producing:
// nothing after the record runs (deferred calls aside).
type dyingQueue struct{}

func (dyingQueue) Enqueue(context.Context, string, string, string, any) error {
	runtime.Goexit()
	return nil
}

// submitAndDie sends a booking whose request dies before producing; the
// client sees its connection closed.
func submitAndDie(t *testing.T, a *apptest.App, token, key string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", a.URL+"/api/v1/bookings", bytes.NewReader(b))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	// A fresh connection: net/http replays a request with an
	// Idempotency-Key whose reused connection closes, which would retry it.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if res, err := c.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("the dying request answered %d", res.StatusCode)
	}
}

// bookingOfKey reads which booking an idempotency key names.
func bookingOfKey(t *testing.T, a *apptest.App, user uuid.UUID, key string) uuid.UUID {
	t.Helper()
	v, err := a.Deps.Redis.Get(context.Background(), a.Deps.Keys.Key("idem", user.String(), key)).Bytes()
	must(t, err)
	var rec struct {
		BookingID uuid.UUID `json:"booking_id"`
	}
	must(t, json.Unmarshal(v, &rec))
	return rec.BookingID
}

// A first request that died after recording its booking and before
// producing it (issue 15): a retry with the same key waits out the bound,
// then withdraws the command and answers the true terminal state, not
// pending; the hold is released and the key is free again.
func TestRetryOfASubmissionWhoseRequestDied(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	a.Server.Bookings.InFlightFor = 300 * time.Millisecond
	event := a.Event(10)
	user, token := a.User(evently.RoleUser)
	_, other := a.User(evently.RoleUser)
	a.Server.Bookings.Queue = dyingQueue{}
	seats := seatsOf(3, 4)
	var h holdBody
	a.Do("POST", "/api/v1/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seats}).JSON(t, &h)
	body := map[string]any{"hold_id": h.ID, "payment": map[string]any{"token": "tok_visa"}}
	submitAndDie(t, a, token, "died-1", body)
	id := bookingOfKey(t, a, user, "died-1")
	if seatsFree(t, a, event, other, seats) {
		t.Fatal("the seats of a submission in flight were free")
	}

	res := a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "died-1")
	var bk bookingBody
	res.JSON(t, &bk)
	if res.Status != 202 || bk.ID != id || bk.Status != "failed" || bk.Reason != evently.ReasonNotAccepted {
		t.Fatalf("retry after the request died: %d %s (want 202 %s failed/not_accepted)", res.Status, res.Body, id)
	}
	if !seatsFree(t, a, event, other, seats) {
		t.Fatal("the seats of an abandoned submission are still held")
	}
	var n int
	must(t, a.DB.Get(&n, `SELECT count(*) FROM outbox WHERE payload::text LIKE '%' || $1 || '%'`, id.String()))
	if n == 0 {
		t.Fatal("a paid submission withdrawn without a resolve request")
	}
	// The key went with the hold: the same request starts afresh.
	if res := a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "died-1"); res.Status != 404 {
		t.Fatalf("the same request once withdrawn: %d %s (want 404, hold gone)", res.Status, res.Body)
	}
}

// A submission whose request died and that nobody asks about is resolved
// by the reaper's sweep: withdrawn, its hold, key and record given back.
func TestSweepResolvesASubmissionWhoseRequestDied(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) { c.UnknownOutcomeAfter = time.Millisecond }})
	event := a.Event(10)
	user, token := a.User(evently.RoleUser)
	_, other := a.User(evently.RoleUser)
	a.Server.Bookings.Queue = dyingQueue{}
	seats := seatsOf(5)
	var h holdBody
	a.Do("POST", "/api/v1/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seats}).JSON(t, &h)
	submitAndDie(t, a, token, "died-2", map[string]any{"hold_id": h.ID})
	id := bookingOfKey(t, a, user, "died-2")

	a.StartWorkers("reaper")
	assertSwept(t, a, event, user, other, "died-2", id, seats)
}

// lostMark is a status feed that cannot mark a command durable.
type lostMark struct{ api.StatusFeed }

func (lostMark) Durable(context.Context, uuid.UUID) error {
	return &evently.Error{Code: evently.EUNAVAILABLE, Message: "Redis did not answer."}
}

// A request whose command is durable but whose durable mark is lost
// answers the truth without it: the booking when the worker has it, else
// 503 with the command withdrawn, so the booking never exists; never a
// 202 that a later take-over could withdraw.
func TestLostDurableMarkAnswersTruthfully(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}})
	event := a.Event(10)
	_, token := a.User(evently.RoleUser)
	a.Server.Bookings.Feed = lostMark{a.Server.Bookings.Feed}
	res := a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(6)}, "Idempotency-Key", "lost-mark")
	var bk bookingBody
	switch res.Status {
	case 503:
		// Withdrawn: once a later booking on the partition is written, this
		// one's command was skipped.
		a.Server.Bookings.Feed = a.Server.Bookings.Feed.(lostMark).StatusFeed
		var last bookingBody
		a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(7)}).JSON(t, &last)
		apptest.Eventually(t, "the later booking is written", func() bool {
			var st string
			_ = a.DB.Get(&st, `SELECT status FROM bookings WHERE id = $1`, last.ID)
			return st == "reserved"
		})
		var sold int
		must(t, a.DB.Get(&sold, `SELECT count(*) FROM event_seats WHERE event_id = $1 AND seat_id = 'A-6' AND status <> 'available'`, event))
		if sold != 0 {
			t.Fatal("a submission answered 503 sold its seat")
		}
	case 202:
		res.JSON(t, &bk)
		apptest.Eventually(t, "the accepted booking is written", func() bool {
			var st string
			_ = a.DB.Get(&st, `SELECT status FROM bookings WHERE id = $1`, bk.ID)
			return st == "reserved"
		})
	default:
		t.Fatalf("submit with the durable mark lost: %d %s", res.Status, res.Body)
	}
	assertNoDoubleSale(t, a)
}

// The ordinary path is unchanged: 202 (or 201 when asked to wait), the
// record marked durable before the answer, and a retry after success gets
// the booking at once.
func TestOrdinarySubmissionIsDurableBeforeItsAnswer(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}})
	event := a.Event(10)
	_, token := a.User(evently.RoleUser)
	body := map[string]any{"event_id": event, "seat_ids": seatsOf(8)}
	res := a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "plain-1")
	var bk bookingBody
	res.JSON(t, &bk)
	if res.Status != 202 {
		t.Fatalf("submit: %d %s", res.Status, res.Body)
	}
	if c, err := a.Server.Bookings.Feed.Current(context.Background(), bk.ID); err != nil || c == nil || c.InFlight != nil {
		t.Fatalf("record after the 202: %+v, %v (want durable)", c, err)
	}
	apptest.Eventually(t, "the retry gets the booking", func() bool {
		var got bookingBody
		r := a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "plain-1")
		r.JSON(t, &got)
		if r.Status != 202 || got.ID != bk.ID || got.Status == "failed" {
			t.Fatalf("retry: %d %s", r.Status, r.Body)
		}
		return got.Status == "reserved"
	})
	res = a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(9)}, "Prefer", "wait=10")
	if res.JSON(t, &bk); res.Status != 201 || bk.Status != "reserved" {
		t.Fatalf("submit with Prefer: wait: %d %s", res.Status, res.Body)
	}
}
