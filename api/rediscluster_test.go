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

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest"
	"github.com/evently/evently/evtest/apptest"
)

// An on-sale through the API and the booking worker with Redis as a
// three-master cluster (issue 17): buyers race for the seats of events
// whose keys live on different masters; no seat is sold twice, the seat
// map shows holds, and a booking's status stream follows it through the
// cluster's pub/sub.
func TestOnSaleOnRedisCluster(t *testing.T) {
	t.Parallel()
	cluster := evtest.StartRedisCluster(t)
	a := apptest.Start(t, apptest.Options{Workers: []string{"booking"}, RedisURL: cluster.URL})
	cc, ok := a.Deps.Redis.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("the app's Redis is a %T", a.Deps.Redis)
	}
	// Events until their hash tags cover every master.
	var events []uuid.UUID
	masters := map[string]bool{}
	for len(masters) < 3 {
		if len(events) == 30 {
			t.Fatal("30 events on fewer than three masters")
		}
		ev := a.Event(20)
		n, err := cc.MasterForKey(context.Background(), a.Deps.Keys.Event(ev)+":held")
		must(t, err)
		masters[n.Options().Addr] = true
		events = append(events, ev)
	}

	buyers := make([]string, 30)
	for i := range buyers {
		_, buyers[i] = a.User(evently.RoleUser)
	}
	var accepted sync.Map // booking id -> token
	var wg sync.WaitGroup
	for i, token := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 3 {
				ev := events[rand.IntN(len(events))]
				s1, s2 := rand.IntN(20)+1, rand.IntN(20)+1
				if s1 == s2 {
					s2 = s1%20 + 1
				}
				res := a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": ev, "seat_ids": seatsOf(s1, s2)},
					"Idempotency-Key", fmt.Sprintf("c%d-%d", i, round))
				switch res.Status {
				case http.StatusAccepted:
					var b bookingBody
					res.JSON(t, &b)
					accepted.Store(b.ID, token)
				case http.StatusConflict:
				default:
					t.Errorf("submit: %d %s", res.Status, res.Body)
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	accepted.Range(func(k, v any) bool {
		n++
		id, token := k.(uuid.UUID), v.(string)
		apptest.Eventually(t, "booking "+id.String()+" settles", func() bool {
			var b bookingBody
			a.Do("GET", "/api/v1/bookings/"+id.String(), token, nil).JSON(t, &b)
			return b.Status == "reserved" || b.Status == "failed"
		})
		return true
	})
	if n == 0 {
		t.Fatal("nothing accepted")
	}
	assertNoDoubleSale(t, a)

	// A hold on each event shows on its seat map, and a second one on the
	// same seat is refused, whichever master the event is on.
	_, holder := a.User(evently.RoleUser)
	for _, ev := range events {
		var m seatMapBody
		free := ""
		a.Do("GET", "/api/v1/events/"+ev.String()+"/seats", holder, nil).JSON(t, &m)
		for _, s := range m.Seats {
			if s.Status == evently.SeatAvailable {
				free = s.ID
				break
			}
		}
		if free == "" {
			continue // sold out in the rush
		}
		if res := a.Do("POST", "/api/v1/events/"+ev.String()+"/holds", holder, map[string]any{"seat_ids": []string{free}}); res.Status != http.StatusCreated {
			t.Fatalf("hold %s: %d %s", free, res.Status, res.Body)
		}
		if res := a.Do("POST", "/api/v1/events/"+ev.String()+"/holds", buyers[0], map[string]any{"seat_ids": []string{free}}); res.Status != http.StatusConflict {
			t.Fatalf("second hold of %s: %d %s", free, res.Status, res.Body)
		}
		apptest.Eventually(t, "the seat map shows the hold", func() bool {
			a.Do("GET", "/api/v1/events/"+ev.String()+"/seats", holder, nil).JSON(t, &m)
			for _, s := range m.Seats {
				if s.ID == free {
					return s.Status == evently.SeatHeld
				}
			}
			return false
		})
	}

	// One reserved booking's stream, through the cancel to its end.
	var id uuid.UUID
	var token string
	accepted.Range(func(k, v any) bool {
		var b bookingBody
		a.Do("GET", "/api/v1/bookings/"+k.(uuid.UUID).String(), v.(string), nil).JSON(t, &b)
		if b.Status == "reserved" {
			id, token = b.ID, v.(string)
			return false
		}
		return true
	})
	if id == uuid.Nil {
		t.Fatal("no booking was reserved")
	}
	req, _ := http.NewRequest("GET", a.URL+"/api/v1/bookings/"+id.String()+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	stream, err := http.DefaultClient.Do(req)
	must(t, err)
	defer stream.Body.Close()
	apptest.Contract(t, req, stream.StatusCode, stream.Header, nil) // the events are read below
	if res := a.Do("POST", "/api/v1/bookings/"+id.String()+"/cancel", token, nil); res.Status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", res.Status, res.Body)
	}
	body, err := io.ReadAll(stream.Body) // ends when the booking settles
	must(t, err)
	if s := string(body); !strings.Contains(s, `"status":"cancelled"`) {
		t.Fatalf("stream:\n%s", s)
	}
}
