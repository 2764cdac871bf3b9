package api_test

import (
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
}

// roleFixtures fill path placeholders with a fresh resource per request.
var roleFixtures = map[string]func(a *apptest.App) string{
	"{user}": func(a *apptest.App) string { id, _ := a.User(evently.RoleUser); return id.String() },
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
				res := a.Do(rc.method, path, token, rc.body)
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
