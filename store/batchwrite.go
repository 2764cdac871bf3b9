package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lib/pq"
)

// batchWrite gathers a batch's writes into one statement of data-modifying
// CTEs: one round trip and one parse for the seats, bookings, their seats,
// history, payments and outbox of a run, instead of one per table. Every
// part sees the snapshot from before the statement and foreign keys are
// checked at its end, so the parts must not read each other's rows; a
// reader of them (the next run's locks) flushes first.
type batchWrite struct {
	parts []string
	args  []any
	// sold names the part that sells seats (RETURNING 1), and wantSold the
	// rows it must touch: anything else is a stale version.
	sold     bool
	wantSold int
}

func (w *batchWrite) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

// add adds a statement as a CTE of its own and returns the CTE's name.
func (w *batchWrite) add(stmt string) string {
	name := "w" + strconv.Itoa(len(w.parts))
	w.parts = append(w.parts, name+" AS ("+stmt+")")
	return name
}

// sell adds the version-checked seat update, which must touch want rows.
func (w *batchWrite) sell(stmt string, want int) {
	w.sold, w.wantSold = true, want
	w.parts = append(w.parts, "sold AS ("+stmt+" RETURNING 1)")
}

// flush runs what was gathered, if anything, and starts afresh. The seat
// check is made by the statement itself (evently_check_sold), so a stale
// version aborts every part of it, inside a transaction or not.
func (w *batchWrite) flush(ctx context.Context, q querier) error {
	if len(w.parts) == 0 {
		return nil
	}
	result := "SELECT 0"
	if w.sold {
		result = "SELECT evently_check_sold(count(*), " + w.arg(w.wantSold) + ") FROM sold"
	}
	q2 := "WITH " + strings.Join(w.parts, ",\n") + "\n" + result
	var sold int
	err := q.QueryRowContext(ctx, q2, w.args...).Scan(&sold)
	*w = batchWrite{}
	var pe *pq.Error
	switch {
	case isUniqueViolation(err, "booking_seats_one_active"):
		// The second guard: a seat in two active bookings fails the batch.
		return fmt.Errorf("%w: a seat already belongs to an active booking", ErrStaleVersion)
	case errors.As(err, &pe) && pe.Code == pqSerializationFailure:
		return fmt.Errorf("%w: %s", ErrStaleVersion, pe.Message)
	case err != nil:
		return fmt.Errorf("write batch: %w", err)
	}
	return nil
}

// querier runs statements: a transaction, or the pool (one statement, one
// transaction).
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
