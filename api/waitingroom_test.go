package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/evently/evently"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest/apptest"
)

// A full waiting room makes a hold request wait; one that waits too long
// is told 503 with Retry-After and nothing is held; the booking made on the
// first hold gives its place back, and the next buyer gets in.
func TestWaitingRoomBoundsBookingsInFlight(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) {
		c.Bookings.WaitingRoom = 1
		c.Bookings.WaitingRoomMaxWait = 300 * time.Millisecond
		c.Bookings.WaitingRoomPassTTL = time.Minute
	}})
	event := a.Event(10)
	_, first := a.User(evently.RoleUser)
	_, second := a.User(evently.RoleUser)
	holds := "/api/v1/events/" + event.String() + "/holds"

	res := a.Do("POST", holds, first, map[string]any{"seat_ids": seatsOf(1)})
	if res.Status != http.StatusCreated {
		t.Fatalf("first hold: %d %s", res.Status, res.Body)
	}
	var h holdBody
	res.JSON(t, &h)

	res = a.Do("POST", holds, second, map[string]any{"seat_ids": seatsOf(2)})
	var p problemBody
	res.JSON(t, &p)
	if res.Status != http.StatusServiceUnavailable || p.Code != "unavailable" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("second hold while the room is full: %d %s (Retry-After %q)", res.Status, res.Body, res.Header.Get("Retry-After"))
	}
	if res := a.Do("GET", "/api/v1/events/"+event.String()+"/seats", second, nil); res.Status != http.StatusOK {
		t.Fatalf("seat map: %d", res.Status)
	}

	if res := a.Do("POST", "/api/v1/bookings", first, map[string]any{"hold_id": h.ID}); res.Status != http.StatusAccepted && res.Status != http.StatusCreated {
		t.Fatalf("book the first hold: %d %s", res.Status, res.Body)
	}
	// The booking was answered: its place is free, and nothing of the
	// refused request was held, so the same seat can be had now.
	if res := a.Do("POST", holds, second, map[string]any{"seat_ids": seatsOf(2)}); res.Status != http.StatusCreated {
		t.Fatalf("second hold after the booking: %d %s", res.Status, res.Body)
	}
}
