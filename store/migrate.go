package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/evently/evently/migrations"
)

// migrator returns a goose provider over the embedded migrations. The
// session locker (a PostgreSQL advisory lock) makes two processes migrating
// at once safe: the second waits, then finds nothing to do.
func migrator(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
}

// Migrate applies every pending migration and returns how many it applied.
func Migrate(ctx context.Context, db *sql.DB) (int, error) {
	p, err := migrator(db)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	return len(res), nil
}

// MigrationState is where the database stands against the embedded migrations.
type MigrationState struct {
	Current int64 `json:"current"`
	Latest  int64 `json:"latest"`
}

// Pending reports whether migrations remain to be applied.
func (s MigrationState) Pending() bool { return s.Current < s.Latest }

// Migrations reports the database's migration state.
func Migrations(ctx context.Context, db *sql.DB) (MigrationState, error) {
	p, err := migrator(db)
	if err != nil {
		return MigrationState{}, err
	}
	cur, latest, err := p.GetVersions(ctx)
	if err != nil {
		return MigrationState{}, fmt.Errorf("migration status: %w", err)
	}
	return MigrationState{Current: cur, Latest: latest}, nil
}
