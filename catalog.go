package evently

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Venue is a place with a seat layout.
type Venue struct {
	ID        uuid.UUID `db:"id" json:"id"`
	OwnerID   uuid.UUID `db:"owner_id" json:"owner_id"`
	Name      string    `db:"name" json:"name"`
	City      string    `db:"city" json:"city"`
	Address   string    `db:"address" json:"address"`
	TimeZone  string    `db:"time_zone" json:"time_zone"`
	Capacity  int       `db:"capacity" json:"capacity"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	Sections  []Section `db:"-" json:"sections,omitempty"`
}

// Section is a named block of rows in a venue.
type Section struct {
	Name string `json:"name"`
	Rows []Row  `json:"rows"`
}

// Row is a labelled row of seats.
type Row struct {
	Label string `json:"label"`
	Seats []Seat `json:"seats"`
}

// Seat is one place to sit, with where to draw it on a map.
type Seat struct {
	ID         string  `db:"id" json:"id"`
	Section    string  `db:"section" json:"section"`
	Row        string  `db:"row_label" json:"row"`
	Number     int     `db:"number" json:"number"`
	X          float64 `db:"x" json:"x"`
	Y          float64 `db:"y" json:"y"`
	Accessible bool    `db:"accessible" json:"accessible"`
}

// EventStatus is where an event stands.
type EventStatus string

const (
	EventDraft     EventStatus = "draft"
	EventPublished EventStatus = "published"
	EventCancelled EventStatus = "cancelled"
)

// Event is something people buy seats for.
type Event struct {
	ID             uuid.UUID   `db:"id" json:"id"`
	VenueID        uuid.UUID   `db:"venue_id" json:"venue_id"`
	OrganizerID    uuid.UUID   `db:"organizer_id" json:"organizer_id"`
	Title          string      `db:"title" json:"title"`
	Description    string      `db:"description" json:"description"`
	Category       string      `db:"category" json:"category"`
	City           string      `db:"city" json:"city"`
	Status         EventStatus `db:"status" json:"status"`
	StartsAt       time.Time   `db:"starts_at" json:"starts_at"`
	EndsAt         time.Time   `db:"ends_at" json:"ends_at"`
	SalesStartAt   *time.Time  `db:"sales_start_at" json:"sales_start_at,omitempty"`
	SalesEndAt     *time.Time  `db:"sales_end_at" json:"sales_end_at,omitempty"`
	Currency       string      `db:"currency" json:"currency"`
	Capacity       int         `db:"capacity" json:"capacity"`
	AvailableSeats int         `db:"available_seats" json:"available_seats"`
	CreatedAt      time.Time   `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time   `db:"updated_at" json:"updated_at"`
}

// SeatStatus is a seat's state on an event's seat map.
type SeatStatus string

const (
	SeatAvailable SeatStatus = "available"
	SeatHeld      SeatStatus = "held"
	SeatSold      SeatStatus = "sold"
)

// EventSeat is one sellable seat of one event. Version guards every change.
type EventSeat struct {
	EventID    uuid.UUID  `db:"event_id" json:"-"`
	SeatID     string     `db:"seat_id" json:"id"`
	Section    string     `db:"section" json:"section"`
	Row        string     `db:"row_label" json:"row"`
	Number     int        `db:"number" json:"number"`
	Tier       string     `db:"tier" json:"tier"`
	PriceCents int64      `db:"price_cents" json:"price_cents"`
	Status     SeatStatus `db:"status" json:"status"`
	BookingID  *uuid.UUID `db:"booking_id" json:"-"`
	Version    int64      `db:"version" json:"-"`
}

// Hold is a short-lived, all-or-nothing claim on seats, kept in Redis.
type Hold struct {
	ID        uuid.UUID `json:"id"`
	EventID   uuid.UUID `json:"event_id"`
	UserID    uuid.UUID `json:"user_id"`
	SeatIDs   []string  `json:"seat_ids"`
	ExpiresAt time.Time `json:"expires_at"`
}

// WaitlistEntry is a person waiting for seats of a sold-out event.
type WaitlistEntry struct {
	ID        uuid.UUID `db:"id" json:"id"`
	EventID   uuid.UUID `db:"event_id" json:"event_id"`
	UserID    uuid.UUID `db:"user_id" json:"user_id"`
	PartySize int       `db:"party_size" json:"party_size"`
	Status    string    `db:"status" json:"status"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
}

// Notification is something to tell a user.
type Notification struct {
	ID        uuid.UUID       `db:"id" json:"id"`
	UserID    uuid.UUID       `db:"user_id" json:"user_id"`
	Kind      string          `db:"kind" json:"kind"`
	Body      json.RawMessage `db:"body" json:"body"`
	ReadAt    *time.Time      `db:"read_at" json:"read_at,omitempty"`
	CreatedAt time.Time       `db:"created_at" json:"created_at"`
}
