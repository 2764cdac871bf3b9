package api_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
)

type holdBody struct {
	ID        uuid.UUID `json:"id"`
	SeatIDs   []string  `json:"seat_ids"`
	ExpiresAt time.Time `json:"expires_at"`
}

type problemBody struct {
	Code      string            `json:"code"`
	Conflicts []string          `json:"conflicts"`
	Errors    map[string]string `json:"errors"`
}

type bookingBody struct {
	ID      uuid.UUID `json:"id"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason"`
	SeatIDs []string  `json:"seat_ids"`
}

func seatsOf(n ...int) []string {
	out := make([]string, len(n))
	for i, s := range n {
		out[i] = fmt.Sprintf("A-%d", s)
	}
	return out
}

// race lets every buyer ask for seats at the same moment and returns who
// got a hold.
func race(t *testing.T, a *apptest.App, event uuid.UUID, asks [][]string) (won map[int]holdBody, statuses map[int]int) {
	t.Helper()
	tokens := make([]string, len(asks))
	for i := range asks {
		_, tokens[i] = a.User(evently.RoleUser)
	}
	won, statuses = map[int]holdBody{}, map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, seats := range asks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", tokens[i], map[string]any{"seat_ids": seats})
			mu.Lock()
			defer mu.Unlock()
			statuses[i] = res.Status
			if res.Status == http.StatusCreated {
				var h holdBody
				res.JSON(t, &h)
				won[i] = h
			} else if res.Status != http.StatusConflict {
				t.Errorf("buyer %d: %d %s", i, res.Status, res.Body)
			}
		}()
	}
	close(start)
	wg.Wait()
	return won, statuses
}

func TestHoldsUnderContention(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	tests := []struct {
		name    string
		asks    [][]string
		winners int
	}{
		{"3 buyers, same 2 seats", [][]string{seatsOf(1, 2), seatsOf(1, 2), seatsOf(2, 1)}, 1},
		{"25 buyers, same 5 seats", repeat(seatsOf(1, 2, 3, 4, 5), 25), 1},
		{"overlapping chains", [][]string{seatsOf(1, 2), seatsOf(2, 3), seatsOf(3, 4), seatsOf(4, 5)}, -1},
		{"50 buyers, disjoint seats", disjoint(50), 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event := a.Event(200)
			won, _ := race(t, a, event, tt.asks)
			if tt.winners >= 0 && len(won) != tt.winners {
				t.Fatalf("%d holds granted, want %d", len(won), tt.winners)
			}
			owner := map[string]int{}
			for i, h := range won {
				for _, s := range h.SeatIDs {
					if j, ok := owner[s]; ok {
						t.Fatalf("seat %s held by buyers %d and %d", s, i, j)
					}
					owner[s] = i
				}
			}
			if len(won) == 0 {
				t.Fatal("nobody got a hold")
			}
		})
	}
}

