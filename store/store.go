// Package store is Evently's storage adapter: PostgreSQL repositories (the
// truth, through sqlx and lib/pq) and Redis adapters (the fast gate: seat
// holds in Lua, rate limits, idempotency keys, the token deny-list, pub/sub).
// Driver errors are translated here into domain errors; none reach callers.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/evently/evently"
)

// OpenPostgres connects to PostgreSQL and checks that it answers.
func OpenPostgres(ctx context.Context, url string, maxConns int) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", oneRoundTrip(url))
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if maxConns <= 0 {
		maxConns = 20
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres unreachable: %w", err)
	}
	return db, nil
}

// oneRoundTrip turns on lib/pq's binary_parameters unless the URL decides:
// a statement with parameters is then parsed, bound and run in one round
// trip, where lib/pq otherwise prepares it first and waits (two). Under an
// on-sale every round trip waits for a CPU, so this halves the booking
// batch's waits. The cost: a []byte parameter is sent in binary format, so
// JSON goes to PostgreSQL as a string, never as []byte.
func oneRoundTrip(url string) string {
	if strings.Contains(url, "binary_parameters=") {
		return url
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "binary_parameters=yes"
}

// SQLSTATE codes that mean something in the domain.
const (
	pqUniqueViolation      = "23505"
	pqForeignKeyViolation  = "23503"
	pqCheckViolation       = "23514"
	pqInvalidText          = "22P02"
	pqSerializationFailure = "40001"
)

// translate turns driver errors into domain errors. what names the thing
// for messages ("booking", "email").
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return evently.Errorf(evently.ENOTFOUND, "%s not found.", what)
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case pqUniqueViolation:
			return &evently.Error{Code: evently.ECONFLICT, Message: fmt.Sprintf("%s already exists.", what)}
		case pqForeignKeyViolation:
			return evently.Errorf(evently.EINVALID, "%s refers to something that does not exist.", what)
		case pqCheckViolation, pqInvalidText:
			return evently.Errorf(evently.EINVALID, "%s is not valid.", what)
		}
	}
	return err
}

// Unappliable reports whether PostgreSQL refused a statement for its data,
// so that applying the same commands again can only fail again: a data
// exception (SQLSTATE class 22: a NUL byte in text, a number out of range)
// or a not-null, foreign-key or check violation. The booking worker treats
// such a batch as poison at once, so the command at fault is isolated and
// dead-lettered without the partition retrying the whole batch first. A
// unique violation is not among them: the booking engine's guards raise it
// for a stale batch, which a retry fixes.
func Unappliable(err error) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return false
	}
	switch {
	case pe.Code.Class() == "22":
		return true
	case pe.Code == "23502", pe.Code == pqForeignKeyViolation, pe.Code == pqCheckViolation:
		return true
	}
	return false
}

// isUniqueViolation reports whether err is a unique-key violation, optionally
// on the named constraint or index.
func isUniqueViolation(err error, constraint string) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) || pe.Code != pqUniqueViolation {
		return false
	}
	return constraint == "" || pe.Constraint == constraint
}

// inTx runs fn in one transaction: begin, fn, commit; rollback on any error.
func inTx(ctx context.Context, db *sqlx.DB, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
