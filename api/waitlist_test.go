package api_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest/apptest"
)

// Every 4xx of the waitlist routes, and that a refused request changes
// nothing. The event's one seat is held, so it cannot seat anyone now.
func TestWaitlistBadInput(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	full, open := a.Event(1), a.Event(3)
	_, holder := a.User(evently.RoleUser)
	if res := a.Do("POST", "/api/v1/events/"+full.String()+"/holds", holder, map[string]any{"seat_ids": []string{"A-1"}}); res.Status != 201 {
		t.Fatalf("hold: %d %s", res.Status, res.Body)
	}
	_, me := a.User(evently.RoleUser)
	_, other := a.User(evently.RoleUser)
	_, admin := a.User(evently.RoleAdmin)
	draft := a.Event(1)
	if _, err := a.DB.Exec(`UPDATE events SET status = 'draft' WHERE id = $1`, draft); err != nil {
		t.Fatal(err)
	}
	join := func(event uuid.UUID) string { return "/api/v1/events/" + event.String() + "/waitlist" }

	res := a.Do("POST", join(full), me, map[string]any{"party_size": 1})
	if res.Status != 201 || res.Header.Get("Location") == "" {
		t.Fatalf("join: %d %s", res.Status, res.Body)
	}
	var e struct {
		ID       uuid.UUID `json:"id"`
		Status   string    `json:"status"`
		Position int       `json:"position"`
	}
	res.JSON(t, &e)
	if e.Status != "waiting" || e.Position != 1 {
		t.Fatalf("entry: %+v", e)
	}
	entry := "/api/v1/waitlist/" + e.ID.String()

	for _, c := range []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
		code         string
	}{
		{"no token", "POST", join(full), "", map[string]any{"party_size": 1}, 401, "unauthorized"},
		{"no token, list", "GET", "/api/v1/waitlist", "", nil, 401, "unauthorized"},
		{"unknown event", "POST", join(uuid.New()), other, map[string]any{"party_size": 1}, 404, "not_found"},
		{"unpublished event", "POST", join(draft), other, map[string]any{"party_size": 1}, 404, "not_found"},
		{"malformed event id", "POST", "/api/v1/events/nope/waitlist", other, map[string]any{"party_size": 1}, 404, "not_found"},
		{"party of 0", "POST", join(full), other, map[string]any{"party_size": 0}, 422, "invalid"},
		{"party of 11", "POST", join(full), other, map[string]any{"party_size": 11}, 422, "invalid"},
		{"no party size", "POST", join(full), other, map[string]any{}, 422, "invalid"},
		{"party size not a number", "POST", join(full), other, `{"party_size":"two"}`, 400, "malformed"},
		{"unknown tier", "POST", join(full), other, map[string]any{"party_size": 1, "tier": "gold"}, 422, "invalid"},
		{"unknown field", "POST", join(full), other, map[string]any{"party_size": 1, "seats": 2}, 400, "malformed"},
		{"seats on sale: book instead", "POST", join(open), other, map[string]any{"party_size": 2}, 409, "seats_available"},
		{"already waiting", "POST", join(full), me, map[string]any{"party_size": 2}, 409, "conflict"},
		{"someone else's entry", "GET", entry, other, nil, 404, "not_found"},
		{"someone else's leave", "DELETE", entry, other, nil, 404, "not_found"},
		{"unknown entry", "GET", "/api/v1/waitlist/" + uuid.NewString(), me, nil, 404, "not_found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := a.Do(c.method, c.path, c.token, c.body)
			var p problemBody
			if res.Status != c.status {
				t.Fatalf("%d %s, want %d", res.Status, res.Body, c.status)
			}
			res.JSON(t, &p)
			if p.Code != c.code {
				t.Errorf("code %q, want %q", p.Code, c.code)
			}
		})
	}
	if res := a.Do("GET", entry, admin, nil); res.Status != 200 {
		t.Fatalf("admin reads: %d %s", res.Status, res.Body)
	}
	var list struct {
		Items []struct {
			ID uuid.UUID `json:"id"`
		} `json:"items"`
	}
	a.Do("GET", "/api/v1/waitlist", me, nil).JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != e.ID {
		t.Fatalf("list: %+v", list)
	}
	if res := a.Do("DELETE", entry, me, nil); res.Status != 204 {
		t.Fatalf("leave: %d %s", res.Status, res.Body)
	}
	if res := a.Do("DELETE", entry, me, nil); res.Status != 409 {
		t.Fatalf("leave twice: %d %s", res.Status, res.Body)
	}
	// Left, the user may join again.
	if res := a.Do("POST", join(full), me, map[string]any{"party_size": 1}); res.Status != 201 {
		t.Fatalf("join again: %d %s", res.Status, res.Body)
	}
}