func repeat(s []string, n int) [][]string {
	out := make([][]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func disjoint(n int) [][]string {
	out := make([][]string, n)
	for i := range out {
		out[i] = seatsOf(2*i+1, 2*i+2)
	}
	return out
}

// A 409 lists exactly the seats in the way.
func TestHoldConflictListsSeats(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	event := a.Event(10)
	_, tok1 := a.User(evently.RoleUser)
	_, tok2 := a.User(evently.RoleUser)
	if res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", tok1, map[string]any{"seat_ids": seatsOf(1, 2)}); res.Status != 201 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", tok2, map[string]any{"seat_ids": seatsOf(2, 3, 1)})
	var p problemBody
	res.JSON(t, &p)
	if res.Status != 409 || len(p.Conflicts) != 2 || p.Conflicts[0] != "A-2" || p.Conflicts[1] != "A-1" {
		t.Fatalf("%d %+v", res.Status, p)
	}
}

// Buyers pick random seats in rounds through the whole pipeline: no seat is
// ever in two active bookings, and the seat counts add up.
func TestRandomBuyersNeverShareASeat(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}})
	event := a.Event(100)
	type buyer struct{ token string }
	buyers := make([]buyer, 50)
	for i := range buyers {
		_, buyers[i].token = a.User(evently.RoleUser)
	}
	var accepted sync.Map
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		for i := range buyers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s1, s2 := rand.IntN(100)+1, rand.IntN(100)+1
				if s1 == s2 {
					s2 = s1%100 + 1
				}
				res := a.Do("POST", "/api/v1/bookings", buyers[i].token,
					map[string]any{"event_id": event, "seat_ids": seatsOf(s1, s2)},
					"Idempotency-Key", fmt.Sprintf("r%d-b%d", round, i))
				switch res.Status {
				case http.StatusAccepted:
					var b bookingBody
					res.JSON(t, &b)
					if b.Status != "pending" {
						t.Errorf("202 with status %q", b.Status)
					}
					accepted.Store(b.ID, buyers[i].token)
				case http.StatusConflict:
				default:
					t.Errorf("submit: %d %s", res.Status, res.Body)
				}
			}()
		}
		wg.Wait()
	}
	n := 0
	accepted.Range(func(k, v any) bool {
		n++
		id, token := k.(uuid.UUID), v.(string)
		apptest.Eventually(t, "booking "+id.String()+" settles", func() bool {
			var b bookingBody
			res := a.Do("GET", "/api/v1/bookings/"+id.String(), token, nil)
			res.JSON(t, &b)
			return b.Status == "reserved" || b.Status == "failed"
		})
		return true
	})
	if n == 0 {
		t.Fatal("nothing accepted")
	}
	assertNoDoubleSale(t, a)
	var sold, active, available, capacity int
	must(t, a.DB.Get(&sold, `SELECT count(*) FROM event_seats WHERE event_id = $1 AND status = 'sold'`, event))
	must(t, a.DB.Get(&active, `SELECT count(*) FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
		WHERE bs.event_id = $1 AND bs.active AND b.status IN ('reserved', 'paying', 'confirmed')`, event))
	must(t, a.DB.Get(&available, `SELECT count(*) FROM event_seats WHERE event_id = $1 AND status = 'available'`, event))
	must(t, a.DB.Get(&capacity, `SELECT capacity FROM events WHERE id = $1`, event))
	if sold != active || available != capacity-active {
		t.Fatalf("sold %d, active booking seats %d, available %d, capacity %d", sold, active, available, capacity)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// assertNoDoubleSale checks both guards' invariants straight in SQL.
func assertNoDoubleSale(t *testing.T, a *apptest.App) {
	t.Helper()
	var dup int
	must(t, a.DB.Get(&dup, `SELECT count(*) FROM (SELECT bs.event_id, bs.seat_id FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
		WHERE b.status IN ('reserved', 'paying', 'confirmed') GROUP BY bs.event_id, bs.seat_id HAVING count(*) > 1) d`))
	if dup > 0 {
		t.Fatalf("%d seats in two active bookings", dup)
	}
	var mismatched int
	must(t, a.DB.Get(&mismatched, `SELECT count(*) FROM event_seats s LEFT JOIN bookings b ON b.id = s.booking_id
		WHERE s.status = 'sold' AND (b.id IS NULL OR b.status NOT IN ('reserved', 'paying', 'confirmed'))`))
	if mismatched > 0 {
		t.Fatalf("%d sold seats without an active booking", mismatched)
	}
}

func TestBookingFlowAndIdempotency(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}})
	event := a.Event(20)
	_, token := a.User(evently.RoleUser)
	_, other := a.User(evently.RoleUser)

	res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seatsOf(1, 2)})
	var h holdBody
	res.JSON(t, &h)
	body := map[string]any{"hold_id": h.ID}
	first := a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "k1")
	if first.Status != 202 || first.Header.Get("Location") == "" {
		t.Fatalf("%d %s", first.Status, first.Body)
	}
	var b bookingBody
	first.JSON(t, &b)
	// Visible as pending at once, before any worker wrote it.
	if got := a.Do("GET", "/api/v1/bookings/"+b.ID.String(), token, nil); got.Status != 200 {
		t.Fatalf("get right after 202: %d %s", got.Status, got.Body)
	}
	again := a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", "k1")
	var b2 bookingBody
	again.JSON(t, &b2)
	if again.Status != 202 || b2.ID != b.ID {
		t.Fatalf("retry: %d %s", again.Status, again.Body)
	}
	if diff := a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(5)}, "Idempotency-Key", "k1"); diff.Status != 422 {
		t.Fatalf("same key, other body: %d %s", diff.Status, diff.Body)
	}
	apptest.Eventually(t, "reserved", func() bool {
		var got bookingBody
		a.Do("GET", "/api/v1/bookings/"+b.ID.String(), token, nil).JSON(t, &got)
		return got.Status == "reserved" && len(got.SeatIDs) == 2
	})
	if res := a.Do("GET", "/api/v1/bookings/"+b.ID.String(), other, nil); res.Status != 403 {
		t.Fatalf("someone else's booking: %d", res.Status)
	}
	var list struct{ Items []bookingBody }
	a.Do("GET", "/api/v1/bookings", token, nil).JSON(t, &list)
	// Items list their seats, as the booking itself does.
	if len(list.Items) != 1 || list.Items[0].ID != b.ID || len(list.Items[0].SeatIDs) != 2 {
		t.Fatalf("list: %+v", list)
	}
	// The seats are sold now: nobody can hold them.
	if res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", other, map[string]any{"seat_ids": seatsOf(1)}); res.Status != 409 {
		t.Fatalf("hold on sold seat: %d %s", res.Status, res.Body)
	}
	// Cancel: 403 for others, 202 for the owner, then 409.
	if res := a.Do("POST", "/api/v1/bookings/"+b.ID.String()+"/cancel", other, nil); res.Status != 403 {
		t.Fatalf("cancel by other: %d", res.Status)
	}
	if res := a.Do("POST", "/api/v1/bookings/"+b.ID.String()+"/cancel", token, nil); res.Status != 202 {
		t.Fatalf("cancel: %d %s", res.Status, res.Body)
	}
	apptest.Eventually(t, "cancelled", func() bool {
		var got bookingBody
		a.Do("GET", "/api/v1/bookings/"+b.ID.String(), token, nil).JSON(t, &got)
		return got.Status == "cancelled"
	})
	if res := a.Do("POST", "/api/v1/bookings/"+b.ID.String()+"/cancel", token, nil); res.Status != 409 {
		t.Fatalf("cancel twice: %d", res.Status)
	}
	// Released seats are on sale again.
	apptest.Eventually(t, "seat back on sale", func() bool {
		return a.Do("POST", "/api/v1/events/"+event.String()+"/holds", other, map[string]any{"seat_ids": seatsOf(1)}).Status == 201
	})
}

