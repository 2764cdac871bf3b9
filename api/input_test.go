package api_test

import (
	"strings"
	"testing"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest/apptest"
)

// Text reaching PostgreSQL is checked in one place: no request with
// invalid UTF-8, NUL, overlong text or an unusable number gets past it,
// whatever the route, and each answer is a 422 naming the field.
func TestInputGate(t *testing.T) {
	t.Parallel()
	f := newCatalogFixture(t)
	huge := func(x any) map[string]any {
		v := smallVenue("Huge")
		v["layout"] = map[string]any{"sections": []any{
			map[string]any{"name": "A", "x": x, "rows": []any{map[string]any{"label": "A", "seats": 2, "offset": 1e308}}},
		}}
		return v
	}
	tests := []struct {
		name, method, path, token string
		body                      any
		field                     string
	}{
		{"NUL in q", "GET", "/api/v1/events?q=%00", "", nil, "q"},
		{"NUL in city", "GET", "/api/v1/events?city=%00", "", nil, "city"},
		{"invalid UTF-8 in category", "GET", "/api/v1/events?category=%ff%fe", "", nil, "category"},
		{"overlong cursor", "GET", "/api/v1/events?cursor=" + strings.Repeat("a", 5000), "", nil, "cursor"},
		{"NUL in a venue cursor", "GET", "/api/v1/venues?cursor=%00", "", nil, "cursor"},
		{"a parameter given twice", "GET", "/api/v1/notifications?limit=&limit=5", f.org, nil, "limit"},
		{"a parameter given twice, both valid", "GET", "/api/v1/events?limit=5&limit=5", "", nil, "limit"},
		{"NUL in a path segment", "POST", "/api/v1/admin/dlq/a%00b/replay", "", nil, "path"},
		{"invalid UTF-8 in a stored header", "GET", "/api/v1/events", "", nil, ""},
		{"NUL in a venue name", "POST", "/api/v1/venues", f.org, func() any { v := smallVenue("x\u0000y"); return v }(), "name"},
		{"invalid UTF-8 in a venue city", "POST", "/api/v1/venues", f.org,
			[]byte(`{"name":"Bad","city":"Lon` + "\xff" + `don","time_zone":"Europe/London","layout":{"sections":[{"name":"A","row_count":1,"seats_per_row":1}]}}`), "city"},
		{"NUL in a nested seat label", "POST", "/api/v1/venues", f.org,
			[]byte(`{"name":"Bad","time_zone":"Europe/London","layout":{"sections":[{"name":"A\u0000","row_count":1,"seats_per_row":1}]}}`), "layout.sections[0].name"},
		{"overlong description", "POST", "/api/v1/events", f.org, f.eventBody(func(b map[string]any) { b["description"] = strings.Repeat("é", 20_000) }), "description"},
		{"seat coordinate that overflows", "POST", "/api/v1/venues", f.org, huge(1e308), "layout.sections[0].x"},
		{"coordinate beyond the plane", "POST", "/api/v1/venues", f.org, func() any {
			v := smallVenue("Far")
			v["layout"] = map[string]any{"sections": []any{map[string]any{"name": "A", "x": 5e6, "row_count": 1, "seats_per_row": 1}}}
			return v
		}(), "layout.sections[0]"},
		{"number beyond float64", "POST", "/api/v1/venues", f.org,
			[]byte(`{"name":"Bad","time_zone":"Europe/London","layout":{"sections":[{"name":"A","x":1e400,"row_count":1,"seats_per_row":1}]}}`), ""},
		{"integer beyond int64", "POST", "/api/v1/events", f.org, []byte(`{"tiers":[{"name":"x","price_cents":1e30,"sections":["A"]}]}`), ""},
		{"NUL in a password", "POST", "/api/v1/auth/register", "", map[string]any{"email": "nul@example.com", "password": "abc\u0000defghijk1", "full_name": "N"}, "password"},
		{"NUL in an email", "POST", "/api/v1/auth/login", "", map[string]any{"email": "a\u0000@example.com", "password": "x"}, "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res apptest.Response
			if tt.name == "invalid UTF-8 in a stored header" {
				res = f.a.Do(tt.method, tt.path, tt.token, tt.body, "Idempotency-Key", "k\xff")
				tt.field = "Idempotency-Key"
			} else {
				res = f.a.Do(tt.method, tt.path, tt.token, tt.body)
			}
			if res.Status != 422 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("%d %s %s", res.Status, res.Header.Get("Content-Type"), res.Body)
			}
			p := problemOf(t, res)
			if p.Code != evently.EINVALID {
				t.Fatalf("code %q", p.Code)
			}
			if tt.field != "" {
				if _, ok := p.Errors[tt.field]; !ok {
					t.Fatalf("errors %v do not name %s", p.Errors, tt.field)
				}
			}
		})
	}
	// Nothing was written.
	var n int
	if err := f.a.DB.Get(&n, `SELECT count(*) FROM venues WHERE name <> 'Globe'`); err != nil || n != 0 {
		t.Fatalf("%d venues written (%v)", n, err)
	}
}
