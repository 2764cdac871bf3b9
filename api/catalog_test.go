package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
	"github.com/evently/evently/evtest/apptest"
)

// catalogFixture is one running app with an organizer, a second organizer,
// an admin and a plain user.
type catalogFixture struct {
	a                         *apptest.App
	orgID                     uuid.UUID
	org, org2, admin, user    string
	venueID                   uuid.UUID
	venueSections             []string
	startsAt, endsAt, salesTo time.Time
}

func newCatalogFixture(t *testing.T) *catalogFixture {
	t.Helper()
	f := &catalogFixture{a: apptest.Start(t, apptest.Options{})}
	f.orgID, f.org = f.a.User(evently.RoleOrganizer)
	_, f.org2 = f.a.User(evently.RoleOrganizer)
	_, f.admin = f.a.User(evently.RoleAdmin)
	_, f.user = f.a.User(evently.RoleUser)
	v := f.venue(t, f.org, smallVenue("Globe"))
	f.venueID, f.venueSections = v.ID, []string{"ORCH", "BALC"}
	f.startsAt = time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	f.endsAt = f.startsAt.Add(3 * time.Hour)
	f.salesTo = f.startsAt.Add(-time.Hour)
	return f
}

// smallVenue has 30 seats: ORCH rows A (10, seat 1 accessible) and B (10,
// offset 0.5), and BALC as a 2x5 block.
func smallVenue(name string) map[string]any {
	return map[string]any{
		"name": name, "city": "London", "address": "21 New Globe Walk", "time_zone": "Europe/London",
		"layout": map[string]any{"sections": []any{
			map[string]any{"name": "ORCH", "rows": []any{
				map[string]any{"label": "A", "seats": 10, "accessible": []int{1}},
				map[string]any{"label": "B", "seats": 10, "offset": 0.5},
			}},
			map[string]any{"name": "BALC", "row_count": 2, "seats_per_row": 5, "accessible": []string{"B-5"}},
		}},
	}
}

func (f *catalogFixture) venue(t *testing.T, token string, body any) evently.Venue {
	t.Helper()
	res := f.a.Do("POST", "/api/v1/venues", token, body)
	if res.Status != http.StatusCreated {
		t.Fatalf("create venue: %d %s", res.Status, res.Body)
	}
	var v evently.Venue
	res.JSON(t, &v)
	return v
}

// eventBody is a valid draft on the fixture's venue; edit changes it.
func (f *catalogFixture) eventBody(edit func(map[string]any)) map[string]any {
	b := map[string]any{
		"venue_id": f.venueID.String(), "title": "Hamlet at the Globe", "description": "Shakespeare's tragedy, in the round.",
		"category": "Theatre", "starts_at": f.startsAt.Format(time.RFC3339), "ends_at": f.endsAt.Format(time.RFC3339),
		"sales_end_at": f.salesTo.Format(time.RFC3339), "currency": "GBP",
		"tiers": []any{
			map[string]any{"name": "Stalls", "price_cents": 6500, "sections": []string{"ORCH"}},
			map[string]any{"name": "Gallery", "price_cents": 2500, "sections": []string{"BALC"}},
		},
	}
	if edit != nil {
		edit(b)
	}
	return b
}

func (f *catalogFixture) draft(t *testing.T, token string, edit func(map[string]any)) evently.Event {
	t.Helper()
	res := f.a.Do("POST", "/api/v1/events", token, f.eventBody(edit))
	if res.Status != http.StatusCreated {
		t.Fatalf("create event: %d %s", res.Status, res.Body)
	}
	var e evently.Event
	res.JSON(t, &e)
	return e
}

func (f *catalogFixture) published(t *testing.T, token string, edit func(map[string]any)) evently.Event {
	t.Helper()
	e := f.draft(t, token, edit)
	res := f.a.Do("POST", "/api/v1/events/"+e.ID.String()+"/publish", token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("publish: %d %s", res.Status, res.Body)
	}
	res.JSON(t, &e)
	return e
}

// problemFields decodes a problem and returns its per-field errors.
func problemFields(t *testing.T, res apptest.Response) map[string]string {
	t.Helper()
	var p api.Problem
	res.JSON(t, &p)
	return p.Errors
}