func TestBookingBadInput(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	event := a.Event(20)
	ev := event.String()
	_, token := a.User(evently.RoleUser)
	_, other := a.User(evently.RoleUser)
	var h holdBody
	a.Do("POST", "/api/v1/events/"+ev+"/holds", other, map[string]any{"seat_ids": seatsOf(20)}).JSON(t, &h)
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf("A-%d", i+1)
	}
	tests := []struct {
		name, method, path string
		token              string
		body               any
		status             int
	}{
		{"anonymous hold", "POST", "/api/v1/events/" + ev + "/holds", "", map[string]any{"seat_ids": seatsOf(1)}, 401},
		{"no seats", "POST", "/api/v1/events/" + ev + "/holds", token, map[string]any{"seat_ids": []string{}}, 422},
		{"eleven seats", "POST", "/api/v1/events/" + ev + "/holds", token, map[string]any{"seat_ids": eleven}, 422},
		{"duplicate seats", "POST", "/api/v1/events/" + ev + "/holds", token, map[string]any{"seat_ids": seatsOf(1, 1)}, 422},
		{"foreign seat", "POST", "/api/v1/events/" + ev + "/holds", token, map[string]any{"seat_ids": []string{"Z-99"}}, 422},
		{"unknown event", "POST", "/api/v1/events/" + uuid.NewString() + "/holds", token, map[string]any{"seat_ids": seatsOf(1)}, 404},
		{"malformed event id", "POST", "/api/v1/events/nope/holds", token, map[string]any{"seat_ids": seatsOf(1)}, 404},
		{"malformed json", "POST", "/api/v1/events/" + ev + "/holds", token, "{", 400},
		{"unknown field", "POST", "/api/v1/events/" + ev + "/holds", token, `{"seat_ids":["A-1"],"x":1}`, 400},
		{"wrong type", "POST", "/api/v1/events/" + ev + "/holds", token, `{"seat_ids":"A-1"}`, 400},
		{"someone else's hold", "GET", "/api/v1/holds/" + h.ID.String(), token, nil, 403},
		{"release someone else's hold", "DELETE", "/api/v1/holds/" + h.ID.String(), token, nil, 403},
		{"unknown hold", "GET", "/api/v1/holds/" + uuid.NewString(), token, nil, 404},
		{"book someone else's hold", "POST", "/api/v1/bookings", token, map[string]any{"hold_id": h.ID}, 403},
		{"book unknown hold", "POST", "/api/v1/bookings", token, map[string]any{"hold_id": uuid.New()}, 404},
		{"book with both", "POST", "/api/v1/bookings", token, map[string]any{"hold_id": h.ID, "event_id": event, "seat_ids": seatsOf(1)}, 422},
		{"book with nothing", "POST", "/api/v1/bookings", token, map[string]any{}, 422},
		{"book empty token", "POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(3), "payment": map[string]any{"token": ""}}, 422},
		{"unknown booking", "GET", "/api/v1/bookings/" + uuid.NewString(), token, nil, 404},
		{"cancel unknown booking", "POST", "/api/v1/bookings/" + uuid.NewString() + "/cancel", token, nil, 404},
		{"bad cursor", "GET", "/api/v1/bookings?cursor=zzz", token, nil, 422},
		{"bad limit", "GET", "/api/v1/bookings?limit=0", token, nil, 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.Do(tt.method, tt.path, tt.token, tt.body)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
		})
	}
	// None of that took a seat.
	if res := a.Do("POST", "/api/v1/events/"+ev+"/holds", token, map[string]any{"seat_ids": seatsOf(1, 2, 3)}); res.Status != 201 {
		t.Fatalf("seats taken by bad input: %d %s", res.Status, res.Body)
	}
}

