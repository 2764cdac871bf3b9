package api_test

import (
	"net/http"
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
