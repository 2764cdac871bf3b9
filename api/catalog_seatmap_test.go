package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest/apptest"
)

type seatMapBody struct {
	EventID     uuid.UUID         `json:"event_id"`
	EventStatus string            `json:"event_status"`
	Counts      map[string]int    `json:"counts"`
	Seats       []evently.MapSeat `json:"seats"`
}

// sell marks seats sold by a confirmed booking, as the booking worker does.
func sell(t testing.TB, a *apptest.App, eventID uuid.UUID, seats ...string) {
	t.Helper()
	buyer, _ := a.User(evently.RoleUser)
	booking := evently.NewID()
	if _, err := a.DB.Exec(`INSERT INTO bookings (id, user_id, event_id, status) VALUES ($1, $2, $3, 'confirmed')`,
		booking, buyer, eventID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DB.Exec(`UPDATE event_seats SET status = 'sold', booking_id = $3, version = version + 1
		WHERE event_id = $1 AND seat_id = ANY($2)`, eventID, seats, booking); err != nil {
		t.Fatal(err)
	}
}

// hold puts seats into the event's held set as the hold script does, with
// their expiry (ms) as score.
func hold(t testing.TB, a *apptest.App, eventID uuid.UUID, until time.Time, seats ...string) {
	t.Helper()
	var zs []redis.Z
	for _, s := range seats {
		zs = append(zs, redis.Z{Score: float64(until.UnixMilli()), Member: s})
	}
	if err := a.Deps.Redis.ZAdd(context.Background(), a.Deps.Keys.Event(eventID)+":held", zs...).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestSeatMap(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	e := f.published(t, f.org, nil)
	sell(t, f.a, e.ID, "ORCH-A-1", "ORCH-A-2")
	// Holds last an hour: parallel subtests may start long after this line
	// when the whole suite runs.
	hold(t, f.a, e.ID, time.Now().Add(time.Hour), "BALC-A-1", "ORCH-A-1") // a sold seat stays sold
	hold(t, f.a, e.ID, time.Now().Add(-time.Second), "BALC-A-2")          // an expired hold is gone
	path := "/api/v1/events/" + e.ID.String() + "/seats"

	res := f.a.Do("GET", path, "", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	var m seatMapBody
	res.JSON(t, &m)
	status := map[string]evently.SeatStatus{}
	for _, s := range m.Seats {
		status[s.ID] = s.Status
	}
	if len(m.Seats) != 30 || m.Counts["sold"] != 2 || m.Counts["held"] != 1 || m.Counts["available"] != 27 {
		t.Fatalf("%d seats, counts %v", len(m.Seats), m.Counts)
	}
	for id, want := range map[string]evently.SeatStatus{"ORCH-A-1": "sold", "ORCH-A-2": "sold", "BALC-A-1": "held",
		"BALC-A-2": "available", "ORCH-B-10": "available"} {
		if status[id] != want {
			t.Errorf("%s is %s, want %s", id, status[id], want)
		}
	}
	first := m.Seats[0]
	if first.ID != "ORCH-A-1" || first.Section != "ORCH" || first.Row != "A" || first.Number != 1 || !first.Accessible ||
		first.Tier != "Stalls" || first.PriceCents != 6500 || m.Seats[29].ID != "BALC-B-5" || m.Seats[29].Tier != "Gallery" {
		t.Fatalf("first %+v, last %+v", first, m.Seats[29])
	}
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("Cache-Control") != "public, max-age=1" {
		t.Fatalf("headers %v", res.Header)
	}

	tests := []struct {
		name, query, inm string
		status, seats    int
	}{
		{"revalidation", "", etag, http.StatusNotModified, 0},
		{"weak and listed tags match too", "", `"other", W/` + etag, http.StatusNotModified, 0},
		{"another tag", "", `"stale"`, http.StatusOK, 30},
		{"section", "?section=BALC", "", http.StatusOK, 10},
		{"sold", "?status=sold", "", http.StatusOK, 2},
		{"held in a section", "?status=held&section=BALC", "", http.StatusOK, 1},
		{"unknown section", "?section=ROOF", "", http.StatusOK, 0},
		{"bad status", "?status=reserved", "", http.StatusUnprocessableEntity, 0},
	}
	// The read-only cases run (in parallel) to the end before the change
	// below alters the map.
	t.Run("reads", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var hdr []string
				if tt.inm != "" {
					hdr = []string{"If-None-Match", tt.inm}
				}
				res := f.a.Do("GET", path+tt.query, "", nil, hdr...)
				if res.Status != tt.status {
					t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
				}
				if tt.status == http.StatusOK {
					var m seatMapBody
					res.JSON(t, &m)
					if len(m.Seats) != tt.seats {
						t.Fatalf("%d seats, want %d", len(m.Seats), tt.seats)
					}
					if tt.query != "" && res.Header.Get("ETag") == etag {
						t.Fatal("a filtered view shares the full map's ETag")
					}
				}
			})
		}
	})

	t.Run("changes show within the cache TTL", func(t *testing.T) {
		sell(t, f.a, e.ID, "ORCH-B-3")
		hold(t, f.a, e.ID, time.Now().Add(time.Hour), "BALC-B-1")
		apptest.Eventually(t, "the new sale and hold on the map", func() bool {
			res := f.a.Do("GET", path, "", nil, "If-None-Match", etag)
			if res.Status != http.StatusOK {
				return false
			}
			var m seatMapBody
			res.JSON(t, &m)
			return m.Counts["sold"] == 3 && m.Counts["held"] == 2 && res.Header.Get("ETag") != etag
		})
	})
}

