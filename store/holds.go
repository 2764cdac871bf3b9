package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/evently/evently"
)

// Redis layout of seat holds, all under the event's hash tag {ev:<id>}:
//
//	{ev}:seat:<seat>   holding hold id, expires with the hold (the per-seat lock)
//	{ev}:hold:<hold>   hash: user, seats (JSON), expires (ms), event; expires with the hold
//	{ev}:held          sorted set: seat -> expiry (ms), for seat maps
//	{ev}:sold          set of sold seats, kept by the booking worker
//	{ev}:sold:loaded   present while {ev}:sold mirrors PostgreSQL; it expires so
//	                   the mirror is rebuilt now and then
//	{ev}:user:<user>   sorted set: hold -> expiry (ms), for the per-user cap
//	hold:<hold>        "<event id> <seats JSON>" of a hold, for lookups by hold id alone

// HeldSeats returns the seats of an event held (not sold) right now.
func HeldSeats(ctx context.Context, rdb redis.UniversalClient, k Keys, eventID uuid.UUID, now time.Time) ([]string, error) {
	return rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k.Event(eventID) + ":held", ByScore: true,
		Start: strconv.FormatInt(now.UnixMilli()+1, 10), Stop: "+inf"}).Result()
}

// takeScript takes every seat or none. It refuses sold seats (from the
// mirror of PostgreSQL), seats held by anyone, and users over their cap.
// The last key counts the holds it granted, for analytics (no round trip
// of its own).
var takeScript = redis.NewScript(`
local last = #KEYS - 1
if redis.call('EXISTS', KEYS[3]) == 0 then return {'need_sold'} end
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
if tonumber(ARGV[5]) > 0 and redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[5]) then return {'cap'} end
local conflicts = {}
for i = 6, last do
  local seat = ARGV[i + 2]
  if redis.call('SISMEMBER', KEYS[2], seat) == 1 or redis.call('EXISTS', KEYS[i]) == 1 then
    table.insert(conflicts, seat)
  end
end
if #conflicts > 0 then return {'conflict', unpack(conflicts)} end
local exp = now + ttl
for i = 6, last do
  redis.call('SET', KEYS[i], ARGV[3], 'PX', ttl)
  redis.call('ZADD', KEYS[1], exp, ARGV[i + 2])
end
redis.call('HSET', KEYS[4], 'user', ARGV[4], 'seats', ARGV[6], 'expires', exp, 'event', ARGV[7])
redis.call('PEXPIRE', KEYS[4], ttl)
redis.call('ZADD', KEYS[5], exp, ARGV[3])
if redis.call('PTTL', KEYS[5]) < ttl then redis.call('PEXPIRE', KEYS[5], ttl) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('INCR', KEYS[#KEYS])
return {'ok', tostring(exp)}
`)

// releaseScript drops a hold: only seat locks still naming this hold.
var releaseScript = redis.NewScript(releaseLua)

const releaseLua = `
for i = 4, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', KEYS[1], ARGV[i - 2])
  end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`

