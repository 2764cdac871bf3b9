package api_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/store"
)

// refusingQueue is a broker that takes nothing: every produce fails.
type refusingQueue struct{}

func (refusingQueue) Enqueue(context.Context, string, string, string, any) error {
	return &evently.Error{Code: evently.EUNAVAILABLE, Message: "The booking queue did not answer.", RetryAfter: 1}
}

// unreachablePG gives the API's withdrawals and unknown outcomes a
// PostgreSQL that refuses connections (a port nothing listens on), as when
// the database is down; the rest of the API keeps the real one. The
// returned function brings the real one back.
func unreachablePG(t *testing.T, a *apptest.App) (back func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	must(t, l.Close())
	dead, err := sqlx.Open("postgres", "postgres://evently:evently@"+addr+"/evently?sslmode=disable&connect_timeout=2")
	must(t, err)
	t.Cleanup(func() { dead.Close() })
	real := a.Server.Bookings
	down := *real.Outcomes.(*store.Outcomes)
	down.Bookings = &store.Bookings{DB: dead}
	a.Server.Bookings.Withdrawals, a.Server.Bookings.Outcomes = down.Bookings, &down
	return func() { a.Server.Bookings.Withdrawals, a.Server.Bookings.Outcomes = real.Withdrawals, real.Outcomes }
}

// unknownBundle is an app whose withdrawals cannot reach PostgreSQL, an
// event, a buyer and another user.
type unknownBundle struct {
	a            *apptest.App
	event, user  uuid.UUID
	token, other string
	// back brings PostgreSQL back for the withdrawals.
	back func()
}

func setupUnknown(t *testing.T, o apptest.Options) *unknownBundle {
	t.Helper()
	b := &unknownBundle{a: apptest.Start(t, o)}
	b.event = b.a.Event(10)
	b.user, b.token = b.a.User(evently.RoleUser)
	_, b.other = b.a.User(evently.RoleUser)
	b.back = unreachablePG(t, b.a)
	return b
}

type unknownProblem struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// submitUnknown submits a paid booking on a fresh hold of seats while
// neither the broker nor PostgreSQL answers the API: the answer must be a
// 503 that says the outcome is unknown and names the booking.
func submitUnknown(t *testing.T, a *apptest.App, event uuid.UUID, token, key string, seats []string) (booking uuid.UUID, body map[string]any) {
	t.Helper()
	var h holdBody
	if res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seats}); res.Status != 201 {
		t.Fatalf("hold: %d %s", res.Status, res.Body)
	} else {
		res.JSON(t, &h)
	}
	body = map[string]any{"hold_id": h.ID, "payment": map[string]any{"token": "tok_visa"}}
	res := a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", key)
	assertUnknown(t, "the submission", res)
	id, err := uuid.Parse(strings.TrimPrefix(res.Header.Get("Location"), "/api/v1/bookings/"))
	if err != nil {
		t.Fatalf("the 503 names no booking: Location %q", res.Header.Get("Location"))
	}
	return id, body
}

func assertUnknown(t *testing.T, what string, res apptest.Response) {
	t.Helper()
	var p unknownProblem
	if res.Status == 503 {
		res.JSON(t, &p)
	}
	if res.Status != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(p.Detail, "not known yet") {
		t.Fatalf("%s with the outcome unknown: %d %s (want 503, not known yet)", what, res.Status, res.Body)
	}
}

// seatsFree reports whether another user can hold the seats (and gives
// the hold back).
func seatsFree(t *testing.T, a *apptest.App, event uuid.UUID, token string, seats []string) bool {
	t.Helper()
	res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seats})
	if res.Status != 201 {
		return false
	}
	var h holdBody
	res.JSON(t, &h)
	if res := a.Do("DELETE", "/api/v1/holds/"+h.ID.String(), token, nil); res.Status != 204 {
		t.Fatalf("give the probe hold back: %d %s", res.Status, res.Body)
	}
	return true
}

// A produce that fails while PostgreSQL is unreachable for the withdrawal
// too (issue 15): the outcome is unknown, and it is never answered as
// pending. A retry with the same key and a read of the booking are 503
// while that lasts and the seats stay with the submission; once
// PostgreSQL is back, the retry withdraws the command and answers its
// true state (failed/not_accepted), and the seats are on sale again.
func TestUnknownOutcomeIsResolvedOnRetry(t *testing.T) {
	t.Parallel()
	b := setupUnknown(t, apptest.Options{})
	a, event, token, other, seats := b.a, b.event, b.token, b.other, seatsOf(1, 2)
	a.Server.Bookings.Queue = refusingQueue{}

	id, body := submitUnknown(t, a, event, token, "unknown-1", seats)
	assertUnknown(t, "a retry with the same key", a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "unknown-1"))
	assertUnknown(t, "a read of the booking", a.Do("GET", "/api/v1/bookings/"+id.String(), token, nil))
	if seatsFree(t, a, event, other, seats) {
		t.Fatal("the seats of a submission whose outcome is unknown were given back")
	}

	b.back()
	res := a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "unknown-1")
	var bk bookingBody
	res.JSON(t, &bk)
	if res.Status != 202 || bk.ID != id || bk.Status != "failed" || bk.Reason != evently.ReasonNotAccepted {
		t.Fatalf("retry once PostgreSQL is back: %d %s (want 202 %s failed/not_accepted)", res.Status, res.Body, id)
	}
	res = a.Do("GET", "/api/v1/bookings/"+id.String(), token, nil)
	bk = bookingBody{}
	res.JSON(t, &bk)
	if res.Status != 200 || bk.Status != "failed" || bk.Reason != evently.ReasonNotAccepted {
		t.Fatalf("read once resolved: %d %s", res.Status, res.Body)
	}
	if !seatsFree(t, a, event, other, seats) {
		t.Fatal("the seats of a withdrawn submission are still held")
	}
	// The key was given back with the hold: the same request starts afresh,
	// and finds its hold gone.
	if res := a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "unknown-1"); res.Status != 404 {
		t.Fatalf("the same request after the withdrawal: %d %s (want 404, hold gone)", res.Status, res.Body)
	}
}

