package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest/apptest"
)

type countingEvents struct {
	evently.EventService
	popular atomic.Int32
}

func (c *countingEvents) PopularEvents(ctx context.Context, window time.Duration, limit int) ([]evently.Event, error) {
	c.popular.Add(1)
	return c.EventService.PopularEvents(ctx, window, limit)
}

type countingVenues struct {
	evently.VenueService
	reads atomic.Int32
}

func (c *countingVenues) Venue(ctx context.Context, id uuid.UUID, withSeats bool) (*evently.Venue, error) {
	c.reads.Add(1)
	return c.VenueService.Venue(ctx, id, withSeats)
}

// get sends a GET that asks for gzip itself, so the answer arrives as sent.
func getGzip(t *testing.T, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	apptest.Contract(t, req, res.StatusCode, res.Header, body)
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		body, err = io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
	}
	return res, body
}

// Anonymous reads that used to cost a scan or megabytes per request are
// cached, summarised and compressed.
func TestCheapReadsStayCheap(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	event := f.published(t, f.org, nil)
	events := &countingEvents{EventService: f.a.Server.Catalog.Events}
	venues := &countingVenues{VenueService: f.a.Server.Catalog.Venues}
	s := *f.a.Server
	s.Catalog.Events, s.Catalog.Venues = events, venues
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	t.Run("popular events come from a rollup", func(t *testing.T) {
		for range 30 {
			res, body := getGzip(t, srv.URL+"/api/v1/events/popular?limit=5")
			if res.StatusCode != 200 || !json.Valid(body) {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
		}
		if n := events.popular.Load(); n > 2 {
			t.Fatalf("30 requests read the bookings %d times", n)
		}
	})
	t.Run("a venue is read once and its seat pages answered gzipped", func(t *testing.T) {
		// Bodies from 1 KiB on are gzipped; a page of 30 seats is past it.
		for range 20 {
			res, body := getGzip(t, srv.URL+"/api/v1/venues/"+f.venueID.String()+"?seats=true")
			if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" || !json.Valid(body) {
				t.Fatalf("%d %q %s", res.StatusCode, res.Header.Get("Content-Encoding"), body)
			}
		}
		if n := venues.reads.Load(); n != 1 {
			t.Fatalf("20 requests read the venue %d times", n)
		}
	})
	t.Run("the seat map is gzipped once, with its own ETag and 304s", func(t *testing.T) {
		url := srv.URL + "/api/v1/events/" + event.ID.String() + "/seats"
		res, body := getGzip(t, url)
		var m struct {
			Seats []json.RawMessage `json:"seats"`
		}
		if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" || json.Unmarshal(body, &m) != nil || len(m.Seats) != 30 {
			t.Fatalf("%d %q %.200s", res.StatusCode, res.Header.Get("Content-Encoding"), body)
		}
		gzTag := res.Header.Get("ETag")
		plain := f.a.Do("GET", "/api/v1/events/"+event.ID.String()+"/seats", "", nil, "Accept-Encoding", "identity")
		if plain.Header.Get("Content-Encoding") != "" || plain.Header.Get("ETag") == gzTag || !bytes.Equal(plain.Body, body) {
			t.Fatalf("identity answer: %q, ETag %q vs %q", plain.Header.Get("Content-Encoding"), plain.Header.Get("ETag"), gzTag)
		}
		if res, _ := getGzip(t, url, "If-None-Match", gzTag); res.StatusCode != http.StatusNotModified {
			t.Fatalf("revalidating the gzip variant: %d", res.StatusCode)
		}
	})
}