// giveUpScript is releaseScript for the holder giving a hold up: a hold a
// booking claimed keeps the booking's seats, so it is refused (0).
var giveUpScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[2], 'booking') == 1 then return 0 end
` + releaseLua)

// Holds keeps seat holds in Redis. PostgreSQL is read only to learn an
// event's seats (cached) and to rebuild the sold mirror when it is missing.
type Holds struct {
	Redis redis.UniversalClient
	Keys  Keys
	DB    *sqlx.DB
	TTL   time.Duration
	// MaxPerUser caps a user's active holds per event (0: no cap).
	MaxPerUser int
	Now        func() time.Time

	events sync.Map // uuid.UUID -> *eventSeats
	group  singleflight.Group

	// Lookup keys of refused holds, deleted by the next Take's pipeline
	// rather than by a round trip of their own (see Take).
	staleMu sync.Mutex
	stale   []string
}

// maxStale bounds the lookup keys waiting for deletion; beyond it they are
// left to expire with their TTL.
const maxStale = 4096

// eventSeats is what a hold needs to know of an event, cached briefly.
type eventSeats struct {
	status evently.EventStatus
	// The sales window: holds are taken from salesStart (when set) until
	// salesEnd, or the start of the event when salesEnd is not set.
	salesStart *time.Time
	salesEnd   *time.Time
	startsAt   time.Time
	seats      map[string]bool
	fetched    time.Time
}

// eventCacheTTL is how old an event's cached seats may grow before a
// background refresh; it bounds (plus one refresh) how long a cancelled
// event can still take holds on one API instance. The worker re-checks the
// event when it commits.
const eventCacheTTL = 5 * time.Second

// soldMirrorTTL bounds how long a stale sold entry can survive in Redis
// (a seat released while the mirror was being rebuilt).
const soldMirrorTTL = 10 * time.Minute

func (h *Holds) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// event returns what holds need to know of an event. A cached copy older
// than eventCacheTTL is still served while one refresh runs in the
// background, so no hold ever waits for 20,000 seat ids to be read again.
func (h *Holds) event(ctx context.Context, id uuid.UUID) (*eventSeats, error) {
	if v, ok := h.events.Load(id); ok {
		es := v.(*eventSeats)
		if h.now().Sub(es.fetched) >= eventCacheTTL {
			h.refresh(ctx, id)
		}
		return es, nil
	}
	v, err, _ := h.group.Do(id.String(), func() (any, error) { return h.loadEvent(ctx, id) })
	if err != nil {
		return nil, err
	}
	return v.(*eventSeats), nil
}

// Warm starts loading an event's seats in the background unless they are
// cached already; it never waits.
func (h *Holds) Warm(ctx context.Context, id uuid.UUID) {
	if _, ok := h.events.Load(id); !ok {
		h.refresh(ctx, id)
	}
}

// refresh loads an event's seats in the background, once at a time.
func (h *Holds) refresh(ctx context.Context, id uuid.UUID) {
	h.group.DoChan(id.String(), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return h.loadEvent(ctx, id)
	})
}

func (h *Holds) loadEvent(ctx context.Context, id uuid.UUID) (*eventSeats, error) {
	es := &eventSeats{seats: map[string]bool{}, fetched: h.now()}
	var ev struct {
		Status     evently.EventStatus `db:"status"`
		StartsAt   time.Time           `db:"starts_at"`
		SalesStart *time.Time          `db:"sales_start_at"`
		SalesEnd   *time.Time          `db:"sales_end_at"`
	}
	if err := h.DB.GetContext(ctx, &ev, `SELECT status, starts_at, sales_start_at, sales_end_at FROM events WHERE id = $1`, id); err != nil {
		return nil, translate(err, "Event")
	}
	es.status, es.startsAt, es.salesStart, es.salesEnd = ev.Status, ev.StartsAt, ev.SalesStart, ev.SalesEnd
	var seats []string
	if err := h.DB.SelectContext(ctx, &seats, `SELECT seat_id FROM event_seats WHERE event_id = $1`, id); err != nil {
		return nil, err
	}
	for _, s := range seats {
		es.seats[s] = true
	}
	h.events.Store(id, es)
	return es, nil
}

// Validate checks a seat request against the event: 404 for an unknown or
// unpublished event, 409 for a cancelled one or outside its sales window,
// 422 for empty, too many, duplicate or foreign seats.
func (h *Holds) Validate(ctx context.Context, eventID uuid.UUID, seats []string) error {
	fields := map[string]string{}
	switch {
	case len(seats) == 0:
		fields["seat_ids"] = "Choose at least one seat."
	case len(seats) > evently.MaxSeatsPerBooking:
		fields["seat_ids"] = fmt.Sprintf("Choose at most %d seats.", evently.MaxSeatsPerBooking)
	}
	if len(fields) > 0 {
		return evently.Invalid(fields)
	}
	es, err := h.event(ctx, eventID)
	if err != nil {
		if evently.ErrorCode(err) == evently.ENOTFOUND {
			return evently.Errorf(evently.ENOTFOUND, "Event not found.")
		}
		return unavailable(err)
	}
	if es.status != evently.EventPublished {
		if es.status == evently.EventCancelled {
			return evently.Errorf(evently.ECONFLICT, "The event was cancelled; its seats are not on sale.")
		}
		return evently.Errorf(evently.ENOTFOUND, "Event not found.")
	}
	if err := salesOpen(es, h.now()); err != nil {
		return err
	}
	seen := map[string]bool{}
	var dup, foreign []string
	for _, s := range seats {
		if seen[s] {
			dup = append(dup, s)
		}
		seen[s] = true
		if !es.seats[s] {
			foreign = append(foreign, s)
		}
	}
	if len(dup) > 0 {
		fields["seat_ids"] = fmt.Sprintf("Seats appear more than once: %v.", dup)
	} else if len(foreign) > 0 {
		fields["seat_ids"] = fmt.Sprintf("Seats are not in this event: %v.", foreign)
	}
	if len(fields) > 0 {
		return evently.Invalid(fields)
	}
	return nil
}

// salesOpen refuses holds outside the event's sales window (409: the
// request is fine, the event is not on sale at this moment). It uses the
// same rule as evently.Event.OnSale.
func salesOpen(es *eventSeats, now time.Time) error {
	e := evently.Event{Status: es.status, StartsAt: es.startsAt, SalesStartAt: es.salesStart, SalesEndAt: es.salesEnd}
	if e.OnSale(now) {
		return nil
	}
	if es.salesStart != nil && now.Before(*es.salesStart) {
		return evently.Errorf(evently.ECONFLICT, "Sales have not opened yet; they open at %s.", es.salesStart.UTC().Format(time.RFC3339))
	}
	return evently.Errorf(evently.ECONFLICT, "Sales have closed for this event.")
}

// Take holds every seat for the user, or none. A conflict lists exactly
// the seats already held or sold.
func (h *Holds) Take(ctx context.Context, eventID, userID uuid.UUID, seats []string) (*evently.Hold, error) {
	if err := h.Validate(ctx, eventID, seats); err != nil {
		return nil, err
	}
	hold := &evently.Hold{ID: evently.NewID(), EventID: eventID, UserID: userID, SeatIDs: seats}
	base := h.Keys.Event(eventID)
	keys := []string{base + ":held", base + ":sold", base + ":sold:loaded", base + ":hold:" + hold.ID.String(), base + ":user:" + userID.String()}
	seatsJSON, _ := json.Marshal(seats)
	args := []any{h.now().UnixMilli(), h.TTL.Milliseconds(), hold.ID.String(), userID.String(), h.MaxPerUser, string(seatsJSON), eventID.String()}
	for _, s := range seats {
		keys = append(keys, base+":seat:"+s)
		args = append(args, s)
	}
	keys = append(keys, holdsTakenKey(h.Keys, eventID))
	lookup := h.Keys.Key("hold", hold.ID.String())
	for attempt := 0; attempt < 2; attempt++ {
		// One round trip: the hold and its lookup key (which lives outside
		// the event's hash slot) go in one pipeline. A refused hold's lookup
		// key names a hold that does not exist, so it only costs memory
		// until its TTL: it is deleted by the next Take's pipeline, which
		// in a rush of conflicts (most holds refused) saves a round trip
		// per refusal.
		stale := h.takeStale()
		pipe := h.Redis.Pipeline()
		take := takeScript.Eval(ctx, pipe, keys, args...)
		pipe.Set(ctx, lookup, eventID.String()+" "+string(seatsJSON), h.TTL)
		for _, k := range stale {
			pipe.Unlink(ctx, k) // one key each: the keys are on different slots
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, unavailable(err)
		}
		res, err := take.StringSlice()
		if err != nil {
			return nil, unavailable(err)
		}
		if res[0] == "cap" || res[0] == "conflict" {
			h.addStale(lookup) // refused for good (need_sold tries again under the same key)
		}
		switch res[0] {
		case "need_sold":
			// One rebuild per event at a time: at an on-sale's first second
			// every hold finds the mirror missing, and each rebuild reads all
			// the event's sold seats (70 of them in the bench's first second).
			_, err, _ := h.group.Do("sold/"+eventID.String(), func() (any, error) {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				return nil, h.RebuildSold(ctx, eventID)
			})
			if err != nil {
				return nil, unavailable(err)
			}
			continue
		case "cap":
			return nil, evently.Errorf(evently.ECONFLICT, "You already hold or have unpaid bookings of seats %d times for this event; release, pay for or cancel them first.", h.MaxPerUser)
		case "conflict":
			return nil, &evently.Error{Code: evently.ECONFLICT, Message: "Some seats are already held or sold.", Conflicts: res[1:]}
		case "ok":
			ms, _ := strconv.ParseInt(res[1], 10, 64)
			hold.ExpiresAt = time.UnixMilli(ms).UTC()
			mHolds.WithLabelValues("ok").Inc()
			return hold, nil
		}
	}
	return nil, unavailable(errors.New("sold mirror keeps disappearing"))
}

func (h *Holds) addStale(key string) {
	h.staleMu.Lock()
	defer h.staleMu.Unlock()
	if len(h.stale) < maxStale {
		h.stale = append(h.stale, key)
	}
}

// takeStale hands out a few lookup keys to delete (one pipeline's worth).
func (h *Holds) takeStale() []string {
	h.staleMu.Lock()
	defer h.staleMu.Unlock()
	n := min(len(h.stale), 32)
	if n == 0 {
		return nil
	}
	out := append([]string(nil), h.stale[len(h.stale)-n:]...)
	h.stale = h.stale[:len(h.stale)-n]
	return out
}

// RebuildSold copies the event's sold seats from PostgreSQL into Redis.
// The booking worker keeps changing the set meanwhile (Mirror), so the copy
// is optimistic: the set is WATCHed before PostgreSQL is read, and a change
// in between aborts the replacement, which starts again from a fresh read.
// Replacing it anyway would drop seats sold after the read, and buyers would
// get holds on them and then seats_taken. After a few aborted tries (a
// rush), the seats read are added to the set instead of replacing it: a
// seat released meanwhile may then show sold until the next rebuild, which
// never sells anything twice.
func (h *Holds) RebuildSold(ctx context.Context, eventID uuid.UUID) error {
	base := h.Keys.Event(eventID)
	key := base + ":sold"
	read := func() ([]string, error) {
		var sold []string
		err := h.DB.SelectContext(ctx, &sold, `SELECT seat_id FROM event_seats WHERE event_id = $1 AND status = 'sold'`, eventID)
		return sold, err
	}
	write := func(p redis.Pipeliner, sold []string, replace bool) {
		if replace {
			p.Del(ctx, key)
		}
		if len(sold) > 0 {
			p.SAdd(ctx, key, anys(sold)...)
		}
		p.Set(ctx, base+":sold:loaded", "1", soldMirrorTTL)
	}
	for range 3 {
		err := h.Redis.Watch(ctx, func(tx *redis.Tx) error {
			sold, err := read()
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error { write(p, sold, true); return nil })
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	sold, err := read()
	if err != nil {
		return err
	}
	_, err = h.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error { write(p, sold, false); return nil })
	return err
}

// parseLookup reads a hold's lookup value: its event and seats.
func parseLookup(v string) (uuid.UUID, []string, error) {
	ev, seatsJSON, _ := strings.Cut(v, " ")
	id, err := uuid.Parse(ev)
	if err != nil {
		return uuid.Nil, nil, evently.Errorf(evently.ENOTFOUND, "Hold not found.")
	}
	var seats []string
	_ = json.Unmarshal([]byte(seatsJSON), &seats)
	return id, seats, nil
}

// lookup finds the event of a hold by the hold's id alone.
func (h *Holds) lookup(ctx context.Context, holdID uuid.UUID) (uuid.UUID, error) {
	v, err := h.Redis.Get(ctx, h.Keys.Key("hold", holdID.String())).Result()
	if errors.Is(err, redis.Nil) {
		return uuid.Nil, evently.Errorf(evently.ENOTFOUND, "Hold not found; it may have expired.")
	}
	if err != nil {
		return uuid.Nil, unavailable(err)
	}
	eventID, _, err := parseLookup(v)
	return eventID, err
}

// Get returns a live hold.
func (h *Holds) Get(ctx context.Context, holdID uuid.UUID) (*evently.Hold, error) {
	eventID, err := h.lookup(ctx, holdID)
	if err != nil {
		return nil, err
	}
	m, err := h.Redis.HGetAll(ctx, h.Keys.Event(eventID)+":hold:"+holdID.String()).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(m) == 0 {
		return nil, evently.Errorf(evently.ENOTFOUND, "Hold not found; it may have expired.")
	}
	hold := &evently.Hold{ID: holdID, EventID: eventID}
	hold.UserID, _ = uuid.Parse(m["user"])
	_ = json.Unmarshal([]byte(m["seats"]), &hold.SeatIDs)
	ms, _ := strconv.ParseInt(m["expires"], 10, 64)
	hold.ExpiresAt = time.UnixMilli(ms).UTC()
	return hold, nil
}

// Release drops a hold at once; its seats are free again.
func (h *Holds) Release(ctx context.Context, hold *evently.Hold) error {
	if err := h.release(ctx, hold); err != nil {
		return unavailable(err)
	}
	return nil
}

// GiveUp releases a hold its holder no longer wants; 409 when a booking
// has claimed it (the booking is cancelled instead, which returns the seats
// once it is settled).
func (h *Holds) GiveUp(ctx context.Context, hold *evently.Hold) error {
	keys, args := h.releaseArgs(hold)
	done, err := giveUpScript.Run(ctx, h.Redis, keys, args...).Int()
	if err != nil {
		return unavailable(err)
	}
	if done == 0 {
		return evently.Errorf(evently.ECONFLICT, "This hold is being booked; its seats stay with the booking (cancel the booking instead).")
	}
	if err := h.Redis.Del(ctx, h.Keys.Key("hold", hold.ID.String())).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

func (h *Holds) release(ctx context.Context, hold *evently.Hold) error {
	keys, args := h.releaseArgs(hold)
	if err := releaseScript.Run(ctx, h.Redis, keys, args...).Err(); err != nil {
		return err
	}
	return h.Redis.Del(ctx, h.Keys.Key("hold", hold.ID.String())).Err()
}

func unavailable(err error) error {
	if evently.AsError(err) != nil {
		return err
	}
	return &evently.Error{Code: evently.EUNAVAILABLE, Message: "Seat holds are not available right now; try again shortly.", RetryAfter: 1}
}

// claimScript marks a live hold as used by a booking, in one round trip:
// refused when the hold is gone or expired, someone else's (unless the
// caller may act for others), or claimed already. The hold keeps counting
// against its user's cap until its booking is written, and an unpaid
// booking then counts until it is paid or ends (Mirror): the cap stops
// hoarding seats without paying. It returns the hold's user, seats and
// expiry.
//
// A claimed hold cannot expire from under its booking: its keys (the hold,
// and each seat key it still owns, with its place in the held set) live at
// least claimGrace more, however late the booking worker writes the
// booking (Mirror releases them then). The seat keys share the event's
// hash tag, so they are on the hold's slot.
var claimScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'user', 'seats', 'expires', 'booking')
if not h[1] or tonumber(h[3]) <= tonumber(ARGV[4]) then return {'not_found'} end
if h[1] ~= ARGV[1] and ARGV[3] ~= '1' then return {'forbidden'} end
if h[4] then return {'claimed', h[4]} end
redis.call('HSET', KEYS[1], 'booking', ARGV[2])
local keep = tonumber(ARGV[4]) + tonumber(ARGV[5])
if keep > tonumber(h[3]) then
  redis.call('PEXPIREAT', KEYS[1], keep)
  for _, seat in ipairs(cjson.decode(h[2])) do
    local k = ARGV[6] .. ':seat:' .. seat
    if redis.call('GET', k) == ARGV[7] then
      redis.call('PEXPIREAT', k, keep)
      redis.call('ZADD', ARGV[6] .. ':held', 'XX', keep, seat)
    end
  end
end
return {'ok', h[1], h[2], h[3]}
`)

