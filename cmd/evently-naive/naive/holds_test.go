package naive_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/evently/evently/cmd/evently-bench/bench"
	"github.com/evently/evently/cmd/evently-naive/naive"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/gateway"
	"github.com/evently/evently/paysim"
	"github.com/evently/evently/store"
)

type holdsRig struct {
	api    string
	sim    string
	event  uuid.UUID
	tokens []string
}

func newHoldsRig(t *testing.T, users, seats int) (*holdsRig, *bench.SetupResult) {
	t.Helper()
	db := evtest.DB(t)
	ctx := context.Background()
	set, err := bench.Setup(ctx, db, bench.SetupOptions{Users: users, Events: 1, Seats: seats, RowSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	sim := httptest.NewServer(paysim.New(paysim.Options{Seed: 1}))
	t.Cleanup(sim.Close)
	ns := naive.New(db, nil)
	if ns.Pay, err = gateway.New(sim.URL, gateway.Options{Name: "naive-test-" + t.Name()}); err != nil {
		t.Fatal(err)
	}
	if err := ns.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ns.Handler())
	t.Cleanup(srv.Close)
	rig := &holdsRig{api: srv.URL + "/api/v1", sim: sim.URL, event: set.Events[0]}
	for i := range set.Users {
		st, out := post(t, rig.api+"/auth/login", "", map[string]string{"email": set.Email(i), "password": set.Password})
		if st != 200 {
			t.Fatalf("login: %d %v", st, out)
		}
		rig.tokens = append(rig.tokens, out["access_token"].(string))
	}
	t.Cleanup(func() {
		vs, err := store.CheckIntegrity(ctx, db, store.IntegrityOptions{EventIDs: set.Events})
		if err != nil || len(vs) > 0 {
			t.Errorf("audit: %v %v", vs, err)
		}
	})
	return rig, set
}

func postKey(t *testing.T, url, token, key string, body any) (int, map[string]any) {
	t.Helper()
	return post(t, url, token, body, "Idempotency-Key", key)
}

func del(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("DELETE", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestHoldValidationAndConflicts(t *testing.T) {
	rig, _ := newHoldsRig(t, 2, 8)
	holds := rig.api + "/events/" + rig.event.String() + "/holds"
	a, b := rig.tokens[0], rig.tokens[1]
	for name, seats := range map[string][]string{
		"none": {}, "duplicate": {"A-1", "A-1"}, "not in event": {"A-1", "Z-99"},
		"eleven": {"A-1", "A-2", "A-3", "A-4", "B-1", "B-2", "B-3", "B-4", "C-1", "C-2", "C-3"},
	} {
		if st, out := post(t, holds, a, map[string]any{"seat_ids": seats}); st != 422 {
			t.Errorf("%s: %d %v, want 422", name, st, out)
		}
	}
	st, h := post(t, holds, a, map[string]any{"seat_ids": []string{"A-2", "A-1"}})
	if st != 201 || h["id"] == nil || h["expires_at"] == nil || len(h["seat_ids"].([]any)) != 2 {
		t.Fatalf("hold: %d %v", st, h)
	}
	st, out := post(t, holds, b, map[string]any{"seat_ids": []string{"A-1", "A-3"}})
	if st != 409 || len(out["conflicts"].([]any)) != 1 || out["conflicts"].([]any)[0] != "A-1" {
		t.Fatalf("conflicting hold: %d %v, want 409 listing A-1", st, out)
	}
	// Someone else cannot release it; the owner can, and the seat is free again.
	if st := del(t, rig.api+"/holds/"+h["id"].(string), b); st != 404 {
		t.Errorf("release by another user: %d, want 404", st)
	}
	if st := del(t, rig.api+"/holds/"+h["id"].(string), a); st != 204 {
		t.Errorf("release: %d, want 204", st)
	}
	if st, out := post(t, holds, b, map[string]any{"seat_ids": []string{"A-1", "A-3"}}); st != 201 {
		t.Errorf("hold after release: %d %v", st, out)
	}
}

func TestBookHoldPaysOnceAndDeclines(t *testing.T) {
	rig, _ := newHoldsRig(t, 3, 8)
	holds := rig.api + "/events/" + rig.event.String() + "/holds"
	a, b := rig.tokens[0], rig.tokens[1]

	_, h := post(t, holds, a, map[string]any{"seat_ids": []string{"A-1", "A-2"}})
	hold := map[string]any{"hold_id": h["id"], "payment": map[string]string{"token": "tok_visa"}}
	// Someone else's hold is not theirs to book.
	if st, out := postKey(t, rig.api+"/bookings", b, "k-b", hold); st != 404 {
		t.Errorf("booking another user's hold: %d %v, want 404", st, out)
	}
	st, bk := postKey(t, rig.api+"/bookings", a, "k-1", hold)
	if st != 201 || bk["status"] != "confirmed" || len(bk["seat_ids"].([]any)) != 2 || bk["amount_cents"].(float64) <= 0 {
		t.Fatalf("book: %d %v", st, bk)
	}
	// The same key again: the same booking, no second charge.
	st, again := postKey(t, rig.api+"/bookings", a, "k-1", hold)
	if st != 201 || again["id"] != bk["id"] {
		t.Fatalf("replay: %d %v, want booking %v", st, again, bk["id"])
	}
	// Sold seats cannot be held.
	if st, out := post(t, holds, b, map[string]any{"seat_ids": []string{"A-2"}}); st != 409 {
		t.Errorf("hold of a sold seat: %d %v", st, out)
	}
	// A decline: failed, payment_declined, the seats back on sale.
	_, h2 := post(t, holds, b, map[string]any{"seat_ids": []string{"B-1"}})
	st, failed := postKey(t, rig.api+"/bookings", b, "k-2", map[string]any{"hold_id": h2["id"], "payment": map[string]string{"token": "tok_decline"}})
	if st != 201 || failed["status"] != "failed" || failed["reason"] != "payment_declined" {
		t.Fatalf("declined booking: %d %v", st, failed)
	}
	if st, out := post(t, holds, rig.tokens[2], map[string]any{"seat_ids": []string{"B-1"}}); st != 201 {
		t.Errorf("hold of a declined booking's seat: %d %v", st, out)
	}

	// The ledger agrees with the bookings.
	gw, _ := gateway.New(rig.sim, gateway.Options{Name: "naive-test-ledger"})
	ledger, err := gw.Ledger(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	charged := 0
	for _, e := range ledger {
		if e.Kind == gateway.KindCharge && e.Status == gateway.StatusSucceeded {
			charged++
			if e.Reference != bk["id"] {
				t.Errorf("charge for %s, want %v", e.Reference, bk["id"])
			}
		}
	}
	if charged != 1 {
		t.Errorf("%d succeeded charges, want 1 (ledger %v)", charged, ledger)
	}
}

func TestConcurrentHoldsOneWinnerPerSeat(t *testing.T) {
	rig, _ := newHoldsRig(t, 16, 8)
	holds := rig.api + "/events/" + rig.event.String() + "/holds"
	var wg sync.WaitGroup
	var mu sync.Mutex
	status := map[int]int{}
	confirmed := 0
	for i, tok := range rig.tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, h := post(t, holds, tok, map[string]any{"seat_ids": []string{"A-1", "A-2"}})
			mu.Lock()
			status[st]++
			mu.Unlock()
			if st != 201 {
				return
			}
			st, bk := postKey(t, rig.api+"/bookings", tok, uuid.NewString(), map[string]any{"hold_id": h["id"], "payment": map[string]string{"token": "tok_visa"}})
			if st != 201 || bk["status"] != "confirmed" {
				t.Errorf("buyer %d: book %d %v", i, st, bk)
				return
			}
			mu.Lock()
			confirmed++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if status[201] != 1 || status[409] != len(rig.tokens)-1 || confirmed != 1 {
		t.Fatalf("statuses %v, %d confirmed; want one hold, one booking", status, confirmed)
	}
}
