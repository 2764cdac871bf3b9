package gateway

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/evently/evently"
)

// Kinds of Mismatch.
const (
	// MismatchNotCharged: a confirmed booking keeps no money (never charged,
	// or charged and refunded in full).
	MismatchNotCharged = "confirmed_not_charged"
	// MismatchDoubleCharge: more than one charge kept for one booking.
	MismatchDoubleCharge = "double_charge"
	// MismatchAmount: the money kept differs from the booking's amount or
	// currency.
	MismatchAmount = "amount_mismatch"
	// MismatchMoneyKept: a failed, expired or cancelled booking whose
	// charges are not fully refunded.
	MismatchMoneyKept = "money_kept"
	// MismatchOrphan: a charge or refund whose reference is no booking.
	MismatchOrphan = "orphan_charge"
	// MismatchPending: a charge the gateway has not finished; run the
	// reconciliation again later.
	MismatchPending = "charge_pending"
)

// Mismatch is one disagreement between the gateway's ledger and the
// bookings table.
type Mismatch struct {
	Kind          string
	Reference     string // the booking id the ledger names
	BookingStatus string // "" when there is no such booking
	AmountCents   int64  // the booking's amount
	Currency      string // the booking's currency
	ChargedCents  int64  // succeeded charges
	RefundedCents int64  // refunds (pending ones included: the gateway has set the money aside)
	Charges       int    // succeeded charges
	EntryIDs      []string
}

func (m Mismatch) String() string {
	booking := "no booking"
	if m.BookingStatus != "" {
		booking = fmt.Sprintf("status=%s amount=%d %s", m.BookingStatus, m.AmountCents, m.Currency)
	}
	return fmt.Sprintf("%s reference=%s %s charged=%d (%d charges) refunded=%d kept=%d entries=%v",
		m.Kind, m.Reference, booking, m.ChargedCents, m.Charges, m.RefundedCents,
		m.ChargedCents-m.RefundedCents, m.EntryIDs)
}

type bookingRow struct {
	ID          uuid.UUID             `db:"id"`
	Status      evently.BookingStatus `db:"status"`
	AmountCents int64                 `db:"amount_cents"`
	Currency    string                `db:"currency"`
}

// money is what the ledger says about one reference.
type money struct {
	charged, refunded int64
	charges, pending  int
	currencies        []string
	entries           []string
}

// Reconcile compares the gateway's ledger with the bookings table: every
// confirmed booking keeps exactly one charge of its amount (net of refunds),
// every failed, expired or cancelled booking keeps no money, and every
// ledger entry names a booking. Bookings still in flight (pending, reserved,
// paying) may hold one charge; only more than their amount is reported. The
// mismatches come sorted by kind, then reference.
func Reconcile(ctx context.Context, db *sqlx.DB, ledger []LedgerEntry) ([]Mismatch, error) {
	byRef := map[string]*money{}
	var refs []string
	for _, e := range ledger {
		m := byRef[e.Reference]
		if m == nil {
			m = &money{}
			byRef[e.Reference] = m
			refs = append(refs, e.Reference)
		}
		m.entries = append(m.entries, e.ID)
		switch {
		case e.Kind == KindCharge && e.Status == StatusSucceeded:
			m.charged += e.AmountCents
			m.charges++
			if !slices.Contains(m.currencies, e.Currency) {
				m.currencies = append(m.currencies, e.Currency)
			}
		case e.Kind == KindCharge && e.Status == StatusPending:
			m.pending++
		case e.Kind == KindRefund && e.Status != StatusDeclined:
			m.refunded += e.AmountCents
		}
	}

	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		if _, err := uuid.Parse(r); err == nil {
			ids = append(ids, r)
		}
	}
	var rows []bookingRow
	err := db.SelectContext(ctx, &rows, `
		SELECT id, status, amount_cents, currency FROM bookings
		WHERE status = 'confirmed' OR id = ANY($1::uuid[])`, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("reconcile: bookings: %w", err)
	}
	bookings := make(map[string]bookingRow, len(rows))
	for _, b := range rows {
		bookings[b.ID.String()] = b
	}

	var out []Mismatch
	add := func(kind, ref string, b *bookingRow, m *money) {
		mm := Mismatch{Kind: kind, Reference: ref}
		if b != nil {
			mm.BookingStatus, mm.AmountCents, mm.Currency = string(b.Status), b.AmountCents, b.Currency
		}
		if m != nil {
			mm.ChargedCents, mm.RefundedCents, mm.Charges, mm.EntryIDs = m.charged, m.refunded, m.charges, m.entries
		}
		out = append(out, mm)
	}
	for _, ref := range refs {
		m := byRef[ref]
		b, ok := bookings[ref]
		if !ok {
			add(MismatchOrphan, ref, nil, m)
			continue
		}
		if m.pending > 0 {
			add(MismatchPending, ref, &b, m)
		}
	}
	for id, b := range bookings {
		m := byRef[id]
		if m == nil {
			m = &money{}
		}
		kept := m.charged - m.refunded
		switch {
		case b.Status == evently.BookingConfirmed:
			switch {
			case kept == 0 && b.AmountCents > 0:
				add(MismatchNotCharged, id, &b, m)
			case kept > b.AmountCents && m.charges > 1:
				add(MismatchDoubleCharge, id, &b, m)
			case kept != b.AmountCents || (m.charges > 0 && !slices.Equal(m.currencies, []string{b.Currency})):
				add(MismatchAmount, id, &b, m)
			}
		case b.Status.Terminal():
			if kept > 0 {
				add(MismatchMoneyKept, id, &b, m)
			}
		default: // in flight: at most its amount
			if kept > b.AmountCents {
				kind := MismatchAmount
				if m.charges > 1 {
					kind = MismatchDoubleCharge
				}
				add(kind, id, &b, m)
			}
		}
	}
	slices.SortFunc(out, func(a, b Mismatch) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Reference, b.Reference))
	})
	return out, nil
}
