package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"github.com/evently/evently"
)

// Demo data for `evently seed`. Every row has an id derived from its name
// (UUIDv5), and every insert skips rows that exist, so a second run changes
// nothing. Dates are relative to the day of the first run.

// seedNamespace roots the demo data's deterministic ids.
var seedNamespace = uuid.MustParse("6f1d9c1e-8d4b-4f7e-9a57-0e5e7e1f2a10")

func seedID(kind, name string) uuid.UUID { return uuid.NewSHA1(seedNamespace, []byte(kind+":"+name)) }

// SeedOptions choose what Seed loads.
type SeedOptions struct {
	// Large adds 1,000 events of 1,000 seats each (1,000,000 event seats)
	// for benchmarks.
	Large bool
	// BcryptCost hashes the demo passwords (bcrypt.DefaultCost when 0).
	BcryptCost int
	// Progress, when set, is told how far each stage got.
	Progress func(stage string, done, total int)
	// Now anchors the demo dates (time.Now when zero).
	Now time.Time
}

// SeedCredential is a demo account and its password.
type SeedCredential struct {
	Email    string
	Password string
	Role     evently.Role
}

// SeedReport says what one run inserted (zero everywhere on a rerun).
type SeedReport struct {
	Users, Venues, Events int
	EventSeats            int64
	Credentials           []SeedCredential
}

// Changed reports whether the run inserted anything.
func (r SeedReport) Changed() bool {
	return r.Users+r.Venues+r.Events > 0 || r.EventSeats > 0
}

type seedVenueSpec struct {
	key, name, city, address, tz, owner string
	layout                              evently.Layout
}

type seedEvent struct {
	title, category, venue, description string
	day, hour                           int
	prices                              []int64 // one tier per group of sections, cheapest last
}

// seedUUIDs passes ids as a text array (cast to uuid[] in SQL).
func seedUUIDs(ids []uuid.UUID) any {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return pq.Array(s)
}

func seedBlock(name string, rows, seats int) evently.LayoutSection {
	return evently.LayoutSection{Name: name, RowCount: rows, SeatsPerRow: seats}
}

func seedVenues() []seedVenueSpec {
	// The theatre's stalls curve: each row further back is wider and
	// shifted left, drawn with per-row offsets.
	var stalls []evently.LayoutRow
	for i := range 10 {
		stalls = append(stalls, evently.LayoutRow{Label: evently.RowLabel(i), Seats: 16 + i%5,
			Offset: -float64(i%5) / 2, Accessible: seedAccessibleIf(i == 0, 1, 2)})
	}
	var arena []evently.LayoutSection
	for i := range 20 {
		s := seedBlock(fmt.Sprintf("S%d", 101+i), 40, 25)
		if i%5 == 0 {
			s.Accessible = []string{"A-1", "A-2", "A-24", "A-25"}
		}
		arena = append(arena, s)
	}
	f := func(v float64) *float64 { return &v }
	return []seedVenueSpec{
		{"theatre", "Teatro Aurora", "Lisbon", "Rua das Flores 12", "Europe/Lisbon", "org1", evently.Layout{Sections: []evently.LayoutSection{
			{Name: "STALLS", Rows: stalls},
			{Name: "CIRCLE", RowCount: 6, SeatsPerRow: 20, Y: f(14)},
		}}},
		{"hall", "Konzerthaus Halle", "Berlin", "Gendarmenmarkt 2", "Europe/Berlin", "org1", evently.Layout{Sections: []evently.LayoutSection{
			seedBlock("PARTERRE", 25, 40), seedBlock("RANG1", 10, 50), seedBlock("RANG2", 10, 50),
		}}},
		{"arena", "Northern Arena", "Manchester", "Victoria Station Approach", "Europe/London", "org2", evently.Layout{Sections: arena}},
		{"club", "Blue Room", "New York", "131 W 3rd St", "America/New_York", "org2", evently.Layout{Sections: []evently.LayoutSection{
			{Name: "FLOOR", RowCount: 6, SeatsPerRow: 20, Accessible: []string{"A-1", "A-20"}},
		}}},
		{"sala", "Sala Apolo", "Barcelona", "Carrer Nou de la Rambla 113", "Europe/Madrid", "org2", evently.Layout{Sections: []evently.LayoutSection{
			seedBlock("PISTA", 10, 30), seedBlock("ANFI", 8, 25),
		}}},
		{"attic", "The Attic", "Lisbon", "Rua do Norte 48", "Europe/Lisbon", "org1", evently.Layout{Sections: []evently.LayoutSection{
			seedBlock("ROOM", 2, 10),
		}}},
	}
}

