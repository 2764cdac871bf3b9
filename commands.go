package evently

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Streams carry the pipeline's messages. Their keys keep one event's (or one
// booking's, or one user's) messages in order on one partition.
const (
	StreamBookingCommands   = "booking.commands"   // key: event id
	StreamPaymentRequests   = "payment.requests"   // key: booking id
	StreamPaymentReplies    = "payment.replies"    // key: event id
	StreamInventoryReleased = "inventory.released" // key: event id
	StreamNotifications     = "notifications"      // key: user id
)

// Message types on booking.commands and payment.replies.
const (
	CmdBook         = "book"
	CmdConfirm      = "confirm"
	CmdCancel       = "cancel"
	CmdExpire       = "expire"
	CmdRetryPayment = "retry_payment"
	// CmdCancelEvent cancels (and refunds) every booking of a cancelled
	// event, through the event's partition: after every command queued
	// before it, in one transaction, retried whole until it lands.
	CmdCancelEvent = "cancel_event"

	PayCharge  = "charge"
	PayRefund  = "refund"
	PayResolve = "resolve" // refund whatever was charged for a booking that did not confirm

	ReplyCharged     = "charged"
	ReplyDeclined    = "declined"
	ReplyUnavailable = "unavailable"
	ReplyRefunded    = "refunded"

	MsgSeatsReleased = "seats_released"
)

// BookCommand asks to turn a hold into a booking.
type BookCommand struct {
	BookingID      uuid.UUID  `json:"booking_id"`
	UserID         uuid.UUID  `json:"user_id"`
	EventID        uuid.UUID  `json:"event_id"`
	HoldID         *uuid.UUID `json:"hold_id,omitempty"`
	SeatIDs        []string   `json:"seat_ids"`
	HoldExpiresAt  time.Time  `json:"hold_expires_at"`
	IdempotencyKey string     `json:"idempotency_key,omitempty"`
	PaymentToken   string     `json:"payment_token,omitempty"`
	AcceptedAt     time.Time  `json:"accepted_at"`
	// TraceID is the submitting request's; it travels in the message's
	// headers, not in its payload.
	TraceID string `json:"-"`
}

// BookingRef names a booking and the event whose partition carries it; the
// payload of confirm, cancel, expire and retry_payment.
type BookingRef struct {
	BookingID    uuid.UUID  `json:"booking_id"`
	EventID      uuid.UUID  `json:"event_id"`
	ActorID      *uuid.UUID `json:"actor_id,omitempty"`
	PaymentToken string     `json:"payment_token,omitempty"`
	Reason       string     `json:"reason,omitempty"`
}

// EventRef names an event (the payload of cancel_event).
type EventRef struct {
	EventID uuid.UUID  `json:"event_id"`
	ActorID *uuid.UUID `json:"actor_id,omitempty"`
}

// PaymentRequest asks the payment worker to charge, refund or resolve.
type PaymentRequest struct {
	BookingID   uuid.UUID `json:"booking_id"`
	EventID     uuid.UUID `json:"event_id"`
	UserID      uuid.UUID `json:"user_id"`
	AmountCents int64     `json:"amount_cents"`
	Currency    string    `json:"currency"`
	Token       string    `json:"token,omitempty"`
	Deadline    time.Time `json:"deadline"`
}

// PaymentReply is the payment worker's answer.
type PaymentReply struct {
	BookingID   uuid.UUID `json:"booking_id"`
	EventID     uuid.UUID `json:"event_id"`
	ChargeID    string    `json:"charge_id,omitempty"`
	AmountCents int64     `json:"amount_cents,omitempty"`
	DeclineCode string    `json:"decline_code,omitempty"`
	Detail      string    `json:"detail,omitempty"`
}

// SeatsReleased tells the waitlist that seats are back on sale.
type SeatsReleased struct {
	EventID   uuid.UUID `json:"event_id"`
	SeatIDs   []string  `json:"seat_ids"`
	BookingID uuid.UUID `json:"booking_id"`
}

// Command is one decoded message for the booking worker, in partition order.
type Command struct {
	MessageID uuid.UUID
	Type      string
	Book      *BookCommand
	Ref       *BookingRef
	Reply     *PaymentReply
	Event     *EventRef
	// TraceID is the message's (from its headers; "" when it had none).
	TraceID string
}

// Outgoing is a message decided inside a transaction, kept in the outbox
// until sent. Its id is the envelope id, so a resend deduplicates.
type Outgoing struct {
	ID      uuid.UUID       `db:"id"`
	Stream  string          `db:"topic"`
	Key     string          `db:"key"`
	Type    string          `db:"type"`
	Payload json.RawMessage `db:"payload"`
	// TraceID is the trace of the change that decided it; it goes into
	// the message's headers.
	TraceID string `db:"trace_id"`
}

// NewOutgoing builds an Outgoing message.
func NewOutgoing(stream, key, typ string, payload any) Outgoing {
	b, _ := json.Marshal(payload) // domain structs only: cannot fail
	return Outgoing{ID: NewID(), Stream: stream, Key: key, Type: typ, Payload: b}
}

// Traced returns m under a trace id.
func (m Outgoing) Traced(traceID string) Outgoing {
	m.TraceID = traceID
	return m
}

// StatusChange is what a commit did to one booking, for streams, Redis and
// notifications after the commit.
type StatusChange struct {
	BookingID uuid.UUID     `json:"booking_id"`
	UserID    uuid.UUID     `json:"user_id"`
	EventID   uuid.UUID     `json:"event_id"`
	HoldID    *uuid.UUID    `json:"hold_id,omitempty"`
	Status    BookingStatus `json:"status"`
	Reason    string        `json:"reason,omitempty"`
	SeatIDs   []string      `json:"seat_ids"`
	At        time.Time     `json:"at"`
	// What a client polling the booking is shown besides its status.
	AmountCents int64      `json:"amount_cents,omitempty"`
	Currency    string     `json:"currency,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	AcceptedAt  time.Time  `json:"accepted_at,omitzero"`
	// Unknown marks a pending record whose submission's outcome is not
	// known: it is resolved before it is answered, never shown as pending.
	Unknown *UnknownOutcome `json:"unknown,omitempty"`
	// InFlight marks a pending record whose book command is not known to
	// be durable yet: its request is still producing it, or died before
	// it could say. The store clears it once the broker acknowledged.
	InFlight *Submission `json:"in_flight,omitempty"`
	// TraceID is the trace of the command that made the change (not kept
	// in the status record).
	TraceID string `json:"-"`
}

// Submission is what a pending record keeps of its command, besides what
// the record shows, so that anyone can withdraw the command if the request
// that produces it never finishes.
type Submission struct {
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	PaymentToken   string `json:"payment_token,omitempty"`
}

// BookingIDOr returns the id of a pending record, or of b when c is nil.
func (c *StatusChange) BookingIDOr(b *Booking) uuid.UUID {
	if c != nil {
		return c.BookingID
	}
	return b.ID
}
