package evently

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// This file decides what people are told. The decisions are pure: the
// booking worker, the waitlist promoter and the notifier call them with
// what they committed and put the result on the notifications stream (the
// booking worker through the outbox of the same write). Every id is derived
// from what the notification is about, so deciding again after a crash or
// a redelivery makes the same notifications, and the inbox keeps one each.

// BookingNotice is the data of a booking.* notification.
type BookingNotice struct {
	BookingID uuid.UUID     `json:"booking_id"`
	EventID   uuid.UUID     `json:"event_id"`
	Status    BookingStatus `json:"status"`
	// Reason is the failure or cancellation reason as the booking shows it
	// (a code, or a canceller's own words); ReasonText says it in plain words.
	Reason      string   `json:"reason,omitempty"`
	ReasonText  string   `json:"reason_text,omitempty"`
	SeatIDs     []string `json:"seat_ids"`
	AmountCents int64    `json:"amount_cents,omitempty"`
	Currency    string   `json:"currency,omitempty"`
	Message     string   `json:"message"`
}

// EventNotice is the data of an event.* notification.
type EventNotice struct {
	EventID uuid.UUID `json:"event_id"`
	// BookingIDs are the receiver's bookings it concerns (event.cancelled).
	BookingIDs []uuid.UUID `json:"booking_ids,omitempty"`
	// Capacity, Sold and Percent: organizer notices of sales.
	Capacity int    `json:"capacity,omitempty"`
	Sold     int    `json:"sold,omitempty"`
	Percent  int    `json:"percent,omitempty"`
	Message  string `json:"message"`
}

// OfferNotice is the data of a waitlist.* notification.
type OfferNotice struct {
	EntryID   uuid.UUID `json:"entry_id"`
	EventID   uuid.UUID `json:"event_id"`
	HoldID    uuid.UUID `json:"hold_id"`
	SeatIDs   []string  `json:"seat_ids"`
	ExpiresAt time.Time `json:"expires_at"`
	Message   string    `json:"message"`
}

// reasonTexts say the booking reasons in plain words.
var reasonTexts = map[string]string{
	ReasonSeatsTaken:         "Someone else booked these seats a moment before you.",
	ReasonPaymentDeclined:    "Your payment was declined.",
	ReasonPaymentUnavailable: "The payment could not be completed before the booking's deadline; anything charged is refunded.",
	ReasonHoldExpired:        "Your hold on the seats expired before the booking was made.",
	ReasonInvalid:            "The booking request could not be processed.",
	ReasonEventCancelled:     "The event was cancelled.",
	ReasonNotAccepted:        "The booking was not accepted; nothing was charged.",
}

// ReasonText says a booking's reason in plain words: the known codes get a
// sentence, and anything else is a canceller's own words, shown as given.
func ReasonText(reason string) string {
	if t, ok := reasonTexts[reason]; ok {
		return t
	}
	return reason
}

// Refund is money given back for a booking, as a payment reply reports it.
type Refund struct {
	BookingID   uuid.UUID
	UserID      uuid.UUID
	EventID     uuid.UUID
	ChargeID    string
	AmountCents int64
	Currency    string
	At          time.Time
	TraceID     string // the payment reply's
}

// BookingNotifications decides what a committed batch tells its bookings'
// owners: one notification per settled move a user cares about (confirmed,
// failed, expired, cancelled) and one per refund. Moves on the way
// (reserved, paying) tell nothing, nor does a booking the API already
// answered 503 for (not_accepted). Bookings cancelled because their event
// was cancelled tell one event.cancelled per owner instead of a
// booking.cancelled each. The result holds each id once, in the order of
// changes then refunds.
func BookingNotifications(changes []StatusChange, refunds []Refund) []Notification {
	var out []Notification
	seen := map[uuid.UUID]int{} // id -> index in out
	add := func(n Notification) {
		if _, dup := seen[n.ID]; !dup {
			seen[n.ID] = len(out)
			out = append(out, n)
		}
	}
	for _, c := range changes {
		var typ NotificationType
		switch c.Status {
		case BookingConfirmed:
			typ = NotifyBookingConfirmed
		case BookingFailed:
			if c.Reason == ReasonNotAccepted {
				continue
			}
			typ = NotifyBookingFailed
		case BookingExpired:
			typ = NotifyBookingExpired
		case BookingCancelled:
			if c.Reason == ReasonEventCancelled {
				id := NotificationID(c.EventID, "cancelled/"+c.UserID.String())
				if i, ok := seen[id]; ok {
					var d EventNotice
					_ = json.Unmarshal(out[i].Data, &d)
					d.BookingIDs = append(d.BookingIDs, c.BookingID)
					out[i].Data = mustJSON(d)
					continue
				}
				add(Notification{ID: id, UserID: c.UserID, Type: NotifyEventCancelled, CreatedAt: c.At.UTC(), TraceID: c.TraceID,
					Data: mustJSON(EventNotice{EventID: c.EventID, BookingIDs: []uuid.UUID{c.BookingID},
						Message: "The event was cancelled; your bookings for it are cancelled and anything you paid is refunded."})})
				continue
			}
			typ = NotifyBookingCancelled
		default:
			continue
		}
		d := BookingNotice{BookingID: c.BookingID, EventID: c.EventID, Status: c.Status, SeatIDs: c.SeatIDs,
			AmountCents: c.AmountCents, Currency: c.Currency}
		if c.Status == BookingFailed || c.Status == BookingCancelled {
			d.Reason, d.ReasonText = c.Reason, ReasonText(c.Reason)
		}
		d.Message = bookingMessage(c.Status, len(c.SeatIDs), d.ReasonText)
		add(Notification{ID: NotificationID(c.BookingID, string(c.Status)), UserID: c.UserID, Type: typ,
			CreatedAt: c.At.UTC(), Data: mustJSON(d), TraceID: c.TraceID})
	}
	for _, r := range refunds {
		d := BookingNotice{BookingID: r.BookingID, EventID: r.EventID, SeatIDs: []string{}, AmountCents: r.AmountCents,
			Currency: r.Currency, Message: fmt.Sprintf("We refunded %s for your booking.", money(r.AmountCents, r.Currency))}
		// One refund per charge: a second reply for the same money makes
		// the same id.
		add(Notification{ID: NotificationID(r.BookingID, "refunded/"+r.ChargeID), UserID: r.UserID,
			Type: NotifyBookingRefunded, CreatedAt: r.At.UTC(), Data: mustJSON(d), TraceID: r.TraceID})
	}
	return out
}

