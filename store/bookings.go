package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/evently/evently"
)

// Bookings is the booking repository: the booking worker's batched commits
// and the API's reads.
type Bookings struct {
	DB *sqlx.DB
	// Consumer names the deduplication scope in processed_messages.
	Consumer string
	// PaymentWindow is how long a reserved booking waits for payment.
	PaymentWindow time.Duration
	Now           func() time.Time
}

func (b *Bookings) now() time.Time {
	if b.Now != nil {
		return b.Now().UTC()
	}
	return time.Now().UTC()
}

// BatchResult is what a committed batch did, for the work after the commit
// (Redis, streams, sending the outbox).
type BatchResult struct {
	Changes  []evently.StatusChange
	Sold     map[uuid.UUID][]string // event -> seats sold by this batch
	Released map[uuid.UUID][]string // event -> seats back on sale
	Outbox   []evently.Outgoing
	// Redelivered counts messages already applied before.
	Redelivered int
	// Conflicts counts bookings that lost their seats.
	Conflicts int
}

// ErrStaleVersion means a version-checked update touched fewer rows than
// expected: someone else changed the seats. The batch is retried.
var ErrStaleVersion = errors.New("stale version: seats changed underneath the batch")

// CommitBatch applies commands of one partition in order, in one
// transaction: redelivered messages are skipped (processed_messages), runs
// of book commands are resolved in order in memory and written with a few
// set-based, version-checked statements, and every downstream message goes
// to the outbox in the same transaction.
func (b *Bookings) CommitBatch(ctx context.Context, cmds []evently.Command) (BatchResult, error) {
	res := BatchResult{Sold: map[uuid.UUID][]string{}, Released: map[uuid.UUID][]string{}}
	now := b.now()
	err := inTx(ctx, b.DB, func(tx *sqlx.Tx) error {
		fresh, err := claimMessages(ctx, tx, b.Consumer, cmds)
		if err != nil {
			return err
		}
		for i := 0; i < len(cmds); {
			if cmds[i].Type == evently.CmdBook {
				var run []*evently.BookCommand
				for ; i < len(cmds) && cmds[i].Type == evently.CmdBook; i++ {
					if fresh[cmds[i].MessageID] {
						run = append(run, cmds[i].Book)
					} else {
						res.Redelivered++
					}
				}
				if err := b.book(ctx, tx, now, run, &res); err != nil {
					return err
				}
				continue
			}
			c := cmds[i]
			i++
			if !fresh[c.MessageID] {
				res.Redelivered++
				continue
			}
			if err := b.apply(ctx, tx, now, c, &res); err != nil {
				return err
			}
		}
		return insertOutbox(ctx, tx, res.Outbox)
	})
	if err != nil {
		return BatchResult{}, err
	}
	return res, nil
}

// claimMessages records the batch's message ids and returns those not seen
// before. A second worker holding the same batch blocks here on the primary
// key until the first commits, then finds them claimed.
func claimMessages(ctx context.Context, tx *sqlx.Tx, consumer string, cmds []evently.Command) (map[uuid.UUID]bool, error) {
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.MessageID.String()
	}
	rows, err := tx.QueryContext(ctx, `
		INSERT INTO processed_messages (consumer, message_id)
		SELECT $1, id FROM unnest($2::uuid[]) AS id
		ON CONFLICT DO NOTHING RETURNING message_id`, consumer, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	defer rows.Close()
	fresh := make(map[uuid.UUID]bool, len(cmds))
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		fresh[id] = true
	}
	return fresh, rows.Err()
}

type seatState struct {
	status  string
	version int64
	price   int64
}

type eventState struct {
	status   evently.EventStatus
	currency string
}

// newBooking is a row the book step inserts.
type newBooking struct {
	cmd     *evently.BookCommand
	status  evently.BookingStatus
	reason  string
	amount  int64
	idemKey string
	expires *time.Time
	prices  []int64
}

