package api_test

import (
	"strings"
	"testing"

	"github.com/evently/evently"
)

// Holds are granted only inside the event's sales window, and the event
// says whether it is on sale.
func TestHoldsRespectTheSalesWindow(t *testing.T) {
	t.Parallel()
	a := newCatalogFixture(t).a
	_, token := a.User(evently.RoleUser)
	tests := []struct {
		name       string
		start, end string // SQL expressions, or "" for NULL
		status     int
		detail     string
		open       bool
	}{
		{"before sales open", "now() + interval '7 days'", "", 409, "Sales have not opened yet", false},
		{"after sales close", "now() - interval '2 days'", "now() - interval '1 day'", 409, "Sales have closed", false},
		{"inside the window", "now() - interval '1 day'", "now() + interval '1 day'", 201, "", true},
		{"no window: until the start", "", "", 201, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event := a.Event(5)
			start, end := "NULL", "NULL"
			if tt.start != "" {
				start = tt.start
			}
			if tt.end != "" {
				end = tt.end
			}
			if _, err := a.DB.Exec(`UPDATE events SET sales_start_at = `+start+`, sales_end_at = `+end+` WHERE id = $1`, event); err != nil {
				t.Fatal(err)
			}
			res := a.Do("POST", "/api/v1/events/"+event.String()+"/holds", token, map[string]any{"seat_ids": seatsOf(1)})
			if res.Status != tt.status {
				t.Fatalf("hold: %d %s", res.Status, res.Body)
			}
			if tt.detail != "" && !strings.Contains(problemOf(t, res).Detail, tt.detail) {
				t.Fatalf("detail: %s", res.Body)
			}
			var e struct {
				SalesOpen bool `json:"sales_open"`
			}
			a.Do("GET", "/api/v1/events/"+event.String(), "", nil).JSON(t, &e)
			if e.SalesOpen != tt.open {
				t.Fatalf("sales_open = %v", e.SalesOpen)
			}
		})
	}
}