// An Idempotency-Key is 1 to 255 printable ASCII characters, as the
// contract's pattern says (it once stopped at 200, a payment token's cap).
func TestIdempotencyKeyShape(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	event := a.Event(20)
	_, token := a.User(evently.RoleUser)
	for i, tt := range []struct {
		name, key string
		status    int
	}{
		{"200 characters", strings.Repeat("a", 200), 202},
		{"201 characters", strings.Repeat("b", 201), 202},
		{"255 characters", strings.Repeat("c", 255), 202},
		{"256 characters", strings.Repeat("d", 256), 422},
		{"a space", "two words", 422},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"event_id": event, "seat_ids": seatsOf(i + 1)}
			res := a.Do("POST", "/api/v1/bookings", token, body, "Idempotency-Key", tt.key, "Prefer", "wait=0")
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
		})
	}
}

// Wrong content type and oversized bodies.
func TestBookingBodyLimits(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	_, token := a.User(evently.RoleUser)
	big := `{"seat_ids":["` + strings.Repeat("0", 2<<20) + `"]}`
	if res := a.Do("POST", "/api/v1/bookings", token, big); res.Status != 413 {
		t.Fatalf("big body: %d %s", res.Status, res.Body)
	}
	if res := a.Do("POST", "/api/v1/bookings", token, "x", "Content-Type", "text/plain"); res.Status != 415 {
		t.Fatalf("text body: %d", res.Status)
	}
}

