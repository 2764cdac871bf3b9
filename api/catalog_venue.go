package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/evently/evently"
)

// A venue can hold 100,000 seats, and GET /venues/{id} is open to anyone.
// So the answer is a summary by default (sections and rows with their seat
// counts, a few KB), and the seats themselves come in pages on request
// (?seats=true&limit=&cursor=). Each API process keeps a venue it has read,
// seats included, for venueTTL within venueCacheBytes: seats change only
// while no event uses the venue (PATCH, DELETE), and this process forgets
// its copy when it makes such a change; another process may serve the old
// layout for up to venueTTL.
const (
	venueTTL          = 30 * time.Second
	venueCacheBytes   = 16 << 20
	venueSeatsDefault = 1000
	venueSeatsMax     = 5000
)

// RowSummary and SectionSummary describe a venue's layout without its seats.
type RowSummary struct {
	Label           string `json:"label"`
	SeatCount       int    `json:"seat_count"`
	AccessibleCount int    `json:"accessible_count"`
}

// SectionSummary is one section of a venue summary.
type SectionSummary struct {
	Name      string       `json:"name"`
	SeatCount int          `json:"seat_count"`
	Rows      []RowSummary `json:"rows"`
}

// venueView is what GET /venues/{id} answers.
type venueView struct {
	evently.Venue
	Sections   []SectionSummary `json:"sections"`
	Seats      []evently.Seat   `json:"seats,omitempty"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

type venueEntry struct {
	venue    evently.Venue // without sections
	sections []SectionSummary
	seats    []evently.Seat // in layout order
}

type venueCache struct {
	items  *sizedCache[*venueEntry]
	flight singleflight.Group
}

func newVenueCache() *venueCache {
	return &venueCache{items: newSizedCache[*venueEntry](venueCacheBytes)}
}

func (c *venueCache) forget(id uuid.UUID) {
	if c != nil {
		c.items.forget(id)
	}
}

func (c *venueCache) get(ctx context.Context, src evently.VenueService, id uuid.UUID) (*venueEntry, error) {
	if e, ok := c.items.get(id, time.Now()); ok {
		return e, nil
	}
	res, err, _ := c.flight.Do(id.String(), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		v, err := src.Venue(ctx, id, true)
		if err != nil {
			return nil, err
		}
		e := &venueEntry{}
		for _, sec := range v.Sections {
			ss := SectionSummary{Name: sec.Name}
			for _, row := range sec.Rows {
				rs := RowSummary{Label: row.Label, SeatCount: len(row.Seats)}
				for _, st := range row.Seats {
					if st.Accessible {
						rs.AccessibleCount++
					}
				}
				ss.SeatCount += rs.SeatCount
				ss.Rows = append(ss.Rows, rs)
				e.seats = append(e.seats, row.Seats...)
			}
			e.sections = append(e.sections, ss)
		}
		v.Sections = nil
		e.venue = *v
		c.items.put(id, e, int64(len(e.seats))*128+4096, time.Now().Add(venueTTL))
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*venueEntry), nil
}

// getVenue answers GET /venues/{id}[?seats=true&limit=&cursor=].
func (s *Server) getVenue(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "venue")
	if !ok {
		return
	}
	q := r.URL.Query()
	bad := map[string]string{}
	withSeats := false
	switch q.Get("seats") {
	case "", "false":
	case "true":
		withSeats = true
	default:
		bad["seats"] = "must be true or false"
	}
	limit, from := venueSeatsDefault, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > venueSeatsMax {
			bad["limit"] = "must be a whole number from 1 to " + strconv.Itoa(venueSeatsMax)
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			bad["cursor"] = "is not a cursor this API gave out"
		}
		from = n
	}
	if len(bad) > 0 {
		Error(w, r, evently.Invalid(bad))
		return
	}
	e, err := s.Catalog.venues.get(r.Context(), s.Catalog.Venues, id)
	if err != nil {
		Error(w, r, err)
		return
	}
	view := venueView{Venue: e.venue, Sections: e.sections}
	if view.Sections == nil {
		view.Sections = []SectionSummary{}
	}
	if withSeats {
		from = min(from, len(e.seats))
		to := min(from+limit, len(e.seats))
		view.Seats = e.seats[from:to]
		if view.Seats == nil {
			view.Seats = []evently.Seat{}
		}
		if to < len(e.seats) {
			view.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(to)))
		}
	}
	w.Header().Set("Cache-Control", "public, max-age=30")
	writeJSON(w, http.StatusOK, view)
}

// GET /events/popular ranks upcoming events by bookings confirmed in the
// window, a GROUP BY over bookings. It is open to anyone, so each process
// serves it from a rollup of the top catalogMaxLimit events, read again at
// most every popularEvery: a request that finds the rollup older than that
// starts one refresh in the background and is answered from the old one;
// only the very first request of a process waits for the read.
const (
	popularEvery = 5 * time.Second
	popularTop   = 100
)

type popularCache struct {
	mu     sync.Mutex
	items  []evently.Event
	window time.Duration
	at     time.Time
	flight singleflight.Group
}

func (c *popularCache) get(ctx context.Context, src evently.EventService, window time.Duration) ([]evently.Event, error) {
	c.mu.Lock()
	items, at, w := c.items, c.at, c.window
	c.mu.Unlock()
	load := func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		items, err := src.PopularEvents(ctx, window, popularTop)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.items, c.at, c.window = items, time.Now(), window
		c.mu.Unlock()
		return items, nil
	}
	if !at.IsZero() && w == window {
		if time.Since(at) >= popularEvery {
			c.flight.DoChan("popular", load)
		}
		return items, nil
	}
	res, err, _ := c.flight.Do("popular", load)
	if err != nil {
		return nil, err
	}
	return res.([]evently.Event), nil
}
