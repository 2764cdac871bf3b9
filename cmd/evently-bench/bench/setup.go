// Package bench is Evently's load and chaos harness: it prepares buyers and
// events straight in PostgreSQL, drives the HTTP API (Evently's or the naive
// baseline's) with simulated buyers, injects faults, and reports figures
// (JSON, Markdown, SVG).
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/evently/evently"
	"github.com/evently/evently/store"
)

// SetupOptions size the data set.
type SetupOptions struct {
	Users    int // buyer accounts
	Events   int // published events
	Seats    int // seats per event
	RowSize  int // seats per row (default 20)
	Password string
	Tag      string // distinguishes data sets in one database (default random)
}

// SetupResult says what was made; saved as JSON for `evently-bench run`.
type SetupResult struct {
	Tag         string      `json:"tag"`
	Users       int         `json:"users"`
	EmailFormat string      `json:"email_format"` // fmt format with one %d: the buyer's number from 1
	Password    string      `json:"password"`
	Events      []uuid.UUID `json:"events"`
	Seats       int         `json:"seats_per_event"`
}

// Email is buyer i's address (i from 0; wraps around the user count).
func (r *SetupResult) Email(i int) string { return fmt.Sprintf(r.EmailFormat, i%r.Users+1) }

// Setup inserts buyers (bcrypt cost 4, so logins are cheap), an organizer,
// and per event a venue with its seats and a published event whose seats
// are all on sale. Front rows are a pricier tier.
func Setup(ctx context.Context, db *sqlx.DB, o SetupOptions) (*SetupResult, error) {
	if o.RowSize <= 0 {
		o.RowSize = 20
	}
	if o.Password == "" {
		o.Password = "bench-password-1234"
	}
	if o.Tag == "" {
		o.Tag = strings.ToLower(evently.NewID().String()[24:])
	}
	if o.Users < 1 || o.Events < 1 || o.Seats < 1 {
		return nil, fmt.Errorf("setup: users, events and seats must be positive")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), 4)
	if err != nil {
		return nil, err
	}
	res := &SetupResult{Tag: o.Tag, Users: o.Users, Password: o.Password, Seats: o.Seats,
		EmailFormat: "bench-" + o.Tag + "-%06d@bench.evently.test"}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, full_name, password_hash)
		SELECT gen_random_uuid(), 'bench-' || $1 || '-' || lpad(i::text, 6, '0') || '@bench.evently.test', 'Bench buyer ' || i, $2
		FROM generate_series(1, $3) AS i`, o.Tag, hash, o.Users); err != nil {
		return nil, fmt.Errorf("setup users: %w", err)
	}
	organizer := evently.NewID()
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, full_name, role, password_hash) VALUES ($1, $2, 'Bench organizer', 'organizer', $3)`,
		organizer, "bench-"+o.Tag+"-organizer@bench.evently.test", hash); err != nil {
		return nil, fmt.Errorf("setup organizer: %w", err)
	}
	premiumRows := max(1, (o.Seats/o.RowSize)/5)
	for e := 0; e < o.Events; e++ {
		venue, event := evently.NewID(), evently.NewID()
		if _, err := tx.ExecContext(ctx, `INSERT INTO venues (id, owner_id, name, city, capacity) VALUES ($1, $2, $3, 'Benchville', $4)`,
			venue, organizer, fmt.Sprintf("Bench hall %s-%d", o.Tag, e+1), o.Seats); err != nil {
			return nil, fmt.Errorf("setup venue: %w", err)
		}
		// Seat i (from 0) is in row i/RowSize (labels A..Z, AA..), number i%RowSize+1.
		seatSQL := `SELECT $1::uuid, row_label || '-' || number, 'MAIN', row_label, number,
				CASE WHEN r < $4 THEN 'premium' ELSE 'standard' END, CASE WHEN r < $4 THEN 15000 ELSE 7500 END
			FROM (SELECT i / $3 AS r, i % $3 + 1 AS number,
				CASE WHEN i / $3 < 26 THEN chr(65 + i / $3) ELSE 'R' || (i / $3 + 1) END AS row_label
				FROM generate_series(0, $2 - 1) AS i) s`
		if _, err := tx.ExecContext(ctx, `INSERT INTO seats (venue_id, id, section, row_label, number)
			SELECT v, id, section, row_label, number FROM (`+strings.Replace(seatSQL, "$1::uuid", "$1::uuid AS v", 1)+`) x(v, id, section, row_label, number, tier, price)`,
			venue, o.Seats, o.RowSize, premiumRows); err != nil {
			return nil, fmt.Errorf("setup seats: %w", err)
		}
		tiers := `[{"name":"premium","price_cents":15000},{"name":"standard","price_cents":7500}]`
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, venue_id, organizer_id, title, category, city, status, starts_at, ends_at,
				sales_start_at, tiers, capacity)
			VALUES ($1, $2, $3, $4, 'concert', 'Benchville', 'published', now() + interval '30 days', now() + interval '30 days 3 hours',
				now() - interval '1 hour', $5, $6)`,
			event, venue, organizer, fmt.Sprintf("Bench on-sale %s #%d", o.Tag, e+1), tiers, o.Seats); err != nil {
			return nil, fmt.Errorf("setup event: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO event_seats (event_id, seat_id, section, row_label, number, tier, price_cents)
			SELECT * FROM (`+seatSQL+`) x`, event, o.Seats, o.RowSize, premiumRows); err != nil {
			return nil, fmt.Errorf("setup event seats: %w", err)
		}
		res.Events = append(res.Events, event)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	// Fresh statistics, as a live database has: without them the planner
	// may join tens of thousands of just-loaded seats the slow way.
	if _, err := db.ExecContext(ctx, `ANALYZE users, venues, seats, events, event_seats`); err != nil {
		return nil, fmt.Errorf("setup analyze: %w", err)
	}
	return res, nil
}

// Save writes the result as JSON.
func (r *SetupResult) Save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// LoadSetup reads a saved SetupResult.
func LoadSetup(path string) (*SetupResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r SetupResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Users < 1 || len(r.Events) == 0 {
		return nil, fmt.Errorf("%s: no users or events", path)
	}
	return &r, nil
}

// RecreateDatabase drops and creates database name on the server of
// adminURL, migrates it, and returns its URL.
func RecreateDatabase(ctx context.Context, adminURL, name string) (string, error) {
	admin, err := store.OpenPostgres(ctx, adminURL, 1)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pqIdent(name)+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+pqIdent(name)); err != nil {
		return "", err
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	db, err := store.OpenPostgres(ctx, u.String(), 2)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := store.Migrate(ctx, db.DB); err != nil {
		return "", err
	}
	return u.String(), nil
}

func pqIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
