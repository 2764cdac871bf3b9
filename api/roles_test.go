package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest/apptest"
)

// byRole is the expected status for each kind of caller.
type byRole struct{ anonymous, user, organizer, admin int }

// roleCase is one protected route. Placeholders such as {user} in the path
// are filled by roleFixtures; each area adds its rows (and fixtures) here.
type roleCase struct {
	method, path string
	body         any
	want         byRole
}

var roleCases = []roleCase{
	// Identity.
	{"GET", "/api/v1/me", nil, byRole{401, 200, 200, 200}},
	{"PATCH", "/api/v1/me", map[string]any{"full_name": "New Name"}, byRole{401, 200, 200, 200}},
	{"POST", "/api/v1/auth/logout", nil, byRole{401, 204, 204, 204}},
	{"POST", "/api/v1/auth/logout-all", nil, byRole{401, 204, 204, 204}},
	// Admin.
	{"GET", "/api/v1/admin/users", nil, byRole{401, 403, 403, 200}},
	{"PATCH", "/api/v1/admin/users/{user}", map[string]any{"role": "organizer"}, byRole{401, 403, 403, 200}},
	{"GET", "/api/v1/admin/audit", nil, byRole{401, 403, 403, 200}},
	{"GET", "/api/v1/admin/pipeline", nil, byRole{401, 403, 403, 200}},
	{"POST", "/api/v1/admin/dlq/booking.commands/replay", nil, byRole{401, 403, 403, 200}},
	// Bookings: anyone signed in may buy; only the owner or an admin may see
	// or change a booking or hold ({booking} and {hold} are someone else's).
	{"POST", "/api/v1/events/{event}/holds", map[string]any{"seat_ids": []string{"A-1"}}, byRole{401, 201, 201, 201}},
	{"POST", "/api/v1/bookings", map[string]any{"hold_id": "{hold}"}, byRole{401, 403, 403, 202}},
	{"GET", "/api/v1/holds/{hold}", nil, byRole{401, 403, 403, 200}},
	{"DELETE", "/api/v1/holds/{hold}", nil, byRole{401, 403, 403, 204}},
	{"GET", "/api/v1/bookings", nil, byRole{401, 200, 200, 200}},
	{"GET", "/api/v1/bookings/{booking}", nil, byRole{401, 403, 403, 200}},
	{"POST", "/api/v1/bookings/{booking}/cancel", nil, byRole{401, 403, 403, 202}},
	{"POST", "/api/v1/bookings/{booking}/confirm", map[string]any{"payment": map[string]any{"token": "tok_visa"}}, byRole{401, 403, 403, 403}},
	// Catalog: {event} belongs to another organizer.
	{"POST", "/api/v1/events/{event}/cancel", nil, byRole{401, 403, 403, 200}},
}

// roleFixtures fill path placeholders with a fresh resource per request.
var roleFixtures = map[string]func(a *apptest.App) string{
	"{user}":  func(a *apptest.App) string { id, _ := a.User(evently.RoleUser); return id.String() },
	"{event}": func(a *apptest.App) string { return a.Event(5).String() },
	"{hold}": func(a *apptest.App) string {
		owner, _ := a.User(evently.RoleUser)
		h, err := a.Server.Bookings.Holds.Take(context.Background(), a.Event(5), owner, []string{"A-2"})
		if err != nil {
			panic(err)
		}
		return h.ID.String()
	},
	"{booking}": func(a *apptest.App) string {
		owner, _ := a.User(evently.RoleUser)
		id := evently.NewID()
		if _, err := a.DB.Exec(`INSERT INTO bookings (id, user_id, event_id, status, expires_at) VALUES ($1, $2, $3, 'reserved', now() + interval '10 minutes')`,
			id, owner, a.Event(5)); err != nil {
			panic(err)
		}
		return id.String()
	},
}

func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	for _, rc := range roleCases {
		for _, caller := range []struct {
			name string
			role evently.Role // "" is anonymous
			want int
		}{
			{"anonymous", "", rc.want.anonymous},
			{"user", evently.RoleUser, rc.want.user},
			{"organizer", evently.RoleOrganizer, rc.want.organizer},
			{"admin", evently.RoleAdmin, rc.want.admin},
		} {
			t.Run(fmt.Sprintf("%s %s as %s", rc.method, rc.path, caller.name), func(t *testing.T) {
				t.Parallel()
				path := rc.path
				for ph, fill := range roleFixtures {
					if strings.Contains(path, ph) {
						path = strings.ReplaceAll(path, ph, fill(a))
					}
				}
				token := ""
				if caller.role != "" {
					_, token = a.User(caller.role) // fresh, so logout rows touch no one else
				}
				body := rc.body
				if m, ok := body.(map[string]any); ok {
					body = fillBody(a, m)
				}
				res := a.Do(rc.method, path, token, body)
				if res.Status != caller.want {
					t.Fatalf("status %d, want %d: %s", res.Status, caller.want, res.Body)
				}
				if res.Status == http.StatusUnauthorized && res.Header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			})
		}
	}
}

// fillBody replaces placeholder string values of a body with fixtures.
func fillBody(a *apptest.App, m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if str, ok := v.(string); ok {
			if fill, ok := roleFixtures[str]; ok {
				v = fill(a)
			}
		}
		out[k] = v
	}
	return out
}