func seedAccessibleIf(ok bool, seats ...int) []int {
	if ok {
		return seats
	}
	return nil
}

func seedEvents() []seedEvent {
	return []seedEvent{
		{"Hamlet", "theatre", "theatre", "Shakespeare's tragedy of the prince of Denmark.", 3, 20, []int64{4500, 2500}},
		{"A Midsummer Night's Dream", "theatre", "theatre", "Lovers, fairies and a play within a play.", 10, 20, []int64{4000, 2200}},
		{"Fado ao Vivo", "music", "theatre", "An evening of Lisbon fado with guitarra portuguesa.", 6, 21, []int64{3500, 2000}},
		{"Stand-up Lisboa", "comedy", "theatre", "Five comedians, one night, no mercy.", 13, 21, []int64{2500, 1500}},
		{"The Seagull", "theatre", "theatre", "Chekhov's comedy of art and love.", 24, 19, []int64{4200, 2400}},
		{"Children's Puppet Matinee", "family", "theatre", "Puppets, songs and a dragon for ages 4 and up.", 17, 11, []int64{1500, 1000}},
		{"Beethoven Symphony No. 9", "classical", "hall", "Ode to Joy with full orchestra and choir.", 5, 20, []int64{9000, 6000, 4000}},
		{"Bach Goldberg Variations", "classical", "hall", "A solo piano recital.", 12, 19, []int64{6000, 4000, 2500}},
		{"Berlin Jazz Night", "music", "hall", "Big band jazz from the twenties to today.", 19, 20, []int64{5500, 3500, 2500}},
		{"Tech Talks: Building for the Rush", "conference", "hall", "Engineers on systems that survive ticket on-sales.", 8, 9, []int64{15000, 9000, 5000}},
		{"Mahler Symphony No. 5", "classical", "hall", "The Adagietto and much more.", 26, 20, []int64{8500, 5500, 3500}},
		{"Film Concert: Space Odyssey", "music", "hall", "The film on a giant screen, the score played live.", 33, 20, []int64{7000, 4500, 3000}},
		{"Stadium Rock Tour", "music", "arena", "The loudest band of the year on its world tour.", 14, 19, []int64{12000, 8000}},
		{"Championship Basketball Final", "sports", "arena", "The season's final game.", 21, 18, []int64{9500, 6000}},
		{"Pop Arena Spectacular", "music", "arena", "Lights, dancers and every hit.", 40, 20, []int64{11000, 7500}},
		{"Late Night Jazz Trio", "music", "club", "Piano, bass and drums, two sets.", 2, 22, []int64{4000}},
		{"Open Mic Comedy", "comedy", "club", "New voices, five minutes each.", 4, 21, []int64{1500}},
		{"Blues Brunch", "music", "club", "Delta blues and pancakes.", 9, 11, []int64{3000}},
		{"Poetry Slam Finals", "arts", "club", "The city's best poets compete.", 16, 20, []int64{1800}},
		{"Salsa Night", "music", "sala", "Live salsa band and a dance floor.", 7, 22, []int64{2500, 1800}},
		{"Flamenco Fusion", "music", "sala", "Flamenco meets electronica.", 11, 21, []int64{3200, 2200}},
		{"Indie Showcase", "music", "sala", "Six bands to watch this year.", 18, 20, []int64{2000, 1500}},
		{"Techno Marathon", "music", "sala", "Twelve hours, four DJs.", 25, 23, []int64{3500, 2500}},
		{"Startup Pitch Night", "conference", "sala", "Ten startups, three minutes each, one winner.", 30, 19, []int64{1000, 500}},
	}
}

