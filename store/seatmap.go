package store

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently"
)

// SeatMaps reads event seat maps: prices and sold seats from PostgreSQL
// (the truth), held seats from Redis (store.HeldSeats). It implements
// evently.SeatMapSource; the API caches what it returns.
//
// A published event's layout (seats, places, tiers, prices) never changes,
// so it is read once and kept for the last few events asked for; each map
// then reads only which seats are not available. In an on-sale that is
// most of what reading a 20,000-seat map cost.
type SeatMaps struct {
	DB    *sqlx.DB
	Redis redis.UniversalClient
	Keys  Keys
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	layoutsOnce sync.Once
	layouts     *lru.Cache[uuid.UUID, []evently.MapSeat]
}

// keptLayouts bounds how many published events' layouts are kept (a
// 20,000-seat layout is about 2 MB).
const keptLayouts = 32

var _ evently.SeatMapSource = (*SeatMaps)(nil)

// SeatMap returns every seat of the event in layout order. A draft has no
// event seats yet, so its map is drawn from the venue and the tiers, all
// available.
func (s *SeatMaps) SeatMap(ctx context.Context, eventID uuid.UUID) (*evently.SeatMap, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	var ev struct {
		OrganizerID uuid.UUID           `db:"organizer_id"`
		Status      evently.EventStatus `db:"status"`
		VenueID     uuid.UUID           `db:"venue_id"`
		Tiers       []byte              `db:"tiers"`
	}
	if err := s.DB.GetContext(ctx, &ev, `SELECT organizer_id, status, venue_id, tiers FROM events WHERE id = $1`, eventID); err != nil {
		return nil, translate(err, "event")
	}
	m := &evently.SeatMap{EventID: eventID, OrganizerID: ev.OrganizerID, EventStatus: ev.Status}
	var err error
	if ev.Status == evently.EventDraft {
		err = s.DB.SelectContext(ctx, &m.Seats, `
			SELECT s.id AS seat_id, s.section, s.row_label, s.number, s.x, s.y, s.accessible,
				coalesce(t.name, '') AS tier, coalesce(t.price_cents, 0) AS price_cents, 'available' AS status
			FROM seats s
			LEFT JOIN (SELECT t->>'name' AS name, (t->>'price_cents')::bigint AS price_cents, sec
			           FROM jsonb_array_elements($2::jsonb) t, jsonb_array_elements_text(t->'sections') sec) t
			  ON t.sec = s.section
			WHERE s.venue_id = $1 ORDER BY s.ordinal`, ev.VenueID, string(ev.Tiers))
	} else {
		m.Seats, err = s.publishedSeats(ctx, eventID, ev.VenueID)
	}
	if err != nil {
		return nil, translate(err, "event")
	}
	m.TakenAt = now()
	if ev.Status != evently.EventPublished {
		return m, nil // nothing can be held
	}
	held, err := HeldSeats(ctx, s.Redis, s.Keys, eventID, m.TakenAt)
	if err != nil {
		return nil, &evently.Error{Code: evently.EUNAVAILABLE, Message: "Seat holds cannot be read right now; try again shortly.", RetryAfter: 1}
	}
	if len(held) > 0 {
		isHeld := make(map[string]struct{}, len(held))
		for _, id := range held {
			isHeld[id] = struct{}{}
		}
		for i := range m.Seats {
			if _, ok := isHeld[m.Seats[i].ID]; ok && m.Seats[i].Status == evently.SeatAvailable {
				m.Seats[i].Status = evently.SeatHeld
			}
		}
	}
	return m, nil
}

// publishedSeats returns a published (or cancelled) event's seats with
// their status: the layout from the kept copy, the status of the seats
// that are not available from PostgreSQL.
func (s *SeatMaps) publishedSeats(ctx context.Context, eventID, venueID uuid.UUID) ([]evently.MapSeat, error) {
	s.layoutsOnce.Do(func() { s.layouts, _ = lru.New[uuid.UUID, []evently.MapSeat](keptLayouts) })
	layout, ok := s.layouts.Get(eventID)
	if !ok {
		var seats []evently.MapSeat
		err := s.DB.SelectContext(ctx, &seats, `
			SELECT es.seat_id, es.section, es.row_label, es.number, s.x, s.y, s.accessible,
				es.tier, es.price_cents, 'available' AS status
			FROM event_seats es JOIN seats s ON s.venue_id = $2 AND s.id = es.seat_id
			WHERE es.event_id = $1 ORDER BY s.ordinal`, eventID, venueID)
		if err != nil {
			return nil, err
		}
		layout = seats
		s.layouts.Add(eventID, layout)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT seat_id, status FROM event_seats WHERE event_id = $1 AND status <> 'available'`, eventID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	taken := map[string]evently.SeatStatus{}
	for rows.Next() {
		var id string
		var st evently.SeatStatus
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		taken[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	seats := slices.Clone(layout)
	if len(taken) > 0 {
		for i := range seats {
			if st, ok := taken[seats[i].ID]; ok {
				seats[i].Status = st
			}
		}
	}
	return seats, nil
}
