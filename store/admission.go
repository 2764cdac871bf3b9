package store

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently"
)

// Admissions admits bookings on a hold in two Redis round trips: the
// idempotency key and the hold's lookup in one pipeline, then the claim
// (on the event's hash slot), the pending status record (in flight until
// Feed.Durable) and its in-flight index entry in another.
// A claim that is refused takes the record and the key back.
type Admissions struct {
	Holds       *Holds
	Idempotency *Idempotency
	Feed        *Feed
}

// Admit settles what the booking needs before its command is queued.
func (a *Admissions) Admit(ctx context.Context, in evently.Admission) (evently.Admitted, error) {
	rdb := a.Holds.Redis
	pipe := rdb.Pipeline()
	var reserved *redis.BoolCmd
	if in.IdempotencyKey != "" {
		reserved = a.Idempotency.reserve(ctx, pipe, in.UserID, in.IdempotencyKey, in.BodyHash, in.BookingID)
	}
	lookup := pipe.Get(ctx, a.Holds.Keys.Key("hold", in.HoldID.String()))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return evently.Admitted{}, unavailable(err)
	}
	if reserved != nil && !reserved.Val() {
		prev, hash, err := a.Idempotency.earlier(ctx, in.UserID, in.IdempotencyKey)
		return evently.Admitted{Earlier: prev, EarlierHash: hash}, err
	}
	undo := func(recorded bool) {
		bg := context.WithoutCancel(ctx)
		p := rdb.Pipeline()
		if recorded {
			p.Del(bg, a.Feed.key(in.BookingID))
			p.ZRem(bg, a.Feed.inFlightKey(), in.BookingID.String())
		}
		if in.IdempotencyKey != "" {
			p.Del(bg, a.Idempotency.key(in.UserID, in.IdempotencyKey))
		}
		_, _ = p.Exec(bg)
	}
	v, err := lookup.Result()
	if errors.Is(err, redis.Nil) {
		undo(false)
		return evently.Admitted{}, evently.Errorf(evently.ENOTFOUND, "Hold not found; it may have expired.")
	}
	eventID, seats, err := parseLookup(v)
	if err != nil {
		undo(false)
		return evently.Admitted{}, err
	}
	hold := &evently.Hold{ID: in.HoldID, EventID: eventID}
	pending := evently.StatusChange{BookingID: in.BookingID, UserID: in.UserID, EventID: eventID, HoldID: &hold.ID,
		Status: evently.BookingPending, SeatIDs: seats, At: in.At, AcceptedAt: in.At,
		InFlight: &evently.Submission{IdempotencyKey: in.IdempotencyKey, PaymentToken: in.PaymentToken}}
	keys, args := a.Holds.claimArgs(hold, in.UserID, in.AsForOthers, in.BookingID)
	pipe = rdb.Pipeline()
	claim := claimScript.Eval(ctx, pipe, keys, args...)
	a.Feed.pending(ctx, pipe, pending)
	if _, err := pipe.Exec(ctx); err != nil {
		undo(true)
		return evently.Admitted{}, unavailable(err)
	}
	res, err := claim.StringSlice()
	if err == nil {
		err = claimed(hold, res)
	}
	if err != nil {
		undo(true)
		return evently.Admitted{}, unavailable(err)
	}
	if len(seats) == 0 && len(hold.SeatIDs) > 0 {
		// A lookup written before it carried the seats: record them now.
		pending.SeatIDs = hold.SeatIDs
		if err := a.Feed.SetPending(ctx, pending); err != nil {
			undo(true)
			return evently.Admitted{}, err
		}
	}
	return evently.Admitted{Hold: hold, Pending: pending}, nil
}

// reserve queues the key's SETNX on p.
func (i *Idempotency) reserve(ctx context.Context, p redis.Cmdable, user uuid.UUID, key, bodyHash string, booking uuid.UUID) *redis.BoolCmd {
	b, _ := json.Marshal(idemRecord{BookingID: booking, BodyHash: bodyHash})
	return p.SetNX(ctx, i.key(user, key), b, i.ttl())
}
