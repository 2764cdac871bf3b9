package evently

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// WaitlistStatus is where a waitlist entry stands.
type WaitlistStatus string

const (
	WaitlistWaiting WaitlistStatus = "waiting" // in line, in order of joining
	WaitlistOffered WaitlistStatus = "offered" // holds an offer (a hold reserved for the user) until it expires
	WaitlistBooked  WaitlistStatus = "booked"  // a booking took the offer's seats
	WaitlistExpired WaitlistStatus = "expired" // the offer passed without a booking; its seats went on
	WaitlistLeft    WaitlistStatus = "left"    // the user left the line (or declined the offer)
)

// waitlistTransitions are the only moves an entry may make; booked,
// expired and left are terminal.
var waitlistTransitions = map[WaitlistStatus][]WaitlistStatus{
	WaitlistWaiting: {WaitlistOffered, WaitlistLeft},
	WaitlistOffered: {WaitlistBooked, WaitlistExpired, WaitlistLeft},
}

// CanMove reports whether an entry in status from may move to status to.
func (from WaitlistStatus) CanMove(to WaitlistStatus) bool {
	return slices.Contains(waitlistTransitions[from], to)
}

// Active reports whether the entry is still in line or holding an offer
// (a user has at most one active entry per event).
func (s WaitlistStatus) Active() bool { return s == WaitlistWaiting || s == WaitlistOffered }

// MaxPartySize bounds a party: it is offered seats as one booking.
const MaxPartySize = MaxSeatsPerBooking

// WaitlistOffer is seats held for one entry: an ordinary hold, reserved for
// the entry's user, booked with POST /bookings {hold_id}.
type WaitlistOffer struct {
	HoldID    uuid.UUID `json:"hold_id"`
	SeatIDs   []string  `json:"seat_ids"`
	ExpiresAt time.Time `json:"expires_at"`
}

// WaitlistEntry is a party waiting for seats of a sold-out event.
type WaitlistEntry struct {
	ID        uuid.UUID      `db:"id" json:"id"`
	EventID   uuid.UUID      `db:"event_id" json:"event_id"`
	UserID    uuid.UUID      `db:"user_id" json:"user_id"`
	PartySize int            `db:"party_size" json:"party_size"`
	Tier      string         `db:"tier" json:"tier,omitempty"`
	Status    WaitlistStatus `db:"status" json:"status"`
	Offer     *WaitlistOffer `db:"-" json:"offer,omitempty"`
	// Position (1 = next) and the people in the parties ahead, while waiting.
	Position    int       `db:"-" json:"position,omitempty"`
	PeopleAhead int       `db:"-" json:"people_ahead"`
	CreatedAt   time.Time `db:"created_at" json:"created_at"`
	UpdatedAt   time.Time `db:"updated_at" json:"updated_at"`
}

// ValidateParty checks a request to join a waitlist.
func ValidateParty(partySize int, tier string) error {
	fields := map[string]string{}
	if partySize < 1 || partySize > MaxPartySize {
		fields["party_size"] = fmt.Sprintf("Use a party size from 1 to %d.", MaxPartySize)
	}
	if len(tier) > 64 {
		fields["tier"] = "Use at most 64 characters."
	}
	if len(fields) > 0 {
		return Invalid(fields)
	}
	return nil
}

// FreeSeat is a released seat the waitlist may offer, with where it is.
type FreeSeat struct {
	ID      string
	Section string
	Row     string
	Number  int
	Tier    string
}

// Allotment is seats given to one entry as one offer.
type Allotment struct {
	EntryID uuid.UUID
	SeatIDs []string
}