func TestVenueLayoutValidation(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	layout := func(sections ...any) map[string]any {
		b := smallVenue("Bad")
		b["layout"] = map[string]any{"sections": sections}
		return b
	}
	row := func(label string, seats int) map[string]any { return map[string]any{"label": label, "seats": seats} }
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no name", func() map[string]any { b := smallVenue(""); return b }(), "name"},
		{"bad time zone", func() map[string]any { b := smallVenue("X"); b["time_zone"] = "Mars/Olympus"; return b }(), "time_zone"},
		{"missing time zone", func() map[string]any { b := smallVenue("X"); b["time_zone"] = ""; return b }(), "time_zone"},
		{"Local is no IANA zone", func() map[string]any { b := smallVenue("X"); b["time_zone"] = "Local"; return b }(), "time_zone"},
		{"no sections", layout(), "layout.sections"},
		{"duplicate section labels overlap", layout(
			map[string]any{"name": "ORCH", "rows": []any{row("A", 3)}},
			map[string]any{"name": "orch", "rows": []any{row("B", 3)}}), "layout.sections[1].name"},
		{"duplicate row labels overlap", layout(
			map[string]any{"name": "ORCH", "rows": []any{row("A", 3), row("A", 4)}}), "layout.sections[0].rows[1].label"},
		{"hyphen in a section name", layout(
			map[string]any{"name": "OR-CH", "rows": []any{row("A", 3)}}), "layout.sections[0].name"},
		{"rows and row_count", layout(
			map[string]any{"name": "ORCH", "rows": []any{row("A", 3)}, "row_count": 2, "seats_per_row": 3}), "layout.sections[0]"},
		{"neither rows nor row_count", layout(map[string]any{"name": "ORCH"}), "layout.sections[0].rows"},
		{"zero seats in a row", layout(
			map[string]any{"name": "ORCH", "rows": []any{row("A", 0)}}), "layout.sections[0].rows[0].seats"},
		{"accessible seat outside its row", layout(
			map[string]any{"name": "ORCH", "rows": []any{map[string]any{"label": "A", "seats": 3, "accessible": []int{4}}}}),
			"layout.sections[0].rows[0].accessible"},
		{"accessible reference to no seat", layout(
			map[string]any{"name": "ORCH", "row_count": 2, "seats_per_row": 3, "accessible": []string{"C-1"}}),
			"layout.sections[0].accessible"},
		{"too many seats", layout(
			map[string]any{"name": "A", "row_count": 500, "seats_per_row": 1000}), "layout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := f.a.Do("POST", "/api/v1/venues", f.org, tt.body)
			if res.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", res.Status, res.Body)
			}
			if fields := problemFields(t, res); fields[tt.field] == "" {
				t.Fatalf("no error for %q in %v", tt.field, fields)
			}
		})
	}
}

// A 20,000-seat arena is one compact request; the layout comes back seat by
// seat, in layout order, with positions and accessibility.
func TestVenueArenaInOneRequest(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	var sections []any
	for i := range 20 {
		sections = append(sections, map[string]any{"name": fmt.Sprintf("S%d", 101+i), "row_count": 40, "seats_per_row": 25})
	}
	start := time.Now()
	v := f.venue(t, f.org, map[string]any{"name": "Arena", "city": "Manchester", "time_zone": "Europe/London",
		"layout": map[string]any{"sections": sections}})
	t.Logf("20,000-seat venue created in %v", time.Since(start))
	if v.Capacity != 20000 {
		t.Fatalf("capacity %d", v.Capacity)
	}
	// The default answer is a summary; seats come in pages.
	res := f.a.Do("GET", "/api/v1/venues/"+v.ID.String(), "", nil)
	var got venueView
	res.JSON(t, &got)
	if len(got.Sections) != 20 || len(got.Sections[0].Rows) != 40 || got.Sections[0].Rows[39].SeatCount != 25 ||
		got.Sections[0].SeatCount != 1000 || len(got.Seats) != 0 {
		t.Fatalf("shape: %d sections, %d seats", len(got.Sections), len(got.Seats))
	}
	if len(res.Body) > 64<<10 {
		t.Fatalf("summary is %d bytes", len(res.Body))
	}
	// Generated row labels run past Z in order.
	if l := got.Sections[0].Rows[26].Label; l != "AA" {
		t.Fatalf("row 27 is %q, want AA", l)
	}
	var seats []evently.Seat
	path := "/api/v1/venues/" + v.ID.String() + "?seats=true&limit=5000"
	for pages := 0; path != ""; pages++ {
		if pages > 4 {
			t.Fatal("more than 4 pages of 5000")
		}
		var page venueView
		f.a.Do("GET", path, "", nil).JSON(t, &page)
		seats = append(seats, page.Seats...)
		path = ""
		if page.NextCursor != "" {
			path = "/api/v1/venues/" + v.ID.String() + "?seats=true&limit=5000&cursor=" + page.NextCursor
		}
	}
	if len(seats) != 20000 {
		t.Fatalf("%d seats paged", len(seats))
	}
	if s := seats[19999]; s.ID != "S120-AN-25" || s.Number != 25 {
		t.Fatalf("last seat %+v", s)
	}
}

// venueView is GET /venues/{id}: a summary, and a page of seats on request.
type venueView struct {
	evently.Venue
	Sections []struct {
		Name      string `json:"name"`
		SeatCount int    `json:"seat_count"`
		Rows      []struct {
			Label           string `json:"label"`
			SeatCount       int    `json:"seat_count"`
			AccessibleCount int    `json:"accessible_count"`
		} `json:"rows"`
	} `json:"sections"`
	Seats      []evently.Seat `json:"seats"`
	NextCursor string         `json:"next_cursor"`
}