func TestSeatMapVisibility(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	draft := f.draft(t, f.org, nil)
	tests := []struct {
		name, token string
		id          uuid.UUID
		status      int
	}{
		{"draft, anonymous", "", draft.ID, http.StatusNotFound},
		{"draft, another organizer", f.org2, draft.ID, http.StatusNotFound},
		{"draft, its organizer", f.org, draft.ID, http.StatusOK},
		{"draft, admin", f.admin, draft.ID, http.StatusOK},
		{"unknown event", "", evently.NewID(), http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := f.a.Do("GET", "/api/v1/events/"+tt.id.String()+"/seats", tt.token, nil)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
			if tt.status == http.StatusOK {
				var m seatMapBody
				res.JSON(t, &m)
				if len(m.Seats) != 30 || m.Counts["available"] != 30 || m.Seats[0].Tier != "Stalls" ||
					res.Header.Get("Cache-Control") != "private, no-cache" {
					t.Fatalf("draft map: %d seats, %v, %q", len(m.Seats), m.Counts, res.Header.Get("Cache-Control"))
				}
			}
		})
	}
}

// BenchmarkSeatMap measures GET /events/{id}/seats on a published
// 20,000-seat event (200 sold, 500 held), with the 1 s in-process cache and
// without it (every request reads PostgreSQL and Redis and renders).
// Reports requests/s and the p50/p99 latency seen by concurrent clients.
//
//	go test ./api -run '^$' -bench BenchmarkSeatMap -benchtime 5s
func BenchmarkSeatMap(b *testing.B) {
	a := apptest.Start(b, apptest.Options{})
	_, org := a.User(evently.RoleOrganizer)
	var sections []any
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("S%d", 101+i))
		sections = append(sections, map[string]any{"name": names[i], "row_count": 40, "seats_per_row": 25})
	}
	res := a.Do("POST", "/api/v1/venues", org, map[string]any{"name": "Arena", "city": "Manchester",
		"time_zone": "Europe/London", "layout": map[string]any{"sections": sections}})
	var v evently.Venue
	res.JSON(b, &v)
	starts := time.Now().Add(30 * 24 * time.Hour).UTC()
	res = a.Do("POST", "/api/v1/events", org, map[string]any{"venue_id": v.ID.String(), "title": "Arena Night",
		"starts_at": starts.Format(time.RFC3339), "ends_at": starts.Add(3 * time.Hour).Format(time.RFC3339),
		"tiers": []any{map[string]any{"name": "Floor", "price_cents": 9900, "sections": names}}})
	var e evently.Event
	res.JSON(b, &e)
	if res = a.Do("POST", "/api/v1/events/"+e.ID.String()+"/publish", org, nil); res.Status != http.StatusOK {
		b.Fatalf("publish %d %s", res.Status, res.Body)
	}
	var sold, held []string
	for i := range 700 {
		id := fmt.Sprintf("S%d-A-%d", 101+i/25%20, i%25+1)
		if i >= 500 {
			id = fmt.Sprintf("S%d-B-%d", 101+i%20, i%25+1)
		}
		if i < 200 {
			sold = append(sold, id)
		} else {
			held = append(held, id)
		}
	}
	sell(b, a, e.ID, sold...)
	hold(b, a, e.ID, time.Now().Add(time.Hour), held...)

	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", time.Second}, {"uncached", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			s := *a.Server
			s.Catalog.SeatMapTTL = bc.ttl
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			url := srv.URL + "/api/v1/events/" + e.ID.String() + "/seats"
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(4) // 4 x GOMAXPROCS concurrent clients
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					res, err := client.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK || n < 1_000_000 {
						b.Errorf("status %d, %d bytes", res.StatusCode, n)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
				b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
				b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			}
		})
	}
}

func ms(d time.Duration) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64), 64)
	return v
}
