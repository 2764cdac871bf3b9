package bench

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/evently/evently/store"
)

// Audit runs the integrity audit over the run's events and the bookings it
// was given a 202 (or 201) for, waiting up to settleWait for them to
// settle, and stores the report in the result.
func Audit(ctx context.Context, db *sqlx.DB, setup *SetupResult, res *Result, settleWait time.Duration,
	reconcile func(context.Context) ([]string, error)) *AuditReport {
	start := time.Now()
	rep := &AuditReport{}
	var accepted []uuid.UUID
	for _, s := range res.AcceptedIDs {
		if id, err := uuid.Parse(s); err == nil {
			accepted = append(accepted, id)
		}
	}
	rep.Checked = len(accepted)
	vs, err := store.CheckIntegrity(ctx, db, store.IntegrityOptions{
		EventIDs: setup.Events, Accepted: accepted, SettleWait: settleWait, Reconcile: reconcile})
	if err != nil {
		rep.Error = err.Error()
	}
	rep.Violations = vs
	rep.TookS = time.Since(start).Seconds()
	res.Audit = rep
	return rep
}
