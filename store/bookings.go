package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/evently/evently"
)

// Bookings is the booking repository: the booking worker's batched commits
// and the API's reads.
type Bookings struct {
	DB *sqlx.DB
	// Consumer names the deduplication scope in processed_messages.
	Consumer string
	// PaymentWindow is how long a reserved booking waits for payment.
	PaymentWindow time.Duration
	Now           func() time.Time
	// ChargeNow, when set, charges a batch's new paying bookings inside
	// the batch's transaction, under the idempotency key the payment worker
	// uses: it returns, for each request in order, the gateway's final
	// answer as a payment reply command, or a command without a Type when
	// there is none (the gateway slow, down or unsure). Answered bookings
	// are committed confirmed (or failed, declined) with no charge request;
	// the others stay paying and go to the saga. See docs/booking.md.
	ChargeNow func(ctx context.Context, reqs []evently.PaymentRequest) []evently.Command
	// Phase, when set, is told how long the parts of a batch's transaction
	// took: "read" (begin, claim and the first run's reads), "write" (the
	// last data-modifying statement) and "end" (the commit).
	Phase func(name string, d time.Duration)

	prices priceBook // for chargeEarly
	stmts  statements
}

// prepared runs q's statements prepared (see statements).
func (b *Bookings) prepared(q querier) querier { return b.stmts.on(b.DB, q) }

// lap tells Phase how long name took since *t, and restarts *t.
func (b *Bookings) lap(name string, t *time.Time) {
	if b.Phase == nil {
		return
	}
	now := time.Now()
	b.Phase(name, now.Sub(*t))
	*t = now
}

func (b *Bookings) now() time.Time {
	if b.Now != nil {
		return b.Now().UTC()
	}
	return time.Now().UTC()
}

// BatchResult is what a committed batch did, for the work after the commit
// (Redis, streams, sending the outbox).
type BatchResult struct {
	Changes  []evently.StatusChange
	Sold     map[uuid.UUID][]string // event -> seats sold by this batch
	Released map[uuid.UUID][]string // event -> seats back on sale
	Outbox   []evently.Outgoing
	// Refunds are the refunds payment replies reported.
	Refunds []evently.Refund
	// Redelivered counts messages already applied before.
	Redelivered int
	// Conflicts counts bookings that lost their seats.
	Conflicts int
}

// ErrStaleVersion means a version-checked update touched fewer rows than
// expected: someone else changed the seats. The batch is retried.
var ErrStaleVersion = errors.New("stale version: seats changed underneath the batch")

// CommitBatch applies commands of one partition in order, in one
// transaction: redelivered messages are skipped (processed_messages), runs
// of book commands are resolved in order in memory and written with a few
// set-based, version-checked statements, and every downstream message goes
// to the outbox in the same transaction.
func (b *Bookings) CommitBatch(ctx context.Context, cmds []evently.Command) (BatchResult, error) {
	if len(cmds) > 0 && leadingBooks(cmds) == len(cmds) {
		return b.commitBooks(ctx, cmds)
	}
	res := BatchResult{Sold: map[uuid.UUID][]string{}, Released: map[uuid.UUID][]string{}}
	now := b.now()
	t := time.Now()
	err := inTx(ctx, b.DB, func(tx *sqlx.Tx) error {
		// A batch that starts with book commands (the on-sale's) claims its
		// messages in the same statement that reads the first run.
		var first *runRead
		var early *earlyCharges
		var fresh map[uuid.UUID]bool
		var err error
		if n := leadingBooks(cmds); n > 0 {
			lead := make([]*evently.BookCommand, n)
			for i := range lead {
				lead[i] = cmds[i].Book
			}
			early = b.chargeEarly(ctx, now, lead)
			defer early.wait()
			first, fresh, err = readRun(ctx, b.prepared(tx), lead, &claim{consumer: b.Consumer, cmds: cmds, lock: true})
		} else {
			fresh, err = claimMessages(ctx, tx, b.Consumer, cmds)
		}
		if err != nil {
			return err
		}
		b.lap("read", &t)
		w := &batchWrite{}
		// Runs of book commands and runs of the other commands, each applied
		// with a few set-based statements, in partition order.
		for i := 0; i < len(cmds); {
			isBook := cmds[i].Type == evently.CmdBook
			var books []*evently.BookCommand
			var others []evently.Command
			for ; i < len(cmds) && (cmds[i].Type == evently.CmdBook) == isBook; i++ {
				switch {
				case !fresh[cmds[i].MessageID]:
					res.Redelivered++
				case isBook:
					books = append(books, cmds[i].Book)
				default:
					others = append(others, cmds[i])
				}
			}
			if err := b.book(ctx, tx, w, now, books, first, early, &res); err != nil {
				return err
			}
			first, early = nil, nil
			if err := b.applyRun(ctx, tx, w, now, others, &res); err != nil {
				return err
			}
		}
		res.tell()
		insertOutbox(w, res.Outbox)
		t = time.Now()
		if err := w.flush(ctx, b.prepared(tx)); err != nil {
			return err
		}
		b.lap("write", &t)
		return nil
	})
	if err != nil {
		return BatchResult{}, err
	}
	b.lap("end", &t)
	return res, nil
}

// commitBooks commits a batch of book commands alone, the on-sale's, in two
// statements with no transaction around them (two round trips fewer than
// BEGIN … COMMIT). The read takes no locks: only this partition sells this
// event's seats, and the write, one statement and so one transaction,
// checks it all: the seats' versions (evently_check_sold), one active
// booking per seat, and the message ids, claimed there with a plain insert
// so that a rival worker that applied them meanwhile fails it. A failed
// write changed nothing, and the batch is decided again from a new read.
func (b *Bookings) commitBooks(ctx context.Context, cmds []evently.Command) (BatchResult, error) {
	res := BatchResult{Sold: map[uuid.UUID][]string{}, Released: map[uuid.UUID][]string{}}
	now := b.now()
	t := time.Now()
	run := make([]*evently.BookCommand, len(cmds))
	for i := range cmds {
		run[i] = cmds[i].Book
	}
	early := b.chargeEarly(ctx, now, run)
	defer early.wait()
	read, fresh, err := readRun(ctx, b.prepared(b.DB), run, &claim{consumer: b.Consumer, cmds: cmds})
	if err != nil {
		return BatchResult{}, err
	}
	b.lap("read", &t)
	var books []*evently.BookCommand
	var ids []string
	for _, c := range cmds {
		if !fresh[c.MessageID] {
			res.Redelivered++
			continue
		}
		books = append(books, c.Book)
		ids = append(ids, c.MessageID.String())
	}
	w := &batchWrite{}
	if len(ids) > 0 {
		w.add(`INSERT INTO processed_messages (consumer, message_id) SELECT ` + w.arg(b.Consumer) + `, unnest(` + w.arg(pq.Array(ids)) + `::uuid[])`)
	}
	if err := b.book(ctx, b.DB, w, now, books, read, early, &res); err != nil {
		return BatchResult{}, err
	}
	res.tell()
	insertOutbox(w, res.Outbox)
	t = time.Now()
	if err := w.flush(ctx, b.prepared(b.DB)); err != nil {
		return BatchResult{}, err
	}
	b.lap("write", &t)
	return res, nil
}

