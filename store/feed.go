package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently"
)

// Feed keeps each booking's latest status in Redis and publishes changes
// for live streams. PostgreSQL stays the truth; the feed makes a booking
// visible as pending from the moment of its 202 and pushes changes to
// whoever is streaming.
type Feed struct {
	Redis redis.UniversalClient
	Keys  Keys
	// TTL bounds how long a status record lives (the stream's reach).
	TTL time.Duration

	hub hub[evently.StatusChange]
}

// The status record is a hash (s: stage, j: the StatusChange as JSON), so
// the record script can keep the furthest stage without decoding JSON.
func (f *Feed) key(id uuid.UUID) string { return f.Keys.Key("bks", id.String()) }

// recordScript writes a status record unless the record already shows a
// later stage (a lagging writer never takes a booking back), and publishes
// it for streams and waiting requests when it wrote.
var recordScript = redis.NewScript(`
local s = redis.call('HGET', KEYS[1], 's')
if s and tonumber(s) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'j', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[2]) end
return 1
`)

func (f *Feed) record(ctx context.Context, r redis.Scripter, c evently.StatusChange, publish bool) *redis.Cmd {
	b, _ := json.Marshal(c)
	ch := ""
	if publish {
		ch = f.Channel(c.BookingID)
	}
	keys, args := []string{f.key(c.BookingID)}, []any{c.Status.Stage(), b, f.ttl().Milliseconds(), ch}
	if _, inPipeline := r.(redis.Pipeliner); inPipeline {
		// A pipeline cannot fall back from EVALSHA after a Redis restart.
		return recordScript.Eval(ctx, r, keys, args...)
	}
	return recordScript.Run(ctx, r, keys, args...)
}

// Channel is the pub/sub channel of one booking.
func (f *Feed) Channel(id uuid.UUID) string { return f.Keys.Key("bkch", id.String()) }

func (f *Feed) ttl() time.Duration {
	if f.TTL > 0 {
		return f.TTL
	}
	return time.Hour
}

// The in-flight index: a sorted set of the bookings whose pending record
// is in flight (evently.StatusChange.InFlight), by the time they were
// accepted, so the reaper finds the ones whose request died.
func (f *Feed) inFlightKey() string { return f.Keys.Key("inflight") }

// pending queues on p the pending record of a booking about to be queued
// and its entry in the in-flight index.
func (f *Feed) pending(ctx context.Context, p redis.Pipeliner, c evently.StatusChange) {
	f.record(ctx, p, c, false)
	if c.InFlight != nil {
		p.ZAdd(ctx, f.inFlightKey(), redis.Z{Score: float64(c.AcceptedAt.UnixMilli()), Member: c.BookingID.String()})
	}
}

// SetPending records an accepted booking before its command is queued.
func (f *Feed) SetPending(ctx context.Context, c evently.StatusChange) error {
	if _, err := f.Redis.Pipelined(ctx, func(p redis.Pipeliner) error { f.pending(ctx, p, c); return nil }); err != nil {
		return unavailable(err)
	}
	return nil
}

