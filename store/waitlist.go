package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently"
)

// Redis layout of the waitlist, under the event's hash tag {ev:<id>}:
//
//	{ev}:waitlist        present while the event has people waiting: the
//	                     booking worker then locks the seats it releases for
//	                     the waitlist (Mirror) instead of putting them on sale
//	{ev}:seat:<seat>     "waitlist": such a lock, until the promoter offers
//	                     the seat or puts it on sale (or waitlistLockTTL)
//	{ev}:hold:<hold>     an offer is an ordinary hold whose hash also names
//	                     its entry ('offer'); its keys outlive its expiry by
//	                     offerLinger so the seats stay off sale until the
//	                     promoter passes them on
const (
	waitlistLock      = "waitlist"
	waitlistLockTTL   = 2 * time.Minute
	offerLinger       = 2 * time.Minute
	waitlistMarkerTTL = 24 * time.Hour
)

// guardScript locks released seats for the waitlist when people wait, so
// nobody takes them from the seat map before the promoter offers them. It
// never overwrites a lock (the promoter may have offered a seat already).
var guardScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 4, #ARGV do
  if redis.call('SET', ARGV[1] .. ':seat:' .. ARGV[i], 'waitlist', 'NX', 'PX', ARGV[2]) then
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[i])
  end
end
return 1
`)

// guardReleased queues guardScript for seats a batch released; Mirror runs
// it before taking them out of the sold mirror, in the same pipeline.
func guardReleased(ctx context.Context, p redis.Pipeliner, k Keys, eventID uuid.UUID, seats []string, now time.Time) {
	base := k.Event(eventID)
	args := []any{base, waitlistLockTTL.Milliseconds(), now.Add(waitlistLockTTL).UnixMilli()}
	guardScript.Eval(ctx, p, []string{base + ":waitlist", base + ":held"}, append(args, anys(seats)...)...)
}

// offerScript makes offers and puts the rest back on sale, atomically:
// every offered seat must be free or locked for the waitlist (or already
// this offer's, when a message is applied again), else nothing happens.
var offerScript = redis.NewScript(`
local base, ttl = ARGV[1], tonumber(ARGV[3])
local lockUntil = tonumber(ARGV[2]) + ttl
local offers, rest = cjson.decode(ARGV[4]), cjson.decode(ARGV[5])
for _, o in ipairs(offers) do
  for _, s in ipairs(o.seats) do
    local v = redis.call('GET', base .. ':seat:' .. s)
    if v and v ~= 'waitlist' and v ~= o.hold then return {'taken', s} end
  end
end
for _, o in ipairs(offers) do
  for _, s in ipairs(o.seats) do
    redis.call('SET', base .. ':seat:' .. s, o.hold, 'PX', ttl)
    redis.call('ZADD', KEYS[1], lockUntil, s)
    redis.call('SREM', base .. ':sold', s)
  end
  local hk = base .. ':hold:' .. o.hold
  redis.call('HSET', hk, 'user', o.user, 'seats', o.seats_json, 'expires', o.expires, 'event', o.event, 'offer', o.entry)
  redis.call('PEXPIRE', hk, ttl)
end
for _, s in ipairs(rest) do
  local k = base .. ':seat:' .. s
  if redis.call('GET', k) == 'waitlist' then
    redis.call('DEL', k)
    redis.call('ZREM', KEYS[1], s)
  end
  redis.call('SREM', base .. ':sold', s)
end
return {'ok'}
`)

// endOfferScript takes an offer back: unless a booking claimed the hold,
// its seats are locked for the waitlist again and the hold is gone, so no
// booking can claim it afterwards.
var endOfferScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'booking') == 1 then return 'claimed' end
local seats = redis.call('HGET', KEYS[1], 'seats')
if seats then
  for _, s in ipairs(cjson.decode(seats)) do
    local k = ARGV[1] .. ':seat:' .. s
    if redis.call('GET', k) == ARGV[2] then
      redis.call('SET', k, 'waitlist', 'PX', ARGV[3])
      redis.call('ZADD', KEYS[2], ARGV[4], s)
    end
  end
end
redis.call('DEL', KEYS[1])
return 'ended'
`)