// Seed loads the demo data (and, with Large, the benchmark data).
func Seed(ctx context.Context, db *sqlx.DB, o SeedOptions) (SeedReport, error) {
	var rep SeedReport
	if o.BcryptCost == 0 {
		o.BcryptCost = bcrypt.DefaultCost
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Progress == nil {
		o.Progress = func(string, int, int) {}
	}
	users := map[string]uuid.UUID{}
	accounts := []struct {
		key, email, name, password string
		role                       evently.Role
	}{
		{"admin", "admin@evently.test", "Ada Admin", "evently-admin-demo", evently.RoleAdmin},
		{"org1", "organizer1@evently.test", "Olga Organizer", "evently-organizer-demo", evently.RoleOrganizer},
		{"org2", "organizer2@evently.test", "Omar Organizer", "evently-organizer-demo", evently.RoleOrganizer},
		{"alice", "alice@evently.test", "Alice Example", "evently-user-demo", evently.RoleUser},
		{"bob", "bob@evently.test", "Bob Example", "evently-user-demo", evently.RoleUser},
		{"carol", "carol@evently.test", "Carol Example", "evently-user-demo", evently.RoleUser},
		{"dave", "dave@evently.test", "Dave Example", "evently-user-demo", evently.RoleUser},
		{"erin", "erin@evently.test", "Erin Example", "evently-user-demo", evently.RoleUser},
		{"frank", "frank@evently.test", "Frank Example", "evently-user-demo", evently.RoleUser},
	}
	for i, u := range accounts {
		o.Progress("users", i, len(accounts))
		id, added, err := seedUser(ctx, db, u.email, u.name, u.password, u.role, o.BcryptCost)
		if err != nil {
			return rep, err
		}
		users[u.key] = id
		if added {
			rep.Users++
		}
		rep.Credentials = append(rep.Credentials, SeedCredential{u.email, u.password, u.role})
	}
	o.Progress("users", len(accounts), len(accounts))

	venues := seedVenues()
	venueIDs := map[string]uuid.UUID{}
	for i, v := range venues {
		o.Progress("venues", i, len(venues))
		id, added, err := seedVenue(ctx, db, v, users[v.owner])
		if err != nil {
			return rep, err
		}
		venueIDs[v.key] = id
		if added {
			rep.Venues++
		}
	}
	o.Progress("venues", len(venues), len(venues))

	day0 := o.Now.UTC().Truncate(24 * time.Hour)
	events := seedEvents()
	for i, ev := range events {
		o.Progress("events", i, len(events))
		owner := users["org1"]
		for _, v := range venues {
			if v.key == ev.venue {
				owner = users[v.owner]
			}
		}
		added, seats, err := seedEventRow(ctx, db, ev, venueIDs[ev.venue], owner, day0, venues, nil)
		if err != nil {
			return rep, err
		}
		if added {
			rep.Events++
			rep.EventSeats += seats
		}
	}
	o.Progress("events", len(events), len(events))

	// The sold-out event, its bookings and its waitlist go in with the
	// event, in its transaction: a rerun finds the event and adds nothing,
	// whatever the demo did to them since (a cancelled booking, an offer).
	added, seats, err := seedEventRow(ctx, db, soldOutEvent, venueIDs[soldOutEvent.venue], users["org1"], day0, venues,
		func(tx *sqlx.Tx, e *evently.Event) error { return seedSoldOut(ctx, tx, e, users, day0) })
	if err != nil {
		return rep, err
	}
	if added {
		rep.Events++
		rep.EventSeats += seats
	}

	if o.Large {
		n, seats, err := seedLarge(ctx, db, users["org2"], day0, o.Progress)
		if err != nil {
			return rep, err
		}
		rep.Venues += n.venues
		rep.Events += n.events
		rep.EventSeats += seats
	}
	if rep.Changed() {
		// Fresh statistics for the planner after a bulk load.
		if _, err := db.ExecContext(ctx, `ANALYZE users, venues, seats, events, event_seats`); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// seedUser creates an account unless its email exists; hashing is skipped
// on reruns (bcrypt is deliberately slow).
func seedUser(ctx context.Context, db *sqlx.DB, email, name, password string, role evently.Role, cost int) (uuid.UUID, bool, error) {
	var id uuid.UUID
	err := db.GetContext(ctx, &id, `SELECT id FROM users WHERE lower(email) = lower($1)`, email)
	if err == nil {
		return id, false, nil
	}
	if evently.ErrorCode(translate(err, "user")) != evently.ENOTFOUND {
		return id, false, translate(err, "user")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return id, false, err
	}
	u := &evently.User{ID: seedID("user", email), Email: email, FullName: name, Role: role, PasswordHash: hash}
	if err := (&Users{DB: db}).CreateUser(ctx, u); err != nil {
		return id, false, err
	}
	return u.ID, true, nil
}

func seedVenue(ctx context.Context, db *sqlx.DB, sv seedVenueSpec, owner uuid.UUID) (uuid.UUID, bool, error) {
	in := evently.VenueInput{Name: sv.name, City: sv.city, Address: sv.address, TimeZone: sv.tz, Layout: sv.layout}
	seats, err := in.Validate()
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("seed venue %s: %w", sv.name, err)
	}
	v := &evently.Venue{ID: seedID("venue", sv.key), OwnerID: owner, Name: in.Name, City: in.City,
		Address: in.Address, TimeZone: in.TimeZone, Capacity: len(seats)}
	added := false
	err = inTx(ctx, db, func(tx *sqlx.Tx) error {
		var exists bool
		if err := tx.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM venues WHERE id = $1)`, v.ID); err != nil || exists {
			return err
		}
		added = true
		return insertVenue(ctx, tx, v, in.Layout, seats)
	})
	return v.ID, added, translate(err, "venue")
}

// seedEventRow inserts and publishes one demo event unless it exists; then,
// when set, adds what else the event comes with, in the same transaction.
func seedEventRow(ctx context.Context, db *sqlx.DB, ev seedEvent, venueID, owner uuid.UUID, day0 time.Time, venues []seedVenueSpec,
	then func(tx *sqlx.Tx, e *evently.Event) error) (bool, int64, error) {
	var sections []string
	for _, v := range venues {
		if v.key == ev.venue {
			for _, s := range v.layout.Sections {
				sections = append(sections, s.Name)
			}
		}
	}
	// Split the sections over the price tiers, front sections dearest.
	names := []string{"Premium", "Standard", "Economy"}
	if len(ev.prices) == 1 {
		names = []string{"General admission"}
	}
	var tiers []evently.Tier
	per := (len(sections) + len(ev.prices) - 1) / len(ev.prices)
	for i, p := range ev.prices {
		lo, hi := i*per, min((i+1)*per, len(sections))
		if lo < hi {
			tiers = append(tiers, evently.Tier{Name: names[i], PriceCents: p, Sections: sections[lo:hi]})
		}
	}
	starts := day0.AddDate(0, 0, ev.day).Add(time.Duration(ev.hour) * time.Hour)
	e := &evently.Event{ID: seedID("event", ev.title), VenueID: venueID, OrganizerID: owner, Title: ev.title,
		Description: ev.description, Category: ev.category, Status: evently.EventDraft, StartsAt: starts,
		EndsAt: starts.Add(3 * time.Hour), Currency: "EUR", Tiers: tiers}
	if ev.venue == "club" {
		e.Currency = "USD"
	} else if ev.venue == "arena" {
		e.Currency = "GBP"
	}
	tj, err := json.Marshal(tiers)
	if err != nil {
		return false, 0, err
	}
	var seats int64
	added := false
	err = inTx(ctx, db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO events (id, venue_id, organizer_id, title, description, category, city, starts_at, ends_at, currency, tiers)
			SELECT $1, $2, $3, $4, $5, $6, v.city, $7, $8, $9, $10 FROM venues v WHERE v.id = $2
			ON CONFLICT (id) DO NOTHING`,
			e.ID, e.VenueID, e.OrganizerID, e.Title, e.Description, e.Category, e.StartsAt, e.EndsAt, e.Currency, string(tj))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		added = true
		if seats, err = publishSeats(ctx, tx, e); err != nil || then == nil {
			return err
		}
		return then(tx, e)
	})
	return added, seats, translate(err, "event")
}

