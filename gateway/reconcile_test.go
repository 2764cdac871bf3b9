package gateway_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/paysim"
)

// recBundle is a database with one user and one event, and a simulator
// with a client, for building a consistent world and planting mismatches.
type recBundle struct {
	bundle
	db    *sqlx.DB
	user  uuid.UUID
	event uuid.UUID
}

func setupReconcile(t *testing.T) recBundle {
	t.Helper()
	db := evtest.DB(t)
	user, venue, event := uuid.New(), uuid.New(), uuid.New()
	ctx := context.Background()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, email, password_hash) VALUES ($1, $2, '\x00')`, []any{user, user.String() + "@example.com"}},
		{`INSERT INTO venues (id, owner_id, name) VALUES ($1, $2, 'Hall')`, []any{venue, user}},
		{`INSERT INTO events (id, venue_id, organizer_id, title, starts_at, ends_at) VALUES ($1, $2, $3, 'Show', $4, $5)`,
			[]any{event, venue, user, time.Now().Add(24 * time.Hour), time.Now().Add(26 * time.Hour)}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	return recBundle{bundle: setup(t, paysim.Options{}, gateway.Options{}), db: db, user: user, event: event}
}

func (r recBundle) booking(t *testing.T, status evently.BookingStatus, amount int64) uuid.UUID {
	t.Helper()
	id := uuid.New()
	_, err := r.db.Exec(`INSERT INTO bookings (id, user_id, event_id, status, amount_cents, currency) VALUES ($1, $2, $3, $4, $5, 'USD')`,
		id, r.user, r.event, status, amount)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// charge charges through the client under key (default ChargeKey(id)).
func (r recBundle) charge(t *testing.T, id uuid.UUID, token string, amount int64, key string) gateway.Result {
	t.Helper()
	res, err := r.client.Charge(context.Background(), gateway.ChargeRequest{BookingID: id, AmountCents: amount, Currency: "USD", Token: token, IdempotencyKey: key})
	if !res.Final() {
		t.Fatalf("charge %s: %s (%v)", id, res.Outcome, err)
	}
	return res
}

func (r recBundle) refund(t *testing.T, id uuid.UUID, ch gateway.Result, amount int64, key string) {
	t.Helper()
	res, err := r.client.Refund(context.Background(), gateway.RefundRequest{BookingID: id, ChargeID: ch.ChargeID, AmountCents: amount, IdempotencyKey: key})
	if res.Outcome != gateway.Refunded {
		t.Fatalf("refund %s: %s (%v)", id, res.Outcome, err)
	}
}

// consistent builds bookings that agree with the ledger in every way the
// saga allows.
func (r recBundle) consistent(t *testing.T) {
	t.Helper()
	// Confirmed, charged once.
	id := r.booking(t, evently.BookingConfirmed, 1000)
	r.charge(t, id, paysim.TokenVisa, 1000, "")
	// Failed after a decline: the declined charge kept nothing.
	id = r.booking(t, evently.BookingFailed, 800)
	r.charge(t, id, paysim.TokenDecline, 800, "")
	// Cancelled after payment, refunded in full (in two parts).
	id = r.booking(t, evently.BookingCancelled, 1200)
	ch := r.charge(t, id, paysim.TokenVisa, 1200, "")
	r.refund(t, id, ch, 200, "refund:part:"+id.String())
	r.refund(t, id, ch, 1000, "")
	// Expired, never charged.
	r.booking(t, evently.BookingExpired, 500)
	// Still paying, charged: the reply is on its way.
	id = r.booking(t, evently.BookingPaying, 700)
	r.charge(t, id, paysim.TokenVisa, 700, "")
	// Confirmed, charged twice under two keys, the extra refunded.
	id = r.booking(t, evently.BookingConfirmed, 900)
	r.charge(t, id, paysim.TokenVisa, 900, "")
	extra := r.charge(t, id, paysim.TokenVisa, 900, "charge:again:"+id.String())
	r.refund(t, id, extra, 900, "")
	// Confirmed and free: nothing to charge.
	r.booking(t, evently.BookingConfirmed, 0)
}

func (r recBundle) reconcile(t *testing.T) []gateway.Mismatch {
	t.Helper()
	ledger, err := r.client.Ledger(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mm, err := gateway.Reconcile(context.Background(), r.db, ledger)
	if err != nil {
		t.Fatal(err)
	}
	return mm
}

func TestReconcileConsistent(t *testing.T) {
	t.Parallel()
	r := setupReconcile(t)
	r.consistent(t)
	if mm := r.reconcile(t); len(mm) != 0 {
		for _, m := range mm {
			t.Errorf("unexpected: %s", m)
		}
	}
}

// Each planted mismatch is reported, and nothing else.
func TestReconcileReportsMismatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		plant func(t *testing.T, r recBundle) string // returns the reference
		kind  string
	}{
		{"confirmed without charge", func(t *testing.T, r recBundle) string {
			return r.booking(t, evently.BookingConfirmed, 1500).String()
		}, gateway.MismatchNotCharged},
		{"confirmed with its charge refunded", func(t *testing.T, r recBundle) string {
			id := r.booking(t, evently.BookingConfirmed, 1500)
			r.refund(t, id, r.charge(t, id, paysim.TokenVisa, 1500, ""), 1500, "")
			return id.String()
		}, gateway.MismatchNotCharged},
		{"double charge", func(t *testing.T, r recBundle) string {
			id := r.booking(t, evently.BookingConfirmed, 1500)
			r.charge(t, id, paysim.TokenVisa, 1500, "")
			r.charge(t, id, paysim.TokenVisa, 1500, "charge:second:"+id.String())
			return id.String()
		}, gateway.MismatchDoubleCharge},
		{"double charge while paying", func(t *testing.T, r recBundle) string {
			id := r.booking(t, evently.BookingPaying, 1500)
			r.charge(t, id, paysim.TokenVisa, 1500, "")
			r.charge(t, id, paysim.TokenOK, 1500, "charge:second:"+id.String())
			return id.String()
		}, gateway.MismatchDoubleCharge},
		{"wrong amount", func(t *testing.T, r recBundle) string {
			id := r.booking(t, evently.BookingConfirmed, 1500)
			r.charge(t, id, paysim.TokenVisa, 1400, "")
			return id.String()
		}, gateway.MismatchAmount},
		{"cancelled with money kept", func(t *testing.T, r recBundle) string {
			id := r.booking(t, evently.BookingCancelled, 1500)
			r.charge(t, id, paysim.TokenVisa, 1500, "")
			return id.String()
		}, gateway.MismatchMoneyKept},
		{"failed with a partial refund", func(t *testing.T, r recBundle) string {
			id := r.booking(t, evently.BookingFailed, 1500)
			r.refund(t, id, r.charge(t, id, paysim.TokenVisa, 1500, ""), 1000, "")
			return id.String()
		}, gateway.MismatchMoneyKept},
		{"expired with money kept", func(t *testing.T, r recBundle) string {
			id := r.booking(t, evently.BookingExpired, 1500)
			r.charge(t, id, paysim.TokenVisa, 1500, "")
			return id.String()
		}, gateway.MismatchMoneyKept},
		{"orphan charge", func(t *testing.T, r recBundle) string {
			id := uuid.New() // no such booking
			r.charge(t, id, paysim.TokenVisa, 1500, "")
			return id.String()
		}, gateway.MismatchOrphan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := setupReconcile(t)
			r.consistent(t)
			ref := tt.plant(t, r)
			mm := r.reconcile(t)
			if len(mm) != 1 || mm[0].Kind != tt.kind || mm[0].Reference != ref {
				t.Fatalf("mismatches %v, want one %s for %s", mm, tt.kind, ref)
			}
			if mm[0].String() == "" || (tt.kind != gateway.MismatchNotCharged && len(mm[0].EntryIDs) == 0) {
				t.Errorf("mismatch lacks detail: %+v", mm[0])
			}
		})
	}
}

// A reference that is not even a booking id, and a charge still pending.
func TestReconcileOddLedgerEntries(t *testing.T) {
	t.Parallel()
	r := setupReconcile(t)
	confirmed := r.booking(t, evently.BookingConfirmed, 100)
	at := time.Now()
	ledger := []gateway.LedgerEntry{
		{ID: "ch_1", Kind: gateway.KindCharge, Reference: "not-a-booking", Status: gateway.StatusSucceeded, AmountCents: 5, Currency: "USD", CreatedAt: at},
		{ID: "ch_2", Kind: gateway.KindCharge, Reference: confirmed.String(), Status: gateway.StatusSucceeded, AmountCents: 100, Currency: "USD", CreatedAt: at},
		{ID: "ch_3", Kind: gateway.KindCharge, Reference: confirmed.String(), Status: gateway.StatusPending, AmountCents: 100, Currency: "USD", CreatedAt: at},
	}
	mm, err := gateway.Reconcile(context.Background(), r.db, ledger)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range mm {
		kinds = append(kinds, m.Kind+" "+m.Reference)
	}
	want := []string{gateway.MismatchPending + " " + confirmed.String(), gateway.MismatchOrphan + " not-a-booking"}
	if !slices.Equal(kinds, want) {
		t.Errorf("mismatches %v, want %v", kinds, want)
	}
}