func TestVenueLayoutDetails(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	res := f.a.Do("GET", "/api/v1/venues/"+f.venueID.String()+"?seats=true", "", nil)
	var v venueView
	res.JSON(t, &v)
	if v.Capacity != 30 || v.TimeZone != "Europe/London" || len(v.Sections) != 2 || len(v.Seats) != 30 || v.NextCursor != "" {
		t.Fatalf("venue %+v", v)
	}
	if r := v.Sections[0].Rows[0]; r.Label != "A" || r.SeatCount != 10 || r.AccessibleCount != 1 {
		t.Fatalf("row A %+v", r)
	}
	byID := map[string]evently.Seat{}
	for _, s := range v.Seats {
		byID[s.ID] = s
	}
	a1, b1 := byID["ORCH-A-1"], byID["ORCH-B-1"]
	if a1.ID != "ORCH-A-1" || !a1.Accessible || a1.X != 0 || a1.Y != 0 {
		t.Fatalf("A-1 %+v", a1)
	}
	if b1.ID != "ORCH-B-1" || b1.Accessible || b1.X != 0.5 || b1.Y != 1 {
		t.Fatalf("B-1 (offset row) %+v", b1)
	}
	balc := v.Sections[1]
	if balc.Rows[1].Label != "B" || !byID["BALC-B-5"].Accessible || byID["BALC-A-1"].Y <= b1.Y {
		t.Fatalf("BALC %+v", balc)
	}
	// Pages follow the layout order and end.
	var page venueView
	f.a.Do("GET", "/api/v1/venues/"+f.venueID.String()+"?seats=true&limit=25", "", nil).JSON(t, &page)
	if len(page.Seats) != 25 || page.Seats[0].ID != "ORCH-A-1" || page.NextCursor == "" {
		t.Fatalf("first page %d seats, cursor %q", len(page.Seats), page.NextCursor)
	}
	var last venueView
	f.a.Do("GET", "/api/v1/venues/"+f.venueID.String()+"?seats=true&limit=25&cursor="+page.NextCursor, "", nil).JSON(t, &last)
	if len(last.Seats) != 5 || last.NextCursor != "" {
		t.Fatalf("last page %d seats, cursor %q", len(last.Seats), last.NextCursor)
	}
	for _, q := range []string{"?seats=maybe", "?seats=true&limit=0", "?seats=true&limit=5001", "?seats=true&cursor=%%%"} {
		if res := f.a.Do("GET", "/api/v1/venues/"+f.venueID.String()+q, "", nil); res.Status != 422 && res.Status != 400 {
			t.Errorf("%s: %d", q, res.Status)
		}
	}
}

func TestVenueAccess(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	used := f.venue(t, f.org, smallVenue("Used"))
	f.draft(t, f.org, func(b map[string]any) { b["venue_id"] = used.ID.String() })
	tests := []struct {
		name, method, token string
		venue               func() uuid.UUID
		body                any
		status              int
	}{
		{"anonymous cannot create", "POST", "", nil, smallVenue("X"), http.StatusUnauthorized},
		{"a user cannot create", "POST", f.user, nil, smallVenue("X"), http.StatusForbidden},
		{"another organizer cannot rename", "PATCH", f.org2, func() uuid.UUID { return f.venue(t, f.org, smallVenue("Mine")).ID }, map[string]any{"name": "Theirs"}, http.StatusForbidden},
		{"another organizer cannot delete", "DELETE", f.org2, func() uuid.UUID { return f.venue(t, f.org, smallVenue("Mine")).ID }, nil, http.StatusForbidden},
		{"owner renames", "PATCH", f.org, func() uuid.UUID { return f.venue(t, f.org, smallVenue("Mine")).ID }, map[string]any{"name": "Renamed"}, http.StatusOK},
		{"admin changes the layout", "PATCH", f.admin, func() uuid.UUID { return f.venue(t, f.org, smallVenue("Mine")).ID },
			map[string]any{"layout": map[string]any{"sections": []any{map[string]any{"name": "PIT", "row_count": 1, "seats_per_row": 7}}}}, http.StatusOK},
		{"patch validates", "PATCH", f.org, func() uuid.UUID { return f.venue(t, f.org, smallVenue("Mine")).ID }, map[string]any{"time_zone": "Nowhere/Land"}, http.StatusUnprocessableEntity},
		{"owner deletes", "DELETE", f.org, func() uuid.UUID { return f.venue(t, f.org, smallVenue("Mine")).ID }, nil, http.StatusNoContent},
		{"admin deletes", "DELETE", f.admin, func() uuid.UUID { return f.venue(t, f.org, smallVenue("Mine")).ID }, nil, http.StatusNoContent},
		{"no patch while an event uses it", "PATCH", f.org, func() uuid.UUID { return used.ID }, map[string]any{"name": "X"}, http.StatusConflict},
		{"no delete while an event uses it", "DELETE", f.admin, func() uuid.UUID { return used.ID }, nil, http.StatusConflict},
		{"unknown venue", "DELETE", f.org, func() uuid.UUID { return evently.NewID() }, nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/api/v1/venues"
			if tt.venue != nil {
				path += "/" + tt.venue().String()
			}
			t.Parallel()
			res := f.a.Do(tt.method, path, tt.token, tt.body)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
		})
	}
	t.Run("layout change replaces seats", func(t *testing.T) {
		v := f.venue(t, f.org, smallVenue("Relaid"))
		res := f.a.Do("PATCH", "/api/v1/venues/"+v.ID.String(), f.org, map[string]any{
			"layout": map[string]any{"sections": []any{map[string]any{"name": "PIT", "row_count": 1, "seats_per_row": 7}}}})
		res.JSON(t, &v)
		var n int
		if err := f.a.DB.Get(&n, `SELECT count(*) FROM seats WHERE venue_id = $1`, v.ID); err != nil || n != 7 || v.Capacity != 7 {
			t.Fatalf("seats %d capacity %d (%v)", n, v.Capacity, err)
		}
	})
}