// No malformed request makes a booking handler answer 500.
func FuzzBookingHandlers(f *testing.F) {
	f.Add("POST", "/api/v1/bookings", `{"hold_id":"x"}`)
	f.Add("POST", "/api/v1/events/00000000-0000-0000-0000-000000000000/holds", `{"seat_ids":[null]}`)
	f.Add("GET", "/api/v1/bookings?limit=-1&cursor=%00", ``)
	f.Add("POST", "/api/v1/bookings/abc/confirm", `{"payment":{"token":1}}`)
	f.Add("POST", "/api/v1/bookings", `{"event_id":"00000000-0000-0000-0000-000000000000","seat_ids":["\u0000"]}`)
	// The web front end, served beside the API: not held to the document.
	f.Add("GET", "/", "")
	f.Add("GET", "/app/app.js", "")
	a := apptest.Start(f, apptest.Options{})
	_, token := a.User(evently.RoleUser)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if method != "GET" && method != "POST" && method != "DELETE" {
			return
		}
		if len(path) == 0 || path[0] != '/' {
			return
		}
		req, err := http.NewRequest(method, a.URL+path, stringsReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		apptest.Contract(t, req, res.StatusCode, res.Header, b)
		if res.StatusCode >= 500 && res.StatusCode != 503 {
			t.Fatalf("%s %s %q: %d", method, path, body, res.StatusCode)
		}
	})
}

// With Kafka down nothing is accepted: 503 with Retry-After, and the hold is
// free again. Once the broker is back, bookings flow.
func TestKafkaDownRefusesBookingsAndFreesHolds(t *testing.T) {
	t.Parallel()
	broker := evtest.StartBroker(t)
	a := apptest.Start(t, apptest.Options{Brokers: []string{broker.Addr}, Workers: []string{"booking"}})
	event := a.Event(10)
	_, token := a.User(evently.RoleUser)
	_, other := a.User(evently.RoleUser)
	broker.Stop()
	res := a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(1, 2)}, "Idempotency-Key", "down-1")
	if res.Status != 503 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("with Kafka down: %d %s", res.Status, res.Body)
	}
	// Nothing was accepted: the only trace is the refusal, recorded so the
	// command could change nothing had it reached the broker after all.
	var rows []string
	must(t, a.DB.Select(&rows, `SELECT status || '/' || coalesce(reason, '') FROM bookings`))
	if len(rows) != 1 || rows[0] != "failed/not_accepted" {
		t.Fatalf("bookings written: %v", rows)
	}
	var h holdBody
	hold := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", other, map[string]any{"seat_ids": seatsOf(1, 2)})
	if hold.Status != 201 {
		t.Fatalf("seats still held after the 503: %d %s", hold.Status, hold.Body)
	}
	hold.JSON(t, &h)
	if res := a.Do("DELETE", "/api/v1/holds/"+h.ID.String(), other, nil); res.Status != 204 {
		t.Fatalf("release: %d", res.Status)
	}
	broker.Start()
	var b bookingBody
	apptest.Eventually(t, "accepted once Kafka is back", func() bool {
		res := a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(1, 2)}, "Idempotency-Key", "down-1")
		if res.Status == 202 {
			res.JSON(t, &b)
		}
		return res.Status == 202
	})
	apptest.Eventually(t, "reserved", func() bool {
		var got bookingBody
		a.Do("GET", "/api/v1/bookings/"+b.ID.String(), token, nil).JSON(t, &got)
		return got.Status == "reserved"
	})
}