// tell adds what the batch tells the bookings' owners to its outbox, so
// the notifications are written with the batch (rows of the one outbox
// insert; no round trip of their own) and derived from what it decided: a
// batch decided again tells the same ids.
func (res *BatchResult) tell() {
	for _, n := range evently.BookingNotifications(res.Changes, res.Refunds) {
		res.Outbox = append(res.Outbox, evently.NewNotificationMessage(n))
	}
}

// claimMessages records the batch's message ids and returns those not seen
// before. A second worker holding the same batch blocks here on the primary
// key until the first commits, then finds them claimed.
func claimMessages(ctx context.Context, tx *sqlx.Tx, consumer string, cmds []evently.Command) (map[uuid.UUID]bool, error) {
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.MessageID.String()
	}
	rows, err := tx.QueryContext(ctx, `
		INSERT INTO processed_messages (consumer, message_id)
		SELECT $1, id FROM unnest($2::uuid[]) AS id
		ON CONFLICT DO NOTHING RETURNING message_id`, consumer, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	defer rows.Close()
	fresh := make(map[uuid.UUID]bool, len(cmds))
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		fresh[id] = true
	}
	return fresh, rows.Err()
}

type seatState struct {
	status  string
	version int64
	price   int64
}

type eventState struct {
	status   evently.EventStatus
	currency string
}

func (e eventState) currencyOr() string {
	if e.currency == "" {
		return "USD"
	}
	return e.currency
}

// newBooking is a row the book step inserts.
type newBooking struct {
	cmd     *evently.BookCommand
	status  evently.BookingStatus
	reason  string
	amount  int64
	idemKey string
	expires *time.Time
	prices  []int64
	path    []evently.BookingStatus // statuses for its history, in order
	charge  *evently.PaymentRequest // the charge a paying booking asks for
}

// book resolves a run of book commands in order and writes the outcome.
// read, when set, was read already (for a superset of run: the batch's
// leading book commands, redelivered ones included).
func (b *Bookings) book(ctx context.Context, tx querier, w *batchWrite, now time.Time, run []*evently.BookCommand, read *runRead,
	early *earlyCharges, res *BatchResult) error {
	if len(run) == 0 {
		return nil
	}
	if read == nil {
		if err := w.flush(ctx, b.prepared(tx)); err != nil { // the reads below must see what came before
			return err
		}
		var err error
		if read, _, err = readRun(ctx, b.prepared(tx), run, nil); err != nil {
			return err
		}
	}
	b.prices.learn(read)
	existing, events, seats := read.existing, read.events, read.seats

	var rows []newBooking
	type win struct {
		event   uuid.UUID
		seat    string
		booking uuid.UUID
		version int64
	}
	var wins []win
	seenKey := map[string]bool{}
	for _, c := range run {
		if existing.ids[c.BookingID] {
			// Applied before under another message id, or failed unapplied:
			// withdrawn by the API when its produce failed, which can land
			// between an attempt of this batch that charged the booking and
			// its write (which the withdrawal's row then fails), or failed
			// meanwhile after this attempt charged it early. Whatever was
			// charged is given back.
			_, early := early.charged(c.BookingID)
			if b.ChargeNow != nil && c.PaymentToken != "" && (existing.withdrawn[c.BookingID] || early && existing.failed[c.BookingID]) {
				res.Outbox = append(res.Outbox, paymentRequest(evently.PayResolve, &evently.Booking{ID: c.BookingID,
					UserID: c.UserID, EventID: c.EventID, Currency: events[c.EventID].currencyOr()}).Traced(c.TraceID))
			}
			continue
		}
		nb := newBooking{cmd: c, idemKey: c.IdempotencyKey}
		if nb.idemKey != "" {
			k := c.UserID.String() + "/" + nb.idemKey
			if existing.keys[k] || seenKey[k] {
				// Redis lost the idempotency key and a retry slipped through;
				// PostgreSQL's unique key decides: this one does nothing.
				nb.idemKey, nb.status, nb.reason = "", evently.BookingFailed, evently.ReasonInvalid
				nb.path = []evently.BookingStatus{evently.BookingFailed}
				rows = append(rows, nb)
				continue
			}
			seenKey[k] = true
		}
		ev := events[c.EventID]
		out := evently.DecideBook(c, ev.status, now, func(id string) evently.Offer {
			st, ok := seats[seatKey(c.EventID, id)]
			if !ok {
				return evently.Offer{}
			}
			return evently.Offer{Known: true, Available: st.status == string(evently.SeatAvailable), Price: st.price}
		})
		nb.status, nb.reason, nb.amount, nb.prices = out.Status, out.Reason, out.Amount, out.Prices
		if out.Won() {
			for _, s := range c.SeatIDs {
				st := seats[seatKey(c.EventID, s)]
				wins = append(wins, win{c.EventID, s, c.BookingID, st.version})
				st.status = string(evently.SeatSold) // later commands in the run see it taken
			}
			exp := now.Add(b.PaymentWindow)
			nb.expires = &exp
			res.Sold[c.EventID] = append(res.Sold[c.EventID], c.SeatIDs...)
			if out.Status == evently.BookingPaying {
				nb.charge = &evently.PaymentRequest{BookingID: c.BookingID, EventID: c.EventID, UserID: c.UserID,
					AmountCents: nb.amount, Currency: ev.currency, Token: c.PaymentToken, Deadline: exp}
			}
		} else if nb.reason == evently.ReasonSeatsTaken {
			res.Conflicts++
		}
		nb.path = out.BookPath()
		rows = append(rows, nb)
		existing.ids[c.BookingID] = true
	}

	payments, unsold, err := b.chargeInCommit(ctx, now, rows, events, early, res)
	if err != nil {
		return err
	}
	if len(unsold) > 0 {
		kept := wins[:0]
		for _, w := range wins {
			if !unsold[w.booking] {
				kept = append(kept, w)
			}
		}
		wins = kept
	}

	// Seats first, version-checked: the first guard against a double sale.
	if len(wins) > 0 {
		ev, seat, bk, ver := make([]string, len(wins)), make([]string, len(wins)), make([]string, len(wins)), make([]int64, len(wins))
		for i, w := range wins {
			ev[i], seat[i], bk[i], ver[i] = w.event.String(), w.seat, w.booking.String(), w.version
		}
		w.sell(`UPDATE event_seats s SET status = 'sold', booking_id = v.booking, version = s.version + 1
			FROM unnest(`+w.arg(pq.Array(ev))+`::uuid[], `+w.arg(pq.Array(seat))+`::text[], `+w.arg(pq.Array(bk))+`::uuid[], `+w.arg(pq.Array(ver))+`::bigint[])
			     AS v(event, seat, booking, version)
			WHERE s.event_id = v.event AND s.seat_id = v.seat AND s.version = v.version AND s.status = 'available'`, len(wins))
	}
	// Bookings, their seats, history and payments go in the same statement
	// (flushed with the outbox, or before the next run reads).
	insertBookings(w, now, rows)
	insertPayments(w, payments)
	var moves []evently.Transition
	for _, nb := range rows {
		moves = append(moves, evently.BookTransitions(nb.cmd.EventID, nb.path, nb.reason, len(nb.cmd.SeatIDs), nb.amount)...)
	}
	addSalesRollup(w, now, moves, "")
	for _, nb := range rows {
		c := nb.cmd
		res.Changes = append(res.Changes, evently.StatusChange{BookingID: c.BookingID, UserID: c.UserID, EventID: c.EventID,
			HoldID: c.HoldID, Status: nb.status, Reason: nb.reason, SeatIDs: c.SeatIDs, At: now,
			AmountCents: nb.amount, Currency: events[c.EventID].currencyOr(), ExpiresAt: nb.expires, AcceptedAt: c.AcceptedAt,
			TraceID: c.TraceID})
	}
	return nil
}

