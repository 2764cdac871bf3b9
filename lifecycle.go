package evently

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// This file holds the booking decisions: what each command does to a
// booking, in the order the event's partition delivers them. They are pure:
// the store locks and loads the bookings a batch names, calls these, and
// persists what they decide with a few set-based statements.

// Effect is what one command does to one booking. The zero Effect changes
// nothing (a late duplicate, a reply for a booking that moved on).
type Effect struct {
	To      BookingStatus // the new status; "" leaves it
	Reason  string        // the failure or cancellation reason of the move
	Release bool          // the booking's seats go back on sale
	Token   string        // the payment token to keep (confirm)
	// Touch restarts the clock after which the reaper asks for the payment
	// again (updated_at).
	Touch bool
	// Record is a payment the reply reports, to keep: "charge" or "refund".
	Record string
	// Requests are payment requests to send, in order: PayCharge, PayResolve.
	Requests []string
}

// Changes reports whether the effect changes anything.
func (e Effect) Changes() bool {
	return e.To != "" || e.Release || e.Token != "" || e.Touch || e.Record != "" || len(e.Requests) > 0
}

// PastDeadline reports whether a reserved or paying booking's payment
// window has closed at now.
func (b *Booking) PastDeadline(now time.Time) bool {
	return b.ExpiresAt != nil && !now.Before(*b.ExpiresAt)
}

// Payable says whether the booking can be paid for now: only a reserved
// booking before its deadline. The API refuses with this error; the worker
// ignores a confirm that no longer passes it.
func (b *Booking) Payable(now time.Time) error {
	if b.Status != BookingReserved || b.PastDeadline(now) {
		return Errorf(ECONFLICT, "Only a reserved booking before its deadline can be paid; this one is %s.", b.Status)
	}
	return nil
}

// Cancellable says whether the booking can be cancelled now: it must still
// keep its seats, and a confirmed one not closer to the event than cutoff
// (a zero starts skips that check).
func (b *Booking) Cancellable(now, starts time.Time, cutoff time.Duration) error {
	if !b.Status.HoldsSeats() {
		return Errorf(ECONFLICT, "This booking is %s and cannot be cancelled.", b.Status)
	}
	if b.Status == BookingConfirmed && !starts.IsZero() && cutoff > 0 && starts.Sub(now) < cutoff {
		return Errorf(ECONFLICT, "Bookings can no longer be cancelled this close to the event.")
	}
	return nil
}

// Decide returns what command c does to booking b at now. eventCancelled
// tells whether b's event was cancelled: nothing on a cancelled event is
// confirmed, and what is charged for it is given back. An error means the
// command is not one a booking can take (a bug or a poison message).
func Decide(b *Booking, c Command, now time.Time, eventCancelled bool) (Effect, error) {
	e, err := decide(b, c, now, eventCancelled)
	if err != nil {
		return Effect{}, err
	}
	if e.To != "" && !b.Status.CanMove(e.To) {
		return Effect{}, fmt.Errorf("booking %s: %s -> %s is not allowed", b.ID, b.Status, e.To)
	}
	return e, nil
}

func decide(b *Booking, c Command, now time.Time, eventCancelled bool) (Effect, error) {
	switch c.Type {
	case CmdConfirm:
		if c.Ref == nil {
			return Effect{}, fmt.Errorf("%s without payload", c.Type)
		}
		if eventCancelled || c.Ref.PaymentToken == "" || b.Payable(now) != nil {
			return Effect{}, nil // the API refuses these; a late duplicate changes nothing
		}
		return Effect{To: BookingPaying, Token: c.Ref.PaymentToken, Requests: []string{PayCharge}}, nil

	case CmdCancel:
		if c.Ref == nil {
			return Effect{}, fmt.Errorf("%s without payload", c.Type)
		}
		switch b.Status {
		case BookingReserved:
			return Effect{To: BookingCancelled, Reason: c.Ref.Reason, Release: true}, nil
		case BookingPaying, BookingConfirmed:
			// Whatever was or will be charged is given back.
			return Effect{To: BookingCancelled, Reason: c.Ref.Reason, Release: true, Requests: []string{PayResolve}}, nil
		}
		return Effect{}, nil

	case CmdExpire:
		if c.Ref == nil {
			return Effect{}, fmt.Errorf("%s without payload", c.Type)
		}
		switch {
		case !b.PastDeadline(now):
			return Effect{}, nil
		case b.Status == BookingReserved:
			return Effect{To: BookingExpired, Release: true}, nil
		case b.Status == BookingPaying:
			return failPayment(ReasonPaymentUnavailable), nil
		}
		return Effect{}, nil

	case CmdRetryPayment:
		if c.Ref == nil {
			return Effect{}, fmt.Errorf("%s without payload", c.Type)
		}
		if b.Status == BookingPaying && !b.PastDeadline(now) && !eventCancelled {
			return Effect{Touch: true, Requests: []string{PayCharge}}, nil
		}
		return Effect{}, nil

	case ReplyCharged:
		if c.Reply == nil {
			return Effect{}, fmt.Errorf("%s without payload", c.Type)
		}
		e := Effect{Record: "charge"}
		switch {
		case b.Status == BookingPaying && eventCancelled:
			e.To, e.Reason, e.Release, e.Requests = BookingCancelled, ReasonEventCancelled, true, []string{PayResolve}
		case b.Status == BookingPaying:
			e.To = BookingConfirmed
		case b.Status.Terminal():
			// Charged for a booking that did not confirm: give it back.
			e.Requests = []string{PayResolve}
		}
		return e, nil

	case ReplyDeclined:
		if c.Reply == nil {
			return Effect{}, fmt.Errorf("%s without payload", c.Type)
		}
		if b.Status != BookingPaying {
			return Effect{}, nil
		}
		return Effect{To: BookingFailed, Reason: ReasonPaymentDeclined, Release: true}, nil

	case ReplyUnavailable:
		if c.Reply == nil {
			return Effect{}, fmt.Errorf("%s without payload", c.Type)
		}
		switch {
		case b.Status != BookingPaying:
			return Effect{}, nil
		case b.PastDeadline(now):
			return failPayment(ReasonPaymentUnavailable), nil
		}
		// Still time: the reaper asks again after a pause.
		return Effect{Touch: true}, nil

	case ReplyRefunded:
		if c.Reply == nil {
			return Effect{}, fmt.Errorf("%s without payload", c.Type)
		}
		return Effect{Record: "refund"}, nil
	}
	return Effect{}, fmt.Errorf("unknown command type %q", c.Type)
}

