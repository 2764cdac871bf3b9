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

	"github.com/evently/evently"
)

// This file keeps the booking worker's earlier row-by-row way of applying
// non-book commands (lock one booking, insert, update, history, one at a
// time) as the reference the set-based applyRun is compared with on random
// command sequences (TestSetBasedMatchesRowByRow). Tests only.

// CommitBatchRowByRow is CommitBatch with the row-by-row reference path for
// every non-book command.
func (b *Bookings) CommitBatchRowByRow(ctx context.Context, cmds []evently.Command) (BatchResult, error) {
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
				w := &batchWrite{}
				if err := b.book(ctx, tx, w, now, run, nil, nil, &res); err != nil {
					return err
				}
				if err := w.flush(ctx, tx); err != nil {
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
			if err := b.rowByRowApply(ctx, tx, now, c, &res); err != nil {
				return err
			}
		}
		res.tell()
		w := &batchWrite{}
		insertOutbox(w, res.Outbox)
		return w.flush(ctx, tx)
	})
	if err != nil {
		return BatchResult{}, err
	}
	return res, nil
}

// lockBooking reads and row-locks a booking; nil when there is none.
func rowByRowLockBooking(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) (*evently.Booking, error) {
	var bk evently.Booking
	err := tx.GetContext(ctx, &bk, `SELECT `+bookingColumns+` FROM bookings WHERE id = $1 FOR UPDATE`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &bk, err
}

// move changes a locked booking's status, version-checked, and records it.
func rowByRowMove(ctx context.Context, tx *sqlx.Tx, now time.Time, bk *evently.Booking, to evently.BookingStatus, reason string, res *BatchResult) error {
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
	if err := addHistory(ctx, tx, bk.ID, to, reason, now, ""); err != nil {
		return err
	}
	seats, err := bookingSeats(ctx, tx, bk.ID)
	if err != nil {
		return err
	}
	res.Changes = append(res.Changes, evently.StatusChange{BookingID: bk.ID, UserID: bk.UserID, EventID: bk.EventID,
		HoldID: bk.HoldID, Status: to, Reason: reason, SeatIDs: seats, At: now, AmountCents: bk.AmountCents, Currency: bk.Currency})
	return nil
}

// release puts a booking's seats back on sale (version bump) and tells the
// waitlist.
func rowByRowRelease(ctx context.Context, tx *sqlx.Tx, bk *evently.Booking, res *BatchResult) error {
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

// apply handles one non-book command on its booking.
func (b *Bookings) rowByRowApply(ctx context.Context, tx *sqlx.Tx, now time.Time, c evently.Command, res *BatchResult) error {
	var id uuid.UUID
	switch {
	case c.Ref != nil:
		id = c.Ref.BookingID
	case c.Reply != nil:
		id = c.Reply.BookingID
	default:
		return fmt.Errorf("%s command without payload", c.Type)
	}
	bk, err := rowByRowLockBooking(ctx, tx, id)
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
		return rowByRowMove(ctx, tx, now, bk, evently.BookingPaying, "", res)

	case evently.CmdCancel:
		switch bk.Status {
		case evently.BookingReserved:
		case evently.BookingPaying, evently.BookingConfirmed:
			// Whatever was or will be charged is given back.
			res.Outbox = append(res.Outbox, paymentRequest(evently.PayResolve, bk))
		default:
			return nil
		}
		if err := rowByRowRelease(ctx, tx, bk, res); err != nil {
			return err
		}
		return rowByRowMove(ctx, tx, now, bk, evently.BookingCancelled, c.Ref.Reason, res)

	case evently.CmdExpire:
		switch {
		case !pastDeadline:
			return nil
		case bk.Status == evently.BookingReserved:
			if err := rowByRowRelease(ctx, tx, bk, res); err != nil {
				return err
			}
			return rowByRowMove(ctx, tx, now, bk, evently.BookingExpired, "", res)
		case bk.Status == evently.BookingPaying:
			return b.rowByRowFailPayment(ctx, tx, now, bk, evently.ReasonPaymentUnavailable, res)
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
		if err := rowByRowRecordPayment(ctx, tx, bk, "charge", c.Reply); err != nil {
			return err
		}
		switch {
		case bk.Status == evently.BookingPaying:
			return rowByRowMove(ctx, tx, now, bk, evently.BookingConfirmed, "", res)
		case bk.Status.Terminal():
			// Charged for a booking that did not confirm: give it back.
			res.Outbox = append(res.Outbox, paymentRequest(evently.PayResolve, bk))
		}
		return nil

	case evently.ReplyDeclined:
		if bk.Status != evently.BookingPaying {
			return nil
		}
		if err := rowByRowRelease(ctx, tx, bk, res); err != nil {
			return err
		}
		return rowByRowMove(ctx, tx, now, bk, evently.BookingFailed, evently.ReasonPaymentDeclined, res)

	case evently.ReplyUnavailable:
		if bk.Status != evently.BookingPaying {
			return nil
		}
		if pastDeadline {
			return b.rowByRowFailPayment(ctx, tx, now, bk, evently.ReasonPaymentUnavailable, res)
		}
		// Still time: the reaper asks again after a pause.
		_, err := tx.ExecContext(ctx, `UPDATE bookings SET updated_at = $2 WHERE id = $1`, bk.ID, now)
		return err

	case evently.ReplyRefunded:
		amount := c.Reply.AmountCents
		if amount == 0 {
			amount = bk.AmountCents
		}
		res.Refunds = append(res.Refunds, evently.Refund{BookingID: bk.ID, UserID: bk.UserID, EventID: bk.EventID,
			ChargeID: c.Reply.ChargeID, AmountCents: amount, Currency: bk.Currency, At: now})
		if err := rowByRowRecordPayment(ctx, tx, bk, "refund", c.Reply); err != nil || c.Reply.ChargeID == "" {
			return err
		}
		// The refund proves the charge it gives back.
		return rowByRowRecordPayment(ctx, tx, bk, "charge", c.Reply)
	}
	return fmt.Errorf("unknown command type %q", c.Type)
}

// failPayment fails a paying booking, returns its seats and refunds any
// charge that may have happened after all.
func (b *Bookings) rowByRowFailPayment(ctx context.Context, tx *sqlx.Tx, now time.Time, bk *evently.Booking, reason string, res *BatchResult) error {
	res.Outbox = append(res.Outbox, paymentRequest(evently.PayResolve, bk))
	if err := rowByRowRelease(ctx, tx, bk, res); err != nil {
		return err
	}
	return rowByRowMove(ctx, tx, now, bk, evently.BookingFailed, reason, res)
}

func rowByRowRecordPayment(ctx context.Context, tx *sqlx.Tx, bk *evently.Booking, kind string, r *evently.PaymentReply) error {
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
