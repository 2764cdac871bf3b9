package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
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

// add adds a statement as a CTE of its own.
func (w *batchWrite) add(stmt string) {
	w.parts = append(w.parts, "w"+strconv.Itoa(len(w.parts))+" AS ("+stmt+")")
}

// sell adds the version-checked seat update, which must touch want rows.
func (w *batchWrite) sell(stmt string, want int) {
	w.sold, w.wantSold = true, want
	w.parts = append(w.parts, "sold AS ("+stmt+" RETURNING 1)")
}

// flush runs what was gathered, if anything, and starts afresh.
func (w *batchWrite) flush(ctx context.Context, tx *sqlx.Tx) error {
	if len(w.parts) == 0 {
		return nil
	}
	result := "SELECT 0"
	if w.sold {
		result = "SELECT count(*) FROM sold"
	}
	q := "WITH " + strings.Join(w.parts, ",\n") + "\n" + result
	sold, want, checked := 0, w.wantSold, w.sold
	err := tx.QueryRowContext(ctx, q, w.args...).Scan(&sold)
	*w = batchWrite{}
	switch {
	case isUniqueViolation(err, "booking_seats_one_active"):
		// The second guard: a seat in two active bookings fails the batch.
		return fmt.Errorf("%w: a seat already belongs to an active booking", ErrStaleVersion)
	case err != nil:
		return fmt.Errorf("write batch: %w", err)
	case checked && sold != want:
		return fmt.Errorf("%w: sold %d of %d", ErrStaleVersion, sold, want)
	}
	return nil
}