// When the command did reach the broker and the booking worker wrote the
// booking before anyone could withdraw it, resolving finds the booking:
// the retry answers it as it stands and nothing is withdrawn or freed.
func TestUnknownOutcomeThatWasAccepted(t *testing.T) {
	t.Parallel()
	b := setupUnknown(t, apptest.Options{Workers: []string{"booking"},
		Configure: func(c *app.Config) { c.Payments.ChargeAtCommit = false }})
	a, event, token, other, seats := b.a, b.event, b.token, b.other, seatsOf(3)
	a.Server.Bookings.Queue = lostAck{a.Server.Bookings.Queue}

	id, body := submitUnknown(t, a, event, token, "unknown-2", seats)
	apptest.Eventually(t, "the booking worker writes the booking", func() bool {
		var n int
		must(t, a.DB.Get(&n, `SELECT count(*) FROM bookings WHERE id = $1`, id))
		return n == 1
	})
	b.back()
	res := a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "unknown-2")
	var bk bookingBody
	res.JSON(t, &bk)
	if res.Status != 202 || bk.ID != id || bk.Status == "failed" || bk.Status == "pending" {
		t.Fatalf("retry of an accepted submission: %d %s", res.Status, res.Body)
	}
	// Resolving it (as the reaper would) finds the same truth.
	u := evently.UnknownOutcome{Command: evently.BookCommand{BookingID: id}}
	if bk, err := a.Server.Bookings.Outcomes.Resolve(context.Background(), &u); err != nil || bk.Status == evently.BookingFailed {
		t.Fatalf("resolving an accepted submission: %+v, %v", bk, err)
	}
	if seatsFree(t, a, event, other, seats) {
		t.Fatal("the seats of an accepted booking are on sale")
	}
}

// A submission of unknown outcome that nobody asks about again is
// resolved by the reaper's sweep once PostgreSQL answers: withdrawn, its
// hold given back, its key and its status record forgotten.
func TestUnknownOutcomeIsResolvedBySweep(t *testing.T) {
	t.Parallel()
	b := setupUnknown(t, apptest.Options{Configure: func(c *app.Config) { c.UnknownOutcomeAfter = time.Millisecond }})
	a, event, user, token, other, seats := b.a, b.event, b.user, b.token, b.other, seatsOf(4, 5)
	a.Server.Bookings.Queue = refusingQueue{}
	id, _ := submitUnknown(t, a, event, token, "unknown-3", seats)
	b.back()

	a.StartWorkers("reaper")
	assertSwept(t, a, event, user, other, "unknown-3", id, seats)
	var bk bookingBody
	if res := a.Do("GET", "/api/v1/bookings/"+id.String(), token, nil); res.Status != 200 {
		t.Fatalf("read once swept: %d %s", res.Status, res.Body)
	} else if res.JSON(t, &bk); bk.Status != "failed" || bk.Reason != evently.ReasonNotAccepted {
		t.Fatalf("read once swept: %s", res.Body)
	}
}

// assertSwept waits for the reaper to withdraw the submission id (made by
// user with key, on seats of event) and give back its hold, key and
// record; other probes the seats. Neither index keeps an entry.
func assertSwept(t *testing.T, a *apptest.App, event, user uuid.UUID, other, key string, id uuid.UUID, seats []string) {
	t.Helper()
	apptest.Eventually(t, "the sweep withdraws the submission", func() bool {
		var st []string
		must(t, a.DB.Select(&st, `SELECT status || '/' || coalesce(reason, '') FROM bookings WHERE id = $1`, id))
		return len(st) == 1 && st[0] == "failed/not_accepted"
	})
	rdb, k := a.Deps.Redis, a.Deps.Keys
	apptest.Eventually(t, "the sweep gives back the hold, the key and the record", func() bool {
		// One EXISTS each: the keys are on different slots of a cluster.
		var n int64
		for _, rk := range []string{k.Key("idem", user.String(), key), k.Key("bks", id.String())} {
			m, err := rdb.Exists(context.Background(), rk).Result()
			must(t, err)
			n += m
		}
		return n == 0 && seatsFree(t, a, event, other, seats)
	})
	for _, idx := range []string{"inflight", "unknown"} {
		if n, err := rdb.ZCard(context.Background(), k.Key(idx)).Result(); err != nil || n != 0 {
			t.Fatalf("%s index: %d entries, %v", idx, n, err)
		}
	}
}