// chargeInCommit charges the run's new paying bookings through ChargeNow
// (those chargeEarly did not charge already) and lets the domain decide
// what each answer does, as for a reply from the payment worker. It
// returns the payments to record and the bookings whose seats are not sold
// after all (declined), and queues the charge requests left to the saga.
//
// The transaction may still fail after a charge: the batch is then applied
// again, and charging again under the same key returns the same charge.
// A booking that fails although it may have been charged (early, or by an
// earlier attempt: its seats gone, its hold or event over meanwhile) is
// given a resolve request, which refunds whatever the gateway charged.
func (b *Bookings) chargeInCommit(ctx context.Context, now time.Time, rows []newBooking, events map[uuid.UUID]eventState,
	early *earlyCharges, res *BatchResult) ([]paymentRow, map[uuid.UUID]bool, error) {
	var payments []paymentRow
	var unsold map[uuid.UUID]bool
	if b.ChargeNow != nil {
		early.wait()
		answers := make([]*evently.Command, len(rows))
		var reqs []evently.PaymentRequest
		var at []int
		for i := range rows {
			ch := rows[i].charge
			if ch == nil {
				continue
			}
			if cents, ok := early.charged(ch.BookingID); ok {
				if cents != ch.AmountCents {
					// Cannot happen to a published event; should it, the
					// saga takes the booking over and the event's bookings
					// are charged after their reads from now on.
					b.prices.forget(ch.EventID)
					continue
				}
				if a, ok := early.answer(ch.BookingID); ok {
					answers[i] = &a
				}
				continue
			}
			reqs, at = append(reqs, *ch), append(at, i)
		}
		if len(reqs) > 0 {
			for j, a := range b.ChargeNow(ctx, reqs) {
				if a.Type != "" && a.Reply != nil {
					answers[at[j]] = &a
				}
			}
		}
		for i, a := range answers {
			if a == nil {
				continue
			}
			nb, c := &rows[i], rows[i].cmd
			bk := evently.Booking{ID: c.BookingID, UserID: c.UserID, EventID: c.EventID, HoldID: c.HoldID,
				Status: evently.BookingPaying, AmountCents: nb.amount, Currency: events[c.EventID].currencyOr(),
				ExpiresAt: nb.expires, SeatIDs: c.SeatIDs}
			e, err := evently.Decide(&bk, *a, now, events[c.EventID].status == evently.EventCancelled)
			if err != nil {
				return nil, nil, err
			}
			nb.charge = nil // answered: nothing left for the saga
			if e.Record != "" {
				payments = append(payments, recordedPayment(e.Record, &bk, a.Reply))
			}
			if e.To != "" {
				nb.status, nb.reason = e.To, e.Reason
				nb.path = append(nb.path, e.To)
			}
			if e.Release {
				if unsold == nil {
					unsold = map[uuid.UUID]bool{}
				}
				unsold[c.BookingID] = true
				res.Sold[c.EventID] = slices.DeleteFunc(res.Sold[c.EventID], func(s string) bool { return slices.Contains(c.SeatIDs, s) })
				if len(res.Sold[c.EventID]) == 0 {
					delete(res.Sold, c.EventID)
				}
				// Declined in its commit, the booking never sold its seats,
				// but they come back on sale all the same: the waitlist hears
				// of them as of any other released seats.
				seats := slices.Sorted(slices.Values(c.SeatIDs))
				res.Outbox = append(res.Outbox, evently.NewOutgoing(evently.StreamInventoryReleased, c.EventID.String(),
					evently.MsgSeatsReleased, evently.SeatsReleased{EventID: c.EventID, SeatIDs: seats, BookingID: c.BookingID}).Traced(c.TraceID))
			}
			for _, kind := range e.Requests {
				res.Outbox = append(res.Outbox, paymentRequest(kind, &bk).Traced(c.TraceID))
			}
		}
	}
	for i := range rows {
		nb := &rows[i]
		switch {
		case nb.charge != nil:
			res.Outbox = append(res.Outbox, evently.NewOutgoing(evently.StreamPaymentRequests, nb.charge.BookingID.String(),
				evently.PayCharge, *nb.charge).Traced(nb.cmd.TraceID))
		case b.ChargeNow != nil && nb.cmd.PaymentToken != "" && nb.status == evently.BookingFailed && mayBeCharged(nb, early):
			c := nb.cmd
			res.Outbox = append(res.Outbox, paymentRequest(evently.PayResolve, &evently.Booking{ID: c.BookingID, UserID: c.UserID,
				EventID: c.EventID, AmountCents: nb.amount, Currency: events[c.EventID].currencyOr()}).Traced(c.TraceID))
		}
	}
	return payments, unsold, nil
}

// mayBeCharged reports whether a failed paying booking may hold a charge:
// it was charged early and not declined, or it failed for a reason that
// can follow an earlier attempt's charge.
func mayBeCharged(nb *newBooking, early *earlyCharges) bool {
	if _, ok := early.charged(nb.cmd.BookingID); ok {
		a, answered := early.answer(nb.cmd.BookingID)
		return !answered || a.Type != evently.ReplyDeclined
	}
	return nb.reason == evently.ReasonSeatsTaken || nb.reason == evently.ReasonHoldExpired || nb.reason == evently.ReasonEventCancelled
}

type existing struct {
	ids    map[uuid.UUID]bool
	failed map[uuid.UUID]bool // of ids: the booking failed
	keys   map[string]bool    // user/idempotency key
	// withdrawn are bookings the API recorded as not accepted (Withdraw).
	withdrawn map[uuid.UUID]bool
}