// Against a managed-style Kafka (SASL_SSL, SCRAM, a private CA), configured
// as an operator would: a booking goes through the API's producer and the
// booking worker's consumer group to reserved, /readyz is green, and a
// process with a wrong password does not start, saying why.
func TestBookingOverSecuredKafka(t *testing.T) {
	t.Parallel()
	sb := evtest.StartSecureBroker(t)
	secure := func(c *app.Config) {
		c.KafkaSecurity = app.KafkaSecurityConfig{TLS: true, TLSCAFile: sb.CAFile,
			SASLMechanism: "scram-sha-256", SASLUsername: sb.User, SASLPassword: sb.Password}
	}
	a := apptest.Start(t, apptest.Options{Brokers: []string{sb.TLSAddr}, Configure: secure, Workers: []string{"booking"}})
	event := a.Event(10)
	_, token := a.User(evently.RoleUser)
	res := a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(1, 2)}, "Idempotency-Key", "sasl-1")
	if res.Status != 202 {
		t.Fatalf("booking: %d %s", res.Status, res.Body)
	}
	var b bookingBody
	res.JSON(t, &b)
	apptest.Eventually(t, "reserved", func() bool {
		var got bookingBody
		a.Do("GET", "/api/v1/bookings/"+b.ID.String(), token, nil).JSON(t, &got)
		return got.Status == "reserved"
	})
	if res := a.Do("GET", "/readyz", "", nil); res.Status != 200 {
		t.Errorf("readyz: %d %s", res.Status, res.Body)
	}

	c := a.Config
	c.KafkaSecurity.SASLPassword = "wrong"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := app.Connect(ctx, c)
	if err == nil {
		d.Close()
		t.Fatal("Connect with a wrong Kafka password succeeded")
	}
	if want := "kafka at " + sb.TLSAddr + " refused the SASL credentials"; !strings.Contains(err.Error(), want) {
		t.Errorf("Connect: %v\nwant %q", err, want)
	}
}

// The status stream sends the current state, then each change, and ends
// at a settled state.
func TestBookingStream(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}})
	event := a.Event(10)
	_, token := a.User(evently.RoleUser)
	res := a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(1)})
	var b bookingBody
	res.JSON(t, &b)
	apptest.Eventually(t, "reserved", func() bool {
		var got bookingBody
		a.Do("GET", "/api/v1/bookings/"+b.ID.String(), token, nil).JSON(t, &got)
		return got.Status == "reserved"
	})
	req, _ := http.NewRequest("GET", a.URL+"/api/v1/bookings/"+b.ID.String()+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	stream, err := http.DefaultClient.Do(req)
	must(t, err)
	defer stream.Body.Close()
	apptest.Contract(t, req, stream.StatusCode, stream.Header, nil) // the events are read below
	if ct := stream.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	if res := a.Do("POST", "/api/v1/bookings/"+b.ID.String()+"/cancel", token, nil); res.Status != 202 {
		t.Fatalf("cancel: %d", res.Status)
	}
	body, err := io.ReadAll(stream.Body) // ends when the booking settles
	must(t, err)
	s := string(body)
	if !strings.Contains(s, `"status":"reserved"`) || !strings.Contains(s, `"status":"cancelled"`) ||
		strings.Index(s, `"status":"reserved"`) > strings.Index(s, `"status":"cancelled"`) {
		t.Fatalf("stream:\n%s", s)
	}
}