// Waitlist keeps waitlist entries in PostgreSQL and their offers as holds
// in Redis. Join, Get, List and Leave serve the API; Promote and Revisit
// are the promoter's, called by the owner of the event's partition only.
type Waitlist struct {
	DB    *sqlx.DB
	Redis redis.UniversalClient
	Keys  Keys
	// OfferTTL is how long an offer can be booked.
	OfferTTL time.Duration
	// ClaimWait is how long past its expiry an offer a booking claimed
	// waits for that booking to be written before it lapses.
	ClaimWait time.Duration
	Now       func() time.Time
}

func (w *Waitlist) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

type entryRow struct {
	evently.WaitlistEntry
	HoldID       *uuid.UUID     `db:"offered_hold_id"`
	OfferSeats   pq.StringArray `db:"offer_seat_ids"`
	OfferExpires *time.Time     `db:"offer_expires_at"`
	OfferOpen    bool           `db:"offer_open"`
}

const entryColumns = `id, event_id, user_id, party_size, tier, status, offered_hold_id, offer_seat_ids, offer_expires_at, offer_open, created_at, updated_at`

func (r *entryRow) entry() *evently.WaitlistEntry {
	e := r.WaitlistEntry
	if e.Status == evently.WaitlistOffered && r.HoldID != nil && r.OfferExpires != nil {
		e.Offer = &evently.WaitlistOffer{HoldID: *r.HoldID, SeatIDs: []string(r.OfferSeats), ExpiresAt: r.OfferExpires.UTC()}
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return &e
}

// Join puts a party in line: 404 for an unknown or unpublished event, 409
// for a cancelled one, 409 seats_available when the event can seat the
// party now (book instead), 409 when the user already waits, 422 for a bad
// size or an unknown tier.
func (w *Waitlist) Join(ctx context.Context, eventID, userID uuid.UUID, partySize int, tier string) (*evently.WaitlistEntry, error) {
	if err := evently.ValidateParty(partySize, tier); err != nil {
		return nil, err
	}
	var status evently.EventStatus
	if err := w.DB.GetContext(ctx, &status, `SELECT status FROM events WHERE id = $1`, eventID); err != nil {
		return nil, translate(err, "Event")
	}
	switch status {
	case evently.EventPublished:
	case evently.EventCancelled:
		return nil, evently.Errorf(evently.ECONFLICT, "The event was cancelled.")
	default:
		return nil, evently.Errorf(evently.ENOTFOUND, "Event not found.")
	}
	if tier != "" {
		var known bool
		if err := w.DB.GetContext(ctx, &known, `SELECT EXISTS (SELECT 1 FROM event_seats WHERE event_id = $1 AND tier = $2)`, eventID, tier); err != nil {
			return nil, err
		}
		if !known {
			return nil, evently.Invalid(map[string]string{"tier": "The event has no seats of this tier."})
		}
	}
	// Mark the event first: a seat released from now on is kept for the
	// waitlist, so it cannot slip onto open sale between the check below
	// and the entry's insert.
	base := w.Keys.Event(eventID)
	if err := w.Redis.Set(ctx, base+":waitlist", "1", waitlistMarkerTTL).Err(); err != nil {
		return nil, unavailable(err)
	}
	free, err := w.onSale(ctx, eventID, tier)
	if err != nil {
		return nil, err
	}
	if free >= partySize {
		return nil, &evently.Error{Code: evently.ESEATSAVAILABLE,
			Message: fmt.Sprintf("%d seats are on sale right now; book them instead of waiting.", free)}
	}
	now := w.now().UTC()
	e := &evently.WaitlistEntry{ID: evently.NewID(), EventID: eventID, UserID: userID, PartySize: partySize, Tier: tier,
		Status: evently.WaitlistWaiting, CreatedAt: now, UpdatedAt: now}
	// Counted in the insert's own statement: a join counts if and only if
	// it is written.
	_, err = w.DB.ExecContext(ctx, `WITH j AS (INSERT INTO waitlist_entries (id, event_id, user_id, party_size, tier, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, 'waiting', $6, $6) RETURNING event_id, created_at AS at) `+tallyWaitlist("joins", "j"),
		e.ID, eventID, userID, partySize, tier, now)
	if isUniqueViolation(err, "waitlist_one_per_user") {
		return nil, evently.Errorf(evently.ECONFLICT, "You are already on this event's waitlist.")
	}
	if err != nil {
		return nil, translate(err, "Waitlist entry")
	}
	return e, w.place(ctx, e)
}

// MarkWaiting sets the {ev}:waitlist marker of every event with people
// waiting and returns how many it marked. A join sets the marker, and the
// promoter while entries remain; the promoter also calls this when it
// starts and every hour, for lines no join marked (the demo seed writes its
// entries straight to PostgreSQL), a Redis that lost its keys, or a line
// nobody joined for longer than the marker lives. A marker set for a line
// that has just emptied only locks seats the promoter then puts on sale.
func (w *Waitlist) MarkWaiting(ctx context.Context) (int, error) {
	var events []uuid.UUID
	if err := w.DB.SelectContext(ctx, &events, `SELECT DISTINCT event_id FROM waitlist_entries WHERE status = 'waiting'`); err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return 0, nil
	}
	p := w.Redis.Pipeline()
	for _, ev := range events {
		p.Set(ctx, w.Keys.Event(ev)+":waitlist", "1", waitlistMarkerTTL)
	}
	if _, err := p.Exec(ctx); err != nil {
		return 0, unavailable(err)
	}
	return len(events), nil
}