// readRun reads what a run of book commands is decided on, in one round
// trip: the bookings that exist already (by id, or by the user's
// idempotency key), the events, and the seats, locked in a fixed order (no
// deadlocks between rival workers) unless cl says not to. With cl it also
// returns the batch's message ids not applied before (claiming them when
// it locks; see claimMessages).
func readRun(ctx context.Context, tx querier, run []*evently.BookCommand, cl *claim) (*runRead, map[uuid.UUID]bool, error) {
	ids, evIDs := make([]string, len(run)), make([]string, len(run))
	var users, keys, ev, seat []string
	want := map[uuid.UUID]bool{}
	for i, c := range run {
		ids[i], evIDs[i] = c.BookingID.String(), c.EventID.String()
		want[c.BookingID] = true
		if c.IdempotencyKey != "" {
			users, keys = append(users, c.UserID.String()), append(keys, c.IdempotencyKey)
		}
		for _, s := range c.SeatIDs {
			ev, seat = append(ev, c.EventID.String()), append(seat, s)
		}
	}
	ex := existing{ids: map[uuid.UUID]bool{}, failed: map[uuid.UUID]bool{}, keys: map[string]bool{}, withdrawn: map[uuid.UUID]bool{}}
	events, seats := map[uuid.UUID]eventState{}, map[string]*seatState{}
	args := []any{pq.Array(ids), pq.Array(users), pq.Array(keys), pq.Array(ev), pq.Array(seat), pq.Array(evIDs)}
	claimed, fromClaim, lock := "", "", "ORDER BY s.event_id, s.seat_id FOR UPDATE OF s"
	if cl != nil {
		msgs := make([]string, len(cl.cmds))
		for i, c := range cl.cmds {
			msgs[i] = c.MessageID.String()
		}
		args = append(args, cl.consumer, pq.Array(msgs))
		if cl.lock {
			// claimMessages' insert, as a part of this statement.
			claimed = `claimed AS (INSERT INTO processed_messages (consumer, message_id)
				SELECT $7, id FROM unnest($8::uuid[]) AS id ON CONFLICT DO NOTHING RETURNING message_id),`
			fromClaim = `UNION ALL SELECT 'm', message_id, '', '', 0, 0 FROM claimed`
		} else {
			fromClaim = `UNION ALL SELECT 'p', message_id, '', '', 0, 0 FROM processed_messages
				WHERE consumer = $7 AND message_id = ANY($8::uuid[])`
			lock = ""
		}
	}
	rows, err := tx.QueryContext(ctx, `
		WITH `+claimed+` seats AS (
			SELECT s.event_id, s.seat_id, s.status, s.version, s.price_cents FROM event_seats s
			JOIN (SELECT DISTINCT * FROM unnest($4::uuid[], $5::text[])) AS v(event, seat)
			  ON s.event_id = v.event AND s.seat_id = v.seat
			`+lock+`)
		SELECT 's', event_id, seat_id::text, status::text, version::bigint, price_cents::bigint FROM seats
		UNION ALL
		SELECT 'e', id, status::text, currency::text, 0, 0 FROM events WHERE id = ANY($6::uuid[])
		UNION ALL
		SELECT 'b', b.id, b.user_id::text, coalesce(b.idempotency_key, '')::text,
		       CASE WHEN b.reason = 'not_accepted' THEN 2 WHEN b.status = 'failed' THEN 1 ELSE 0 END, 0 FROM bookings b
		WHERE b.id = ANY($1::uuid[])
		UNION ALL
		-- A branch of its own, joined, so that both use an index: an OR of
		-- the two scans the whole table, each batch a little longer.
		SELECT 'b', b.id, b.user_id::text, b.idempotency_key,
		       CASE WHEN b.reason = 'not_accepted' THEN 2 WHEN b.status = 'failed' THEN 1 ELSE 0 END, 0 FROM bookings b
		JOIN unnest($2::uuid[], $3::text[]) AS k(user_id, key) ON b.user_id = k.user_id AND b.idempotency_key = k.key
		WHERE b.idempotency_key IS NOT NULL
		`+fromClaim, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("read run: %w", err)
	}
	fresh, seen := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	defer rows.Close()
	for rows.Next() {
		var kind, a, b string
		var id uuid.UUID
		var n1, n2 int64
		if err := rows.Scan(&kind, &id, &a, &b, &n1, &n2); err != nil {
			return nil, nil, err
		}
		switch kind {
		case "m":
			fresh[id] = true
		case "p":
			seen[id] = true
		case "s":
			seats[seatKey(id, a)] = &seatState{status: b, version: n1, price: n2}
		case "e":
			events[id] = eventState{status: evently.EventStatus(a), currency: b}
		case "b":
			if want[id] { // the key branch may find it too: the same row
				ex.ids[id] = true
				ex.failed[id] = n1 >= 1
				ex.withdrawn[id] = n1 == 2
			} else if b != "" {
				ex.keys[a+"/"+b] = true
			}
		}
	}
	if cl != nil && !cl.lock {
		for _, c := range cl.cmds {
			if !seen[c.MessageID] {
				fresh[c.MessageID] = true
			}
		}
	}
	return &runRead{existing: ex, events: events, seats: seats}, fresh, rows.Err()
}

// runRead is what a run of book commands is decided on.
type runRead struct {
	existing existing
	events   map[uuid.UUID]eventState
	seats    map[string]*seatState
}

// claim asks readRun to claim the batch's message ids as well (lock: in
// the transaction, with claimMessages' insert, locking the seats), or to
// find which of them were applied before (no lock: commitBooks claims
// them in its write).
type claim struct {
	consumer string
	cmds     []evently.Command
	lock     bool
}

// leadingBooks counts the book commands a batch starts with.
func leadingBooks(cmds []evently.Command) int {
	n := 0
	for n < len(cmds) && cmds[n].Type == evently.CmdBook && cmds[n].Book != nil {
		n++
	}
	return n
}

func seatKey(event uuid.UUID, seat string) string { return event.String() + "/" + seat }

