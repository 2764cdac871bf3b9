package api_test

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/evently/evently"
)

// Organizers see the figures of their own events only: another
// organizer's event answers 404, as an unknown one, and is never counted
// in their dashboard; an admin sees both. Bad input answers problem+json.
func TestAnalyticsScopingAndInput(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	mine := f.published(t, f.org, nil)
	theirVenue := f.venue(t, f.org2, smallVenue("Theirs"))
	theirs := f.published(t, f.org2, func(b map[string]any) { b["venue_id"] = theirVenue.ID.String() })
	buyer, _ := f.a.User(evently.RoleUser)
	today := time.Now().UTC().Format(evently.DateLayout)
	// The workers keep the rollups (store tests check them against the
	// bookings); here they are written as the workers would.
	for _, e := range []struct {
		id                   string
		submitted, confirmed int
	}{{mine.ID.String(), 5, 3}, {theirs.ID.String(), 7, 4}} {
		if _, err := f.a.DB.Exec(`INSERT INTO event_sales_daily (event_id, day, submitted, reserved, confirmed, seats_sold, revenue_cents)
			VALUES ($1, $2, $3, $4::bigint, $4::bigint, $4::bigint, $4::bigint * 1000)`, e.id, today, e.submitted, e.confirmed); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.a.DB.Exec(`INSERT INTO bookings (id, user_id, event_id, status, amount_cents, currency) VALUES ($1, $2, $3, 'confirmed', 3000, 'USD')`,
		evently.NewID(), buyer, mine.ID); err != nil {
		t.Fatal(err)
	}

	var d evently.Dashboard
	res := f.a.Do("GET", "/api/v1/analytics/dashboard", f.org, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("dashboard: %d %s", res.Status, res.Body)
	}
	res.JSON(t, &d)
	if d.Events != 1 || d.TotalBookings != 5 || d.Confirmed != 3 || len(d.TopEvents) != 1 || d.TopEvents[0].EventID != mine.ID {
		t.Fatalf("organizer's dashboard counts what is not theirs: %+v", d)
	}
	f.a.Do("GET", "/api/v1/analytics/dashboard?from="+today+"&to="+today, f.admin, nil).JSON(t, &d)
	if d.Events != 2 || d.TotalBookings != 12 || d.Confirmed != 7 || len(d.Daily) != 1 || d.Daily[0].Day != today {
		t.Fatalf("admin's dashboard: %+v", d)
	}
	var e evently.EventAnalytics
	f.a.Do("GET", "/api/v1/analytics/events/"+mine.ID.String(), f.org, nil).JSON(t, &e)
	if e.Funnel.Submitted != 5 || e.Funnel.Confirmed != 3 || e.SeatsSold != 3 || e.Revenue.GrossCents != 3000 || e.Funnel.HoldsTaken == nil {
		t.Fatalf("event figures: %+v", e)
	}

	csvPath := "/api/v1/analytics/events/" + mine.ID.String() + "/bookings.csv"
	for _, tc := range []struct {
		name, path, token string
		want              int
		field             string
	}{
		{"another organizer's event", "/api/v1/analytics/events/" + theirs.ID.String(), f.org, http.StatusNotFound, ""},
		{"another organizer's export", "/api/v1/analytics/events/" + theirs.ID.String() + "/bookings.csv", f.org, http.StatusNotFound, ""},
		{"an unknown event", "/api/v1/analytics/events/" + evently.NewID().String(), f.admin, http.StatusNotFound, ""},
		{"a bad id", "/api/v1/analytics/events/not-a-uuid", f.org, http.StatusNotFound, ""},
		{"a bad id's export", "/api/v1/analytics/events/42/bookings.csv", f.org, http.StatusNotFound, ""},
		{"a bad date", "/api/v1/analytics/dashboard?from=yesterday", f.org, http.StatusUnprocessableEntity, "from"},
		{"an empty to", "/api/v1/analytics/dashboard?to=", f.org, http.StatusUnprocessableEntity, "to"},
		{"from after to", "/api/v1/analytics/dashboard?from=2026-02-02&to=2026-02-01", f.org, http.StatusUnprocessableEntity, "from"},
		{"a buyer", "/api/v1/analytics/dashboard", f.user, http.StatusForbidden, ""},
		{"anonymous", "/api/v1/analytics/dashboard", "", http.StatusUnauthorized, ""},
		{"an admin on anyone's event", "/api/v1/analytics/events/" + theirs.ID.String(), f.admin, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.a.Do("GET", tc.path, tc.token, nil)
			if res.Status != tc.want {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if tc.want >= 400 && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("Content-Type %q", res.Header.Get("Content-Type"))
			}
			if tc.field != "" && !strings.Contains(string(res.Body), `"`+tc.field+`"`) {
				t.Fatalf("problem does not name %s: %s", tc.field, res.Body)
			}
		})
	}

	res = f.a.Do("GET", csvPath, f.org, nil)
	if res.Status != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "attachment; filename=") {
		t.Fatalf("export: %d %v", res.Status, res.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "booking_id" || rows[1][2] != "confirmed" || rows[1][5] != "3000" {
		t.Fatalf("export rows %q, %v", rows, err)
	}
	res = f.a.Do("GET", "/api/v1/analytics/events/"+theirs.ID.String()+"/bookings.csv", f.org2, nil)
	if rows, _ := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll(); res.Status != http.StatusOK || len(rows) != 1 {
		t.Fatalf("an export without bookings: %d %q", res.Status, rows)
	}
}