// onSale counts the event's seats (of the tier) on open sale now: available
// in PostgreSQL and neither held nor locked for the waitlist in Redis.
func (w *Waitlist) onSale(ctx context.Context, eventID uuid.UUID, tier string) (int, error) {
	var avail []string
	if err := w.DB.SelectContext(ctx, &avail, `SELECT seat_id FROM event_seats
		WHERE event_id = $1 AND status = 'available' AND ($2 = '' OR tier = $2)`, eventID, tier); err != nil {
		return 0, err
	}
	if len(avail) == 0 {
		return 0, nil
	}
	held, err := HeldSeats(ctx, w.Redis, w.Keys, eventID, w.now())
	if err != nil {
		return 0, unavailable(err)
	}
	n := len(avail)
	for _, s := range held {
		if slices.Contains(avail, s) {
			n--
		}
	}
	return n, nil
}

// place fills in a waiting entry's position and the people ahead of it.
func (w *Waitlist) place(ctx context.Context, e *evently.WaitlistEntry) error {
	if e.Status != evently.WaitlistWaiting {
		return nil
	}
	var ahead struct {
		N      int `db:"n"`
		People int `db:"people"`
	}
	if err := w.DB.GetContext(ctx, &ahead, `SELECT count(*) AS n, coalesce(sum(party_size), 0) AS people FROM waitlist_entries
		WHERE event_id = $1 AND status = 'waiting' AND (created_at, id) < ($2, $3)`, e.EventID, e.CreatedAt, e.ID); err != nil {
		return err
	}
	e.Position, e.PeopleAhead = ahead.N+1, ahead.People
	return nil
}

// Get returns an entry with its place in line or its offer.
func (w *Waitlist) Get(ctx context.Context, id uuid.UUID) (*evently.WaitlistEntry, error) {
	var r entryRow
	if err := w.DB.GetContext(ctx, &r, `SELECT `+entryColumns+` FROM waitlist_entries WHERE id = $1`, id); err != nil {
		return nil, translate(err, "Waitlist entry")
	}
	e := r.entry()
	return e, w.place(ctx, e)
}