func insertBookings(w *batchWrite, now time.Time, rows []newBooking) {
	if len(rows) == 0 {
		return
	}
	n := len(rows)
	id, user, event, hold, status, reason, key, token, expires := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amount, version, accepted := make([]int64, n), make([]int64, n), make([]string, n)
	var history []historyRow
	var bsBooking, bsEvent, bsSeat []string
	var bsPrice []int64
	for i, r := range rows {
		c := r.cmd
		id[i], user[i], event[i] = c.BookingID.String(), c.UserID.String(), c.EventID.String()
		if c.HoldID != nil {
			hold[i] = c.HoldID.String()
		}
		status[i], reason[i], key[i], token[i], amount[i] = string(r.status), r.reason, r.idemKey, c.PaymentToken, r.amount
		version[i] = int64(len(r.path)) // one per move after pending
		for _, st := range r.path {
			history = append(history, historyRow{booking: c.BookingID, status: st, reason: r.reason, trace: c.TraceID})
		}
		if r.expires != nil {
			expires[i] = r.expires.Format(time.RFC3339Nano)
		}
		accepted[i] = c.AcceptedAt.UTC().Format(time.RFC3339Nano)
		if c.AcceptedAt.IsZero() {
			accepted[i] = now.Format(time.RFC3339Nano)
		}
		if r.status.HoldsSeats() {
			for j, s := range c.SeatIDs {
				bsBooking, bsEvent, bsSeat, bsPrice = append(bsBooking, id[i]), append(bsEvent, event[i]), append(bsSeat, s), append(bsPrice, r.prices[j])
			}
		}
	}
	w.add(`INSERT INTO bookings (id, user_id, event_id, hold_id, status, reason, amount_cents, currency,
		                      idempotency_key, payment_token, expires_at, accepted_at, version, created_at, updated_at)
		SELECT v.id, v.user_id, v.event_id, NULLIF(v.hold, '')::uuid, v.status, NULLIF(v.reason, ''), v.amount,
		       coalesce(e.currency, 'USD'), NULLIF(v.key, ''), NULLIF(v.token, ''), NULLIF(v.expires, '')::timestamptz,
		       v.accepted::timestamptz, v.version, ` + w.arg(now) + `::timestamptz, ` + w.arg(now) + `::timestamptz
		FROM unnest(` + w.arg(pq.Array(id)) + `::uuid[], ` + w.arg(pq.Array(user)) + `::uuid[], ` + w.arg(pq.Array(event)) + `::uuid[], ` +
		w.arg(pq.Array(hold)) + `::text[], ` + w.arg(pq.Array(status)) + `::text[], ` + w.arg(pq.Array(reason)) + `::text[], ` +
		w.arg(pq.Array(amount)) + `::bigint[], ` + w.arg(pq.Array(key)) + `::text[], ` + w.arg(pq.Array(token)) + `::text[], ` +
		w.arg(pq.Array(expires)) + `::text[], ` + w.arg(pq.Array(accepted)) + `::text[], ` + w.arg(pq.Array(version)) + `::bigint[])
		     AS v(id, user_id, event_id, hold, status, reason, amount, key, token, expires, accepted, version)
		LEFT JOIN events e ON e.id = v.event_id`)
	if len(bsBooking) > 0 {
		// The second guard: the unique index on active (event, seat) fails
		// the whole batch rather than let a seat belong to two bookings.
		w.add(`INSERT INTO booking_seats (booking_id, event_id, seat_id, price_cents)
			SELECT * FROM unnest(` + w.arg(pq.Array(bsBooking)) + `::uuid[], ` + w.arg(pq.Array(bsEvent)) + `::uuid[], ` +
			w.arg(pq.Array(bsSeat)) + `::text[], ` + w.arg(pq.Array(bsPrice)) + `::bigint[])`)
	}
	insertHistory(w, now, history)
}

