package workers_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/store"
	"github.com/evently/evently/topics"
	"github.com/evently/evently/workers"
)

// One event, everything at once: bookings cancelled at random moments,
// parties of random sizes joining, some leaving, each offered party
// booking its offer, declining it or letting it expire. Once nothing
// moves, the audit finds no seat offered to two entries, no seat lost (each
// is sold to one booking or on open sale), every booked entry's seats
// confirmed to its user, and every entry in exactly one consistent state.
func TestWaitlistUnderConcurrency(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	s := startWaitlist(t, 1500*time.Millisecond)
	event := s.a.Event(12)
	bookings, owners := s.sellOut(t, event, 2, 2, 2, 2, 1, 1, 1, 1)

	type waiter struct {
		token string
		size  int
		act   int // 0 books its offer, 1 declines it, 2 lets it expire, 3 leaves while waiting
		pause time.Duration
	}
	waiters := make([]waiter, 12)
	for i := range waiters {
		_, tok := s.a.User(evently.RoleUser)
		// Most join before the cancellations start, a few among them.
		pause := time.Duration(rng.IntN(300)) * time.Millisecond
		if i%4 == 3 {
			pause += time.Duration(500+rng.IntN(1500)) * time.Millisecond
		}
		waiters[i] = waiter{token: tok, size: 1 + rng.IntN(3), act: rng.IntN(4), pause: pause}
	}
	cancelAfter := make([]time.Duration, len(bookings))
	for i := range cancelAfter {
		cancelAfter[i] = time.Duration(400+rng.IntN(1500)) * time.Millisecond
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var entries []uuid.UUID
	var booked []uuid.UUID // bookings made on offers
	stop := make(chan struct{})
	for i, w := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(w.pause) // jitter, so joins interleave with releases
			res := s.a.Do("POST", "/api/v1/events/"+event.String()+"/waitlist", w.token, map[string]any{"party_size": w.size})
			if res.Status == 409 {
				return // seats were on sale at that moment: fine
			}
			if res.Status != 201 {
				t.Errorf("waiter %d join: %d %s", i, res.Status, res.Body)
				return
			}
			var e entryView
			res.JSON(t, &e)
			mu.Lock()
			entries = append(entries, e.ID)
			mu.Unlock()
			if w.act == 3 {
				if res := s.a.Do("DELETE", "/api/v1/waitlist/"+e.ID.String(), w.token, nil); res.Status != 204 && res.Status != 409 {
					t.Errorf("waiter %d leave: %d %s", i, res.Status, res.Body)
				}
				return
			}
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				var cur entryView
				s.a.Do("GET", "/api/v1/waitlist/"+e.ID.String(), w.token, nil).JSON(t, &cur)
				if cur.Status != "offered" || cur.Offer == nil {
					if cur.Status == "waiting" {
						continue
					}
					return
				}
				switch w.act {
				case 0:
					res := s.a.Do("POST", "/api/v1/bookings", w.token, map[string]any{"hold_id": cur.Offer.HoldID, "payment": map[string]any{"token": "tok_visa"}})
					if res.Status != 202 {
						t.Errorf("waiter %d book: %d %s", i, res.Status, res.Body)
						return
					}
					var b bookingView
					res.JSON(t, &b)
					mu.Lock()
					booked = append(booked, b.ID)
					mu.Unlock()
				case 1:
					if res := s.a.Do("DELETE", "/api/v1/waitlist/"+e.ID.String(), w.token, nil); res.Status != 204 {
						t.Errorf("waiter %d decline: %d %s", i, res.Status, res.Body)
					}
				}
				return // case 2: the offer expires
			}
		}()
	}
	for i := range bookings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(cancelAfter[i])
			if res := s.a.Do("POST", "/api/v1/bookings/"+bookings[i].String()+"/cancel", owners[i], nil); res.Status != 202 {
				t.Errorf("cancel %d: %d %s", i, res.Status, res.Body)
			}
		}()
	}
	// Settled: every cancellation done and its release sent, every
	// release and check consumed by the promoter, every offer booked or
	// lapsed.
	settled := func() bool {
		var busy int
		must(t, s.a.DB.Get(&busy, `SELECT (SELECT count(*) FROM bookings WHERE event_id = $1 AND status NOT IN ('confirmed', 'cancelled', 'failed', 'expired'))
			+ (SELECT count(*) FROM waitlist_entries WHERE event_id = $1 AND offer_open) + (SELECT count(*) FROM outbox)`, event))
		if busy > 0 {
			return false
		}
		parts, err := topics.GroupLag(context.Background(), s.a.Deps.Kafka, s.a.Deps.Names, s.a.Config.GroupPrefix+workers.GroupWaitlist, topics.InventoryReleased)
		if err != nil {
			return false
		}
		for _, p := range parts {
			if p.Lag > 0 {
				return false
			}
		}
		return true
	}
	apptest.Eventually(t, "cancellations to be done", func() bool {
		var n int
		must(t, s.a.DB.Get(&n, `SELECT count(*) FROM bookings WHERE id = ANY($1) AND status = 'cancelled'`, pq.Array(bookings)))
		return n == len(bookings)
	})
	apptest.Eventually(t, "the waitlist to settle", settled)
	close(stop)
	wg.Wait()
	apptest.Eventually(t, "the waitlist to settle after the last moves", settled)
	for _, id := range booked {
		var st string
		must(t, s.a.DB.Get(&st, `SELECT status FROM bookings WHERE id = $1`, id))
		if st != "confirmed" {
			t.Errorf("booking %s on an offer is %s", id, st)
		}
	}
	auditWaitlist(t, s, event)

	// Booked entries: their offers' seats are disjoint and sold to their
	// user's booking on that hold.
	var rows []struct {
		ID    uuid.UUID `db:"id"`
		User  uuid.UUID `db:"user_id"`
		Hold  uuid.UUID `db:"offered_hold_id"`
		Seats string    `db:"seats"`
	}
	must(t, s.a.DB.Select(&rows, `SELECT id, user_id, offered_hold_id, array_to_string(offer_seat_ids, ',') AS seats
		FROM waitlist_entries WHERE event_id = $1 AND status = 'booked'`, event))
	seen := map[string]uuid.UUID{}
	for _, r := range rows {
		for _, seat := range splitSeats(r.Seats) {
			if prev, ok := seen[seat]; ok {
				t.Errorf("seat %s booked through entries %s and %s", seat, prev, r.ID)
			}
			seen[seat] = r.ID
			var owner uuid.UUID
			must(t, s.a.DB.Get(&owner, `SELECT b.user_id FROM event_seats s JOIN bookings b ON b.id = s.booking_id
				WHERE s.event_id = $1 AND s.seat_id = $2 AND b.hold_id = $3`, event, seat, r.Hold))
			if owner != r.User {
				t.Errorf("seat %s of booked entry %s belongs to %s", seat, r.ID, owner)
			}
		}
	}
	if len(booked) != len(rows) {
		t.Errorf("%d bookings on offers, %d booked entries", len(booked), len(rows))
	}
	// No seat lost: each is sold to one holding booking or on open sale
	// (not held, not in the sold mirror).
	vs, err := store.CheckIntegrity(context.Background(), s.a.DB, store.IntegrityOptions{EventIDs: []uuid.UUID{event}})
	must(t, err)
	for _, v := range vs {
		t.Errorf("integrity: %s", v)
	}
	var avail []string
	must(t, s.a.DB.Select(&avail, `SELECT seat_id FROM event_seats WHERE event_id = $1 AND status = 'available'`, event))
	base := s.a.Deps.Keys.Event(event)
	for _, seat := range avail {
		if v, _ := s.a.Deps.Redis.Get(t.Context(), base+":seat:"+seat).Result(); v != "" {
			t.Errorf("available seat %s is locked by %q after settling", seat, v)
		}
		if in, _ := s.a.Deps.Redis.SIsMember(t.Context(), base+":sold", seat).Result(); in {
			t.Errorf("available seat %s is in the sold mirror", seat)
		}
	}
	// Seats went on open sale only when nobody waiting fit them.
	var fits int
	must(t, s.a.DB.Get(&fits, `SELECT count(*) FROM waitlist_entries WHERE event_id = $1 AND status = 'waiting' AND party_size <= $2`, event, len(avail)))
	if fits > 0 {
		t.Errorf("%d waiting parties fit the %d seats on open sale", fits, len(avail))
	}
	t.Logf("%d entries, %d booked on offers, %d seats back on sale", len(entries), len(rows), len(avail))
}