// ListByUser returns a user's entries, newest first.
func (w *Waitlist) ListByUser(ctx context.Context, userID uuid.UUID, limit int) ([]evently.WaitlistEntry, error) {
	var rows []entryRow
	if err := w.DB.SelectContext(ctx, &rows, `SELECT `+entryColumns+` FROM waitlist_entries
		WHERE user_id = $1 ORDER BY id DESC LIMIT $2`, userID, limit); err != nil {
		return nil, err
	}
	out := make([]evently.WaitlistEntry, 0, len(rows))
	for i := range rows {
		e := rows[i].entry()
		if err := w.place(ctx, e); err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, nil
}

// Leave takes an entry out of line (declining its offer, if any): 409 when
// it is over already. The promoter's sweep passes an offer's seats on.
func (w *Waitlist) Leave(ctx context.Context, id uuid.UUID) error {
	return inTx(ctx, w.DB, func(tx *sqlx.Tx) error {
		var status evently.WaitlistStatus
		if err := tx.GetContext(ctx, &status, `SELECT status FROM waitlist_entries WHERE id = $1 FOR UPDATE`, id); err != nil {
			return translate(err, "Waitlist entry")
		}
		if !status.CanMove(evently.WaitlistLeft) {
			return evently.Errorf(evently.ECONFLICT, "The entry is %s already.", status)
		}
		_, err := tx.ExecContext(ctx, `UPDATE waitlist_entries SET status = 'left', updated_at = $2 WHERE id = $1`, id, w.now())
		return err
	})
}

// DeclineOffer takes an offer's hold back when its holder gives it up
// (DELETE /holds/{id}): the entry leaves the line and the promoter passes
// the seats on, so they do not go on open sale while people wait. declined
// is false for a hold that is no offer (or no longer an open one).
func (w *Waitlist) DeclineOffer(ctx context.Context, hold *evently.Hold) (declined bool, err error) {
	v, err := w.Redis.HGet(ctx, w.Keys.Event(hold.EventID)+":hold:"+hold.ID.String(), "offer").Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, unavailable(err)
	}
	entry, err := uuid.Parse(v)
	if err != nil {
		return false, nil
	}
	res, err := w.DB.ExecContext(ctx, `UPDATE waitlist_entries SET status = 'left', updated_at = $3
		WHERE id = $1 AND offered_hold_id = $2 AND status = 'offered'`, entry, hold.ID, w.now())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// OffersDue lists open offers the promoter should look at again: expired,
// declined (the entry left) or taken by a booking.
func (w *Waitlist) OffersDue(ctx context.Context, limit int) ([]evently.OfferCheck, error) {
	var out []evently.OfferCheck
	err := w.DB.SelectContext(ctx, &out, `SELECT w.event_id, w.id AS entry_id FROM waitlist_entries w
		WHERE w.offer_open AND (w.status <> 'offered' OR w.offer_expires_at <= $1
		   OR EXISTS (SELECT 1 FROM bookings b WHERE b.user_id = w.user_id AND b.hold_id = w.offered_hold_id))
		ORDER BY w.offer_expires_at LIMIT $2`, w.now(), limit)
	return out, err
}

// Remind marks the open offers that end within lead as reminded and
// returns their waitlist.offer_expiring notifications, written to the
// outbox in the same transaction (the caller sends them). Each offer is
// reminded once: several sweeping promoters race on the mark, and the row
// lock lets one win.
func (w *Waitlist) Remind(ctx context.Context, lead time.Duration, limit int) ([]evently.Outgoing, error) {
	var told []evently.Outgoing
	err := inTx(ctx, w.DB, func(tx *sqlx.Tx) error {
		now := w.now()
		var rows []entryRow
		if err := tx.SelectContext(ctx, &rows, `
			UPDATE waitlist_entries SET offer_reminded = true
			WHERE id IN (SELECT id FROM waitlist_entries
			             WHERE offer_open AND status = 'offered' AND NOT offer_reminded
			               AND offer_expires_at > $1 AND offer_expires_at <= $2
			             ORDER BY offer_expires_at LIMIT $3)
			  AND NOT offer_reminded
			RETURNING `+entryColumns, now, now.Add(lead), limit); err != nil {
			return err
		}
		ns := make([]evently.Notification, 0, len(rows))
		for _, r := range rows {
			if r.HoldID == nil || r.OfferExpires == nil {
				continue
			}
			ns = append(ns, evently.OfferNotification(evently.OfferMomentExpiring, r.UserID, evently.OfferNotice{EntryID: r.ID,
				EventID: r.EventID, HoldID: *r.HoldID, SeatIDs: []string(r.OfferSeats), ExpiresAt: r.OfferExpires.UTC()}, now))
		}
		var err error
		told, err = tell(ctx, tx, ns)
		return err
	})
	return told, err
}

// Promote offers seats released on the event to its waitlist (msgID makes
// the offers' hold ids, so a redelivered message makes the same ones). It
// returns what the entries' users are told (waitlist.offered), written to
// the outbox in the same transaction: the caller sends it, and the relay
// does should the caller die first.
func (w *Waitlist) Promote(ctx context.Context, eventID uuid.UUID, seats []string, msgID uuid.UUID) ([]evently.Outgoing, error) {
	var told []evently.Outgoing
	err := inTx(ctx, w.DB, func(tx *sqlx.Tx) error {
		ns, err := w.pass(ctx, tx, eventID, seats, msgID)
		if err != nil {
			return err
		}
		told, err = tell(ctx, tx, ns)
		return err
	})
	return told, err
}

// tell writes notifications to the outbox, in the caller's transaction.
func tell(ctx context.Context, tx *sqlx.Tx, ns []evently.Notification) ([]evently.Outgoing, error) {
	if len(ns) == 0 {
		return nil, nil
	}
	msgs := make([]evently.Outgoing, len(ns))
	for i, n := range ns {
		msgs[i] = evently.NewNotificationMessage(n)
	}
	b := &batchWrite{}
	insertOutbox(b, msgs)
	return msgs, b.flush(ctx, tx)
}

// Revisit looks at an entry's open offer again and settles it: booked,
// still standing, or lapsed (expired, declined, its booking failed), in
// which case its seats go to the next entries that fit. Like Promote, it
// returns what it tells (waitlist.offer_expired to a lapsed offer's user,
// unless they declined it themselves; waitlist.offered to the next).
func (w *Waitlist) Revisit(ctx context.Context, eventID, entryID, msgID uuid.UUID) ([]evently.Outgoing, error) {
	var told []evently.Outgoing
	err := inTx(ctx, w.DB, func(tx *sqlx.Tx) error {
		ns, err := w.revisit(ctx, tx, eventID, entryID, msgID)
		if err != nil {
			return err
		}
		told, err = tell(ctx, tx, ns)
		return err
	})
	return told, err
}

func (w *Waitlist) revisit(ctx context.Context, tx *sqlx.Tx, eventID, entryID, msgID uuid.UUID) ([]evently.Notification, error) {
	var r entryRow
	err := tx.GetContext(ctx, &r, `SELECT `+entryColumns+` FROM waitlist_entries WHERE id = $1 AND event_id = $2 FOR UPDATE`, entryID, eventID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err != nil || !r.OfferOpen || r.HoldID == nil || r.OfferExpires == nil {
		return nil, nil // unknown, or settled already (a redelivery)
	}
	base := w.Keys.Event(eventID)
	hold := base + ":hold:" + r.HoldID.String()
	claimed, err := w.Redis.HExists(ctx, hold, "booking").Result()
	if err != nil {
		return nil, unavailable(err)
	}
	var booking *evently.BookingStatus
	var bs evently.BookingStatus
	err = tx.GetContext(ctx, &bs, `SELECT status FROM bookings WHERE user_id = $1 AND hold_id = $2 ORDER BY id DESC LIMIT 1`, r.UserID, *r.HoldID)
	if err == nil {
		booking = &bs
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	now := w.now()
	switch evently.DecideOffer(r.Status, *r.OfferExpires, now, claimed, booking, w.ClaimWait) {
	case evently.OfferStands:
		return nil, nil
	case evently.OfferBooked:
		// The row is locked: an offer still standing converts now, once.
		_, err := tx.ExecContext(ctx, `WITH c AS (UPDATE waitlist_entries SET offer_open = false, updated_at = $2,
			status = CASE WHEN status = 'offered' THEN 'booked' ELSE status END WHERE id = $1
			RETURNING event_id, updated_at AS at, status) `+tallyWaitlist("conversions", "(SELECT * FROM c WHERE status = 'booked')"),
			entryID, now)
		return nil, err
	}
	res, err := endOfferScript.Run(ctx, w.Redis, []string{hold, base + ":held"}, base, r.HoldID.String(),
		waitlistLockTTL.Milliseconds(), now.Add(waitlistLockTTL).UnixMilli()).Text()
	if err != nil {
		return nil, unavailable(err)
	}
	if res == "claimed" && booking == nil {
		return nil, nil // a booking claimed it just now: it stands until that booking is written
	}
	if err := w.Redis.Del(ctx, w.Keys.Key("hold", r.HoldID.String())).Err(); err != nil {
		return nil, unavailable(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE waitlist_entries SET offer_open = false, updated_at = $2,
		status = CASE WHEN status = 'offered' THEN 'expired' ELSE status END WHERE id = $1`, entryID, now); err != nil {
		return nil, err
	}
	var told []evently.Notification
	if r.Status == evently.WaitlistOffered {
		told = append(told, evently.OfferNotification(evently.OfferMomentExpired, r.UserID, evently.OfferNotice{EntryID: r.ID,
			EventID: eventID, HoldID: *r.HoldID, SeatIDs: []string(r.OfferSeats), ExpiresAt: r.OfferExpires.UTC()}, now))
	}
	offered, err := w.pass(ctx, tx, eventID, r.OfferSeats, msgID)
	return append(told, offered...), err
}

type offerArg struct {
	Hold      string   `json:"hold"`
	User      string   `json:"user"`
	Entry     string   `json:"entry"`
	Event     string   `json:"event"`
	Seats     []string `json:"seats"`
	SeatsJSON string   `json:"seats_json"`
	Expires   int64    `json:"expires"`
}

// pass gives seats that came free to the event's waiting entries, in one
// transaction with the entries it offers them to: it locks the waiting
// entries and the seats' rows (so the booking worker cannot sell them
// meanwhile), skips seats someone holds or another open offer has, lets
// the domain allot them, and makes the offers in Redis before the commit.
// What nobody is offered goes back on open sale.
func (w *Waitlist) pass(ctx context.Context, tx *sqlx.Tx, eventID uuid.UUID, seats []string, msgID uuid.UUID) ([]evently.Notification, error) {
	if len(seats) == 0 {
		return nil, nil
	}
	base := w.Keys.Event(eventID)
	var queue []evently.WaitlistEntry
	if err := tx.SelectContext(ctx, &queue, `SELECT id, event_id, user_id, party_size, tier, status, created_at, updated_at
		FROM waitlist_entries WHERE event_id = $1 AND status = 'waiting' ORDER BY created_at, id FOR UPDATE`, eventID); err != nil {
		return nil, err
	}
	// With people waiting, every seat on open sale is theirs to be offered
	// too, not only the ones that came back now: two seats released apart,
	// each put on sale because nobody fitted one, fit a party of two
	// together. (While people wait, few seats are on sale: a join is
	// refused when the event can seat the party.)
	all := len(queue) > 0
	var offered []string
	if err := tx.SelectContext(ctx, &offered, `SELECT unnest(offer_seat_ids) FROM waitlist_entries WHERE event_id = $1 AND offer_open`, eventID); err != nil {
		return nil, err
	}
	var rows []struct {
		ID      string `db:"seat_id"`
		Section string `db:"section"`
		Row     string `db:"row_label"`
		Number  int    `db:"number"`
		Tier    string `db:"tier"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT seat_id, section, row_label, number, tier FROM event_seats
		WHERE event_id = $1 AND (seat_id = ANY($2) OR $3) AND status = 'available' ORDER BY seat_id FOR UPDATE`, eventID, pq.Array(seats), all); err != nil {
		return nil, err
	}
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = base + ":seat:" + r.ID
	}
	locks := []any{}
	if len(keys) > 0 {
		var err error
		if locks, err = w.Redis.MGet(ctx, keys...).Result(); err != nil {
			return nil, unavailable(err)
		}
	}
	var free []evently.FreeSeat
	for i, r := range rows {
		if v, ok := locks[i].(string); (ok && v != waitlistLock) || slices.Contains(offered, r.ID) {
			continue // someone's hold or offer: not ours to give
		}
		free = append(free, evently.FreeSeat{ID: r.ID, Section: r.Section, Row: r.Row, Number: r.Number, Tier: r.Tier})
	}
	slices.SortStableFunc(free, func(a, b evently.FreeSeat) int {
		return cmp.Or(cmp.Compare(a.Section, b.Section), compareLabels(a.Row, b.Row), cmp.Compare(a.Number, b.Number))
	})
	allot, rest := evently.AllotSeats(queue, free)
	now := w.now()
	expires := now.Add(w.OfferTTL)
	users := map[uuid.UUID]uuid.UUID{}
	for _, e := range queue {
		users[e.ID] = e.UserID
	}
	offers := make([]offerArg, len(allot))
	for i, a := range allot {
		sj, _ := json.Marshal(a.SeatIDs)
		offers[i] = offerArg{Hold: uuid.NewSHA1(msgID, a.EntryID[:]).String(), User: users[a.EntryID].String(),
			Entry: a.EntryID.String(), Event: eventID.String(), Seats: a.SeatIDs, SeatsJSON: string(sj), Expires: expires.UnixMilli()}
	}
	offersJSON, _ := json.Marshal(offers)
	restJSON, _ := json.Marshal(append([]string{}, rest...))
	lockTTL := w.OfferTTL + offerLinger
	res, err := offerScript.Run(ctx, w.Redis, []string{base + ":held"}, base, now.UnixMilli(), lockTTL.Milliseconds(),
		string(offersJSON), string(restJSON)).StringSlice()
	if err != nil {
		return nil, unavailable(err)
	}
	if res[0] == "taken" {
		// A buyer took the seat between the look and the offer: try again.
		return nil, fmt.Errorf("waitlist: seat %s was taken while offering it", res[1])
	}
	lookups := w.Redis.Pipeline()
	for _, o := range offers {
		sj := o.SeatsJSON
		lookups.Set(ctx, w.Keys.Key("hold", o.Hold), eventID.String()+" "+sj, lockTTL)
	}
	if waiting := len(queue) - len(allot); waiting > 0 {
		lookups.Set(ctx, base+":waitlist", "1", waitlistMarkerTTL)
	} else {
		lookups.Del(ctx, base+":waitlist")
	}
	if _, err := lookups.Exec(ctx); err != nil {
		return nil, unavailable(err)
	}
	if len(allot) == 0 {
		return nil, nil
	}
	ids, holds, seatsJSON := make([]string, len(allot)), make([]string, len(allot)), make([]string, len(allot))
	for i, o := range offers {
		ids[i], holds[i], seatsJSON[i] = o.Entry, o.Hold, o.SeatsJSON
	}
	_, err = tx.ExecContext(ctx, `WITH o AS (UPDATE waitlist_entries w SET status = 'offered', offered_hold_id = v.hold,
		offer_seat_ids = ARRAY(SELECT jsonb_array_elements_text(v.seats::jsonb)), offer_expires_at = $4, offer_open = true, updated_at = $5
		FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS v(id, hold, seats) WHERE w.id = v.id RETURNING w.event_id, w.updated_at AS at) `+
		tallyWaitlist("offers", "o"),
		pq.Array(ids), pq.Array(holds), pq.Array(seatsJSON), expires, now)
	if err != nil {
		return nil, err
	}
	told := make([]evently.Notification, len(offers))
	for i, o := range offers {
		told[i] = evently.OfferNotification(evently.OfferMomentMade, uuid.MustParse(o.User), evently.OfferNotice{
			EntryID: uuid.MustParse(o.Entry), EventID: eventID, HoldID: uuid.MustParse(o.Hold), SeatIDs: o.Seats, ExpiresAt: expires.UTC()}, now)
	}
	return told, nil
}

// compareLabels orders row labels as people read them: "2" before "10",
// "Z" before "AA".
func compareLabels(a, b string) int {
	if x, err := strconv.Atoi(a); err == nil {
		if y, err := strconv.Atoi(b); err == nil {
			return cmp.Compare(x, y)
		}
	}
	return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
}