func TestVenueList(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	for i := range 4 {
		f.venue(t, f.org2, smallVenue(fmt.Sprintf("Other %d", i)))
	}
	seen := map[uuid.UUID]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		res := f.a.Do("GET", "/api/v1/venues?limit=2&cursor="+cursor, "", nil)
		var page evently.VenuePage
		res.JSON(t, &page)
		for _, v := range page.Items {
			if seen[v.ID] || v.Sections != nil {
				t.Fatalf("venue %s twice or with seats", v.ID)
			}
			seen[v.ID] = true
		}
		if cursor = page.NextCursor; cursor == "" || pages > 5 {
			break
		}
	}
	if len(seen) != 5 {
		t.Fatalf("walked %d venues, want 5", len(seen))
	}
	res := f.a.Do("GET", "/api/v1/venues?owner=me", f.org, nil)
	var mine evently.VenuePage
	res.JSON(t, &mine)
	if len(mine.Items) != 1 || mine.Items[0].ID != f.venueID {
		t.Fatalf("own venues %+v", mine.Items)
	}
	for _, q := range []string{"cursor=nope", "cursor=AAAA", "limit=0", "limit=101", "owner=you"} {
		if res := f.a.Do("GET", "/api/v1/venues?"+q, "", nil); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d, want 422", q, res.Status)
		}
	}
}

func TestEventValidation(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	tier := func(name string, price int, sections ...string) map[string]any {
		return map[string]any{"name": name, "price_cents": price, "sections": sections}
	}
	tests := []struct {
		name   string
		edit   func(map[string]any)
		status int
		field  string
	}{
		{"ends before starts", func(b map[string]any) { b["ends_at"] = f.startsAt.Add(-time.Hour).Format(time.RFC3339) }, 422, "ends_at"},
		{"ends when it starts", func(b map[string]any) { b["ends_at"] = b["starts_at"] }, 422, "ends_at"},
		{"starts_at not RFC 3339", func(b map[string]any) { b["starts_at"] = "next friday" }, 422, "starts_at"},
		{"starts_at without a zone", func(b map[string]any) { b["starts_at"] = "2030-01-01T20:00:00" }, 422, "starts_at"},
		{"missing starts_at", func(b map[string]any) { delete(b, "starts_at") }, 422, "starts_at"},
		{"missing title", func(b map[string]any) { b["title"] = "  " }, 422, "title"},
		{"unknown venue", func(b map[string]any) { b["venue_id"] = evently.NewID().String() }, 422, "venue_id"},
		{"malformed venue id", func(b map[string]any) { b["venue_id"] = "globe" }, 422, "venue_id"},
		{"bad currency", func(b map[string]any) { b["currency"] = "POUNDS" }, 422, "currency"},
		{"sales end after the event", func(b map[string]any) { b["sales_end_at"] = f.endsAt.Add(time.Hour).Format(time.RFC3339) }, 422, "sales_end_at"},
		{"sales start after they end", func(b map[string]any) {
			b["sales_start_at"] = f.salesTo.Add(time.Minute).Format(time.RFC3339)
		}, 422, "sales_end_at"},
		{"no tiers", func(b map[string]any) { b["tiers"] = []any{} }, 422, "tiers"},
		{"tier without sections", func(b map[string]any) {
			b["tiers"] = []any{tier("Stalls", 100, "ORCH", "BALC"), tier("Empty", 100)}
		}, 422, "tiers[1].sections"},
		{"section not covered", func(b map[string]any) { b["tiers"] = []any{tier("Stalls", 100, "ORCH")} }, 422, "tiers"},
		{"section covered twice", func(b map[string]any) {
			b["tiers"] = []any{tier("Stalls", 100, "ORCH", "BALC"), tier("Again", 100, "BALC")}
		}, 422, "tiers[1].sections"},
		{"section the venue lacks", func(b map[string]any) {
			b["tiers"] = []any{tier("All", 100, "ORCH", "BALC", "ROOF")}
		}, 422, "tiers[0].sections"},
		{"duplicate tier names", func(b map[string]any) {
			b["tiers"] = []any{tier("Stalls", 100, "ORCH"), tier("stalls", 100, "BALC")}
		}, 422, "tiers[1].name"},
		{"negative price", func(b map[string]any) {
			b["tiers"] = []any{tier("Stalls", -1, "ORCH", "BALC")}
		}, 422, "tiers[0].price_cents"},
		{"unknown field", func(b map[string]any) { b["colour"] = "red" }, 400, ""},
		{"wrong type", func(b map[string]any) { b["title"] = 7 }, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := f.a.Do("POST", "/api/v1/events", f.org, f.eventBody(tt.edit))
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
			if tt.field != "" {
				if fields := problemFields(t, res); fields[tt.field] == "" {
					t.Fatalf("no error for %q in %v", tt.field, fields)
				}
			}
		})
	}
	t.Run("wrong content type", func(t *testing.T) {
		t.Parallel()
		res := f.a.Do("POST", "/api/v1/events", f.org, `{}`, "Content-Type", "text/plain")
		if res.Status != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d", res.Status)
		}
	})
}

