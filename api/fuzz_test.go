package api_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest/apptest"
)

// handlerRoutes are the catalog, identity, hold, webhook and inbox routes the fuzzer
// drives; {event}, {draft} and {venue} become real ids.
var handlerRoutes = []struct{ method, path string }{
	{"GET", "/api/v1/venues"},
	{"GET", "/api/v1/venues/{venue}"},
	{"POST", "/api/v1/venues"},
	{"PATCH", "/api/v1/venues/{venue}"},
	{"DELETE", "/api/v1/venues/{venue}"},
	{"GET", "/api/v1/events"},
	{"GET", "/api/v1/events/popular"},
	{"GET", "/api/v1/events/{event}"},
	{"GET", "/api/v1/events/{event}/seats"},
	{"POST", "/api/v1/events"},
	{"PATCH", "/api/v1/events/{draft}"},
	{"POST", "/api/v1/events/{draft}/publish"},
	{"POST", "/api/v1/events/{event}/holds"},
	{"GET", "/api/v1/holds/{event}"},
	{"DELETE", "/api/v1/holds/{event}"},
	{"POST", "/api/v1/auth/register"},
	{"POST", "/api/v1/auth/login"},
	{"POST", "/api/v1/auth/refresh"},
	{"GET", "/api/v1/me"},
	{"PATCH", "/api/v1/me"},
	{"POST", "/api/v1/webhooks"},
	{"GET", "/api/v1/webhooks"},
	{"DELETE", "/api/v1/webhooks/{event}"},
	{"GET", "/api/v1/webhooks/{event}/deliveries"},
	{"POST", "/api/v1/webhooks/{event}/deliveries/{event}/retry"},
	{"GET", "/api/v1/notifications"},
	{"POST", "/api/v1/notifications/{event}/read"},
	{"POST", "/api/v1/notifications/read-all"},
	{"POST", "/api/v1/events/{event}/waitlist"},
	{"GET", "/api/v1/waitlist"},
	{"GET", "/api/v1/waitlist/{event}"},
	{"DELETE", "/api/v1/waitlist/{event}"},
	{"GET", "/api/v1/analytics/dashboard"},
	{"GET", "/api/v1/analytics/events/{event}"},
	{"GET", "/api/v1/analytics/events/{event}/bookings.csv"},
}

// handlerSeeds are hostile inputs of every kind: NUL, invalid UTF-8, huge
// and non-finite numbers, long strings, wrong types.
var handlerSeeds = []struct{ query, body string }{
	{"q=%00", ""},
	{"city=%00&category=%ff", ""},
	{"limit=99999999999999999999&cursor=%00", ""},
	{"seats=true&limit=-1&cursor=" + strings.Repeat("A", 3000), ""},
	{"section=%00&status=%ff", ""},
	{"from=9999-99-99&to=NaN", ""},
	{"", `{"name":"x\u0000","time_zone":"UTC","layout":{"sections":[{"name":"A","x":1e308,"rows":[{"label":"A","seats":2,"offset":1e308}]}]}}`},
	{"", `{"name":"x","time_zone":"UTC","layout":{"sections":[{"name":"A","x":1e400,"row_count":1,"seats_per_row":1}]}}`},
	{"", `{"name":"x","time_zone":"UTC","layout":{"sections":[{"name":"A","x":NaN}]}}`},
	{"", `{"name":"x","time_zone":"UTC","layout":{"sections":[{"name":"A","y":"Infinity","row_count":1e20}]}}`},
	{"", `{"venue_id":"` + strings.Repeat("9", 40) + `","title":1,"tiers":[{"price_cents":1e30}]}`},
	{"", `{"title":"` + strings.Repeat("é", 30000) + `"}`},
	{"", "{\"title\":\"\xff\xfe\",\"starts_at\":\"2026-13-45T99:99:99Z\"}"},
	{"", `{"seat_ids":[null,1,{"a":[]},"\u0000","` + strings.Repeat("x", 5000) + `"]}`},
	{"", `{"seat_ids":"A-1"}`},
	{"", `{"email":"\u0000@x.io","password":"\u0000"}`},
	{"", `{"refresh_token":` + strings.Repeat("[", 5000) + `}`},
	{"", `{"full_name":{"$gt":""},"password":-0.0e-400}`},
	{"", `[1e999]`},
	{"", `{"url":"http://[::1]:99999999/\u0000","events":["*",null,1]}`},
	{"", `{"url":"https://` + strings.Repeat("a.", 1500) + `com/","events":["booking.confirmed"]}`},
	{"", `{"url":"http://0x7f.1/","events":["` + strings.Repeat("*", 3000) + `"]}`},
}

// No request to a catalog, identity, hold or webhook handler, however malformed,
// gets a 5xx other than 503, an answer that is not problem+json, or
// internals. The seed corpus runs with every go test; `make fuzz` explores
// further for a bounded time (CI runs it from `make test`).
func FuzzHandlers(f *testing.F) {
	for i, s := range handlerSeeds {
		for r := range handlerRoutes {
			if (r+i)%3 == 0 {
				f.Add(uint8(r), s.query, s.body, uint8(i))
			}
		}
	}
	a := apptest.Start(f, apptest.Options{})
	fx := catalogFixtureFor(f, a)
	f.Fuzz(func(t *testing.T, route uint8, query, body string, who uint8) {
		rt := handlerRoutes[int(route)%len(handlerRoutes)]
		path := strings.NewReplacer("{event}", fx.event, "{draft}", fx.draft, "{venue}", fx.venue).Replace(rt.path)
		if query != "" {
			path += "?" + query
		}
		if _, err := url.Parse(a.URL + path); err != nil || strings.ContainsFunc(query, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
			// Not a request a client could send: a space or control byte in
			// the request line is refused by net/http before any handler.
			return
		}
		auth := ""
		if tok := fx.tokens[int(who)%len(fx.tokens)]; tok != "" {
			auth = "Bearer " + tok
		}
		res := send(t, a.URL, rt.method, path, body, "application/json", auth)
		checkAnswer(t, a, res, rt.method+" "+path, body, "application/json", auth)
	})
}

type fuzzFixture struct {
	event, draft, venue string
	tokens              []string
}

// catalogFixtureFor makes a venue, a draft and a published event owned by
// an organizer, and tokens for nobody, a user, that organizer and an admin.
func catalogFixtureFor(tb testing.TB, a *apptest.App) fuzzFixture {
	tb.Helper()
	_, user := a.User(evently.RoleUser)
	_, org := a.User(evently.RoleOrganizer)
	_, admin := a.User(evently.RoleAdmin)
	res := a.Do("POST", "/api/v1/venues", org, smallVenue("Fuzz Hall"))
	var v evently.Venue
	res.JSON(tb, &v)
	body := map[string]any{
		"venue_id": v.ID.String(), "title": "Fuzz Night", "starts_at": "2099-01-01T20:00:00Z", "ends_at": "2099-01-01T23:00:00Z",
		"tiers": []any{map[string]any{"name": "All", "price_cents": 100, "sections": []string{"ORCH", "BALC"}}},
	}
	var draft, event evently.Event
	a.Do("POST", "/api/v1/events", org, body).JSON(tb, &draft)
	a.Do("POST", "/api/v1/events", org, body).JSON(tb, &event)
	if res := a.Do("POST", "/api/v1/events/"+event.ID.String()+"/publish", org, nil); res.Status != 200 {
		tb.Fatalf("publish: %d %s", res.Status, res.Body)
	}
	return fuzzFixture{event: event.ID.String(), draft: draft.ID.String(), venue: v.ID.String(),
		tokens: []string{"", user, org, admin}}
}
