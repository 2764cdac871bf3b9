package evently

import "time"

// UnknownOutcome is a submission whose produce failed and whose withdrawal
// failed too (PostgreSQL did not answer): its book command may or may not
// be in Kafka, so it can be neither answered pending nor forgotten. It is
// kept, with its hold claimed and its idempotency key, until withdrawing it
// again succeeds: on a retry with the same key, a read of the booking, or
// the reaper's sweep.
type UnknownOutcome struct {
	Command BookCommand `json:"command"`
	// Hold is the hold the submission claimed: given back once withdrawn.
	Hold  Hold      `json:"hold"`
	Since time.Time `json:"since"`
}

// Outcome is what a submission of unknown outcome turned out to be.
type Outcome int

const (
	// OutcomeUnknown: still not known (PostgreSQL did not answer).
	OutcomeUnknown Outcome = iota
	// OutcomeWithdrawn: nothing was accepted. The booking is its
	// failed/not_accepted record, which makes the command change nothing
	// should it reach the booking worker; the hold and the key go back.
	OutcomeWithdrawn
	// OutcomeAccepted: the booking worker wrote the booking first; it is real.
	OutcomeAccepted
)

// ResolveOutcome decides what a submission of unknown outcome became, from
// the booking read once its withdrawal was tried again (err: the withdrawal
// or the read failed). A withdrawal that succeeds always leaves a booking:
// its own record (written now, or by an earlier try whose answer was lost)
// or the booking the worker wrote first, so the booking alone tells which.
func ResolveOutcome(b *Booking, err error) Outcome {
	switch {
	case err != nil || b == nil:
		return OutcomeUnknown
	case b.Status == BookingFailed && b.Reason != nil && *b.Reason == ReasonNotAccepted:
		return OutcomeWithdrawn
	}
	return OutcomeAccepted
}
