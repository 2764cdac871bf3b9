package evently

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
)

// This file holds the sales analytics: the figures organizers see, kept as
// rollups (per event and day in the venue's time zone) by the workers in
// the same transaction as the change they count, never computed by
// scanning bookings on a request. See docs/analytics.md.

// Transition is one move of a booking that the rollups count: From is ""
// for a booking just written (a submission), then each status it passes
// through.
type Transition struct {
	EventID     uuid.UUID
	From, To    BookingStatus
	Reason      string // of a failure
	Seats       int
	AmountCents int64
}

// BookTransitions lists the moves of a booking written with the statuses
// of path (BookOutcome.BookPath, with what its commit decided after):
// submitted, then pending to each status in turn.
func BookTransitions(event uuid.UUID, path []BookingStatus, reason string, seats int, amount int64) []Transition {
	out := []Transition{{EventID: event, To: BookingPending, Seats: seats, AmountCents: amount}}
	from := BookingPending
	for _, st := range path {
		out = append(out, Transition{EventID: event, From: from, To: st, Reason: reason, Seats: seats, AmountCents: amount})
		from = st
	}
	return out
}

// SalesDelta is what a set of transitions adds to one event's figures of
// one day. Failures are counted in a delta of their own per Reason; the
// funnel's counters are in the delta with Reason "".
type SalesDelta struct {
	EventID   uuid.UUID
	Reason    string
	Submitted int64
	Reserved  int64
	Confirmed int64
	Failed    int64
	Expired   int64
	Cancelled int64
	// SeatsSold counts seats of confirmed bookings: up on a confirmation,
	// down when a confirmed booking is cancelled.
	SeatsSold int64
	// RevenueCents is what confirmations took, in the event's currency
	// (refunds are counted apart).
	RevenueCents int64
}

