package store

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently"
)

// Outcomes keeps the submissions whose outcome is unknown (the produce
// failed, and so did the withdrawal: PostgreSQL did not answer) until they
// are resolved by withdrawing them again. Each is marked on its booking's
// pending status record, so a retry or a read resolves it instead of
// answering pending, and indexed (oldest first), so the reaper resolves the
// ones nobody asks about and their holds do not stay claimed.
type Outcomes struct {
	Bookings    *Bookings
	Holds       *Holds
	Feed        *Feed
	Idempotency *Idempotency
}

// The index: a sorted set of booking ids by the time their outcome became
// unknown, and a hash of each one's UnknownOutcome (which outlives the
// status record if PostgreSQL stays down for longer than a record lives).
func (o *Outcomes) indexKey() string { return o.Feed.Keys.Key("unknown") }
func (o *Outcomes) dataKey() string  { return o.Feed.Keys.Key("unknown", "outcomes") }

// Mark records that the outcome of the submission recorded as pending is
// unknown, keeping its hold, key and record. A record that went past
// pending meanwhile (the worker wrote the booking) is left as it is.
func (o *Outcomes) Mark(ctx context.Context, pending evently.StatusChange, u evently.UnknownOutcome) error {
	pending.Unknown = &u
	pipe := o.Feed.Redis.Pipeline()
	o.Feed.record(ctx, pipe, pending, false)
	o.index(ctx, pipe, &u)
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// index queues on p the entry of an unknown outcome in the index, in place
// of its booking's entry in the in-flight index.
func (o *Outcomes) index(ctx context.Context, p redis.Pipeliner, u *evently.UnknownOutcome) {
	b, _ := json.Marshal(u)
	id := u.Command.BookingID.String()
	p.HSet(ctx, o.dataKey(), id, b)
	p.ZAdd(ctx, o.indexKey(), redis.Z{Score: float64(u.Since.UnixMilli()), Member: id})
	p.ZRem(ctx, o.Feed.inFlightKey(), id)
}

// takeOverScript marks an in-flight pending record taken over (u) with its
// unknown outcome, unless its command was marked durable (d) or the
// booking moved on: the reverse of durableScript, so a command whose
// request says "accepted" is never withdrawn, and a command being
// withdrawn is never said to be accepted.
var takeOverScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 's') ~= '0' or redis.call('HEXISTS', KEYS[1], 'd') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[1], 'u', '1')
return 1
`)

// TakeOver makes the in-flight pending record c, whose request did not
// finish within its bound (it died), an unknown outcome, to be resolved
// like one: it returns the outcome to Resolve, or nil when the command
// was marked durable meanwhile (or the record moved on or went), so c
// must be read again.
func (o *Outcomes) TakeOver(ctx context.Context, c *evently.StatusChange) (*evently.UnknownOutcome, error) {
	hold := evently.Hold{EventID: c.EventID, UserID: c.UserID, SeatIDs: c.SeatIDs}
	if c.HoldID != nil {
		hold.ID = *c.HoldID
		// The hold itself names its holder (an admin may book for others).
		h, err := o.Holds.Get(ctx, hold.ID)
		switch {
		case err == nil:
			hold = *h
		case evently.ErrorCode(err) != evently.ENOTFOUND:
			return nil, err
		}
	}
	u := evently.Abandoned(c, hold)
	marked := *c
	marked.Unknown = &u
	j, _ := json.Marshal(marked)
	n, err := takeOverScript.Run(ctx, o.Feed.Redis, []string{o.Feed.key(c.BookingID)}, j).Int()
	if err != nil {
		return nil, unavailable(err)
	}
	if n != 1 {
		return nil, nil
	}
	// Indexed as unknown, so the sweep resolves it should this try fail.
	pipe := o.Feed.Redis.Pipeline()
	o.index(ctx, pipe, &u)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, unavailable(err)
	}
	return &u, nil
}

// TakeOverAbandoned takes over up to limit in-flight submissions accepted
// before the given time, whose requests died (StandingOf, with the time
// since as the bound), so that Unresolved returns them; it drops the
// in-flight entries of records that are durable, moved on or gone.
func (o *Outcomes) TakeOverAbandoned(ctx context.Context, before time.Time, limit int) error {
	rdb := o.Feed.Redis
	ids, err := rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: o.Feed.inFlightKey(), ByScore: true,
		Start: "-inf", Stop: strconv.FormatInt(before.UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil {
		return unavailable(err)
	}
	now := time.Now()
	var done []any
	for _, s := range ids {
		id, perr := uuid.Parse(s)
		var c *evently.StatusChange
		if perr == nil {
			if c, err = o.Feed.Current(ctx, id); err != nil {
				return err
			}
		}
		switch {
		case c == nil:
			done = append(done, s)
		case c.Unknown != nil: // marked, but its index entry was not written
			pipe := rdb.Pipeline()
			o.index(ctx, pipe, c.Unknown)
			if _, err := pipe.Exec(ctx); err != nil {
				return unavailable(err)
			}
		default:
			switch evently.StandingOf(c, now, now.Sub(before)) {
			case evently.StandingTrue:
				done = append(done, s)
			case evently.StandingUnknown:
				if _, err := o.TakeOver(ctx, c); err != nil {
					return err
				}
			}
		}
	}
	if len(done) > 0 {
		if err := rdb.ZRem(ctx, o.Feed.inFlightKey(), done...).Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// Resolve withdraws the submission again and returns its booking as
// PostgreSQL has it: failed/not_accepted when nothing was accepted (its
// hold, record and key are then given back, as after a refusal), or the
// booking the worker wrote first. It fails EUNAVAILABLE while that cannot
// be known. Withdrawing is safe at any moment, even with the command still
// on its way to the worker: whichever is written first decides, and the
// worker skips a booking id it finds.
func (o *Outcomes) Resolve(ctx context.Context, u *evently.UnknownOutcome) (*evently.Booking, error) {
	_, err := o.Bookings.Withdraw(ctx, &u.Command)
	var bk *evently.Booking
	if err == nil {
		bk, err = o.Bookings.Get(ctx, u.Command.BookingID)
	}
	outcome := evently.ResolveOutcome(bk, err)
	if outcome == evently.OutcomeUnknown {
		return nil, &evently.Error{Code: evently.EUNAVAILABLE, RetryAfter: 2,
			Message: "It is not known yet whether the booking was accepted."}
	}
	// The truth is known; a clean-up Redis misses leaves the entry in the
	// index (removed last), and the sweep does it again.
	_ = o.forget(ctx, u, outcome == evently.OutcomeWithdrawn)
	return bk, nil
}

// forgetPendingScript drops a status record still at pending: the booking
// is in PostgreSQL, and a record the worker moved on is newer than that.
var forgetPendingScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 's') == '0' then redis.call('DEL', KEYS[1]) end
return 1
`)

