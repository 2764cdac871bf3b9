package evently

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Notification is something to tell one user: kept in their inbox, pushed
// on their stream and delivered to their webhooks. It travels on the
// notifications stream (keyed by user id, message type MsgNotification)
// with the notification's id as the envelope id, so whoever produces it
// again after a crash or a redelivery produces the same notification, and
// every consumer keeps one of each id.
type Notification struct {
	ID        uuid.UUID        `db:"id" json:"id"`
	UserID    uuid.UUID        `db:"user_id" json:"user_id"`
	Type      NotificationType `db:"type" json:"type"`
	CreatedAt time.Time        `db:"created_at" json:"created_at"`
	ReadAt    *time.Time       `db:"read_at" json:"read_at,omitempty"`
	// Data is the type's own detail (booking id, event id, seats, reason in
	// plain words, offer hold and expiry...).
	Data json.RawMessage `db:"data" json:"data"`
	// TraceID is the trace of the change it tells of; it travels in the
	// message's headers.
	TraceID string `db:"-" json:"-"`
}

// NotificationType says what happened; receivers switch on it.
type NotificationType string

// The notification types. Organizers also get EventSoldOut and
// SalesMilestone for their own events.
const (
	NotifyBookingConfirmed      NotificationType = "booking.confirmed"
	NotifyBookingFailed         NotificationType = "booking.failed"
	NotifyBookingExpired        NotificationType = "booking.expired"
	NotifyBookingCancelled      NotificationType = "booking.cancelled"
	NotifyBookingRefunded       NotificationType = "booking.refunded"
	NotifyWaitlistOffered       NotificationType = "waitlist.offered"
	NotifyWaitlistOfferExpiring NotificationType = "waitlist.offer_expiring"
	NotifyWaitlistOfferExpired  NotificationType = "waitlist.offer_expired"
	NotifyEventChanged          NotificationType = "event.changed"
	NotifyEventCancelled        NotificationType = "event.cancelled"
	NotifyEventSoldOut          NotificationType = "event.sold_out"
	NotifySalesMilestone        NotificationType = "event.sales_milestone"
)

// NotificationTypes lists every type, in the order documents show them.
var NotificationTypes = []NotificationType{
	NotifyBookingConfirmed, NotifyBookingFailed, NotifyBookingExpired, NotifyBookingCancelled,
	NotifyBookingRefunded, NotifyWaitlistOffered, NotifyWaitlistOfferExpiring, NotifyWaitlistOfferExpired,
	NotifyEventChanged, NotifyEventCancelled, NotifyEventSoldOut, NotifySalesMilestone,
}

// Valid reports whether t is one of NotificationTypes.
func (t NotificationType) Valid() bool {
	for _, v := range NotificationTypes {
		if t == v {
			return true
		}
	}
	return false
}

// MsgNotification is the message type of every message on the
// notifications stream; its payload is a Notification.
const MsgNotification = "notification"

// notificationSpace names notification ids derived from what they tell.
var notificationSpace = uuid.MustParse("6f1d3c52-8f0e-4c1e-9a57-2b9e0c4a7d31")

// NotificationID derives a notification's id from the thing it is about
// and what happened to it (for a booking: its id and the status it
// reached), so telling it twice makes the same id.
func NotificationID(subject uuid.UUID, what string) uuid.UUID {
	return uuid.NewSHA1(notificationSpace, append(subject[:], what...))
}

// NewNotificationMessage wraps n for the notifications stream.
func NewNotificationMessage(n Notification) Outgoing {
	m := NewOutgoing(StreamNotifications, n.UserID.String(), MsgNotification, n)
	m.ID, m.TraceID = n.ID, n.TraceID
	return m
}

// InboxPage is one page of a user's inbox, newest first, with the count of
// everything unread.
type InboxPage struct {
	Items      []Notification `json:"items"`
	NextCursor *string        `json:"next_cursor"`
	Unread     int            `json:"unread"`
}

// InboxCursor is where a page of the inbox ends: the last item's time and
// id (the inbox order). Clients see it as an opaque string.
type InboxCursor struct {
	At time.Time
	ID uuid.UUID
}

// String encodes the cursor for a client.
func (c InboxCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.At.UTC().Format(time.RFC3339Nano) + "|" + c.ID.String()))
}

// ParseInboxCursor decodes a next_cursor; anything else is EINVALID.
func ParseInboxCursor(s string) (InboxCursor, error) {
	bad := Invalid(map[string]string{"cursor": "Use the next_cursor of the previous page."})
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return InboxCursor{}, bad
	}
	at, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return InboxCursor{}, bad
	}
	var c InboxCursor
	if c.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return InboxCursor{}, bad
	}
	if c.ID, err = uuid.Parse(id); err != nil {
		return InboxCursor{}, bad
	}
	return c, nil
}