// durableScript clears a pending record's in-flight mark (field d: the
// command is durable), unless the record is gone or was taken over by
// someone resolving it as abandoned (field u): that one may be withdrawn,
// so its request must not say it was accepted. The take-over script checks
// d in turn, so of the two only the first wins.
var durableScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'u') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'd', '1')
return 1
`)

// errNotDurable: the durable mark was refused.
var errNotDurable = &evently.Error{Code: evently.EUNAVAILABLE, RetryAfter: 2,
	Message: "The booking could not be recorded as queued; nothing was accepted. Try again shortly."}

// Durable records that a booking's command is durable in the queue, in one
// round trip with its removal from the in-flight index. It fails when the
// record was taken over meanwhile (or Redis did not answer): the caller
// cannot tell the client the booking was accepted and must withdraw it.
func (f *Feed) Durable(ctx context.Context, id uuid.UUID) error {
	var ok *redis.Cmd
	_, err := f.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		ok = durableScript.Eval(ctx, p, []string{f.key(id)})
		p.ZRem(ctx, f.inFlightKey(), id.String())
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	if n, _ := ok.Int(); n != 1 {
		return errNotDurable
	}
	return nil
}

// Forget drops a pending record whose command never made it to the queue.
func (f *Feed) Forget(ctx context.Context, id uuid.UUID) error {
	_, err := f.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, f.key(id))
		p.ZRem(ctx, f.inFlightKey(), id.String())
		return nil
	})
	return err
}

// Current returns the last recorded status, or nil. A pending record whose
// command was marked durable is returned without its in-flight mark.
func (f *Feed) Current(ctx context.Context, id uuid.UUID) (*evently.StatusChange, error) {
	v, err := f.Redis.HMGet(ctx, f.key(id), "j", "d").Result()
	if err != nil {
		return nil, unavailable(err)
	}
	j, ok := v[0].(string)
	if !ok {
		return nil, nil
	}
	var c evently.StatusChange
	if err := json.Unmarshal([]byte(j), &c); err != nil {
		return nil, nil
	}
	if v[1] != nil {
		c.InFlight = nil
	}
	return &c, nil
}

func (f *Feed) publish(ctx context.Context, p redis.Pipeliner, changes []evently.StatusChange) {
	for _, c := range changes {
		f.record(ctx, p, c, true)
	}
}

// Watch returns the changes of one booking as they are published, and a
// function to stop watching. Every watcher of a process shares one Redis
// pattern subscription (see hub).
func (f *Feed) Watch(ctx context.Context, id uuid.UUID) (<-chan evently.StatusChange, func()) {
	return f.hub.watch(ctx, f.Redis, f.Keys.Key("bkch", "*"), decodeChange, id, 4)
}

func decodeChange(payload string) (uuid.UUID, evently.StatusChange, bool) {
	var c evently.StatusChange
	if json.Unmarshal([]byte(payload), &c) != nil {
		return uuid.Nil, c, false
	}
	return c.BookingID, c, true
}

// Idempotency remembers, for 24 hours, which booking a client's
// Idempotency-Key produced and a hash of the request body.
type Idempotency struct {
	Redis redis.UniversalClient
	Keys  Keys
	TTL   time.Duration
}

type idemRecord struct {
	BookingID uuid.UUID `json:"booking_id"`
	BodyHash  string    `json:"body_hash"`
}

func (i *Idempotency) key(user uuid.UUID, k string) string {
	return i.Keys.Key("idem", user.String(), k)
}

// Reserve claims key for booking; when the key was used before it returns
// the earlier booking and body hash instead.
func (i *Idempotency) Reserve(ctx context.Context, user uuid.UUID, key, bodyHash string, booking uuid.UUID) (prev *uuid.UUID, prevHash string, err error) {
	ok, err := i.reserve(ctx, i.Redis, user, key, bodyHash, booking).Result()
	if err != nil {
		return nil, "", unavailable(err)
	}
	if ok {
		return nil, "", nil
	}
	return i.earlier(ctx, user, key)
}

func (i *Idempotency) ttl() time.Duration {
	if i.TTL <= 0 {
		return 24 * time.Hour
	}
	return i.TTL
}

// earlier reads the booking and body hash a used key names.
func (i *Idempotency) earlier(ctx context.Context, user uuid.UUID, key string) (*uuid.UUID, string, error) {
	old, err := i.Redis.Get(ctx, i.key(user, key)).Bytes()
	if err != nil {
		return nil, "", unavailable(err)
	}
	var r idemRecord
	if err := json.Unmarshal(old, &r); err != nil {
		return nil, "", unavailable(err)
	}
	return &r.BookingID, r.BodyHash, nil
}

// Forget releases a key whose request was not accepted after all, while
// it still names that request's booking (a key released meanwhile may
// already name a newer submission).
func (i *Idempotency) Forget(ctx context.Context, user uuid.UUID, key string, booking uuid.UUID) error {
	return forgetForScript.Run(ctx, i.Redis, []string{i.key(user, key)}, booking.String()).Err()
}

// MayHaveForgotten reports whether the record of a booking made at the id's
// time (a UUIDv7) may have been lost: Redis started after the id was made,
// and the id is younger than a record lives. A booking accepted before a
// restart that emptied Redis, and not committed yet, is then in neither
// Redis nor PostgreSQL; the API must not call it "not found". Redis tells
// its uptime in whole seconds, so within a second of the restart the
// answer errs on the side of "may have".
func (f *Feed) MayHaveForgotten(ctx context.Context, id uuid.UUID) (bool, error) {
	if id.Version() != 7 {
		return false, nil
	}
	made := time.Unix(id.Time().UnixTime())
	if time.Since(made) > f.ttl() {
		return false, nil
	}
	// On a cluster, the uptime that matters is that of the master holding
	// the record (another node's restart lost none of it).
	node, err := nodeOf(ctx, f.Redis, f.key(id))
	if err != nil {
		return false, err
	}
	info, err := node.Info(ctx, "server").Result()
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "uptime_in_seconds:"); ok {
			up, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return false, err
			}
			return made.Before(time.Now().Add(-time.Duration(up) * time.Second)), nil
		}
	}
	return false, nil
}
