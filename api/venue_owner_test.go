package api_test

import (
	"net/http"
	"testing"
)

// An event freezes its venue, so only the venue's owner (or an admin) may
// put one on it: nobody can freeze another organizer's venue.
func TestEventsOnlyAtYourOwnVenue(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	own := f.venue(t, f.org2, smallVenue("Theirs"))
	mine := f.draft(t, f.org2, func(b map[string]any) { b["venue_id"] = own.ID.String() })
	tests := []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"another organizer's venue", "POST", "/api/v1/events", f.org2, f.eventBody(nil), http.StatusForbidden},
		{"moving an event onto another organizer's venue", "PATCH", "/api/v1/events/" + mine.ID.String(), f.org2,
			map[string]any{"venue_id": f.venueID.String()}, http.StatusForbidden},
		{"the owner", "POST", "/api/v1/events", f.org, f.eventBody(nil), http.StatusCreated},
		{"an admin", "POST", "/api/v1/events", f.admin, f.eventBody(nil), http.StatusCreated},
		{"editing an own event on an own venue", "PATCH", "/api/v1/events/" + mine.ID.String(), f.org2,
			map[string]any{"title": "Renamed"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := f.a.Do(tt.method, tt.path, tt.token, tt.body); res.Status != tt.want {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
	}
	// The refused draft did not freeze the venue: its owner can still change it.
	v := f.venue(t, f.org, smallVenue("Fresh"))
	if res := f.a.Do("POST", "/api/v1/events", f.org2, f.eventBody(func(b map[string]any) { b["venue_id"] = v.ID.String() })); res.Status != http.StatusForbidden {
		t.Fatalf("draft on someone else's venue: %d", res.Status)
	}
	if res := f.a.Do("PATCH", "/api/v1/venues/"+v.ID.String(), f.org, map[string]any{"name": "Still mine"}); res.Status != http.StatusOK {
		t.Fatalf("owner's change after the refused draft: %d %s", res.Status, res.Body)
	}
}