func TestEventLifecycle(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	e := f.draft(t, f.org, nil)
	id := e.ID.String()
	if e.Status != evently.EventDraft || e.City != "London" || e.Category != "theatre" || e.TimeZone != "Europe/London" ||
		e.Capacity != 30 || e.AvailableSeats != 0 || e.Venue == nil || e.Venue.Name != "Globe" ||
		e.PriceRange == nil || e.PriceRange.MinCents != 2500 || e.PriceRange.MaxCents != 6500 || e.OrganizerID != f.orgID {
		t.Fatalf("draft %+v", e)
	}

	// Drafts are private.
	for _, tok := range []string{"", f.user, f.org2} {
		if res := f.a.Do("GET", "/api/v1/events/"+id, tok, nil); res.Status != http.StatusNotFound {
			t.Fatalf("draft visible to %q: %d", tok, res.Status)
		}
	}
	for _, tok := range []string{f.org, f.admin} {
		if res := f.a.Do("GET", "/api/v1/events/"+id, tok, nil); res.Status != http.StatusOK {
			t.Fatalf("draft hidden from its organizer/admin: %d", res.Status)
		}
	}

	steps := []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"someone else cannot edit", "PATCH", "", f.org2, map[string]any{"title": "Mine now"}, http.StatusForbidden},
		{"a user cannot edit", "PATCH", "", f.user, map[string]any{"title": "Mine now"}, http.StatusForbidden},
		{"someone else cannot publish", "POST", "/publish", f.org2, nil, http.StatusForbidden},
		{"a draft may change its tiers", "PATCH", "", f.org, map[string]any{"tiers": []any{
			map[string]any{"name": "Everywhere", "price_cents": 4000, "sections": []string{"BALC", "ORCH"}}}}, http.StatusOK},
		{"a draft patch is validated", "PATCH", "", f.org, map[string]any{"ends_at": f.startsAt.Add(-time.Minute).Format(time.RFC3339)}, http.StatusUnprocessableEntity},
		{"publish", "POST", "/publish", f.org, nil, http.StatusOK},
		{"publishing twice", "POST", "/publish", f.org, nil, http.StatusConflict},
		{"title may change after publishing", "PATCH", "", f.org, map[string]any{"title": "Hamlet (revival)", "category": "drama"}, http.StatusOK},
		{"tiers may not", "PATCH", "", f.org, map[string]any{"tiers": []any{
			map[string]any{"name": "Cheap", "price_cents": 1, "sections": []string{"BALC", "ORCH"}}}}, http.StatusConflict},
		{"the venue may not", "PATCH", "", f.admin, map[string]any{"venue_id": f.venueID.String()}, http.StatusConflict},
		{"the date may not", "PATCH", "", f.org, map[string]any{"starts_at": f.startsAt.Add(time.Hour).Format(time.RFC3339)}, http.StatusConflict},
		{"the title is still validated", "PATCH", "", f.org, map[string]any{"title": ""}, http.StatusUnprocessableEntity},
		{"someone else cannot cancel", "POST", "/cancel", f.org2, nil, http.StatusForbidden},
		{"admin cancels", "POST", "/cancel", f.admin, nil, http.StatusOK},
		{"cancelling again is harmless", "POST", "/cancel", f.org, nil, http.StatusOK},
		{"a cancelled event changes no more", "PATCH", "", f.org, map[string]any{"title": "Back"}, http.StatusConflict},
		{"nor publishes", "POST", "/publish", f.org, nil, http.StatusConflict},
		{"unknown event", "POST", "/publish", f.org, nil, http.StatusNotFound},
	}
	for _, st := range steps {
		path := "/api/v1/events/" + id + st.path
		if st.name == "unknown event" {
			path = "/api/v1/events/" + evently.NewID().String() + st.path
		}
		res := f.a.Do(st.method, path, st.token, st.body)
		if res.Status != st.status {
			t.Fatalf("%s: status %d, want %d: %s", st.name, res.Status, st.status, res.Body)
		}
		if st.name == "publish" {
			var got evently.Event
			res.JSON(t, &got)
			if got.Status != evently.EventPublished || got.Capacity != 30 || got.AvailableSeats != 30 {
				t.Fatalf("published %+v", got)
			}
			var rows []evently.EventSeat
			if err := f.a.DB.Select(&rows, `SELECT * FROM event_seats WHERE event_id = $1`, e.ID); err != nil {
				t.Fatal(err)
			}
			if len(rows) != 30 || rows[0].Version != 1 || rows[0].Tier != "Everywhere" || rows[0].PriceCents != 4000 || rows[0].Status != evently.SeatAvailable {
				t.Fatalf("%d event seats, first %+v", len(rows), rows[0])
			}
		}
	}
	res := f.a.Do("GET", "/api/v1/events/"+id, "", nil)
	res.JSON(t, &e)
	if e.Status != evently.EventCancelled || e.Title != "Hamlet (revival)" || e.Category != "drama" {
		t.Fatalf("after all %+v", e)
	}
}