// failPayment fails a paying booking, returns its seats and refunds any
// charge that may have happened after all.
func failPayment(reason string) Effect {
	return Effect{To: BookingFailed, Reason: reason, Release: true, Requests: []string{PayResolve}}
}

// Apply brings the in-memory booking to what e decided, so the next command
// of the same batch sees it.
func (b *Booking) Apply(e Effect, now time.Time) {
	if e.Token != "" {
		t := e.Token
		b.PaymentToken = &t
	}
	if e.To != "" {
		b.Status, b.Version = e.To, b.Version+1
		if e.Reason != "" {
			r := e.Reason
			b.Reason = &r
		} else {
			b.Reason = nil
		}
	}
	if e.To != "" || e.Touch {
		b.UpdatedAt = now
	}
}

// Offer is what the booking worker knows of one seat when it decides a book
// command.
type Offer struct {
	Known     bool // the seat is in the event
	Available bool
	Price     int64
}

// BookOutcome is what a book command becomes.
type BookOutcome struct {
	Status BookingStatus // reserved, paying or failed
	Reason string        // why it failed
	Amount int64         // the seats' total price, when it won them
	Prices []int64       // each seat's price, in the command's order
}

// Won reports whether the booking won its seats.
func (o BookOutcome) Won() bool { return o.Status.HoldsSeats() }

// DecideBook decides a book command: the event must be on sale, the hold
// unexpired, every seat in the event, named once and available. A booking with a
// payment token goes straight on to paying. event is the event's status
// ("" when it does not exist); seat says what the worker read of a seat,
// and the caller marks the seats of a winning booking taken before the next
// command of the run is decided.
func DecideBook(c *BookCommand, event EventStatus, now time.Time, seat func(id string) Offer) BookOutcome {
	fail := func(reason string) BookOutcome { return BookOutcome{Status: BookingFailed, Reason: reason} }
	switch {
	case event == "" || event == EventDraft || len(c.SeatIDs) == 0 || len(c.SeatIDs) > MaxSeatsPerBooking:
		return fail(ReasonInvalid)
	case event == EventCancelled:
		return fail(ReasonEventCancelled)
	case !c.HoldExpiresAt.IsZero() && heldAt(c, now).After(c.HoldExpiresAt):
		return fail(ReasonHoldExpired)
	}
	out := BookOutcome{Status: BookingReserved, Prices: make([]int64, 0, len(c.SeatIDs))}
	taken := false
	for i, id := range c.SeatIDs {
		o := seat(id)
		if !o.Known || slices.Contains(c.SeatIDs[:i], id) {
			return fail(ReasonInvalid) // the API refuses both; a forged command cannot stall the partition
		}
		taken = taken || !o.Available
		out.Amount += o.Price
		out.Prices = append(out.Prices, o.Price)
	}
	if taken {
		return fail(ReasonSeatsTaken)
	}
	if c.PaymentToken != "" {
		out.Status = BookingPaying // reserved then paying, in one commit
	}
	return out
}

// heldAt is the moment a book command's hold had to be live: when the
// API accepted it (it claimed the hold then, and a claimed hold keeps its
// seats until the booking is written, however late the worker gets to it),
// else now.
func heldAt(c *BookCommand, now time.Time) time.Time {
	if !c.AcceptedAt.IsZero() {
		return c.AcceptedAt
	}
	return now
}

// BookPath lists the statuses a new booking passes through on its way to
// the outcome, for its history: pending is the 202, then the outcome (with
// reserved first when it goes straight on to paying).
func (o BookOutcome) BookPath() []BookingStatus {
	if o.Status == BookingPaying {
		return []BookingStatus{BookingReserved, BookingPaying}
	}
	return []BookingStatus{o.Status}
}

// Admission is what a booking on a hold needs settled before its command
// is queued: the client's idempotency key reserved (when it sent one), the
// hold claimed for the booking, and the booking's pending status recorded.
type Admission struct {
	UserID      uuid.UUID
	AsForOthers bool // an admin booking someone else's hold
	HoldID      uuid.UUID
	BookingID   uuid.UUID
	// IdempotencyKey and BodyHash: the same key with the same body names
	// the earlier booking; "" when the client sent no key.
	IdempotencyKey, BodyHash string
	// PaymentToken is the booking's, kept on its pending record until its
	// command is durable (see Submission).
	PaymentToken string
	At           time.Time
}

// Admitted is the outcome of an admission: either Earlier (the key was used
// before, by the booking Earlier with a body hashing to EarlierHash; nothing
// was claimed), or the claimed hold and the pending status recorded for it.
type Admitted struct {
	Earlier     *uuid.UUID
	EarlierHash string
	Hold        *Hold
	Pending     StatusChange
}