func addHistory(ctx context.Context, tx *sqlx.Tx, booking uuid.UUID, status evently.BookingStatus, reason string, at time.Time, trace string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO booking_history (booking_id, status, reason, at, trace_id) VALUES ($1, $2, NULLIF($3, ''), $4, NULLIF($5, ''))`,
		booking, status, reason, at, trace)
	return err
}

func insertOutbox(w *batchWrite, msgs []evently.Outgoing) {
	if len(msgs) == 0 {
		return
	}
	n := len(msgs)
	id, topic, key, typ, payload, trace := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, m := range msgs {
		id[i], topic[i], key[i], typ[i], payload[i], trace[i] = m.ID.String(), m.Stream, m.Key, m.Type, string(m.Payload), m.TraceID
	}
	// Derived ids (notifications) may meet a row of an earlier batch not
	// sent yet (an event's cancellation told again by a late payment
	// reply): that row says it already.
	w.add(`INSERT INTO outbox (id, topic, key, type, payload, trace_id)
		SELECT v.id, v.topic, v.key, v.type, v.payload, NULLIF(v.trace, '')
		FROM unnest(` + w.arg(pq.Array(id)) + `::uuid[], ` + w.arg(pq.Array(topic)) + `::text[], ` + w.arg(pq.Array(key)) + `::text[], ` +
		w.arg(pq.Array(typ)) + `::text[], ` + w.arg(pq.Array(payload)) + `::jsonb[], ` + w.arg(pq.Array(trace)) + `::text[])
		     AS v(id, topic, key, type, payload, trace)
		ON CONFLICT (id) DO NOTHING`)
}

// DeleteOutbox removes messages that were sent. It does not wait for the
// WAL flush (synchronous_commit off for this transaction only): a delete
// lost in a crash only makes the relay send a message again, which its
// consumers recognise. One round trip: ids are UUIDs, written inline.
func (b *Bookings) DeleteOutbox(ctx context.Context, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString("BEGIN; SET LOCAL synchronous_commit = off; DELETE FROM outbox WHERE id IN (")
	for i, id := range ids {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("'" + id.String() + "'")
	}
	q.WriteString("); COMMIT;")
	_, err := b.DB.ExecContext(ctx, q.String())
	return err
}

// PendingOutbox returns messages older than age that were never sent
// (their process died between commit and send).
func (b *Bookings) PendingOutbox(ctx context.Context, age time.Duration, limit int) ([]evently.Outgoing, error) {
	var out []evently.Outgoing
	err := b.DB.SelectContext(ctx, &out, `
		SELECT id, topic, key, type, payload, coalesce(trace_id, '') AS trace_id FROM outbox
		WHERE created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2`, age.Seconds(), limit)
	return out, err
}

// bookingColumns are the columns of evently.Booking.
const bookingColumns = `id, user_id, event_id, hold_id, status, reason, amount_cents, currency, idempotency_key,
	payment_token, expires_at, accepted_at, version, created_at, updated_at`

// bookingSeats is never nil: a booking that never got seats (one that
// failed before the worker wrote it) has none, which JSON says as [].
func bookingSeats(ctx context.Context, q sqlx.QueryerContext, id uuid.UUID) ([]string, error) {
	seats := []string{}
	err := sqlx.SelectContext(ctx, q, &seats, `SELECT seat_id FROM booking_seats WHERE booking_id = $1 ORDER BY seat_id`, id)
	return seats, err
}

func paymentRequest(kind string, bk *evently.Booking) evently.Outgoing {
	token := ""
	if bk.PaymentToken != nil {
		token = *bk.PaymentToken
	}
	var deadline time.Time
	if bk.ExpiresAt != nil {
		deadline = *bk.ExpiresAt
	}
	return evently.NewOutgoing(evently.StreamPaymentRequests, bk.ID.String(), kind, evently.PaymentRequest{
		BookingID: bk.ID, EventID: bk.EventID, UserID: bk.UserID, AmountCents: bk.AmountCents,
		Currency: bk.Currency, Token: token, Deadline: deadline})
}

// lockedBooking is a booking a run of commands works on, with what the
// persisting statements need to know of it.
type lockedBooking struct {
	evently.Booking
	eventCancelled bool
	loadedVersion  int64
	changed        bool // a row update is due
	tokenChanged   bool
	released       bool
}

// historyRow is one status change to record.
type historyRow struct {
	booking uuid.UUID
	status  evently.BookingStatus
	reason  string
	trace   string
}

// paymentRow is one payment a reply reports.
type paymentRow struct {
	booking  uuid.UUID
	kind     string
	key      string
	amount   int64
	currency string
	ref      string
}

// recordedPayment is the payment row a reply reports for a booking: a
// charge or refund of the reply's amount (the booking's when the reply has
// none), keyed by booking and gateway reference so a second reply for the
// same money records nothing.
func recordedPayment(kind string, bk *evently.Booking, r *evently.PaymentReply) paymentRow {
	amount := r.AmountCents
	if amount == 0 {
		amount = bk.AmountCents
	}
	return paymentRow{booking: bk.ID, kind: kind, amount: amount, currency: bk.Currency,
		ref: r.ChargeID, key: kind + ":" + bk.ID.String() + ":" + r.ChargeID}
}

// applyRun applies a run of non-book commands (confirm, cancel, expire,
// retry and payment replies) in order: the bookings they name are locked
// and loaded with one statement, the domain decides each command against
// the in-memory booking, and the outcome is written with a few set-based
// statements whatever the run's length.
func (b *Bookings) applyRun(ctx context.Context, tx *sqlx.Tx, w *batchWrite, now time.Time, run []evently.Command, res *BatchResult) error {
	if len(run) == 0 {
		return nil
	}
	if err := w.flush(ctx, tx); err != nil { // the locks below must see what came before
		return err
	}
	run, err := expandEventCancels(ctx, tx, run)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(run))
	seen := map[uuid.UUID]bool{}
	for _, c := range run {
		id, err := commandBooking(c)
		if err != nil {
			return err
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id.String())
		}
	}
	locked, err := lockBookings(ctx, tx, ids)
	if err != nil {
		return err
	}
	var history []historyRow
	var payments []paymentRow
	var moves []evently.Transition
	var released []string
	traces := map[string]string{} // released booking -> its trace
	for _, c := range run {
		id, _ := commandBooking(c)
		bk := locked[id]
		if bk == nil {
			continue // nothing to act on: the booking was never written
		}
		e, err := evently.Decide(&bk.Booking, c, now, bk.eventCancelled)
		if err != nil {
			return err
		}
		if !e.Changes() {
			continue
		}
		if e.Record != "" {
			payments = append(payments, recordedPayment(e.Record, &bk.Booking, c.Reply))
		}
		if e.Record == "refund" {
			amount := c.Reply.AmountCents
			if amount == 0 {
				amount = bk.AmountCents
			}
			res.Refunds = append(res.Refunds, evently.Refund{BookingID: bk.ID, UserID: bk.UserID, EventID: bk.EventID,
				ChargeID: c.Reply.ChargeID, AmountCents: amount, Currency: bk.Currency, At: now, TraceID: c.TraceID})
		}
		if e.Record == "refund" && c.Reply.ChargeID != "" {
			// A refund proves the charge it gives back, whose own record is
			// missing when that charge was made inside a batch that then
			// rolled back (see chargeInCommit); under the charge's key, so
			// a recorded one is not recorded twice.
			payments = append(payments, recordedPayment("charge", &bk.Booking, c.Reply))
		}
		if e.To != "" {
			moves = append(moves, evently.Transition{EventID: bk.EventID, From: bk.Status, To: e.To, Reason: e.Reason,
				Seats: len(bk.SeatIDs), AmountCents: bk.AmountCents})
		}
		bk.Apply(e, now)
		bk.tokenChanged = bk.tokenChanged || e.Token != ""
		bk.changed = bk.changed || e.To != "" || e.Touch || e.Token != ""
		for _, kind := range e.Requests {
			res.Outbox = append(res.Outbox, paymentRequest(kind, &bk.Booking).Traced(c.TraceID))
		}
		if e.Release && !bk.released {
			bk.released = true
			released = append(released, bk.ID.String())
			traces[bk.ID.String()] = c.TraceID
		}
		if e.To != "" {
			history = append(history, historyRow{booking: bk.ID, status: e.To, reason: e.Reason, trace: c.TraceID})
			res.Changes = append(res.Changes, evently.StatusChange{BookingID: bk.ID, UserID: bk.UserID, EventID: bk.EventID,
				HoldID: bk.HoldID, Status: e.To, Reason: e.Reason, SeatIDs: bk.SeatIDs, At: now,
				AmountCents: bk.AmountCents, Currency: bk.Currency, ExpiresAt: bk.ExpiresAt, AcceptedAt: bk.AcceptedAt,
				TraceID: c.TraceID})
		}
	}
	if err := updateBookings(ctx, tx, now, locked); err != nil {
		return err
	}
	insertHistory(w, now, history)
	addSalesRollup(w, now, moves, insertPayments(w, payments))
	return releaseSeats(ctx, tx, released, traces, res)
}

// expandEventCancels turns each cancel_event into a cancel of every booking
// of the event that keeps seats now, in its place in the run. Bookings
// queued after it find the event cancelled when they are decided.
func expandEventCancels(ctx context.Context, tx *sqlx.Tx, run []evently.Command) ([]evently.Command, error) {
	has := false
	for _, c := range run {
		has = has || c.Type == evently.CmdCancelEvent
	}
	if !has {
		return run, nil
	}
	out := make([]evently.Command, 0, len(run))
	for _, c := range run {
		if c.Type != evently.CmdCancelEvent {
			out = append(out, c)
			continue
		}
		if c.Event == nil {
			return nil, fmt.Errorf("%s command without payload", c.Type)
		}
		var ids []uuid.UUID
		if err := tx.SelectContext(ctx, &ids, `
			SELECT id FROM bookings WHERE event_id = $1 AND status IN ('reserved', 'paying', 'confirmed') ORDER BY id`, c.Event.EventID); err != nil {
			return nil, fmt.Errorf("bookings of a cancelled event: %w", err)
		}
		for _, id := range ids {
			out = append(out, evently.Command{MessageID: c.MessageID, Type: evently.CmdCancel,
				Ref: &evently.BookingRef{BookingID: id, EventID: c.Event.EventID, ActorID: c.Event.ActorID, Reason: evently.ReasonEventCancelled}})
		}
	}
	return out, nil
}

// commandBooking names the booking a non-book command is about.
func commandBooking(c evently.Command) (uuid.UUID, error) {
	switch {
	case c.Ref != nil:
		return c.Ref.BookingID, nil
	case c.Reply != nil:
		return c.Reply.BookingID, nil
	}
	return uuid.Nil, fmt.Errorf("%s command without payload", c.Type)
}

// lockBookings reads and row-locks the bookings, in id order so two
// workers never deadlock, with their seats and whether their event was
// cancelled.
func lockBookings(ctx context.Context, tx *sqlx.Tx, ids []string) (map[uuid.UUID]*lockedBooking, error) {
	rows, err := tx.QueryxContext(ctx, `
		SELECT b.id, b.user_id, b.event_id, b.hold_id, b.status, b.reason, b.amount_cents, b.currency, b.idempotency_key,
		       b.payment_token, b.expires_at, b.accepted_at, b.version, b.created_at, b.updated_at,
		       e.status = 'cancelled' AS event_cancelled,
		       coalesce((SELECT array_agg(s.seat_id ORDER BY s.seat_id) FROM booking_seats s WHERE s.booking_id = b.id), '{}') AS seats
		FROM bookings b JOIN events e ON e.id = b.event_id
		WHERE b.id = ANY($1::uuid[]) ORDER BY b.id FOR UPDATE OF b`, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("lock bookings: %w", err)
	}
	defer rows.Close()
	out := make(map[uuid.UUID]*lockedBooking, len(ids))
	for rows.Next() {
		bk := &lockedBooking{}
		var seats pq.StringArray
		if err := rows.Scan(&bk.ID, &bk.UserID, &bk.EventID, &bk.HoldID, &bk.Status, &bk.Reason, &bk.AmountCents, &bk.Currency,
			&bk.IdempotencyKey, &bk.PaymentToken, &bk.ExpiresAt, &bk.AcceptedAt, &bk.Version, &bk.CreatedAt, &bk.UpdatedAt,
			&bk.eventCancelled, &seats); err != nil {
			return nil, err
		}
		bk.SeatIDs, bk.loadedVersion = []string(seats), bk.Version
		out[bk.ID] = bk
	}
	return out, rows.Err()
}

// updateBookings writes every changed booking's final state in one
// version-checked statement; a row someone else changed fails the batch.
func updateBookings(ctx context.Context, tx *sqlx.Tx, now time.Time, locked map[uuid.UUID]*lockedBooking) error {
	var id, status, reason, token []string
	var version, loaded []int64
	var touched []bool
	for _, bk := range locked {
		if !bk.changed {
			continue
		}
		id, status = append(id, bk.ID.String()), append(status, string(bk.Status))
		r, t := "", ""
		if bk.Reason != nil {
			r = *bk.Reason
		}
		if bk.tokenChanged && bk.PaymentToken != nil {
			t = *bk.PaymentToken
		}
		reason, token = append(reason, r), append(token, t)
		version, loaded = append(version, bk.Version), append(loaded, bk.loadedVersion)
		touched = append(touched, bk.UpdatedAt.Equal(now))
	}
	if len(id) == 0 {
		return nil
	}
	r, err := tx.ExecContext(ctx, `
		UPDATE bookings b SET status = v.status, reason = NULLIF(v.reason, ''),
		       payment_token = coalesce(NULLIF(v.token, ''), b.payment_token), version = v.version,
		       updated_at = CASE WHEN v.touched THEN $8 ELSE b.updated_at END
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bool[])
		     AS v(id, status, reason, token, version, loaded, touched)
		WHERE b.id = v.id AND b.version = v.loaded`,
		pq.Array(id), pq.Array(status), pq.Array(reason), pq.Array(token), pq.Array(version), pq.Array(loaded), pq.Array(touched), now)
	if err != nil {
		return fmt.Errorf("update bookings: %w", err)
	}
	if n, _ := r.RowsAffected(); n != int64(len(id)) {
		return fmt.Errorf("%w: updated %d of %d bookings", ErrStaleVersion, n, len(id))
	}
	return nil
}

func insertHistory(w *batchWrite, now time.Time, rows []historyRow) {
	if len(rows) == 0 {
		return
	}
	n := len(rows)
	id, status, reason, trace := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, h := range rows {
		id[i], status[i], reason[i], trace[i] = h.booking.String(), string(h.status), h.reason, h.trace
	}
	w.add(`INSERT INTO booking_history (booking_id, status, reason, at, trace_id)
		SELECT v.id, v.status, NULLIF(v.reason, ''), ` + w.arg(now) + `::timestamptz, NULLIF(v.trace, '')
		FROM unnest(` + w.arg(pq.Array(id)) + `::uuid[], ` + w.arg(pq.Array(status)) + `::text[], ` + w.arg(pq.Array(reason)) + `::text[], ` +
		w.arg(pq.Array(trace)) + `::text[])
		     WITH ORDINALITY AS v(id, status, reason, trace, n) ORDER BY v.n`)
}

// releaseSeats puts the seats of the given bookings back on sale (a
// version bump each), retires their booking seats and tells the waitlist,
// under each booking's trace.
func releaseSeats(ctx context.Context, tx *sqlx.Tx, bookings []string, traces map[string]string, res *BatchResult) error {
	if len(bookings) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `
		WITH retired AS (UPDATE booking_seats SET active = false WHERE booking_id = ANY($1::uuid[]) AND active)
		UPDATE event_seats s SET status = 'available', booking_id = NULL, version = s.version + 1
		FROM unnest($1::uuid[]) AS v(booking)
		WHERE s.booking_id = v.booking RETURNING s.event_id, v.booking, s.seat_id`, pq.Array(bookings))
	if err != nil {
		return fmt.Errorf("release seats: %w", err)
	}
	defer rows.Close()
	type key struct{ event, booking uuid.UUID }
	got := map[key][]string{}
	for rows.Next() {
		var k key
		var seat string
		if err := rows.Scan(&k.event, &k.booking, &seat); err != nil {
			return err
		}
		got[k] = append(got[k], seat)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// In the order the run released them, so the waitlist hears it so.
	for _, s := range bookings {
		for k, seats := range got {
			if k.booking.String() != s {
				continue
			}
			slices.Sort(seats)
			res.Released[k.event] = append(res.Released[k.event], seats...)
			res.Outbox = append(res.Outbox, evently.NewOutgoing(evently.StreamInventoryReleased, k.event.String(),
				evently.MsgSeatsReleased, evently.SeatsReleased{EventID: k.event, SeatIDs: seats, BookingID: k.booking}).Traced(traces[s]))
		}
	}
	return nil
}

// insertPayments returns the name of its part of w ("" without rows),
// which returns the rows inserted.
func insertPayments(w *batchWrite, rows []paymentRow) string {
	if len(rows) == 0 {
		return ""
	}
	n := len(rows)
	id, booking, kind, key, currency, ref := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amount := make([]int64, n)
	for i, p := range rows {
		id[i], booking[i], kind[i], key[i], currency[i], ref[i], amount[i] = evently.NewID().String(), p.booking.String(), p.kind, p.key, p.currency, p.ref, p.amount
	}
	return w.add(`INSERT INTO payments (id, booking_id, kind, idempotency_key, status, amount_cents, currency, gateway_ref)
		SELECT v.id, v.booking, v.kind, v.key, 'succeeded', v.amount, v.currency, NULLIF(v.ref, '')
		FROM unnest(` + w.arg(pq.Array(id)) + `::uuid[], ` + w.arg(pq.Array(booking)) + `::uuid[], ` + w.arg(pq.Array(kind)) + `::text[], ` +
		w.arg(pq.Array(key)) + `::text[], ` + w.arg(pq.Array(amount)) + `::bigint[], ` + w.arg(pq.Array(currency)) + `::text[], ` +
		w.arg(pq.Array(ref)) + `::text[])
		     WITH ORDINALITY AS v(id, booking, kind, key, amount, currency, ref, n)
		ORDER BY v.n
		ON CONFLICT (idempotency_key) DO NOTHING RETURNING booking_id, kind, amount_cents`)
}

// FailInvalid records a booking whose command could not be applied (it went
// to the dead-letter queue), so its 202 still reaches a terminal state.
func (b *Bookings) FailInvalid(ctx context.Context, c *evently.BookCommand) error {
	_, err := b.failUnwritten(ctx, c, evently.ReasonInvalid)
	return err
}

// Withdraw makes a book command whose queueing failed harmless: it records
// the booking as failed (not_accepted) unless the booking worker wrote it
// already, so the command changes nothing should it have reached the queue
// after all (the worker skips a booking id it finds). accepted reports that
// the worker had written it: the booking is real and the caller must say so.
func (b *Bookings) Withdraw(ctx context.Context, c *evently.BookCommand) (accepted bool, err error) {
	wrote, err := b.failUnwritten(ctx, c, evently.ReasonNotAccepted)
	return err == nil && !wrote, err
}

// failUnwritten writes the booking as failed with reason unless it exists;
// wrote reports whether it did.
func (b *Bookings) failUnwritten(ctx context.Context, c *evently.BookCommand, reason string) (wrote bool, err error) {
	now := b.now()
	accepted := c.AcceptedAt
	if accepted.IsZero() {
		accepted = now
	}
	err = inTx(ctx, b.DB, func(tx *sqlx.Tx) error {
		r, err := tx.ExecContext(ctx, `
			INSERT INTO bookings (id, user_id, event_id, hold_id, status, reason, accepted_at, created_at, updated_at)
			SELECT $1, $2, $3, $4, 'failed', $5, $6, $7, $7
			WHERE EXISTS (SELECT 1 FROM users WHERE id = $2) AND EXISTS (SELECT 1 FROM events WHERE id = $3)
			ON CONFLICT DO NOTHING`, c.BookingID, c.UserID, c.EventID, c.HoldID, reason, accepted, now)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return nil
		}
		wrote = true
		if err := addHistory(ctx, tx, c.BookingID, evently.BookingFailed, reason, now, traceOf(ctx, c)); err != nil {
			return err
		}
		// Its owner is told as of any failed booking (not of one withdrawn:
		// the API answered 503 for it).
		res := BatchResult{Changes: []evently.StatusChange{{BookingID: c.BookingID, UserID: c.UserID, EventID: c.EventID,
			HoldID: c.HoldID, Status: evently.BookingFailed, Reason: reason, SeatIDs: c.SeatIDs, At: now, TraceID: traceOf(ctx, c)}}}
		if c.PaymentToken != "" {
			// The booking worker charges inside its batch, before the batch's
			// write: an attempt that failed after it may have charged this
			// booking. The payment worker refunds whatever the gateway holds
			// under the booking's key (nothing, as a rule).
			res.Outbox = append(res.Outbox, paymentRequest(evently.PayResolve,
				&evently.Booking{ID: c.BookingID, UserID: c.UserID, EventID: c.EventID}).Traced(traceOf(ctx, c)))
		}
		res.tell()
		w := &batchWrite{}
		insertOutbox(w, res.Outbox)
		addSalesRollup(w, now, evently.BookTransitions(c.EventID, []evently.BookingStatus{evently.BookingFailed}, reason, len(c.SeatIDs), 0), "")
		return w.flush(ctx, tx)
	})
	return wrote, err
}

// traceOf is the trace of a change to c's booking: the command's, else
// that of the request the store works for.
func traceOf(ctx context.Context, c *evently.BookCommand) string {
	if c.TraceID != "" {
		return c.TraceID
	}
	return evently.TraceIDFrom(ctx)
}

// History returns a booking's status changes, oldest first, from the
// truth. The first entry is its acceptance (pending, at accepted_at),
// which has no row of its own: the submission's trace is that of the
// booking's first row, written from the command it queued.
func (b *Bookings) History(ctx context.Context, id uuid.UUID) ([]evently.HistoryEntry, error) {
	out := []evently.HistoryEntry{}
	err := b.DB.SelectContext(ctx, &out, `
		SELECT status, at, reason, trace_id FROM (
			SELECT 0 AS n, 'pending' AS status, b.accepted_at AS at, NULL::text AS reason,
			       (SELECT h.trace_id FROM booking_history h WHERE h.booking_id = b.id ORDER BY h.id LIMIT 1) AS trace_id
			FROM bookings b WHERE b.id = $1 AND b.reason IS DISTINCT FROM 'not_accepted'
			UNION ALL
			SELECT h.id, h.status, h.at, h.reason, h.trace_id FROM booking_history h WHERE h.booking_id = $1
		) e ORDER BY n`, id)
	return out, err
}

// Get returns a booking with its seats.
func (b *Bookings) Get(ctx context.Context, id uuid.UUID) (*evently.Booking, error) {
	var bk evently.Booking
	if err := b.DB.GetContext(ctx, &bk, `SELECT `+bookingColumns+` FROM bookings WHERE id = $1`, id); err != nil {
		return nil, translate(err, "Booking")
	}
	// Seats of a booking that ended keep showing what it was for.
	var err error
	if bk.SeatIDs, err = bookingSeats(ctx, b.DB, id); err != nil {
		return nil, err
	}
	return &bk, nil
}

// ListByUser returns a user's bookings, newest first, after the cursor id.
func (b *Bookings) ListByUser(ctx context.Context, user uuid.UUID, before *uuid.UUID, limit int) ([]evently.Booking, error) {
	var out []evently.Booking
	q := `SELECT id, user_id, event_id, hold_id, status, reason, amount_cents, currency, expires_at, accepted_at,
	             version, created_at, updated_at FROM bookings WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2)
	      ORDER BY id DESC LIMIT $3`
	if err := b.DB.SelectContext(ctx, &out, q, user, before, limit); err != nil {
		return nil, err
	}
	// Each item says its seats, as a single booking does: one query for
	// the page.
	ids := make([]string, len(out))
	at := make(map[uuid.UUID]int, len(out))
	for i := range out {
		ids[i], at[out[i].ID] = out[i].ID.String(), i
		out[i].SeatIDs = []string{}
	}
	var seats []struct {
		BookingID uuid.UUID `db:"booking_id"`
		SeatID    string    `db:"seat_id"`
	}
	if err := b.DB.SelectContext(ctx, &seats, `SELECT booking_id, seat_id FROM booking_seats
		WHERE booking_id = ANY($1::uuid[]) ORDER BY booking_id, seat_id`, pq.Array(ids)); err != nil {
		return nil, err
	}
	for _, s := range seats {
		i := at[s.BookingID]
		out[i].SeatIDs = append(out[i].SeatIDs, s.SeatID)
	}
	return out, nil
}

// Due lists bookings the reaper must act on: past their deadline
// (expire), or paying with no answer for a while (retry payment).
func (b *Bookings) Due(ctx context.Context, retryAfter time.Duration, limit int) (expire, retry []evently.BookingRef, err error) {
	rows, err := b.DB.QueryContext(ctx, `
		(SELECT id, event_id, true FROM bookings
		 WHERE status IN ('reserved', 'paying') AND expires_at <= now() ORDER BY expires_at LIMIT $1)
		UNION ALL
		(SELECT id, event_id, false FROM bookings
		 WHERE status = 'paying' AND expires_at > now() AND updated_at < now() - make_interval(secs => $2)
		 ORDER BY updated_at LIMIT $1)`, limit, retryAfter.Seconds())
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ref evently.BookingRef
		var isExpire bool
		if err := rows.Scan(&ref.BookingID, &ref.EventID, &isExpire); err != nil {
			return nil, nil, err
		}
		if isExpire {
			expire = append(expire, ref)
		} else {
			retry = append(retry, ref)
		}
	}
	return expire, retry, rows.Err()
}
