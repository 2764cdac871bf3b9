package store

import (
	"context"
	"encoding/base64"
	"encoding/json"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/evently/evently"
)

// Venues is the PostgreSQL venue repository; it implements
// evently.VenueService.
type Venues struct{ DB *sqlx.DB }

var _ evently.VenueService = (*Venues)(nil)

const venueCols = `id, owner_id, name, city, address, time_zone, capacity, created_at, updated_at`

// CreateVenue stores a venue and every seat of its layout in one
// transaction; the seats go through COPY, so a 20,000-seat arena is one
// round trip of rows rather than 20,000 statements.
func (s *Venues) CreateVenue(ctx context.Context, a evently.Actor, in evently.VenueInput) (*evently.Venue, error) {
	if err := evently.CanManage(a, a.UserID); err != nil {
		return nil, err
	}
	seats, err := in.Validate()
	if err != nil {
		return nil, err
	}
	v := &evently.Venue{ID: evently.NewID(), OwnerID: a.UserID, Name: in.Name, City: in.City,
		Address: in.Address, TimeZone: in.TimeZone, Capacity: len(seats)}
	err = inTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		return insertVenue(ctx, tx, v, in.Layout, seats)
	})
	if err != nil {
		return nil, translate(err, "venue")
	}
	v.Sections = evently.GroupSeats(seats)
	return v, nil
}

// insertVenue writes the venue row (keeping its layout description) and its
// seats. A venue whose id exists already is left alone (seed reruns).
func insertVenue(ctx context.Context, tx *sqlx.Tx, v *evently.Venue, layout evently.Layout, seats []evently.Seat) error {
	desc, err := json.Marshal(layout)
	if err != nil {
		return err
	}
	err = tx.QueryRowxContext(ctx, `
		INSERT INTO venues (id, owner_id, name, city, address, time_zone, capacity, layout)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		RETURNING created_at, updated_at`,
		v.ID, v.OwnerID, v.Name, v.City, v.Address, v.TimeZone, v.Capacity, string(desc)).Scan(&v.CreatedAt, &v.UpdatedAt)
	if err != nil {
		return err
	}
	return copySeats(ctx, tx, v.ID, seats)
}

// copySeats loads seats with COPY FROM STDIN.
func copySeats(ctx context.Context, tx *sqlx.Tx, venueID uuid.UUID, seats []evently.Seat) error {
	stmt, err := tx.PrepareContext(ctx,
		`COPY seats (venue_id, id, section, row_label, number, x, y, accessible, ordinal) FROM STDIN`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, st := range seats {
		if _, err := stmt.ExecContext(ctx, venueID, st.ID, st.Section, st.Row, st.Number, st.X, st.Y, st.Accessible, i); err != nil {
			return err
		}
	}
	_, err = stmt.ExecContext(ctx)
	return err
}

// Venue returns a venue, with its sections, rows and seats when asked.
func (s *Venues) Venue(ctx context.Context, id uuid.UUID, withSeats bool) (*evently.Venue, error) {
	var v evently.Venue
	if err := s.DB.GetContext(ctx, &v, `SELECT `+venueCols+` FROM venues WHERE id = $1`, id); err != nil {
		return nil, translate(err, "venue")
	}
	if withSeats {
		var seats []evently.Seat
		if err := s.DB.SelectContext(ctx, &seats, `
			SELECT id, section, row_label, number, x, y, accessible FROM seats
			WHERE venue_id = $1 ORDER BY ordinal`, id); err != nil {
			return nil, translate(err, "venue")
		}
		v.Sections = evently.GroupSeats(seats)
	}
	return &v, nil
}

// Venues returns a page of venues in id order (UUIDv7: creation order).
// The cursor is the last id of the previous page, base64url-encoded.
func (s *Venues) Venues(ctx context.Context, f evently.VenueFilter) (evently.VenuePage, error) {
	after := uuid.Nil
	if f.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err == nil {
			after, err = uuid.FromBytes(b)
		}
		if err != nil {
			return evently.VenuePage{}, evently.Invalid(map[string]string{"cursor": "is not a cursor this API gave out"})
		}
	}
	limit := catalogLimit(f.Limit)
	var owner any
	if f.OwnerID != nil {
		owner = *f.OwnerID
	}
	page := evently.VenuePage{Items: []evently.Venue{}}
	err := s.DB.SelectContext(ctx, &page.Items, `
		SELECT `+venueCols+` FROM venues
		WHERE ($1::uuid IS NULL OR owner_id = $1) AND id > $2
		ORDER BY id LIMIT $3`, owner, after, limit+1)
	if err != nil {
		return page, translate(err, "venue")
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		last := page.Items[limit-1].ID
		page.NextCursor = base64.RawURLEncoding.EncodeToString(last[:])
	}
	return page, nil
}