// claimGrace is how long a claimed hold's seats stay held at least, for
// its booking to be written.
const claimGrace = 2 * time.Minute

// ClaimID claims the hold holdID for a booking of userID (asForOthers: an
// admin booking someone else's hold) and returns the hold: 404 when it is
// unknown or expired, 403 when it is someone else's, 409 when a booking
// claimed it already.
func (h *Holds) ClaimID(ctx context.Context, holdID, userID uuid.UUID, asForOthers bool, bookingID uuid.UUID) (*evently.Hold, error) {
	eventID, err := h.lookup(ctx, holdID)
	if err != nil {
		return nil, err
	}
	hold := &evently.Hold{ID: holdID, EventID: eventID}
	if err := h.claim(ctx, hold, userID, asForOthers, bookingID); err != nil {
		return nil, err
	}
	return hold, nil
}

// Claim marks a hold the caller just took as used by a booking.
func (h *Holds) Claim(ctx context.Context, hold *evently.Hold, bookingID uuid.UUID) error {
	return h.claim(ctx, hold, hold.UserID, false, bookingID)
}

func (h *Holds) claim(ctx context.Context, hold *evently.Hold, userID uuid.UUID, asForOthers bool, bookingID uuid.UUID) error {
	keys, args := h.claimArgs(hold, userID, asForOthers, bookingID)
	res, err := claimScript.Run(ctx, h.Redis, keys, args...).StringSlice()
	if err != nil {
		return unavailable(err)
	}
	return claimed(hold, res)
}

