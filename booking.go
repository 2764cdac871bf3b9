package evently

import (
	"time"

	"github.com/google/uuid"
)

// BookingStatus is where a booking stands in its lifecycle.
type BookingStatus string

const (
	BookingPending   BookingStatus = "pending"   // accepted, queued in Kafka
	BookingReserved  BookingStatus = "reserved"  // seats committed, awaiting payment until expires_at
	BookingPaying    BookingStatus = "paying"    // a charge was asked for
	BookingConfirmed BookingStatus = "confirmed" // paid; only a cancellation changes it
	BookingFailed    BookingStatus = "failed"    // with a reason
	BookingExpired   BookingStatus = "expired"   // not paid before the deadline
	BookingCancelled BookingStatus = "cancelled" // by the user, an admin or the event's cancellation
)

// Failure reasons of a failed booking.
const (
	ReasonSeatsTaken         = "seats_taken"
	ReasonPaymentDeclined    = "payment_declined"
	ReasonPaymentUnavailable = "payment_unavailable"
	ReasonHoldExpired        = "hold_expired"
	ReasonInvalid            = "invalid"
	ReasonEventCancelled     = "event_cancelled"
	// ReasonNotAccepted: the API answered 503 because queueing the command
	// failed, and recorded this so the command changes nothing should it
	// have reached the queue after all.
	ReasonNotAccepted = "not_accepted"
)

// bookingTransitions is the booking state machine: the only moves allowed.
// Terminal states (failed, expired, cancelled) have no way out.
var bookingTransitions = map[BookingStatus][]BookingStatus{
	BookingPending:   {BookingReserved, BookingFailed, BookingCancelled},
	BookingReserved:  {BookingPaying, BookingExpired, BookingCancelled, BookingFailed},
	BookingPaying:    {BookingConfirmed, BookingFailed, BookingReserved, BookingCancelled},
	BookingConfirmed: {BookingCancelled},
}

// CanMove reports whether a booking in status from may move to status to.
func (from BookingStatus) CanMove(to BookingStatus) bool {
	for _, s := range bookingTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether the status never changes again.
func (s BookingStatus) Terminal() bool {
	return s == BookingFailed || s == BookingExpired || s == BookingCancelled
}

// Settled reports whether a client following the booking can stop: it is
// terminal, or confirmed (which only an explicit cancellation changes).
func (s BookingStatus) Settled() bool { return s.Terminal() || s == BookingConfirmed }

// Stage orders statuses along the lifecycle: a stream never shows a lower
// stage after a higher one, whatever order its sources answer in.
func (s BookingStatus) Stage() int {
	switch s {
	case BookingPending:
		return 0
	case BookingReserved:
		return 1
	case BookingPaying:
		return 2
	case BookingConfirmed:
		return 3
	}
	return 4
}

// HoldsSeats reports whether a booking in this status keeps its seats off sale.
func (s BookingStatus) HoldsSeats() bool {
	return s == BookingReserved || s == BookingPaying || s == BookingConfirmed
}

// Valid reports whether s is a known status.
func (s BookingStatus) Valid() bool {
	switch s {
	case BookingPending, BookingReserved, BookingPaying, BookingConfirmed,
		BookingFailed, BookingExpired, BookingCancelled:
		return true
	}
	return false
}

// Booking is a request to buy seats, and what became of it.
type Booking struct {
	ID             uuid.UUID     `db:"id" json:"id"`
	UserID         uuid.UUID     `db:"user_id" json:"user_id"`
	EventID        uuid.UUID     `db:"event_id" json:"event_id"`
	HoldID         *uuid.UUID    `db:"hold_id" json:"hold_id,omitempty"`
	Status         BookingStatus `db:"status" json:"status"`
	Reason         *string       `db:"reason" json:"reason,omitempty"`
	SeatIDs        []string      `db:"-" json:"seat_ids"`
	AmountCents    int64         `db:"amount_cents" json:"amount_cents"`
	Currency       string        `db:"currency" json:"currency"`
	IdempotencyKey *string       `db:"idempotency_key" json:"-"`
	PaymentToken   *string       `db:"payment_token" json:"-"`
	ExpiresAt      *time.Time    `db:"expires_at" json:"expires_at,omitempty"`
	AcceptedAt     time.Time     `db:"accepted_at" json:"accepted_at"`
	Version        int64         `db:"version" json:"version"`
	CreatedAt      time.Time     `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time     `db:"updated_at" json:"updated_at"`
}

// HistoryEntry is one status a booking took, and the trace of the request
// or message that moved it there.
type HistoryEntry struct {
	Status  BookingStatus `db:"status" json:"status"`
	At      time.Time     `db:"at" json:"at"`
	Reason  *string       `db:"reason" json:"reason,omitempty"`
	TraceID *string       `db:"trace_id" json:"trace_id,omitempty"`
}

// MaxSeatsPerBooking bounds one hold or booking.
const MaxSeatsPerBooking = 10