// UpdateVenue changes a venue no event uses yet; a new layout replaces
// every seat.
func (s *Venues) UpdateVenue(ctx context.Context, a evently.Actor, id uuid.UUID, p evently.VenuePatch) (*evently.Venue, error) {
	var out *evently.Venue
	err := inTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		v, layout, err := lockUnusedVenue(ctx, tx, a, id)
		if err != nil {
			return err
		}
		in := p.Apply(v, layout)
		seats, err := in.Validate()
		if err != nil {
			return err
		}
		desc, err := json.Marshal(in.Layout)
		if err != nil {
			return err
		}
		v.Name, v.City, v.Address, v.TimeZone, v.Capacity = in.Name, in.City, in.Address, in.TimeZone, len(seats)
		if err := tx.QueryRowxContext(ctx, `
			UPDATE venues SET name = $2, city = $3, address = $4, time_zone = $5, capacity = $6, layout = $7,
				updated_at = now()
			WHERE id = $1 RETURNING updated_at`,
			id, v.Name, v.City, v.Address, v.TimeZone, v.Capacity, string(desc)).Scan(&v.UpdatedAt); err != nil {
			return err
		}
		if p.Layout != nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM seats WHERE venue_id = $1`, id); err != nil {
				return err
			}
			if err := copySeats(ctx, tx, id, seats); err != nil {
				return err
			}
		}
		v.Sections = evently.GroupSeats(seats)
		out = v
		return nil
	})
	if err != nil {
		return nil, translate(err, "venue")
	}
	return out, nil
}

// DeleteVenue removes a venue no event uses, with its seats.
func (s *Venues) DeleteVenue(ctx context.Context, a evently.Actor, id uuid.UUID) error {
	err := inTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		if _, _, err := lockUnusedVenue(ctx, tx, a, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM venues WHERE id = $1`, id)
		return err
	})
	return translate(err, "venue")
}

// lockUnusedVenue locks the venue row (event creation takes a share lock on
// it, so no event can appear until the caller commits), checks the actor
// may change it and that no event uses it.
func lockUnusedVenue(ctx context.Context, tx *sqlx.Tx, a evently.Actor, id uuid.UUID) (*evently.Venue, evently.Layout, error) {
	var row struct {
		evently.Venue
		Layout []byte `db:"layout"`
	}
	var layout evently.Layout
	if err := tx.GetContext(ctx, &row, `SELECT `+venueCols+`, layout FROM venues WHERE id = $1 FOR UPDATE`, id); err != nil {
		return nil, layout, err
	}
	if err := evently.CanManage(a, row.OwnerID); err != nil {
		return nil, layout, err
	}
	var used bool
	if err := tx.GetContext(ctx, &used, `SELECT EXISTS (SELECT 1 FROM events WHERE venue_id = $1)`, id); err != nil {
		return nil, layout, err
	}
	if used {
		return nil, layout, evently.Errorf(evently.ECONFLICT, "An event uses this venue; it cannot change or go away.")
	}
	if err := json.Unmarshal(row.Layout, &layout); err != nil {
		return nil, layout, err
	}
	v := row.Venue
	return &v, layout, nil
}

// Page sizes.
const (
	catalogDefaultLimit = 20
	catalogMaxLimit     = 100
)

func catalogLimit(n int) int {
	switch {
	case n <= 0:
		return catalogDefaultLimit
	case n > catalogMaxLimit:
		return catalogMaxLimit
	}
	return n
}
