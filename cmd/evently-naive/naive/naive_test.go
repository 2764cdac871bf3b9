package naive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/evently/evently/cmd/evently-bench/bench"
	"github.com/evently/evently/cmd/evently-naive/naive"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/store"
)

func post(t *testing.T, url, token string, body any, headers ...string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func TestConcurrentBuyersOneWinnerPerSeat(t *testing.T) {
	t.Parallel()
	db := evtest.DB(t)
	ctx := context.Background()
	set, err := bench.Setup(ctx, db, bench.SetupOptions{Users: 24, Events: 1, Seats: 8, RowSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	ns := naive.New(db, nil)
	if err := ns.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ns.Handler())
	defer srv.Close()
	api := srv.URL + "/api/v1"
	event := set.Events[0]

	tokens := make([]string, set.Users)
	for i := range tokens {
		st, out := post(t, api+"/auth/login", "", map[string]string{"email": set.Email(i), "password": set.Password})
		if st != 200 {
			t.Fatalf("login %s: %d %v", set.Email(i), st, out)
		}
		tokens[i] = out["access_token"].(string)
	}

	// Round 1: everyone wants the same two seats at the same moment.
	var mu sync.Mutex
	status := map[int]int{}
	var winners []string
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st, out := post(t, api+"/bookings", tok, map[string]any{"event_id": event, "seat_ids": []string{"A-1", "A-2"}})
			mu.Lock()
			defer mu.Unlock()
			status[st]++
			if st == 201 {
				winners = append(winners, out["id"].(string))
			} else if st == 409 && len(out["conflicts"].([]any)) == 0 {
				t.Errorf("buyer %d: 409 without conflicts: %v", i, out)
			}
		}()
	}
	close(start)
	wg.Wait()
	if status[201] != 1 || status[409] != len(tokens)-1 {
		t.Fatalf("same seats: statuses %v, want one 201 and %d 409", status, len(tokens)-1)
	}

	// Round 2: overlapping random sets of the remaining six seats.
	seats := []string{"A-3", "A-4", "B-1", "B-2", "B-3", "B-4"}
	won := map[string]string{} // seat → booking
	accepted := []uuid.UUID{uuid.MustParse(winners[0])}
	start = make(chan struct{})
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pick := append([]string(nil), seats...)
			rand.Shuffle(len(pick), func(i, j int) { pick[i], pick[j] = pick[j], pick[i] })
			pick = pick[:1+rand.IntN(3)]
			<-start
			st, out := post(t, api+"/bookings", tok, map[string]any{"event_id": event, "seat_ids": pick})
			if st != 201 {
				if st != 409 {
					t.Errorf("book %v: %d %v", pick, st, out)
				}
				return
			}
			mu.Lock()
			defer mu.Unlock()
			id := out["id"].(string)
			accepted = append(accepted, uuid.MustParse(id))
			for _, s := range pick {
				if other, dup := won[s]; dup {
					t.Errorf("seat %s sold to %s and %s", s, other, id)
				}
				won[s] = id
			}
		}()
	}
	close(start)
	wg.Wait()
	for s, id := range won {
		var owner string
		if err := db.Get(&owner, `SELECT booking_id::text FROM event_seats WHERE event_id = $1 AND seat_id = $2 AND status = 'sold'`, event, s); err != nil || owner != id {
			t.Errorf("seat %s: sold to %q (%v), the API said %s", s, owner, err, id)
		}
	}
	var sold int
	if err := db.Get(&sold, `SELECT count(*) FROM event_seats WHERE event_id = $1 AND status = 'sold'`, event); err != nil {
		t.Fatal(err)
	}
	if sold != len(won)+2 {
		t.Errorf("%d seats sold, the API reported %d", sold, len(won)+2)
	}
	vs, err := store.CheckIntegrity(ctx, db, store.IntegrityOptions{EventIDs: set.Events, Accepted: accepted})
	if err != nil || len(vs) > 0 {
		t.Fatalf("audit: %v %v", vs, err)
	}
	t.Logf("round 2: %d bookings won %d seats", len(accepted)-1, len(won))
}