// POST /bookings waits a short, bounded time for the outcome and answers
// it (201 with the booking); `Prefer: wait=0` asks for the bare 202. A poll
// reads the status record in Redis, and `?wait=` long-polls.
func TestSubmitWaitsForTheOutcome(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"},
		Configure: func(c *app.Config) { c.Bookings.SubmitWait = 10 * time.Second }})
	event := a.Event(20)
	_, token := a.User(evently.RoleUser)

	res := a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(1)})
	var b bookingBody
	res.JSON(t, &b)
	if res.Status != 201 || b.Status != "reserved" || res.Header.Get("Location") == "" || res.Header.Get("Preference-Applied") != "" {
		t.Fatalf("default wait: %d %v %s", res.Status, res.Header, res.Body)
	}

	res = a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(2)}, "Prefer", "wait=0")
	var p bookingBody
	res.JSON(t, &p)
	if res.Status != 202 || p.Status != "pending" || res.Header.Get("Preference-Applied") != "wait=0" {
		t.Fatalf("Prefer: wait=0: %d %v %s", res.Status, res.Header, res.Body)
	}
	// A long poll answers once the booking moves on from pending.
	var got bookingBody
	res = a.Do("GET", "/api/v1/bookings/"+p.ID.String()+"?wait=10", token, nil)
	res.JSON(t, &got)
	if res.Status != 200 || got.Status != "reserved" {
		t.Fatalf("long poll: %d %s", res.Status, res.Body)
	}
	for _, bad := range []string{"-1", "x", "31"} {
		if res := a.Do("GET", "/api/v1/bookings/"+p.ID.String()+"?wait="+bad, token, nil); res.Status != 422 {
			t.Errorf("wait=%s: %d %s", bad, res.Status, res.Body)
		}
	}
	// A poll is answered from the status record: PostgreSQL is not read
	// while the record lives (changed behind its back here, on purpose).
	must(t, exec(a, `UPDATE bookings SET status = 'expired' WHERE id = $1`, b.ID))
	a.Do("GET", "/api/v1/bookings/"+b.ID.String(), token, nil).JSON(t, &got)
	if got.Status != "reserved" {
		t.Fatalf("poll read %q, want the record's reserved", got.Status)
	}
	_, other := a.User(evently.RoleUser)
	if res := a.Do("GET", "/api/v1/bookings/"+b.ID.String(), other, nil); res.Status != 403 {
		t.Fatalf("someone else's record: %d", res.Status)
	}
}

func exec(a *apptest.App, q string, args ...any) error {
	_, err := a.DB.Exec(q, args...)
	return err
}

// A hold a booking claimed keeps the booking's seats: its holder cannot
// give it up (it used to answer 204 and put booked seats back on sale).
func TestClaimedHoldCannotBeGivenUp(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{}) // no workers: the booking stays pending
	event := a.Event(10)
	_, token := a.User(evently.RoleUser)
	_, other := a.User(evently.RoleUser)
	var h holdBody
	a.Do("POST", "/api/v1/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seatsOf(1, 2)}).JSON(t, &h)
	if res := a.Do("POST", "/api/v1/bookings", token, map[string]any{"hold_id": h.ID}); res.Status != 202 {
		t.Fatalf("submit: %d %s", res.Status, res.Body)
	}
	res := a.Do("DELETE", "/api/v1/holds/"+h.ID.String(), token, nil)
	var p problemBody
	res.JSON(t, &p)
	if res.Status != 409 || p.Code != "conflict" {
		t.Fatalf("give up a claimed hold: %d %s", res.Status, res.Body)
	}
	if res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", other, map[string]any{"seat_ids": seatsOf(1)}); res.Status != 409 {
		t.Fatalf("someone else took a booked seat: %d %s", res.Status, res.Body)
	}
	// An unclaimed hold is given up as before.
	var h2 holdBody
	a.Do("POST", "/api/v1/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seatsOf(5)}).JSON(t, &h2)
	if res := a.Do("DELETE", "/api/v1/holds/"+h2.ID.String(), token, nil); res.Status != 204 {
		t.Fatalf("give up: %d %s", res.Status, res.Body)
	}
}

// lostAck is a queue whose produce reaches the broker but answers an error,
// as a timeout after the write does.
type lostAck struct{ real api.CommandQueue }

func (q lostAck) Enqueue(ctx context.Context, stream, key, typ string, payload any) error {
	if err := q.real.Enqueue(ctx, stream, key, typ, payload); err != nil {
		return err
	}
	return &evently.Error{Code: evently.EUNAVAILABLE, Message: "The booking queue did not answer.", RetryAfter: 1}
}

