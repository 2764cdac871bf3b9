package store

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
)

// priceBook remembers what the seats of published events cost, as the
// booking batches read them. A published event's seats and prices never
// change, so the next batch knows a booking's amount before its reads come
// back, and can start its charges while PostgreSQL reads (chargeEarly).
type priceBook struct {
	mu       sync.Mutex
	seats    map[string]int64 // seatKey -> price in cents
	currency map[uuid.UUID]string
	loaded   map[uuid.UUID]time.Time // when an event's prices were last read whole
}

// priceBookSeats bounds the memory: past it, the book starts afresh.
const priceBookSeats = 500_000

// learn records the prices a run read, for the events on sale.
func (p *priceBook) learn(read *runRead) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.makeRoom(len(read.seats))
	for id, ev := range read.events {
		if ev.status == evently.EventPublished {
			p.currency[id] = ev.currencyOr()
		}
	}
	for k, s := range read.seats {
		p.seats[k] = s.price
	}
}

// makeRoom starts the book afresh when n more seats would not fit.
func (p *priceBook) makeRoom(n int) {
	if p.seats == nil || len(p.seats)+n > priceBookSeats {
		p.seats, p.currency, p.loaded = map[string]int64{}, map[uuid.UUID]string{}, map[uuid.UUID]time.Time{}
	}
}

// load reads the prices of a published event's every seat, once (again a
// minute later if the event was not on sale): the seats an on-sale's
// batches read come one batch at a time, and a booking is charged early
// only when all of its seats are known.
func (p *priceBook) load(ctx context.Context, db querier, event uuid.UUID) {
	p.mu.Lock()
	p.makeRoom(0)
	_, known := p.currency[event]
	last, tried := p.loaded[event]
	if known || tried && time.Since(last) < time.Minute {
		p.mu.Unlock()
		return
	}
	p.loaded[event] = time.Now()
	p.mu.Unlock()
	rows, err := db.QueryContext(ctx, `
		SELECT e.currency, s.seat_id, s.price_cents FROM events e JOIN event_seats s ON s.event_id = e.id
		WHERE e.id = $1 AND e.status = 'published'`, event)
	if err != nil {
		return // charged after the reads: slower, not wrong
	}
	defer rows.Close()
	seats, currency := map[string]int64{}, ""
	for rows.Next() {
		var seat string
		var price int64
		if rows.Scan(&currency, &seat, &price) != nil {
			return
		}
		seats[seatKey(event, seat)] = price
	}
	if rows.Err() != nil || len(seats) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.makeRoom(len(seats))
	for k, v := range seats {
		p.seats[k] = v
	}
	p.currency[event] = eventState{currency: currency}.currencyOr()
}

// amount is what c costs, if every one of its seats is known.
func (p *priceBook) amount(c *evently.BookCommand) (cents int64, currency string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	currency, ok = p.currency[c.EventID]
	if !ok {
		return 0, "", false
	}
	for _, s := range c.SeatIDs {
		price, known := p.seats[seatKey(c.EventID, s)]
		if !known {
			return 0, "", false
		}
		cents += price
	}
	return cents, currency, len(c.SeatIDs) > 0
}

// forget drops an event whose price was found different from the book's
// (which a published event cannot do): its bookings are charged after
// their reads again.
func (p *priceBook) forget(event uuid.UUID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.currency, event)
}

// earlyCharges are the charges a batch started before its reads: the
// amount asked for each booking and, once done, the final answers.
type earlyCharges struct {
	done    chan struct{}
	asked   map[uuid.UUID]int64
	answers map[uuid.UUID]evently.Command
}

// chargeEarly starts charging the paying book commands whose amount the
// price book knows, so the gateway's round trips overlap PostgreSQL's
// instead of following them. Almost every such command wins its seats (its
// hold was claimed for it); one that does not is refunded through a
// resolve (see chargeInCommit), and one applied before gets its earlier
// charge back under the same idempotency key. nil when there is nothing to
// charge early.
func (b *Bookings) chargeEarly(ctx context.Context, now time.Time, run []*evently.BookCommand) *earlyCharges {
	if b.ChargeNow == nil {
		return nil
	}
	var reqs []evently.PaymentRequest
	for _, c := range run {
		if c.PaymentToken == "" {
			continue
		}
		b.prices.load(ctx, b.DB, c.EventID)
		cents, currency, ok := b.prices.amount(c)
		if !ok {
			continue
		}
		reqs = append(reqs, evently.PaymentRequest{BookingID: c.BookingID, EventID: c.EventID, UserID: c.UserID,
			AmountCents: cents, Currency: currency, Token: c.PaymentToken, Deadline: now.Add(b.PaymentWindow)})
	}
	if len(reqs) == 0 {
		return nil
	}
	e := &earlyCharges{done: make(chan struct{}), asked: map[uuid.UUID]int64{}, answers: map[uuid.UUID]evently.Command{}}
	for _, r := range reqs {
		e.asked[r.BookingID] = r.AmountCents
	}
	go func() { // joined by wait, which CommitBatch defers
		defer close(e.done)
		for i, cmd := range b.ChargeNow(ctx, reqs) {
			if cmd.Type != "" && cmd.Reply != nil {
				e.answers[reqs[i].BookingID] = cmd
			}
		}
	}()
	return e
}

// wait returns once the early charges have their answers.
func (e *earlyCharges) wait() {
	if e != nil {
		<-e.done
	}
}

// charged reports whether booking was charged early, and for how much.
func (e *earlyCharges) charged(booking uuid.UUID) (cents int64, ok bool) {
	if e == nil {
		return 0, false
	}
	cents, ok = e.asked[booking]
	return cents, ok
}

// answer is the final answer to booking's early charge, if there is one.
func (e *earlyCharges) answer(booking uuid.UUID) (evently.Command, bool) {
	if e == nil {
		return evently.Command{}, false
	}
	c, ok := e.answers[booking]
	return c, ok
}