func (h *Holds) claimArgs(hold *evently.Hold, userID uuid.UUID, asForOthers bool, bookingID uuid.UUID) ([]string, []any) {
	base := h.Keys.Event(hold.EventID)
	others := "0"
	if asForOthers {
		others = "1"
	}
	return []string{base + ":hold:" + hold.ID.String()}, []any{userID.String(), bookingID.String(), others, h.now().UnixMilli(),
		claimGrace.Milliseconds(), base, hold.ID.String()}
}

// claimed reads the claim script's answer into hold.
func claimed(hold *evently.Hold, res []string) error {
	switch res[0] {
	case "not_found":
		return evently.Errorf(evently.ENOTFOUND, "Hold not found; it may have expired.")
	case "forbidden":
		return evently.Errorf(evently.EFORBIDDEN, "This hold belongs to someone else.")
	case "claimed":
		return evently.Errorf(evently.ECONFLICT, "This hold is already being booked (booking %s).", res[1])
	}
	hold.UserID, _ = uuid.Parse(res[1])
	_ = json.Unmarshal([]byte(res[2]), &hold.SeatIDs)
	ms, _ := strconv.ParseInt(res[3], 10, 64)
	hold.ExpiresAt = time.UnixMilli(ms).UTC()
	return nil
}

// Mirror brings Redis up to date with a committed batch in one round trip:
// sold and released seats in the sold mirror, finished holds dropped, and
// status changes recorded and published for streams. Holds are given whole
// (from the booking commands), so nothing needs reading first.
func (h *Holds) Mirror(ctx context.Context, f *Feed, res BatchResult, done []evently.Hold) error {
	_, err := h.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for ev, seats := range res.Sold {
			if len(seats) > 0 { // SADD needs a member
				p.SAdd(ctx, h.Keys.Event(ev)+":sold", anys(seats)...)
			}
		}
		for ev, seats := range res.Released {
			if len(seats) > 0 {
				guardReleased(ctx, p, h.Keys, ev, seats, h.now()) // kept for the waitlist, if people wait
				p.SRem(ctx, h.Keys.Event(ev)+":sold", anys(seats)...)
			}
		}
		// The news goes out as soon as the sold mirror has it; the holds'
		// clean-up behind it does not delay the buyers.
		f.publish(ctx, p, res.Changes)
		for i := range done {
			keys, args := h.releaseArgs(&done[i])
			releaseScript.Eval(ctx, p, keys, args...)
			p.Del(ctx, h.Keys.Key("hold", done[i].ID.String()))
		}
		for _, c := range res.Changes {
			// Unpaid bookings count against the user's cap until they end.
			key, member := h.Keys.Event(c.EventID)+":user:"+c.UserID.String(), "bk:"+c.BookingID.String()
			switch {
			case (c.Status == evently.BookingReserved || c.Status == evently.BookingPaying) && c.ExpiresAt != nil:
				ttl := time.Until(*c.ExpiresAt) + time.Second
				countScript.Eval(ctx, p, []string{key}, c.ExpiresAt.UnixMilli(), member, ttl.Milliseconds())
			case c.Status.Settled():
				p.ZRem(ctx, key, member)
			}
		}
		return nil
	})
	return err
}

// countScript counts an unpaid booking in its user's cap until its payment
// deadline, keeping the set at least that long.
var countScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
`)

func (h *Holds) releaseArgs(hold *evently.Hold) ([]string, []any) {
	base := h.Keys.Event(hold.EventID)
	keys := []string{base + ":held", base + ":hold:" + hold.ID.String(), base + ":user:" + hold.UserID.String()}
	args := []any{hold.ID.String()}
	for _, s := range hold.SeatIDs {
		keys = append(keys, base+":seat:"+s)
		args = append(args, s)
	}
	return keys, args
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