// A 503 never becomes a booking: when the produce failed but the command
// reached Kafka anyway, the API records the refusal first, and the worker
// then finds the booking id taken and changes nothing. (If the worker was
// faster, the booking is real and the API answers 202 with it instead.)
func TestLostProduceAckNeverBecomesABooking(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}})
	event := a.Event(20)
	_, token := a.User(evently.RoleUser)
	real := a.Server.Bookings.Queue
	a.Server.Bookings.Queue = lostAck{real}
	refused, accepted := map[string][]string{}, map[uuid.UUID]bool{}
	for i := 1; i <= 6; i++ {
		seats := seatsOf(i)
		res := a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seats}, "Idempotency-Key", fmt.Sprintf("lost-%d", i))
		switch res.Status {
		case 503:
			refused[fmt.Sprint(i)] = seats
		case 202:
			var b bookingBody
			res.JSON(t, &b)
			accepted[b.ID] = true
		default:
			t.Fatalf("submit %d: %d %s", i, res.Status, res.Body)
		}
	}
	if len(refused) == 0 {
		t.Fatal("no submission was refused")
	}
	// One more booking through the real queue, on the same partition: once
	// it is written, every command before it was applied.
	a.Server.Bookings.Queue = real
	res := a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(20)})
	var last bookingBody
	res.JSON(t, &last)
	apptest.Eventually(t, "the last booking is written", func() bool {
		var st string
		_ = a.DB.Get(&st, `SELECT status FROM bookings WHERE id = $1`, last.ID)
		return st == "reserved"
	})
	for i, seats := range refused {
		var sold int
		must(t, a.DB.Get(&sold, `SELECT count(*) FROM event_seats WHERE event_id = $1 AND seat_id = ANY($2) AND status <> 'available'`, event, pq.Array(seats)))
		if sold != 0 {
			t.Fatalf("submission %s was answered 503 and its seats were sold", i)
		}
	}
	var holding int
	must(t, a.DB.Get(&holding, `SELECT count(*) FROM bookings WHERE status IN ('reserved', 'paying', 'confirmed')`))
	if holding != len(accepted)+1 {
		t.Fatalf("%d bookings hold seats, want the %d accepted ones", holding, len(accepted)+1)
	}
	// The refused seats are on sale again.
	var free []string
	for _, seats := range refused {
		free = append(free, seats...)
	}
	_, other := a.User(evently.RoleUser)
	if res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", other, map[string]any{"seat_ids": free}); res.Status != 201 {
		t.Fatalf("refused seats %v not on sale: %d %s", free, res.Status, res.Body)
	}
	assertNoDoubleSale(t, a)
}

// The per-user cap counts unpaid bookings as well as holds: one account
// cannot keep seats reserved without paying by booking its holds.
func TestUnpaidBookingsCountAgainstTheCap(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"},
		Configure: func(c *app.Config) { c.Bookings.MaxHoldsPerUser = 2 }})
	event := a.Event(20)
	_, token := a.User(evently.RoleUser)
	for i := 1; i <= 2; i++ {
		var h holdBody
		a.Do("POST", "/api/v1/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seatsOf(i)}).JSON(t, &h)
		var b bookingBody
		a.Do("POST", "/api/v1/bookings", token, map[string]any{"hold_id": h.ID}).JSON(t, &b)
		apptest.Eventually(t, "reserved, unpaid", func() bool {
			var got bookingBody
			a.Do("GET", "/api/v1/bookings/"+b.ID.String(), token, nil).JSON(t, &got)
			return got.Status == "reserved"
		})
	}
	res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seatsOf(3)})
	if res.Status != 409 {
		t.Fatalf("a third hold past two unpaid bookings: %d %s", res.Status, res.Body)
	}
	// Someone else is not affected.
	_, other := a.User(evently.RoleUser)
	if res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", other, map[string]any{"seat_ids": seatsOf(3)}); res.Status != 201 {
		t.Fatalf("another user's hold: %d %s", res.Status, res.Body)
	}
}