// book resolves a run of book commands in order and writes the outcome.
func (b *Bookings) book(ctx context.Context, tx *sqlx.Tx, now time.Time, run []*evently.BookCommand, res *BatchResult) error {
	if len(run) == 0 {
		return nil
	}
	existing, err := existingBookings(ctx, tx, run)
	if err != nil {
		return err
	}
	events, err := loadEvents(ctx, tx, run)
	if err != nil {
		return err
	}
	seats, err := lockSeats(ctx, tx, run)
	if err != nil {
		return err
	}

	var rows []newBooking
	type win struct {
		event   uuid.UUID
		seat    string
		booking uuid.UUID
		version int64
	}
	var wins []win
	seenKey := map[string]bool{}
	for _, c := range run {
		if existing.ids[c.BookingID] {
			continue // applied before under another message id
		}
		nb := newBooking{cmd: c, idemKey: c.IdempotencyKey}
		if nb.idemKey != "" {
			k := c.UserID.String() + "/" + nb.idemKey
			if existing.keys[k] || seenKey[k] {
				// Redis lost the idempotency key and a retry slipped through;
				// PostgreSQL's unique key decides: this one does nothing.
				nb.idemKey, nb.status, nb.reason = "", evently.BookingFailed, evently.ReasonInvalid
				rows = append(rows, nb)
				continue
			}
			seenKey[k] = true
		}
		ev, ok := events[c.EventID]
		switch {
		case !ok || ev.status == evently.EventDraft || len(c.SeatIDs) == 0 || len(c.SeatIDs) > evently.MaxSeatsPerBooking:
			nb.status, nb.reason = evently.BookingFailed, evently.ReasonInvalid
		case ev.status == evently.EventCancelled:
			nb.status, nb.reason = evently.BookingFailed, evently.ReasonEventCancelled
		case !c.HoldExpiresAt.IsZero() && now.After(c.HoldExpiresAt):
			nb.status, nb.reason = evently.BookingFailed, evently.ReasonHoldExpired
		default:
			nb.status, nb.reason = evently.BookingReserved, ""
			for _, s := range c.SeatIDs {
				st, ok := seats[seatKey(c.EventID, s)]
				if !ok {
					nb.status, nb.reason = evently.BookingFailed, evently.ReasonInvalid
					break
				}
				if st.status != string(evently.SeatAvailable) && nb.reason != evently.ReasonInvalid {
					nb.status, nb.reason = evently.BookingFailed, evently.ReasonSeatsTaken
				}
			}
		}
		if nb.status == evently.BookingReserved {
			for _, s := range c.SeatIDs {
				st := seats[seatKey(c.EventID, s)]
				wins = append(wins, win{c.EventID, s, c.BookingID, st.version})
				nb.amount += st.price
				nb.prices = append(nb.prices, st.price)
				st.status = string(evently.SeatSold) // later commands in the run see it taken
			}
			exp := now.Add(b.PaymentWindow)
			nb.expires = &exp
			res.Sold[c.EventID] = append(res.Sold[c.EventID], c.SeatIDs...)
		} else if nb.reason == evently.ReasonSeatsTaken {
			res.Conflicts++
		}
		rows = append(rows, nb)
		existing.ids[c.BookingID] = true
	}

	// Seats first, version-checked: the first guard against a double sale.
	if len(wins) > 0 {
		ev, seat, bk, ver := make([]string, len(wins)), make([]string, len(wins)), make([]string, len(wins)), make([]int64, len(wins))
		for i, w := range wins {
			ev[i], seat[i], bk[i], ver[i] = w.event.String(), w.seat, w.booking.String(), w.version
		}
		r, err := tx.ExecContext(ctx, `
			UPDATE event_seats s SET status = 'sold', booking_id = v.booking, version = s.version + 1
			FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[]) AS v(event, seat, booking, version)
			WHERE s.event_id = v.event AND s.seat_id = v.seat AND s.version = v.version AND s.status = 'available'`,
			pq.Array(ev), pq.Array(seat), pq.Array(bk), pq.Array(ver))
		if err != nil {
			return fmt.Errorf("sell seats: %w", err)
		}
		if n, _ := r.RowsAffected(); n != int64(len(wins)) {
			return fmt.Errorf("%w: sold %d of %d", ErrStaleVersion, n, len(wins))
		}
	}
	if err := insertBookings(ctx, tx, now, rows); err != nil {
		return err
	}
	for _, nb := range rows {
		c := nb.cmd
		if nb.status == evently.BookingReserved && c.PaymentToken != "" {
			// Straight on to payment: reserved then paying, one commit.
			if err := addHistory(ctx, tx, c.BookingID, evently.BookingPaying, "", now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE bookings SET status = 'paying', version = version + 1 WHERE id = $1`, c.BookingID); err != nil {
				return err
			}
			res.Outbox = append(res.Outbox, chargeRequest(c.BookingID, c.EventID, c.UserID, nb.amount, events[c.EventID].currency, c.PaymentToken, *nb.expires))
			nb.status = evently.BookingPaying
		}
		res.Changes = append(res.Changes, evently.StatusChange{BookingID: c.BookingID, UserID: c.UserID, EventID: c.EventID,
			HoldID: c.HoldID, Status: nb.status, Reason: nb.reason, SeatIDs: c.SeatIDs, At: now})
	}
	return nil
}

type existing struct {
	ids  map[uuid.UUID]bool
	keys map[string]bool // user/idempotency key
}

func existingBookings(ctx context.Context, tx *sqlx.Tx, run []*evently.BookCommand) (existing, error) {
	ids := make([]string, len(run))
	var users, keys []string
	for i, c := range run {
		ids[i] = c.BookingID.String()
		if c.IdempotencyKey != "" {
			users, keys = append(users, c.UserID.String()), append(keys, c.IdempotencyKey)
		}
	}
	out := existing{ids: map[uuid.UUID]bool{}, keys: map[string]bool{}}
	rows, err := tx.QueryContext(ctx, `
		SELECT b.id, b.user_id, coalesce(b.idempotency_key, '') FROM bookings b
		WHERE b.id = ANY($1::uuid[])
		   OR (b.user_id, b.idempotency_key) IN (SELECT * FROM unnest($2::uuid[], $3::text[]))`,
		pq.Array(ids), pq.Array(users), pq.Array(keys))
	if err != nil {
		return out, fmt.Errorf("existing bookings: %w", err)
	}
	defer rows.Close()
	want := map[uuid.UUID]bool{}
	for _, c := range run {
		want[c.BookingID] = true
	}
	for rows.Next() {
		var id, user uuid.UUID
		var key string
		if err := rows.Scan(&id, &user, &key); err != nil {
			return out, err
		}
		if want[id] {
			out.ids[id] = true
		} else if key != "" {
			out.keys[user.String()+"/"+key] = true
		}
	}
	return out, rows.Err()
}

func loadEvents(ctx context.Context, tx *sqlx.Tx, run []*evently.BookCommand) (map[uuid.UUID]eventState, error) {
	var ids []string
	for _, c := range run {
		ids = append(ids, c.EventID.String())
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, status, currency FROM events WHERE id = ANY($1::uuid[])`, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	defer rows.Close()
	out := map[uuid.UUID]eventState{}
	for rows.Next() {
		var id uuid.UUID
		var st eventState
		if err := rows.Scan(&id, &st.status, &st.currency); err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, rows.Err()
}

func seatKey(event uuid.UUID, seat string) string { return event.String() + "/" + seat }

// lockSeats reads and row-locks every seat the run names, in a fixed order
// so two workers never deadlock.
func lockSeats(ctx context.Context, tx *sqlx.Tx, run []*evently.BookCommand) (map[string]*seatState, error) {
	var ev, seat []string
	for _, c := range run {
		for _, s := range c.SeatIDs {
			ev, seat = append(ev, c.EventID.String()), append(seat, s)
		}
	}
	out := map[string]*seatState{}
	if len(seat) == 0 {
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT s.event_id, s.seat_id, s.status, s.version, s.price_cents FROM event_seats s
		JOIN (SELECT DISTINCT * FROM unnest($1::uuid[], $2::text[])) AS v(event, seat)
		  ON s.event_id = v.event AND s.seat_id = v.seat
		ORDER BY s.event_id, s.seat_id
		FOR UPDATE OF s`, pq.Array(ev), pq.Array(seat))
	if err != nil {
		return nil, fmt.Errorf("lock seats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var event uuid.UUID
		var id string
		st := &seatState{}
		if err := rows.Scan(&event, &id, &st.status, &st.version, &st.price); err != nil {
			return nil, err
		}
		out[seatKey(event, id)] = st
	}
	return out, rows.Err()
}

func insertBookings(ctx context.Context, tx *sqlx.Tx, now time.Time, rows []newBooking) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	id, user, event, hold, status, reason, key, token, expires := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amount, accepted := make([]int64, n), make([]string, n)
	var bsBooking, bsEvent, bsSeat []string
	var bsPrice []int64
	for i, r := range rows {
		c := r.cmd
		id[i], user[i], event[i] = c.BookingID.String(), c.UserID.String(), c.EventID.String()
		if c.HoldID != nil {
			hold[i] = c.HoldID.String()
		}
		status[i], reason[i], key[i], token[i], amount[i] = string(r.status), r.reason, r.idemKey, c.PaymentToken, r.amount
		if r.expires != nil {
			expires[i] = r.expires.Format(time.RFC3339Nano)
		}
		accepted[i] = c.AcceptedAt.UTC().Format(time.RFC3339Nano)
		if c.AcceptedAt.IsZero() {
			accepted[i] = now.Format(time.RFC3339Nano)
		}
		if r.status == evently.BookingReserved {
			for j, s := range c.SeatIDs {
				bsBooking, bsEvent, bsSeat, bsPrice = append(bsBooking, id[i]), append(bsEvent, event[i]), append(bsSeat, s), append(bsPrice, r.prices[j])
			}
		}
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO bookings (id, user_id, event_id, hold_id, status, reason, amount_cents, currency,
		                      idempotency_key, payment_token, expires_at, accepted_at, created_at, updated_at)
		SELECT v.id, v.user_id, v.event_id, NULLIF(v.hold, '')::uuid, v.status, NULLIF(v.reason, ''), v.amount,
		       coalesce(e.currency, 'USD'), NULLIF(v.key, ''), NULLIF(v.token, ''), NULLIF(v.expires, '')::timestamptz,
		       v.accepted::timestamptz, $12, $12
		FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bigint[],
		            $8::text[], $9::text[], $10::text[], $11::text[])
		     AS v(id, user_id, event_id, hold, status, reason, amount, key, token, expires, accepted)
		LEFT JOIN events e ON e.id = v.event_id`,
		pq.Array(id), pq.Array(user), pq.Array(event), pq.Array(hold), pq.Array(status), pq.Array(reason),
		pq.Array(amount), pq.Array(key), pq.Array(token), pq.Array(expires), pq.Array(accepted), now)
	if err != nil {
		return fmt.Errorf("insert bookings: %w", err)
	}
	if len(bsBooking) > 0 {
		// The second guard: the unique index on active (event, seat) fails
		// the whole batch rather than let a seat belong to two bookings.
		_, err = tx.ExecContext(ctx, `
			INSERT INTO booking_seats (booking_id, event_id, seat_id, price_cents)
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[])`,
			pq.Array(bsBooking), pq.Array(bsEvent), pq.Array(bsSeat), pq.Array(bsPrice))
		if err != nil {
			if isUniqueViolation(err, "booking_seats_one_active") {
				return fmt.Errorf("%w: a seat already belongs to an active booking", ErrStaleVersion)
			}
			return fmt.Errorf("insert booking seats: %w", err)
		}
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO booking_history (booking_id, status, reason, at)
		SELECT v.id, v.status, NULLIF(v.reason, ''), $4 FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(id, status, reason)`,
		pq.Array(id), pq.Array(status), pq.Array(reason), now)
	if err != nil {
		return fmt.Errorf("insert history: %w", err)
	}
	return nil
}

func addHistory(ctx context.Context, tx *sqlx.Tx, booking uuid.UUID, status evently.BookingStatus, reason string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO booking_history (booking_id, status, reason, at) VALUES ($1, $2, NULLIF($3, ''), $4)`,
		booking, status, reason, at)
	return err
}

func chargeRequest(booking, event, user uuid.UUID, amount int64, currency, token string, deadline time.Time) evently.Outgoing {
	return evently.NewOutgoing(evently.StreamPaymentRequests, booking.String(), evently.PayCharge, evently.PaymentRequest{
		BookingID: booking, EventID: event, UserID: user, AmountCents: amount, Currency: currency, Token: token, Deadline: deadline})
}

func insertOutbox(ctx context.Context, tx *sqlx.Tx, msgs []evently.Outgoing) error {
	if len(msgs) == 0 {
		return nil
	}
	id, topic, key, typ, payload := make([]string, len(msgs)), make([]string, len(msgs)), make([]string, len(msgs)), make([]string, len(msgs)), make([]string, len(msgs))
	for i, m := range msgs {
		id[i], topic[i], key[i], typ[i], payload[i] = m.ID.String(), m.Stream, m.Key, m.Type, string(m.Payload)
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO outbox (id, topic, key, type, payload)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[])`,
		pq.Array(id), pq.Array(topic), pq.Array(key), pq.Array(typ), pq.Array(payload))
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// DeleteOutbox removes messages that were sent.
func (b *Bookings) DeleteOutbox(ctx context.Context, ids []uuid.UUID) error {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	_, err := b.DB.ExecContext(ctx, `DELETE FROM outbox WHERE id = ANY($1::uuid[])`, pq.Array(s))
	return err
}

// PendingOutbox returns messages older than age that were never sent
// (their process died between commit and send).
func (b *Bookings) PendingOutbox(ctx context.Context, age time.Duration, limit int) ([]evently.Outgoing, error) {
	var out []evently.Outgoing
	err := b.DB.SelectContext(ctx, &out, `
		SELECT id, topic, key, type, payload FROM outbox
		WHERE created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2`, age.Seconds(), limit)
	return out, err
}

// bookingColumns are the columns of evently.Booking.
const bookingColumns = `id, user_id, event_id, hold_id, status, reason, amount_cents, currency, idempotency_key,
	payment_token, expires_at, accepted_at, version, created_at, updated_at`

// lockBooking reads and row-locks a booking; nil when there is none.
func lockBooking(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) (*evently.Booking, error) {
	var bk evently.Booking
	err := tx.GetContext(ctx, &bk, `SELECT `+bookingColumns+` FROM bookings WHERE id = $1 FOR UPDATE`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &bk, err
}

// move changes a locked booking's status, version-checked, and records it.
func move(ctx context.Context, tx *sqlx.Tx, now time.Time, bk *evently.Booking, to evently.BookingStatus, reason string, res *BatchResult) error {
	if !bk.Status.CanMove(to) {
		return fmt.Errorf("booking %s: %s -> %s is not allowed", bk.ID, bk.Status, to)
	}
	r, err := tx.ExecContext(ctx, `
		UPDATE bookings SET status = $2, reason = NULLIF($3, ''), version = version + 1, updated_at = $5
		WHERE id = $1 AND version = $4`, bk.ID, to, reason, bk.Version, now)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: booking %s", ErrStaleVersion, bk.ID)
	}
	bk.Status, bk.Version = to, bk.Version+1
	if err := addHistory(ctx, tx, bk.ID, to, reason, now); err != nil {
		return err
	}
	seats, err := bookingSeats(ctx, tx, bk.ID)
	if err != nil {
		return err
	}
	res.Changes = append(res.Changes, evently.StatusChange{BookingID: bk.ID, UserID: bk.UserID, EventID: bk.EventID,
		HoldID: bk.HoldID, Status: to, Reason: reason, SeatIDs: seats, At: now})
	return nil
}

func bookingSeats(ctx context.Context, q sqlx.QueryerContext, id uuid.UUID) ([]string, error) {
	var seats []string
	err := sqlx.SelectContext(ctx, q, &seats, `SELECT seat_id FROM booking_seats WHERE booking_id = $1 ORDER BY seat_id`, id)
	return seats, err
}

// release puts a booking's seats back on sale (version bump) and tells the
// waitlist.
func release(ctx context.Context, tx *sqlx.Tx, bk *evently.Booking, res *BatchResult) error {
	var seats []string
	err := tx.SelectContext(ctx, &seats, `
		UPDATE event_seats SET status = 'available', booking_id = NULL, version = version + 1
		WHERE event_id = $1 AND booking_id = $2 RETURNING seat_id`, bk.EventID, bk.ID)
	if err != nil {
		return fmt.Errorf("release seats: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE booking_seats SET active = false WHERE booking_id = $1`, bk.ID); err != nil {
		return err
	}
	if len(seats) == 0 {
		return nil
	}
	slices.Sort(seats)
	res.Released[bk.EventID] = append(res.Released[bk.EventID], seats...)
	res.Outbox = append(res.Outbox, evently.NewOutgoing(evently.StreamInventoryReleased, bk.EventID.String(),
		evently.MsgSeatsReleased, evently.SeatsReleased{EventID: bk.EventID, SeatIDs: seats, BookingID: bk.ID}))
	return nil
}

func paymentRequest(kind string, bk *evently.Booking) evently.Outgoing {
	token := ""
	if bk.PaymentToken != nil {
		token = *bk.PaymentToken
	}
	var deadline time.Time
	if bk.ExpiresAt != nil {
		deadline = *bk.ExpiresAt
	}
	return evently.NewOutgoing(evently.StreamPaymentRequests, bk.ID.String(), kind, evently.PaymentRequest{
		BookingID: bk.ID, EventID: bk.EventID, UserID: bk.UserID, AmountCents: bk.AmountCents,
		Currency: bk.Currency, Token: token, Deadline: deadline})
}

// apply handles one non-book command on its booking.
func (b *Bookings) apply(ctx context.Context, tx *sqlx.Tx, now time.Time, c evently.Command, res *BatchResult) error {
	var id uuid.UUID
	switch {
	case c.Ref != nil:
		id = c.Ref.BookingID
	case c.Reply != nil:
		id = c.Reply.BookingID
	default:
		return fmt.Errorf("%s command without payload", c.Type)
	}
	bk, err := lockBooking(ctx, tx, id)
	if err != nil {
		return err
	}
	if bk == nil {
		return nil // nothing to act on: the booking was never written
	}
	pastDeadline := bk.ExpiresAt != nil && !now.Before(*bk.ExpiresAt)
	switch c.Type {
	case evently.CmdConfirm:
		if bk.Status != evently.BookingReserved || pastDeadline || c.Ref.PaymentToken == "" {
			return nil // the API refuses these; a late duplicate changes nothing
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bookings SET payment_token = $2 WHERE id = $1`, bk.ID, c.Ref.PaymentToken); err != nil {
			return err
		}
		bk.PaymentToken = &c.Ref.PaymentToken
		res.Outbox = append(res.Outbox, paymentRequest(evently.PayCharge, bk))
		return move(ctx, tx, now, bk, evently.BookingPaying, "", res)

	case evently.CmdCancel:
		switch bk.Status {
		case evently.BookingReserved:
		case evently.BookingPaying, evently.BookingConfirmed:
			// Whatever was or will be charged is given back.
			res.Outbox = append(res.Outbox, paymentRequest(evently.PayResolve, bk))
		default:
			return nil
		}
		if err := release(ctx, tx, bk, res); err != nil {
			return err
		}
		return move(ctx, tx, now, bk, evently.BookingCancelled, c.Ref.Reason, res)

	case evently.CmdExpire:
		switch {
		case !pastDeadline:
			return nil
		case bk.Status == evently.BookingReserved:
			if err := release(ctx, tx, bk, res); err != nil {
				return err
			}
			return move(ctx, tx, now, bk, evently.BookingExpired, "", res)
		case bk.Status == evently.BookingPaying:
			return b.failPayment(ctx, tx, now, bk, evently.ReasonPaymentUnavailable, res)
		}
		return nil

	case evently.CmdRetryPayment:
		if bk.Status == evently.BookingPaying && !pastDeadline {
			res.Outbox = append(res.Outbox, paymentRequest(evently.PayCharge, bk))
			_, err := tx.ExecContext(ctx, `UPDATE bookings SET updated_at = $2 WHERE id = $1`, bk.ID, now)
			return err
		}
		return nil

	case evently.ReplyCharged:
		if err := recordPayment(ctx, tx, bk, "charge", c.Reply); err != nil {
			return err
		}
		switch {
		case bk.Status == evently.BookingPaying:
			return move(ctx, tx, now, bk, evently.BookingConfirmed, "", res)
		case bk.Status.Terminal():
			// Charged for a booking that did not confirm: give it back.
			res.Outbox = append(res.Outbox, paymentRequest(evently.PayResolve, bk))
		}
		return nil

	case evently.ReplyDeclined:
		if bk.Status != evently.BookingPaying {
			return nil
		}
		if err := release(ctx, tx, bk, res); err != nil {
			return err
		}
		return move(ctx, tx, now, bk, evently.BookingFailed, evently.ReasonPaymentDeclined, res)

	case evently.ReplyUnavailable:
		if bk.Status != evently.BookingPaying {
			return nil
		}
		if pastDeadline {
			return b.failPayment(ctx, tx, now, bk, evently.ReasonPaymentUnavailable, res)
		}
		// Still time: the reaper asks again after a pause.
		_, err := tx.ExecContext(ctx, `UPDATE bookings SET updated_at = $2 WHERE id = $1`, bk.ID, now)
		return err

	case evently.ReplyRefunded:
		return recordPayment(ctx, tx, bk, "refund", c.Reply)
	}
	return fmt.Errorf("unknown command type %q", c.Type)
}

// failPayment fails a paying booking, returns its seats and refunds any
// charge that may have happened after all.
func (b *Bookings) failPayment(ctx context.Context, tx *sqlx.Tx, now time.Time, bk *evently.Booking, reason string, res *BatchResult) error {
	res.Outbox = append(res.Outbox, paymentRequest(evently.PayResolve, bk))
	if err := release(ctx, tx, bk, res); err != nil {
		return err
	}
	return move(ctx, tx, now, bk, evently.BookingFailed, reason, res)
}

func recordPayment(ctx context.Context, tx *sqlx.Tx, bk *evently.Booking, kind string, r *evently.PaymentReply) error {
	amount := r.AmountCents
	if amount == 0 {
		amount = bk.AmountCents
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO payments (id, booking_id, kind, idempotency_key, status, amount_cents, currency, gateway_ref)
		VALUES ($1, $2, $3, $4, 'succeeded', $5, $6, NULLIF($7, ''))
		ON CONFLICT (idempotency_key) DO NOTHING`,
		evently.NewID(), bk.ID, kind, kind+":"+bk.ID.String()+":"+r.ChargeID, amount, bk.Currency, r.ChargeID)
	return err
}

// FailInvalid records a booking whose command could not be applied (it went
// to the dead-letter queue), so its 202 still reaches a terminal state.
func (b *Bookings) FailInvalid(ctx context.Context, c *evently.BookCommand) error {
	now := b.now()
	return inTx(ctx, b.DB, func(tx *sqlx.Tx) error {
		r, err := tx.ExecContext(ctx, `
			INSERT INTO bookings (id, user_id, event_id, status, reason, accepted_at, created_at, updated_at)
			SELECT $1, $2, $3, 'failed', 'invalid', $4, $5, $5
			WHERE EXISTS (SELECT 1 FROM users WHERE id = $2) AND EXISTS (SELECT 1 FROM events WHERE id = $3)
			ON CONFLICT DO NOTHING`, c.BookingID, c.UserID, c.EventID, c.AcceptedAt, now)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 1 {
			return addHistory(ctx, tx, c.BookingID, evently.BookingFailed, evently.ReasonInvalid, now)
		}
		return nil
	})
}

// Get returns a booking with its seats.
func (b *Bookings) Get(ctx context.Context, id uuid.UUID) (*evently.Booking, error) {
	var bk evently.Booking
	if err := b.DB.GetContext(ctx, &bk, `SELECT `+bookingColumns+` FROM bookings WHERE id = $1`, id); err != nil {
		return nil, translate(err, "Booking")
	}
	// Seats of a booking that ended keep showing what it was for.
	var err error
	if bk.SeatIDs, err = bookingSeats(ctx, b.DB, id); err != nil {
		return nil, err
	}
	return &bk, nil
}

// ListByUser returns a user's bookings, newest first, after the cursor id.
func (b *Bookings) ListByUser(ctx context.Context, user uuid.UUID, before *uuid.UUID, limit int) ([]evently.Booking, error) {
	var out []evently.Booking
	q := `SELECT id, user_id, event_id, hold_id, status, reason, amount_cents, currency, expires_at, accepted_at,
	             version, created_at, updated_at FROM bookings WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2)
	      ORDER BY id DESC LIMIT $3`
	if err := b.DB.SelectContext(ctx, &out, q, user, before, limit); err != nil {
		return nil, err
	}
	return out, nil
}

// Due lists bookings the reaper must act on: past their deadline
// (expire), or paying with no answer for a while (retry payment).
func (b *Bookings) Due(ctx context.Context, retryAfter time.Duration, limit int) (expire, retry []evently.BookingRef, err error) {
	rows, err := b.DB.QueryContext(ctx, `
		(SELECT id, event_id, true FROM bookings
		 WHERE status IN ('reserved', 'paying') AND expires_at <= now() ORDER BY expires_at LIMIT $1)
		UNION ALL
		(SELECT id, event_id, false FROM bookings
		 WHERE status = 'paying' AND expires_at > now() AND updated_at < now() - make_interval(secs => $2)
		 ORDER BY updated_at LIMIT $1)`, limit, retryAfter.Seconds())
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ref evently.BookingRef
		var isExpire bool
		if err := rows.Scan(&ref.BookingID, &ref.EventID, &isExpire); err != nil {
			return nil, nil, err
		}
		if isExpire {
			expire = append(expire, ref)
		} else {
			retry = append(retry, ref)
		}
	}
	return expire, retry, rows.Err()
}

// ActiveForEvent lists an event's bookings that still hold seats.
func (b *Bookings) ActiveForEvent(ctx context.Context, event uuid.UUID) ([]evently.BookingRef, error) {
	var refs []evently.BookingRef
	rows, err := b.DB.QueryContext(ctx, `SELECT id FROM bookings WHERE event_id = $1 AND status IN ('reserved', 'paying', 'confirmed')`, event)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		ref := evently.BookingRef{EventID: event, Reason: evently.ReasonEventCancelled}
		if err := rows.Scan(&ref.BookingID); err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	return refs, rows.Err()
}