type seedCounts struct{ venues, events int }

// seedLarge adds a 1,000-seat studio and 1,000 published events there. The
// events go in with one statement, the 1,000,000 event seats with one
// INSERT … SELECT per batch of 50 events: the rows are made inside
// PostgreSQL, so nothing crosses the wire but the event ids (faster than
// COPY, which would send every row).
func seedLarge(ctx context.Context, db *sqlx.DB, owner uuid.UUID, day0 time.Time, progress func(string, int, int)) (seedCounts, int64, error) {
	var n seedCounts
	studio := seedVenueSpec{key: "bench-studio", name: "Benchmark Studio", city: "Amsterdam", address: "Keizersgracht 1",
		tz: "Europe/Amsterdam", owner: "org2", layout: evently.Layout{Sections: []evently.LayoutSection{
			seedBlock("MAIN", 16, 50), seedBlock("GALLERY", 4, 50)}}}
	venueID, added, err := seedVenue(ctx, db, studio, owner)
	if err != nil {
		return n, 0, err
	}
	if added {
		n.venues++
	}
	const events = 1000
	categories := []string{"music", "theatre", "comedy", "classical", "sports", "conference"}
	ids := make([]uuid.UUID, events)
	titles := make([]string, events)
	cats := make([]string, events)
	starts := make([]string, events)
	for i := range events {
		ids[i] = seedID("bench-event", fmt.Sprint(i))
		titles[i] = fmt.Sprintf("Benchmark Night #%04d", i+1)
		cats[i] = categories[i%len(categories)]
		starts[i] = day0.AddDate(0, 0, 1+i%365).Add(time.Duration(18+i%5) * time.Hour).Format(time.RFC3339)
	}
	tiers := `[{"name":"Main","price_cents":3000,"sections":["MAIN"]},{"name":"Gallery","price_cents":1500,"sections":["GALLERY"]}]`
	var fresh []uuid.UUID
	err = db.SelectContext(ctx, &fresh, `
		INSERT INTO events (id, venue_id, organizer_id, title, description, category, city, status, starts_at, ends_at,
			currency, tiers, capacity)
		SELECT id, $1, $2, title, 'Generated for benchmarks.', category, 'Amsterdam', 'draft', starts_at,
			starts_at + interval '2 hours', 'EUR', $7::jsonb, 0
		FROM unnest($3::uuid[], $4::text[], $5::text[], $6::timestamptz[]) AS t(id, title, category, starts_at)
		ON CONFLICT (id) DO NOTHING RETURNING id`,
		venueID, owner, seedUUIDs(ids), pq.Array(titles), pq.Array(cats), pq.Array(starts), tiers)
	if err != nil {
		return n, 0, translate(err, "event")
	}
	n.events = len(fresh)
	var seats int64
	const batch = 50
	for lo := 0; lo < len(fresh); lo += batch {
		progress("benchmark event seats", lo*1000, len(fresh)*1000)
		part := fresh[lo:min(lo+batch, len(fresh))]
		err := inTx(ctx, db, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, `
				INSERT INTO event_seats (event_id, seat_id, section, row_label, number, tier, price_cents)
				SELECT e.id, s.id, s.section, s.row_label, s.number, t.name, t.price_cents
				FROM events e
				JOIN seats s ON s.venue_id = e.venue_id
				JOIN (SELECT t->>'name' AS name, (t->>'price_cents')::bigint AS price_cents, sec
				      FROM jsonb_array_elements($2::jsonb) t, jsonb_array_elements_text(t->'sections') sec) t
				  ON t.sec = s.section
				WHERE e.id = ANY($1)`, seedUUIDs(part), tiers)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			seats += k
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `
				UPDATE events SET status = 'published', capacity = (SELECT capacity FROM venues WHERE id = $2)
				WHERE id = ANY($1)`, seedUUIDs(part), venueID)
			return err
		})
		if err != nil {
			return n, seats, translate(err, "event")
		}
	}
	progress("benchmark event seats", len(fresh)*1000, len(fresh)*1000)
	return n, seats, nil
}
