package workers_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
	"github.com/evently/evently/paysim"
	"github.com/evently/evently/store"
)

// entryView is a waitlist entry as the API shows it.
type entryView struct {
	ID          uuid.UUID `json:"id"`
	EventID     uuid.UUID `json:"event_id"`
	PartySize   int       `json:"party_size"`
	Status      string    `json:"status"`
	Position    int       `json:"position"`
	PeopleAhead int       `json:"people_ahead"`
	Offer       *struct {
		HoldID    uuid.UUID `json:"hold_id"`
		SeatIDs   []string  `json:"seat_ids"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"offer"`
}

// startWaitlist runs the booking pipeline and the promoter with short
// offers and a quick sweep.
func startWaitlist(t *testing.T, offerTTL time.Duration) *saga {
	return startSaga(t, paysim.Behaviour{}, func(c *app.Config) {
		c.Waitlist.OfferTTL, c.Waitlist.Sweep = offerTTL, 50*time.Millisecond
		c.Webhooks.AllowPrivate = true // the test's receiver is on loopback
		c.Webhooks.Poll = 20 * time.Millisecond
	}, "booking", "payment", "reaper", "waitlist", "notify", "webhooks")
}

func (s *saga) join(t *testing.T, token string, event uuid.UUID, party int) entryView {
	t.Helper()
	res := s.a.Do("POST", "/api/v1/events/"+event.String()+"/waitlist", token, map[string]any{"party_size": party})
	if res.Status != 201 {
		t.Fatalf("join: %d %s", res.Status, res.Body)
	}
	var e entryView
	res.JSON(t, &e)
	return e
}

func (s *saga) entry(t *testing.T, token string, id uuid.UUID) entryView {
	t.Helper()
	var e entryView
	res := s.a.Do("GET", "/api/v1/waitlist/"+id.String(), token, nil)
	if res.Status != 200 {
		t.Fatalf("entry: %d %s", res.Status, res.Body)
	}
	res.JSON(t, &e)
	return e
}

// waitEntry waits for an entry to reach status (with a deadline).
func (s *saga) waitEntry(t *testing.T, token string, id uuid.UUID, status string) entryView {
	t.Helper()
	var e entryView
	apptest.Eventually(t, fmt.Sprintf("entry %s %s", id, status), func() bool {
		e = s.entry(t, token, id)
		return e.Status == status
	})
	return e
}

// sellOut books every seat of an event in bookings of the given sizes and
// returns the bookings and their owners' tokens.
func (s *saga) sellOut(t *testing.T, event uuid.UUID, sizes ...int) (ids []uuid.UUID, tokens []string) {
	t.Helper()
	next := 1
	for _, n := range sizes {
		_, token := s.a.User(evently.RoleUser)
		var ss []int
		for range n {
			ss = append(ss, next)
			next++
		}
		id := s.book(t, token, event, seats(ss...), "tok_visa")
		s.waitStatus(t, token, id, "confirmed")
		ids, tokens = append(ids, id), append(tokens, token)
	}
	return ids, tokens
}

func (s *saga) cancel(t *testing.T, token string, id uuid.UUID) {
	t.Helper()
	if res := s.a.Do("POST", "/api/v1/bookings/"+id.String()+"/cancel", token, nil); res.Status != 202 {
		t.Fatalf("cancel: %d %s", res.Status, res.Body)
	}
	s.waitStatus(t, token, id, "cancelled")
}

// A small event sells out, three parties (2, 1, 2) wait, a 2-seat booking
// is cancelled: the first party is offered both seats as a hold nobody else
// can take; it lets the offer expire, so the seats go to the next party
// that fits (the party of 1), which books its offer: confirmed, and its
// entry booked. The last party keeps waiting, now first in line. Each step
// is told in the inbox and on the stream: waitlist.offered (also to a real
// webhook receiver, which checks its signature), a reminder
// before the offer ends, waitlist.offer_expired, the next party's
// waitlist.offered and its booking.confirmed.
func TestWaitlistEndToEnd(t *testing.T) {
	t.Parallel()
	s := startWaitlist(t, 3*time.Second)
	event := s.a.Event(4)
	bookings, owners := s.sellOut(t, event, 2, 2)

	_, tok1 := s.a.User(evently.RoleUser)
	_, tok2 := s.a.User(evently.RoleUser)
	_, tok3 := s.a.User(evently.RoleUser)
	e1, e2, e3 := s.join(t, tok1, event, 2), s.join(t, tok2, event, 1), s.join(t, tok3, event, 2)
	for i, c := range []struct {
		e           entryView
		pos, people int
	}{{e1, 1, 0}, {e2, 2, 2}, {e3, 3, 3}} {
		if c.e.Status != "waiting" || c.e.Position != c.pos || c.e.PeopleAhead != c.people {
			t.Fatalf("entry %d: %+v, want waiting at %d with %d ahead", i+1, c.e, c.pos, c.people)
		}
	}

	stream1, stream2 := notificationStream(s.a, tok1), notificationStream(s.a, tok2)
	// The first party also has a webhook: a real receiver that checks
	// every delivery's signature.
	rcv := evtest.NewReceiver(t)
	hooks := &hooks{a: s.a}
	hooks.subscribe(t, tok1, rcv, "waitlist.offered")
	s.cancel(t, owners[0], bookings[0])
	off := s.waitEntry(t, tok1, e1.ID, "offered")
	if off.Offer == nil || len(off.Offer.SeatIDs) != 2 {
		t.Fatalf("offer: %+v", off.Offer)
	}
	ofHold := func(h uuid.UUID) func(notice) bool {
		return func(n notice) bool { return n.Data.HoldID == h && n.Data.EntryID != uuid.Nil }
	}
	told := onStream(t, stream1, "waitlist.offered", ofHold(off.Offer.HoldID))
	if kept := waitNotice(t, s.a, tok1, "waitlist.offered", ofHold(off.Offer.HoldID)); kept.ID != told.ID ||
		kept.Data.EntryID != e1.ID || len(kept.Data.SeatIDs) != 2 || kept.Data.EventID != event {
		t.Fatalf("offer told %+v, kept %+v", told, kept)
	}
	apptest.Eventually(t, "the offer delivered to the webhook, signed", func() bool { return rcv.Delivered(told.ID) == 1 })
	if body, _ := rcv.Body(told.ID); body.Type != evently.NotifyWaitlistOffered || rcv.Refused() != 0 {
		t.Fatalf("webhook got %+v (%d refused)", body, rcv.Refused())
	}
	// The offer is an ordinary hold of the first party's; nobody else can
	// take its seats from the seat map.
	if res := s.a.Do("GET", "/api/v1/holds/"+off.Offer.HoldID.String(), tok1, nil); res.Status != 200 {
		t.Fatalf("offer hold: %d %s", res.Status, res.Body)
	}
	_, other := s.a.User(evently.RoleUser)
	if res := s.a.Do("POST", "/api/v1/events/"+event.String()+"/holds", other, map[string]any{"seat_ids": off.Offer.SeatIDs}); res.Status != 409 {
		t.Fatalf("someone else took offered seats: %d %s", res.Status, res.Body)
	}
	if e := s.entry(t, tok2, e2.ID); e.Status != "waiting" || e.Position != 1 {
		t.Fatalf("second party: %+v", e)
	}

	// The first party lets its offer expire: the next party that fits is
	// the party of 1; the party of 2 behind it does not fit one seat.
	s.waitEntry(t, tok1, e1.ID, "expired")
	waitNotice(t, s.a, tok1, "waitlist.offer_expiring", ofHold(off.Offer.HoldID))
	onStream(t, stream1, "waitlist.offer_expired", ofHold(off.Offer.HoldID))
	waitNotice(t, s.a, tok1, "waitlist.offer_expired", ofHold(off.Offer.HoldID))
	off2 := s.waitEntry(t, tok2, e2.ID, "offered")
	if off2.Offer == nil || len(off2.Offer.SeatIDs) != 1 {
		t.Fatalf("second offer: %+v", off2.Offer)
	}
	onStream(t, stream2, "waitlist.offered", ofHold(off2.Offer.HoldID))
	waitNotice(t, s.a, tok2, "waitlist.offered", ofHold(off2.Offer.HoldID))
	res := s.a.Do("POST", "/api/v1/bookings", tok2, map[string]any{"hold_id": off2.Offer.HoldID, "payment": map[string]any{"token": "tok_visa"}})
	if res.Status != 202 {
		t.Fatalf("book offer: %d %s", res.Status, res.Body)
	}
	var b bookingView
	res.JSON(t, &b)
	s.waitStatus(t, tok2, b.ID, "confirmed")
	s.waitEntry(t, tok2, e2.ID, "booked")
	onStream(t, stream2, "booking.confirmed", func(n notice) bool { return n.Data.BookingID == b.ID })
	waitNotice(t, s.a, tok2, "booking.confirmed", func(n notice) bool { return n.Data.BookingID == b.ID })
	if e := s.entry(t, tok3, e3.ID); e.Status != "waiting" || e.Position != 1 {
		t.Fatalf("third party: %+v", e)
	}
	auditWaitlist(t, s, event)
	// The join, the offer and the conversion were each counted once, in
	// the statement that made them (docs/analytics.md).
	var got, want string
	must(t, s.a.DB.Get(&got, `SELECT coalesce(sum(joins), 0) || ' ' || coalesce(sum(offers), 0) || ' ' || coalesce(sum(conversions), 0)
		FROM event_waitlist_daily WHERE event_id = $1`, event))
	must(t, s.a.DB.Get(&want, `SELECT count(*) || ' ' || count(offered_hold_id) || ' ' || count(*) FILTER (WHERE status = 'booked')
		FROM waitlist_entries WHERE event_id = $1`, event))
	if got != want || want == "0 0 0" {
		t.Fatalf("waitlist rollups (joins offers conversions) %s, counts %s", got, want)
	}
}

// Fairness: a party of 2 at the head of the line with only 1 seat released
// keeps its place, and the party of 1 behind it is served.
func TestWaitlistPartyThatDoesNotFitKeepsItsPlace(t *testing.T) {
	t.Parallel()
	s := startWaitlist(t, time.Minute)
	event := s.a.Event(3)
	bookings, owners := s.sellOut(t, event, 1, 2)
	_, tok1 := s.a.User(evently.RoleUser)
	_, tok2 := s.a.User(evently.RoleUser)
	e1, e2 := s.join(t, tok1, event, 2), s.join(t, tok2, event, 1)

	s.cancel(t, owners[0], bookings[0])
	off := s.waitEntry(t, tok2, e2.ID, "offered")
	if off.Offer == nil || len(off.Offer.SeatIDs) != 1 || off.Offer.SeatIDs[0] != "A-1" {
		t.Fatalf("offer: %+v", off.Offer)
	}
	if e := s.entry(t, tok1, e1.ID); e.Status != "waiting" || e.Position != 1 || e.PeopleAhead != 0 {
		t.Fatalf("head of the line: %+v", e)
	}
	// The next release reaches the head first: both seats, adjacent.
	s.cancel(t, owners[1], bookings[1])
	off1 := s.waitEntry(t, tok1, e1.ID, "offered")
	if off1.Offer == nil || len(off1.Offer.SeatIDs) != 2 {
		t.Fatalf("head's offer: %+v", off1.Offer)
	}
	auditWaitlist(t, s, event)
}

// Declining an offer by deleting its hold passes the seats to the next
// party, not onto open sale; the decliner has left the line.
func TestWaitlistDeclinedOfferGoesToTheNextParty(t *testing.T) {
	t.Parallel()
	s := startWaitlist(t, time.Minute)
	event := s.a.Event(2)
	bookings, owners := s.sellOut(t, event, 2)
	_, tok1 := s.a.User(evently.RoleUser)
	_, tok2 := s.a.User(evently.RoleUser)
	e1, e2 := s.join(t, tok1, event, 2), s.join(t, tok2, event, 2)
	s.cancel(t, owners[0], bookings[0])
	off := s.waitEntry(t, tok1, e1.ID, "offered")
	if res := s.a.Do("DELETE", "/api/v1/holds/"+off.Offer.HoldID.String(), tok1, nil); res.Status != 204 {
		t.Fatalf("decline: %d %s", res.Status, res.Body)
	}
	if e := s.entry(t, tok1, e1.ID); e.Status != "left" {
		t.Fatalf("decliner: %+v", e)
	}
	_, other := s.a.User(evently.RoleUser)
	if res := s.a.Do("POST", "/api/v1/events/"+event.String()+"/holds", other, map[string]any{"seat_ids": off.Offer.SeatIDs}); res.Status != 409 {
		t.Fatalf("declined seats went on open sale: %d %s", res.Status, res.Body)
	}
	off2 := s.waitEntry(t, tok2, e2.ID, "offered")
	if off2.Offer == nil || len(off2.Offer.SeatIDs) != 2 {
		t.Fatalf("next offer: %+v", off2.Offer)
	}
	auditWaitlist(t, s, event)
}

// auditWaitlist checks, once nothing moves, that no seat is in two open
// offers, every offered seat is held in Redis by its offer, every released
// seat is sold, offered or on open sale (no waitlist lock left behind),
// and entries agree with their offers.
func auditWaitlist(t *testing.T, s *saga, event uuid.UUID) {
	t.Helper()
	db, rdb, base := s.a.DB, s.a.Deps.Redis, s.a.Deps.Keys.Event(event)
	var offers []struct {
		ID     uuid.UUID  `db:"id"`
		Status string     `db:"status"`
		Hold   *uuid.UUID `db:"offered_hold_id"`
		Seats  string     `db:"seats"`
	}
	apptest.Eventually(t, "open offers settled", func() bool {
		var n int
		must(t, db.Get(&n, `SELECT count(*) FROM waitlist_entries WHERE event_id = $1 AND offer_open AND status <> 'offered'`, event))
		return n == 0
	})
	must(t, db.Select(&offers, `SELECT id, status, offered_hold_id, array_to_string(offer_seat_ids, ',') AS seats
		FROM waitlist_entries WHERE event_id = $1 AND offer_open`, event))
	owner := map[string]uuid.UUID{}
	for _, o := range offers {
		if o.Status != "offered" || o.Hold == nil {
			t.Errorf("open offer on entry %s in status %s", o.ID, o.Status)
			continue
		}
		for _, seat := range splitSeats(o.Seats) {
			if prev, ok := owner[seat]; ok {
				t.Errorf("seat %s offered to %s and %s", seat, prev, o.ID)
			}
			owner[seat] = o.ID
			if v, _ := rdb.Get(t.Context(), base+":seat:"+seat).Result(); v != o.Hold.String() {
				t.Errorf("offered seat %s is locked by %q, not its offer %s", seat, v, o.Hold)
			}
		}
	}
	var all []struct {
		ID     string `db:"seat_id"`
		Status string `db:"status"`
	}
	must(t, db.Select(&all, `SELECT seat_id, status FROM event_seats WHERE event_id = $1`, event))
	apptest.Eventually(t, "no seat left locked for the waitlist", func() bool {
		for _, seat := range all {
			if v, _ := rdb.Get(t.Context(), base+":seat:"+seat.ID).Result(); v == "waitlist" {
				return false
			}
		}
		return true
	})
	for _, seat := range all {
		if _, offered := owner[seat.ID]; offered && seat.Status != "available" {
			t.Errorf("seat %s is %s and offered", seat.ID, seat.Status)
		}
	}
	var bad int
	must(t, db.Get(&bad, `SELECT count(*) FROM waitlist_entries WHERE event_id = $1 AND
		((status = 'offered') <> offer_open OR status NOT IN ('waiting', 'offered', 'booked', 'expired', 'left'))`, event))
	if bad > 0 {
		t.Errorf("%d entries whose status and offer disagree", bad)
	}
}

func splitSeats(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// The seed's sold-out event at work: its waiting list was written straight
// to PostgreSQL, so the promoter marks it when it starts; alice cancels her
// booking of two and the first party in line, bob's party of two, is
// offered exactly her seats; carol moves up to first in line.
func TestWaitlistSeededSoldOutEvent(t *testing.T) {
	t.Parallel()
	s := startSagaWith(t, paysim.Behaviour{}, apptest.Options{Workers: []string{}, Configure: func(c *app.Config) {
		c.Waitlist.Sweep = 50 * time.Millisecond
	}})
	ctx := context.Background()
	if _, err := store.Seed(ctx, s.a.DB, store.SeedOptions{BcryptCost: 4}); err != nil {
		t.Fatal(err)
	}
	s.a.StartWorkers("booking", "payment", "reaper", "waitlist")
	event := store.SoldOutEventID
	marker := s.a.Deps.Keys.Event(event) + ":waitlist"
	apptest.Eventually(t, "the seeded line marked", func() bool {
		n, err := s.a.Deps.Redis.Exists(ctx, marker).Result()
		return err == nil && n == 1
	})
	token := func(user string) string {
		var id uuid.UUID
		must(t, s.a.DB.Get(&id, `SELECT id FROM users WHERE email = $1`, user+"@evently.test"))
		tok, _, _, err := s.a.Server.Tokens.Issue(id, evently.RoleUser)
		must(t, err)
		return tok
	}
	alice, bob, carol := token("alice"), token("bob"), token("carol")
	if e := s.entry(t, bob, store.SoldOutEntryID("bob")); e.Status != "waiting" || e.Position != 1 || e.PartySize != 2 {
		t.Fatalf("bob's entry: %+v", e)
	}
	var aliceSeats []string
	must(t, s.a.DB.Select(&aliceSeats, `SELECT seat_id FROM booking_seats WHERE booking_id = $1 ORDER BY seat_id`, store.SoldOutBookingID("alice")))

	s.cancel(t, alice, store.SoldOutBookingID("alice"))
	off := s.waitEntry(t, bob, store.SoldOutEntryID("bob"), "offered")
	if off.Offer == nil || !slices.Equal(sorted(off.Offer.SeatIDs), aliceSeats) {
		t.Fatalf("bob's offer: %+v, want alice's seats %v", off.Offer, aliceSeats)
	}
	if e := s.entry(t, carol, store.SoldOutEntryID("carol")); e.Status != "waiting" || e.Position != 1 {
		t.Fatalf("carol's entry: %+v", e)
	}
	// Bob books his offer: confirmed, his entry booked.
	res := s.a.Do("POST", "/api/v1/bookings", bob, map[string]any{"hold_id": off.Offer.HoldID, "payment": map[string]any{"token": "tok_visa"}})
	if res.Status != 202 {
		t.Fatalf("book the offer: %d %s", res.Status, res.Body)
	}
	var b bookingView
	res.JSON(t, &b)
	s.waitStatus(t, bob, b.ID, "confirmed")
	s.waitEntry(t, bob, store.SoldOutEntryID("bob"), "booked")
	vs, err := store.CheckIntegrity(ctx, s.a.DB, store.IntegrityOptions{EventIDs: []uuid.UUID{event}})
	must(t, err)
	for _, v := range vs {
		t.Errorf("integrity: %s", v)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