// Publishing an event that has started is refused; the draft stays a draft.
func TestEventPublishInThePast(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	e := f.draft(t, f.org, func(b map[string]any) {
		b["starts_at"] = time.Now().Add(-time.Hour).Format(time.RFC3339)
		b["ends_at"] = time.Now().Add(time.Hour).Format(time.RFC3339)
		delete(b, "sales_end_at")
	})
	res := f.a.Do("POST", "/api/v1/events/"+e.ID.String()+"/publish", f.org, nil)
	if res.Status != http.StatusUnprocessableEntity || problemFields(t, res)["starts_at"] == "" {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
}

// Cancelling calls the booking area's hook after the status changed; a
// failed hook answers 503 and a repeated cancel runs it again.
func TestEventCancelHook(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	var calls atomic.Int32
	var mu sync.Mutex
	var got []uuid.UUID
	s := *f.a.Server // a second front end on the same services, with a hook
	s.Catalog.OnEventCancelled = func(ctx context.Context, id uuid.UUID) error {
		mu.Lock()
		got = append(got, id)
		mu.Unlock()
		if calls.Add(1) == 1 {
			return fmt.Errorf("broker down")
		}
		return nil
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	hooked := *f.a
	hooked.URL = srv.URL

	e := f.published(t, f.org, nil)
	path := "/api/v1/events/" + e.ID.String() + "/cancel"
	if res := hooked.Do("POST", path, f.org, nil); res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("first cancel %d %s", res.Status, res.Body)
	}
	var ev evently.Event
	f.a.Do("GET", "/api/v1/events/"+e.ID.String(), "", nil).JSON(t, &ev)
	if ev.Status != evently.EventCancelled {
		t.Fatalf("status %s after a failed hook, want cancelled", ev.Status)
	}
	if res := hooked.Do("POST", path, f.org, nil); res.Status != http.StatusOK {
		t.Fatalf("retry %d %s", res.Status, res.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != e.ID || got[1] != e.ID {
		t.Fatalf("hook calls %v", got)
	}
}

func TestEventDiscovery(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	berlin := f.venue(t, f.org2, func() map[string]any {
		b := smallVenue("Philharmonie")
		b["city"], b["time_zone"] = "Berlin", "Europe/Berlin"
		return b
	}())
	day := func(n int) string { return f.startsAt.Add(time.Duration(n) * 24 * time.Hour).Format(time.RFC3339) }
	mk := func(token, title, category string, venue uuid.UUID, n int, publish bool) evently.Event {
		edit := func(b map[string]any) {
			b["title"], b["category"], b["venue_id"] = title, category, venue.String()
			if strings.HasPrefix(title, "Mahler") {
				b["description"] = "No jazz tonight."
			}
			b["starts_at"], b["ends_at"] = day(n), f.startsAt.Add(time.Duration(n)*24*time.Hour+2*time.Hour).Format(time.RFC3339)
			delete(b, "sales_end_at")
		}
		if publish {
			return f.published(t, token, edit)
		}
		return f.draft(t, token, edit)
	}
	jazz := mk(f.org, "Late Night Jazz Trio", "music", f.venueID, 1, true)
	hamlet := mk(f.org, "Hamlet", "theatre", f.venueID, 2, true)
	jazzBerlin := mk(f.org2, "Jazz Brunch", "music", berlin.ID, 3, true)
	symphony := mk(f.org2, "Mahler Symphony No. 5", "music", berlin.ID, 0, true)
	draft := mk(f.org, "Secret Jazz Rehearsal", "music", f.venueID, 5, false)
	cancelled := mk(f.org, "Cancelled Jazz", "music", f.venueID, 6, true)
	f.a.Do("POST", "/api/v1/events/"+cancelled.ID.String()+"/cancel", f.org, nil)

	ids := func(page evently.EventPage) []uuid.UUID {
		var out []uuid.UUID
		for _, e := range page.Items {
			out = append(out, e.ID)
		}
		return out
	}
	tests := []struct {
		name, query, token string
		want               []uuid.UUID
	}{
		{"published by date", "", "", []uuid.UUID{symphony.ID, jazz.ID, hamlet.ID, jazzBerlin.ID}},
		{"full text", "q=jazz", "", []uuid.UUID{symphony.ID, jazz.ID, jazzBerlin.ID}},
		{"web search syntax", "q=jazz%20-brunch", "", []uuid.UUID{symphony.ID, jazz.ID}},
		{"phrase", "q=%22jazz%20trio%22", "", []uuid.UUID{jazz.ID}},
		{"category", "category=Theatre", "", []uuid.UUID{hamlet.ID}},
		{"city", "city=berlin", "", []uuid.UUID{symphony.ID, jazzBerlin.ID}},
		{"from and to", "from=" + day(2) + "&to=" + day(4), "", []uuid.UUID{hamlet.ID, jazzBerlin.ID}},
		{"relevance puts title matches first", "q=jazz&sort=relevance", "", []uuid.UUID{jazz.ID, jazzBerlin.ID, symphony.ID}},
		{"drafts hidden from the public", "status=draft", "", nil},
		{"drafts hidden from other organizers", "status=draft", f.org2, nil},
		{"own drafts", "status=draft", f.org, []uuid.UUID{draft.ID}},
		{"admin sees drafts", "status=draft", f.admin, []uuid.UUID{draft.ID}},
		{"cancelled", "status=cancelled", "", []uuid.UUID{cancelled.ID}},
		{"any status, public", "status=any&q=jazz", "", []uuid.UUID{symphony.ID, jazz.ID, jazzBerlin.ID, cancelled.ID}},
		{"any status, owner", "status=any&q=jazz", f.org, []uuid.UUID{symphony.ID, jazz.ID, jazzBerlin.ID, draft.ID, cancelled.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := f.a.Do("GET", "/api/v1/events?"+tt.query, tt.token, nil)
			if res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			var page evently.EventPage
			res.JSON(t, &page)
			got := ids(page)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
		})
	}
	t.Run("event details", func(t *testing.T) {
		t.Parallel()
		var e evently.Event
		f.a.Do("GET", "/api/v1/events/"+jazzBerlin.ID.String(), "", nil).JSON(t, &e)
		if e.Capacity != 30 || e.AvailableSeats != 30 || e.TimeZone != "Europe/Berlin" || e.City != "Berlin" ||
			e.Venue == nil || e.Venue.ID != berlin.ID || e.PriceRange == nil || e.PriceRange.MaxCents != 6500 {
			t.Fatalf("event %+v", e)
		}
	})
	bad := []string{"cursor=garbage", "cursor=eyJzIjoic3RhcnRzX2F0In0", "limit=0", "limit=500", "limit=x",
		"from=yesterday", "sort=price", "sort=relevance", "status=sold", "from=" + day(3) + "&to=" + day(1)}
	for _, q := range bad {
		t.Run("bad "+q, func(t *testing.T) {
			t.Parallel()
			if res := f.a.Do("GET", "/api/v1/events?"+q, "", nil); res.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", res.Status, res.Body)
			}
		})
	}
	t.Run("a cursor of another sort", func(t *testing.T) {
		t.Parallel()
		var page evently.EventPage
		f.a.Do("GET", "/api/v1/events?limit=1", "", nil).JSON(t, &page)
		if res := f.a.Do("GET", "/api/v1/events?q=jazz&sort=relevance&cursor="+page.NextCursor, "", nil); res.Status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d", res.Status)
		}
	})
	t.Run("relevance pages", func(t *testing.T) {
		t.Parallel()
		var all []uuid.UUID
		cursor := ""
		for range 5 {
			var page evently.EventPage
			f.a.Do("GET", "/api/v1/events?q=jazz&sort=relevance&limit=1&cursor="+cursor, "", nil).JSON(t, &page)
			all = append(all, ids(page)...)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if want := []uuid.UUID{jazz.ID, jazzBerlin.ID, symphony.ID}; fmt.Sprint(all) != fmt.Sprint(want) {
			t.Fatalf("got %v want %v", all, want)
		}
	})
}

// Walking every page while other events are inserted (before, between and
// after the walked ones) returns each pre-existing event exactly once.
func TestEventPaginationStableUnderInserts(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	const n = 25
	insert := func(at time.Time, title string) uuid.UUID {
		id := evently.NewID()
		_, err := f.a.DB.Exec(`INSERT INTO events (id, venue_id, organizer_id, title, status, starts_at, ends_at, tiers)
			VALUES ($1, $2, $3, $4, 'published', $5, $6, '[]')`, id, f.venueID, f.orgID, title, at, at.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	want := map[uuid.UUID]bool{}
	base := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond)
	for i := range n {
		// Pairs share a start time, so the id breaks ties.
		want[insert(base.Add(time.Duration(i/2)*time.Hour), fmt.Sprintf("Old %d", i))] = true
	}
	seen := map[uuid.UUID]int{}
	cursor := ""
	for page := 0; ; page++ {
		res := f.a.Do("GET", "/api/v1/events?limit=4&cursor="+cursor, "", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("page %d: %d %s", page, res.Status, res.Body)
		}
		var p evently.EventPage
		res.JSON(t, &p)
		for _, e := range p.Items {
			seen[e.ID]++
		}
		// Concurrent writers: before, inside and after the walked range.
		insert(base.Add(-time.Hour), "New early")
		insert(base.Add(time.Duration(page)*time.Hour+time.Minute), "New middle")
		insert(base.Add(time.Duration(page)*time.Hour), "New same start")
		insert(base.Add(100*time.Hour), "New late")
		if cursor = p.NextCursor; cursor == "" {
			break
		}
		if page > 100 {
			t.Fatal("the walk does not end")
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("event %s seen %d times", id, seen[id])
		}
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("event %s seen %d times", id, c)
		}
	}
}

func TestPopularEvents(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	first := f.published(t, f.org, nil)
	second := f.published(t, f.org, func(b map[string]any) {
		b["starts_at"] = f.startsAt.Add(time.Hour).Format(time.RFC3339)
	})
	popular := func() []uuid.UUID {
		var page struct{ Items []evently.Event }
		f.a.Do("GET", "/api/v1/events/popular", "", nil).JSON(t, &page)
		var out []uuid.UUID
		for _, e := range page.Items {
			out = append(out, e.ID)
		}
		return out
	}
	if got := popular(); fmt.Sprint(got) != fmt.Sprint([]uuid.UUID{first.ID, second.ID}) {
		t.Fatalf("without bookings: %v, want soonest first", got)
	}
	buyer, _ := f.a.User(evently.RoleUser)
	for i, st := range []string{"confirmed", "confirmed", "cancelled", "confirmed"} {
		ev := second.ID
		if i == 3 {
			ev = first.ID
		}
		if _, err := f.a.DB.Exec(`INSERT INTO bookings (id, user_id, event_id, status) VALUES ($1, $2, $3, $4)`,
			evently.NewID(), buyer, ev, st); err != nil {
			t.Fatal(err)
		}
	}
	// Old sales do not count.
	if _, err := f.a.DB.Exec(`INSERT INTO bookings (id, user_id, event_id, status, updated_at)
		SELECT $1, $2, $3, 'confirmed', now() - interval '30 days' FROM generate_series(1, 1)`, evently.NewID(), buyer, first.ID); err != nil {
		t.Fatal(err)
	}
	// The ranking is a rollup refreshed at most every few seconds.
	apptest.Eventually(t, "second (2 confirmed) first", func() bool {
		return fmt.Sprint(popular()) == fmt.Sprint([]uuid.UUID{second.ID, first.ID})
	})
}

// The date filters of GET /events take RFC 3339 times with a zone; present
// but empty or unreadable is 422 naming the parameter, never a silent
// unfiltered 200.
func TestEventsDateFilters(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	tests := []struct {
		name, query string
		status      int
		field       string
	}{
		{"empty to", "to=", http.StatusUnprocessableEntity, "to"},
		{"empty from", "from=", http.StatusUnprocessableEntity, "from"},
		{"empty from with a good to", "from=&to=2030-01-01T00:00:00Z", http.StatusUnprocessableEntity, "from"},
		{"words", "to=tomorrow", http.StatusUnprocessableEntity, "to"},
		{"a date without a time", "from=2030-01-01", http.StatusUnprocessableEntity, "from"},
		{"no zone", "to=2030-01-01T20:00:00", http.StatusUnprocessableEntity, "to"},
		{"month 13", "from=2030-13-01T00:00:00Z", http.StatusUnprocessableEntity, "from"},
		{"an unescaped + reads as a space", "to=2030-01-01T20:00:00+02:00", http.StatusUnprocessableEntity, "to"},
		{"UTC", "from=2030-01-01T00:00:00Z&to=2030-02-01T00:00:00Z", http.StatusOK, ""},
		{"an offset", "to=2030-01-01T20:00:00%2B02:00", http.StatusOK, ""},
		// RFC 3339 allows offsets PostgreSQL refuses (past ±15:59): once a 500.
		{"an offset of 22:29", "to=7902-10-24T06:59:42%2B22:29", http.StatusOK, ""},
		{"absent", "", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := a.Do("GET", "/api/v1/events?"+tt.query, "", nil)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
			if tt.field == "" {
				return
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			if msg := problemFields(t, res)[tt.field]; !strings.Contains(msg, "RFC 3339") {
				t.Fatalf("errors[%s] = %q: %s", tt.field, msg, res.Body)
			}
		})
	}
}