func bookingMessage(s BookingStatus, seats int, reason string) string {
	plural := "s"
	if seats == 1 {
		plural = ""
	}
	switch s {
	case BookingConfirmed:
		return fmt.Sprintf("Your booking of %d seat%s is confirmed.", seats, plural)
	case BookingFailed:
		return "Your booking failed: " + reason
	case BookingExpired:
		return "Your booking expired: it was not paid before its deadline, and its seats went back on sale."
	}
	if reason == "" {
		return "Your booking was cancelled."
	}
	return "Your booking was cancelled: " + reason
}

func money(cents int64, currency string) string {
	if currency == "" {
		currency = "USD"
	}
	return fmt.Sprintf("%d.%02d %s", cents/100, cents%100, currency)
}

// OfferMoment is what happened to a waitlist offer.
type OfferMoment string

const (
	OfferMomentMade     OfferMoment = "offered"
	OfferMomentExpiring OfferMoment = "offer_expiring"
	OfferMomentExpired  OfferMoment = "offer_expired"
)

// OfferNotification tells an entry's user what happened to its offer. The
// id names the entry, the offer's hold and the moment, so each offer is
// told once of each.
func OfferNotification(m OfferMoment, userID uuid.UUID, o OfferNotice, at time.Time) Notification {
	typ, msg := NotifyWaitlistOffered, fmt.Sprintf("Seats are free for your party: book them before %s.", o.ExpiresAt.UTC().Format(time.RFC1123))
	switch m {
	case OfferMomentExpiring:
		typ, msg = NotifyWaitlistOfferExpiring, fmt.Sprintf("Your offer ends at %s: book it now or it goes to the next party.", o.ExpiresAt.UTC().Format(time.RFC1123))
	case OfferMomentExpired:
		typ, msg = NotifyWaitlistOfferExpired, "Your offer expired and its seats went to the next party; you have left the line."
	}
	o.Message = msg
	if o.SeatIDs == nil {
		o.SeatIDs = []string{}
	}
	return Notification{ID: NotificationID(o.EntryID, string(m)+"/"+o.HoldID.String()), UserID: userID, Type: typ,
		CreatedAt: at.UTC(), Data: mustJSON(o)}
}

// OfferRemindLead is how long before its expiry an offer is reminded of:
// remindBefore, or half the offer's time when offers are shorter than
// twice that.
func OfferRemindLead(ttl, remindBefore time.Duration) time.Duration {
	return min(remindBefore, ttl/2)
}

// SalesMilestones are the shares of capacity sold that an event's
// organizer is told of; the last is event.sold_out.
var SalesMilestones = []int{50, 90, 100}

// EventSales is what the organizer's sales notices are decided on.
type EventSales struct {
	EventID     uuid.UUID
	OrganizerID uuid.UUID
	Title       string
	Capacity    int
	Sold        int // seats sold or held by an active booking
}

// SalesNotifications tells an event's organizer of every milestone its
// sales have reached: event.sales_milestone for 50% and 90%, event.sold_out
// at 100%. Each milestone's id names the event and the share, so it is
// told once however often it is decided (a cancellation that dips below
// and a sale that crosses again tell nothing new).
func SalesNotifications(s EventSales, at time.Time) []Notification {
	if s.Capacity <= 0 || s.OrganizerID == uuid.Nil {
		return nil
	}
	var out []Notification
	for _, pct := range SalesMilestones {
		if s.Sold*100 < pct*s.Capacity {
			break
		}
		typ := NotifySalesMilestone
		msg := fmt.Sprintf("%s has sold %d%% of its seats (%d of %d).", s.Title, pct, s.Sold, s.Capacity)
		if pct == 100 {
			typ, msg = NotifyEventSoldOut, fmt.Sprintf("%s is sold out (%d seats).", s.Title, s.Capacity)
		}
		out = append(out, Notification{ID: NotificationID(s.EventID, fmt.Sprintf("sales/%d", pct)), UserID: s.OrganizerID,
			Type: typ, CreatedAt: at.UTC(),
			Data: mustJSON(EventNotice{EventID: s.EventID, Capacity: s.Capacity, Sold: s.Sold, Percent: pct, Message: msg})})
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v) // domain structs only: cannot fail
	return b
}