// AllotSeats decides who is offered which of the free seats. queue is the
// waiting entries in order of joining; free is in layout order.
//
// The rule: entries are served in order of joining, each party all its
// seats at once or none. A party that does not fit what is free (too few
// seats, or too few of its tier) keeps its place and is skipped, so a
// smaller party behind it may be served; the next release goes to the head
// of the line first again. Within a party's seats, adjacent seats in one
// row are preferred, then one row, then the layout order. rest is what no
// one was given: it goes back on open sale.
func AllotSeats(queue []WaitlistEntry, free []FreeSeat) (allot []Allotment, rest []string) {
	left := slices.Clone(free)
	for _, e := range queue {
		if e.Status != WaitlistWaiting || e.PartySize < 1 {
			continue
		}
		var fit []int // indexes into left of the seats of the entry's tier
		for i, s := range left {
			if e.Tier == "" || s.Tier == e.Tier {
				fit = append(fit, i)
			}
		}
		if len(fit) < e.PartySize {
			continue // keeps its place; smaller parties behind may fit
		}
		chosen := pickSeats(left, fit, e.PartySize)
		a := Allotment{EntryID: e.ID}
		for _, i := range chosen {
			a.SeatIDs = append(a.SeatIDs, left[i].ID)
		}
		allot = append(allot, a)
		slices.Sort(chosen)
		for k := len(chosen) - 1; k >= 0; k-- {
			left = slices.Delete(left, chosen[k], chosen[k]+1)
		}
	}
	for _, s := range left {
		rest = append(rest, s.ID)
	}
	return allot, rest
}

// pickSeats chooses n of the candidate seats (indexes into seats, in
// layout order): the first run of n adjacent seats in one row, else the n
// seats of one row closest together, else the first n.
func pickSeats(seats []FreeSeat, cand []int, n int) []int {
	type rowKey struct{ section, row string }
	rows := map[rowKey][]int{}
	var order []rowKey
	for _, i := range cand {
		k := rowKey{seats[i].Section, seats[i].Row}
		if _, ok := rows[k]; !ok {
			order = append(order, k)
		}
		rows[k] = append(rows[k], i)
	}
	best, bestSpan := []int(nil), 0
	for _, k := range order {
		r := slices.Clone(rows[k])
		slices.SortStableFunc(r, func(a, b int) int { return cmp.Compare(seats[a].Number, seats[b].Number) })
		for j := 0; j+n <= len(r); j++ {
			span := seats[r[j+n-1]].Number - seats[r[j]].Number
			if span == n-1 {
				return r[j : j+n] // adjacent
			}
			if best == nil || span < bestSpan {
				best, bestSpan = r[j:j+n], span
			}
		}
	}
	if best != nil {
		return best
	}
	return cand[:n]
}

// OfferFate is what becomes of an offer the promoter looks at again.
type OfferFate int

const (
	OfferStands OfferFate = iota // still the user's to book (or being booked): leave it
	OfferBooked                  // a booking holds its seats: the entry is booked
	OfferLapsed                  // expired, declined or its booking failed: pass the seats on
)

// DecideOffer decides an offer's fate. status is the entry's; claimed says
// a booking claimed the offer's hold; booking is that booking's status in
// PostgreSQL, nil while it is not written. A claimed hold is given until
// the booking is written (the claim keeps its seats for it), at most
// claimWait past the offer's expiry, after which the offer lapses.
func DecideOffer(status WaitlistStatus, expiresAt, now time.Time, claimed bool, booking *BookingStatus, claimWait time.Duration) OfferFate {
	if booking != nil {
		switch {
		case booking.HoldsSeats():
			return OfferBooked
		case *booking == BookingPending:
			return OfferStands
		default:
			return OfferLapsed // failed, expired or cancelled: its seats are free again
		}
	}
	if claimed && now.Before(expiresAt.Add(claimWait)) {
		return OfferStands
	}
	if status == WaitlistLeft || !now.Before(expiresAt) {
		return OfferLapsed
	}
	return OfferStands
}

// Messages on inventory.released besides MsgSeatsReleased.
const (
	// MsgOfferCheck asks the event's promoter to look at an offer again
	// (expired, declined, or booked).
	MsgOfferCheck = "offer_check"
)

// OfferCheck names an entry whose offer the promoter should look at.
type OfferCheck struct {
	EventID uuid.UUID `db:"event_id" json:"event_id"`
	EntryID uuid.UUID `db:"entry_id" json:"entry_id"`
}