// forget ends a resolved submission's entry; a withdrawn one also gives
// back its hold, its status record and its idempotency key, as a refusal
// does, in one round trip.
func (o *Outcomes) forget(ctx context.Context, u *evently.UnknownOutcome, withdrawn bool) error {
	c := &u.Command
	_, err := o.Feed.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		if withdrawn {
			keys, args := o.Holds.releaseArgs(&u.Hold)
			releaseScript.Eval(ctx, p, keys, args...)
			p.Del(ctx, o.Holds.Keys.Key("hold", u.Hold.ID.String()))
			p.Del(ctx, o.Feed.key(c.BookingID))
			if c.IdempotencyKey != "" {
				o.Idempotency.forgetFor(ctx, p, c.UserID, c.IdempotencyKey, c.BookingID.String())
			}
		} else {
			forgetPendingScript.Eval(ctx, p, []string{o.Feed.key(c.BookingID)})
		}
		p.HDel(ctx, o.dataKey(), c.BookingID.String())
		p.ZRem(ctx, o.indexKey(), c.BookingID.String())
		p.ZRem(ctx, o.Feed.inFlightKey(), c.BookingID.String())
		return nil
	})
	return err
}

// Unresolved returns up to limit submissions whose outcome became unknown
// before the given time, oldest first.
func (o *Outcomes) Unresolved(ctx context.Context, before time.Time, limit int) ([]evently.UnknownOutcome, error) {
	rdb := o.Feed.Redis
	ids, err := rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: o.indexKey(), ByScore: true,
		Start: "-inf", Stop: strconv.FormatInt(before.UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	vals, err := rdb.HMGet(ctx, o.dataKey(), ids...).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	var out []evently.UnknownOutcome
	var orphans []any
	for i, v := range vals {
		var u evently.UnknownOutcome
		if s, ok := v.(string); !ok || json.Unmarshal([]byte(s), &u) != nil {
			orphans = append(orphans, ids[i]) // its entry was ended half-way
			continue
		}
		out = append(out, u)
	}
	if len(orphans) > 0 {
		if err := rdb.ZRem(ctx, o.indexKey(), orphans...).Err(); err != nil {
			return nil, unavailable(err)
		}
	}
	return out, nil
}

// forgetForScript deletes an idempotency key only while it names the
// booking: a key released meanwhile may already name a newer submission.
var forgetForScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).booking_id == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

func (i *Idempotency) forgetFor(ctx context.Context, p redis.Pipeliner, user uuid.UUID, key, booking string) {
	forgetForScript.Eval(ctx, p, []string{i.key(user, key)}, booking)
}