// SalesDeltas folds transitions into one delta per (event, reason), in
// (event, reason) order: the order their rollup rows are locked in, so
// two transactions never wait for each other in a cycle.
func SalesDeltas(ts []Transition) []SalesDelta {
	type key struct {
		event  uuid.UUID
		reason string
	}
	m := map[key]*SalesDelta{}
	at := func(event uuid.UUID, reason string) *SalesDelta {
		k := key{event, reason}
		d := m[k]
		if d == nil {
			d = &SalesDelta{EventID: event, Reason: reason}
			m[k] = d
		}
		return d
	}
	for _, t := range ts {
		d := at(t.EventID, "")
		switch t.To {
		case BookingPending:
			if t.From == "" {
				d.Submitted++
			}
		case BookingReserved:
			d.Reserved++
		case BookingConfirmed:
			d.Confirmed++
			d.SeatsSold += int64(t.Seats)
			d.RevenueCents += t.AmountCents
		case BookingFailed:
			at(t.EventID, t.Reason).Failed++
		case BookingExpired:
			d.Expired++
		case BookingCancelled:
			d.Cancelled++
			if t.From == BookingConfirmed {
				d.SeatsSold -= int64(t.Seats)
			}
		}
	}
	out := make([]SalesDelta, 0, len(m))
	for _, d := range m {
		if *d != (SalesDelta{EventID: d.EventID, Reason: d.Reason}) {
			out = append(out, *d)
		}
	}
	slices.SortFunc(out, func(a, b SalesDelta) int {
		return cmp.Or(slices.Compare(a.EventID[:], b.EventID[:]), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// DateLayout is how analytics days are written: 2026-06-01.
const DateLayout = time.DateOnly

// MaxAnalyticsDays bounds a dashboard's range.
const MaxAnalyticsDays = 366

// DayRange is an inclusive range of days (in each event's venue time zone).
type DayRange struct {
	From, To time.Time // midnight UTC of each day, as the rollups' date
}

// ParseDayRange reads ?from= and ?to= (dates, inclusive). A missing to is
// today (UTC), a missing from 29 days before to; present but empty or not
// a date, from after to, or more than MaxAnalyticsDays days are invalid.
func ParseDayRange(from, to string, hasFrom, hasTo bool, now time.Time) (DayRange, error) {
	bad := map[string]string{}
	const msg = "must be a date such as 2026-06-01; leave it out for the default range"
	r := DayRange{To: now.UTC().Truncate(24 * time.Hour)}
	if hasTo {
		t, err := time.Parse(DateLayout, to)
		if err != nil {
			bad["to"] = msg
		}
		r.To = t
	}
	r.From = r.To.AddDate(0, 0, -29)
	if hasFrom {
		f, err := time.Parse(DateLayout, from)
		if err != nil {
			bad["from"] = msg
		}
		r.From = f
	}
	switch {
	case len(bad) > 0:
	case r.From.After(r.To):
		bad["from"] = "must not be after to"
	case r.To.Sub(r.From) >= MaxAnalyticsDays*24*time.Hour:
		bad["from"] = "the range may span at most 366 days"
	}
	if len(bad) > 0 {
		return DayRange{}, Invalid(bad)
	}
	return r, nil
}

// Funnel is an event's (or a range's) counters.
type Funnel struct {
	// HoldsTaken counts holds the API granted (attempts that got seats
	// held, not clicks); nil when Redis, which keeps it, did not answer.
	HoldsTaken *int64 `json:"holds_taken"`
	Submitted  int64  `json:"bookings_submitted"`
	Reserved   int64  `json:"reserved"`
	Confirmed  int64  `json:"confirmed"`
	Failed     int64  `json:"failed"`
	// FailedBy counts failures by reason.
	FailedBy     map[string]int64 `json:"failed_by_reason"`
	Expired      int64            `json:"expired"`
	Cancelled    int64            `json:"cancelled"`
	Refunded     int64            `json:"refunded"`
	WaitlistJoin int64            `json:"waitlist_joins"`
	Offers       int64            `json:"waitlist_offers"`
	Conversions  int64            `json:"waitlist_conversions"`
}

// DayFigures are one day's figures of an event (or, on the dashboard, of
// every event counted, each on its own venue's day).
type DayFigures struct {
	Day          string           `json:"day"`
	Submitted    int64            `json:"bookings_submitted"`
	Reserved     int64            `json:"reserved"`
	Confirmed    int64            `json:"confirmed"`
	Failed       int64            `json:"failed"`
	Expired      int64            `json:"expired"`
	Cancelled    int64            `json:"cancelled"`
	Refunded     int64            `json:"refunded"`
	SeatsSold    int64            `json:"seats_sold"`
	Revenue      map[string]int64 `json:"revenue_cents"`
	WaitlistJoin int64            `json:"waitlist_joins"`
	Offers       int64            `json:"waitlist_offers"`
	Conversions  int64            `json:"waitlist_conversions"`
}

// Add adds o's counts to d's, revenue currency by currency; zero
// revenues are left out, so that a day shows only currencies it earned.
func (d *DayFigures) Add(o DayFigures) {
	d.Submitted += o.Submitted
	d.Reserved += o.Reserved
	d.Confirmed += o.Confirmed
	d.Failed += o.Failed
	d.Expired += o.Expired
	d.Cancelled += o.Cancelled
	d.Refunded += o.Refunded
	d.SeatsSold += o.SeatsSold
	d.WaitlistJoin += o.WaitlistJoin
	d.Offers += o.Offers
	d.Conversions += o.Conversions
	if d.Revenue == nil {
		d.Revenue = map[string]int64{}
	}
	for c, v := range o.Revenue {
		if v != 0 {
			d.Revenue[c] += v
		}
	}
}

// Money is revenue in one currency, in minor units.
type Money struct {
	Currency      string `json:"currency"`
	GrossCents    int64  `json:"gross_cents"`
	RefundedCents int64  `json:"refunded_cents"`
	NetCents      int64  `json:"net_cents"`
}

// EventFigures are one event's totals over a range.
type EventFigures struct {
	EventID   uuid.UUID `json:"event_id"`
	Title     string    `json:"title"`
	Currency  string    `json:"currency"`
	Capacity  int64     `json:"capacity"`
	Confirmed int64     `json:"confirmed"`
	SeatsSold int64     `json:"seats_sold"`
	Revenue   int64     `json:"revenue_cents"`
}

// Dashboard is an organizer's (or an admin's) figures over a range.
type Dashboard struct {
	From          string         `json:"from"`
	To            string         `json:"to"`
	Events        int            `json:"events"`
	TotalBookings int64          `json:"total_bookings"`
	Confirmed     int64          `json:"confirmed_bookings"`
	Cancelled     int64          `json:"cancelled_bookings"`
	SeatsSold     int64          `json:"seats_sold"`
	Capacity      int64          `json:"capacity"`
	Revenue       []Money        `json:"revenue"`
	CancelRate    float64        `json:"cancellation_rate"`
	Utilization   float64        `json:"capacity_utilization"`
	TopEvents     []EventFigures `json:"top_events"`
	Daily         []DayFigures   `json:"daily"`
}

// EventAnalytics is one event's funnel and sales over time (all days).
type EventAnalytics struct {
	EventID     uuid.UUID    `json:"event_id"`
	Title       string       `json:"title"`
	TimeZone    string       `json:"time_zone"`
	Currency    string       `json:"currency"`
	Capacity    int64        `json:"capacity"`
	SeatsSold   int64        `json:"seats_sold"`
	Revenue     Money        `json:"revenue"`
	Funnel      Funnel       `json:"funnel"`
	CancelRate  float64      `json:"cancellation_rate"`
	Utilization float64      `json:"capacity_utilization"`
	Daily       []DayFigures `json:"daily"`
}

// Rate is part over whole, 0 when whole is 0, to four places.
func Rate(part, whole int64) float64 {
	if whole <= 0 {
		return 0
	}
	return float64(int64(float64(part)/float64(whole)*10000+0.5)) / 10000
}

// CancellationRate is the share of bookings that got seats (reserved)
// that were then cancelled.
func CancellationRate(cancelled, reserved int64) float64 { return Rate(cancelled, reserved) }

// BookingRow is one line of an event's bookings export.
type BookingRow struct {
	ID          uuid.UUID
	UserEmail   string
	Status      BookingStatus
	Reason      string
	Seats       []string
	AmountCents int64
	Currency    string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TopEvents ranks events by seats sold, then confirmed bookings (revenue
// in different currencies does not compare), and keeps the first n.
func TopEvents(events []EventFigures, n int) []EventFigures {
	out := slices.Clone(events)
	slices.SortStableFunc(out, func(a, b EventFigures) int {
		return cmp.Or(cmp.Compare(b.SeatsSold, a.SeatsSold), cmp.Compare(b.Confirmed, a.Confirmed),
			slices.Compare(a.EventID[:], b.EventID[:]))
	})
	return out[:min(n, len(out))]
}

// AnalyticsService reads the figures. Scoping is the service's: an
// organizer sees their own events, an admin every event; another
// organizer's event is ENOTFOUND, as an unknown one.
type AnalyticsService interface {
	Dashboard(ctx context.Context, viewer Actor, r DayRange) (*Dashboard, error)
	Event(ctx context.Context, viewer Actor, id uuid.UUID) (*EventAnalytics, error)
	// Bookings checks that the viewer may see the event (its error comes
	// before the first row), then calls each with the event's bookings in
	// id order, streamed from the database.
	Bookings(ctx context.Context, viewer Actor, id uuid.UUID, each func(BookingRow) error) error
}
