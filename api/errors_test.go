package api_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/evently/evently/api"
	"github.com/evently/evently/evtest/apptest"
)

// Every failure is problem+json with a stable code and the request id.
func TestFailuresAreProblemJSON(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	tests := []struct {
		name, method, path, token string
		status                    int
		code                      string
	}{
		{"unknown route", "GET", "/api/v1/nowhere", "", http.StatusNotFound, "not_found"},
		{"wrong method", "DELETE", "/healthz", "", http.StatusMethodNotAllowed, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.Do(tt.method, tt.path, tt.token, nil)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			var p api.Problem
			res.JSON(t, &p)
			if p.Code != tt.code || p.Status != tt.status || p.RequestID == "" || p.Title == "" {
				t.Fatalf("problem %+v", p)
			}
			if strings.Contains(string(res.Body), "goroutine") {
				t.Fatal("stack trace leaked")
			}
		})
	}
}

func TestProbes(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml"} {
		if res := a.Do("GET", path, "", nil); res.Status != http.StatusOK {
			t.Errorf("%s: %d %s", path, res.Status, res.Body)
		}
	}
}

// A metric names a route as the contract does: /events/{id}, not the
// pattern that holds the id to a UUID.
func TestMetricsRouteLabel(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	a.Do("GET", "/api/v1/events/0b6f3c2e-6a8f-4b7e-9d51-3f4f1f7c2a10", "", nil)
	body := string(a.Do("GET", "/metrics", "", nil).Body)
	if want := `method="GET",route="/api/v1/events/{id}"`; !strings.Contains(body, want) {
		t.Errorf("no %s in /metrics", want)
	}
	if strings.Contains(body, "0-9a-f") {
		t.Error("a parameter's regexp in a metric label")
	}
}

// A 405 names the methods the path does answer (RFC 9110 Allow), in the
// same problem+json as every other failure.
func TestMethodNotAllowedListsAllow(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	id := "0b6f3c2e-6a8f-4b7e-9d51-3f4f1f7c2a10"
	tests := []struct {
		method, path, allow string
	}{
		{"DELETE", "/healthz", "GET"},
		{"POST", "/metrics", "GET"},
		{"GET", "/api/v1/auth/login", "POST"},
		{"PUT", "/api/v1/me", "GET, PATCH"},
		{"POST", "/api/v1/venues/" + id, "GET, PATCH, DELETE"},
		{"DELETE", "/api/v1/bookings", "GET, POST"},
		{"GET", "/api/v1/events/" + id + "/holds", "POST"},
		{"PUT", "/api/v1/holds/" + id, "GET, DELETE"},
		// A static route beside /events/{id}: its methods, not the id's.
		{"PATCH", "/api/v1/events/popular", "GET"},
		{"OPTIONS", "/api/v1/events/popular", "GET"},
		{"DELETE", "/api/v1/events/" + id, "GET, PATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := a.Do(tt.method, tt.path, "", nil)
			if res.Status != http.StatusMethodNotAllowed {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			if got := res.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			var p api.Problem
			res.JSON(t, &p)
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" || p.Code != "method_not_allowed" || !strings.Contains(p.Detail, tt.allow) {
				t.Errorf("%s %+v", ct, p)
			}
		})
	}

	// Every route: TRACE is served nowhere, so it answers 405 with an Allow
	// that lists exactly the methods the router registered for the route.
	byRoute := map[string][]string{}
	for op := range servedOperations(t, a.Server.Handler()) {
		method, route, _ := strings.Cut(op, " ")
		byRoute[route] = append(byRoute[route], method)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for route, methods := range byRoute {
		path := param.ReplaceAllString(route, id)
		res := a.Do("TRACE", path, "", nil)
		allow := strings.Split(res.Header.Get("Allow"), ", ")
		slices.Sort(allow)
		slices.Sort(methods)
		if res.Status != http.StatusMethodNotAllowed || !slices.Equal(allow, methods) {
			t.Errorf("TRACE %s: %d, Allow %q, want %q", path, res.Status, allow, methods)
		}
	}
}
