package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/evently/evently/api"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest/apptest"
)

// Two API instances on one Redis share every budget: the request past the
// budget gets 429 whichever instance it reaches.
func TestRateLimitAcrossInstances(t *testing.T) {
	t.Parallel()
	limits := func(c *app.Config) { c.Auth.RateLogin, c.Auth.RateReads = 3, 4 }
	a1 := apptest.Start(t, apptest.Options{Configure: limits})
	a2 := apptest.Start(t, apptest.Options{Configure: limits, Share: a1})
	acc := registerAccount(t, a1)
	instances := []*apptest.App{a1, a2, a1}

	check429 := func(t *testing.T, res apptest.Response, limit string) {
		t.Helper()
		if res.Status != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429: %s", res.Status, res.Body)
		}
		if p := problemOf(t, res); p.Code != "rate_limited" {
			t.Fatalf("code %q", p.Code)
		}
		ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 60 {
			t.Fatalf("Retry-After %q", res.Header.Get("Retry-After"))
		}
		if res.Header.Get("RateLimit-Limit") != limit || res.Header.Get("RateLimit-Remaining") != "0" || res.Header.Get("RateLimit-Reset") == "" {
			t.Fatalf("RateLimit headers %v", res.Header)
		}
	}

	t.Run("login attempts per IP and email", func(t *testing.T) {
		for i, a := range instances {
			res := loginJSON(a, acc.email, "Wrong-password-1")
			if res.Status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d %s", i+1, res.Status, res.Body)
			}
			if got, want := res.Header.Get("RateLimit-Remaining"), strconv.Itoa(2-i); got != want {
				t.Fatalf("attempt %d: remaining %q, want %s", i+1, got, want)
			}
		}
		check429(t, loginJSON(a2, acc.email, acc.password), "3") // even the right password waits
		// Another email from the same IP has its own budget.
		if res := loginJSON(a2, "someone-else@example.com", "Wrong-password-1"); res.Status != http.StatusUnauthorized {
			t.Fatalf("other email: %d", res.Status)
		}
	})

	t.Run("reads per user", func(t *testing.T) {
		_, other := a1.User("user")
		for i, a := range []*apptest.App{a1, a2, a1, a2} {
			if res := a.Do("GET", "/api/v1/me", acc.AccessToken, nil); res.Status != http.StatusOK {
				t.Fatalf("read %d: %d %s", i+1, res.Status, res.Body)
			}
		}
		check429(t, a2.Do("GET", "/api/v1/me", acc.AccessToken, nil), "4")
		if res := a1.Do("GET", "/api/v1/me", other, nil); res.Status != http.StatusOK {
			t.Fatalf("another user's reads: %d", res.Status)
		}
	})
}

// When Redis cannot answer, reads go through and auth routes answer 503.
func TestRateLimiterDown(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) { c.Auth.RateAuth, c.Auth.RateReads = 5, 5 }})
	acc := registerAccount(t, a)
	s := *a.Server // a second instance whose limiter is down
	s.Limits.Allow = func(context.Context, string, int, int, time.Duration) (api.RateDecision, error) {
		return api.RateDecision{}, errors.New("redis: connection refused")
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	get := func(path, token string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		apptest.Contract(t, req, res.StatusCode, res.Header, body)
		return res
	}
	if res := get("/api/v1/me", acc.AccessToken); res.StatusCode != http.StatusOK {
		t.Fatalf("read with the limiter down: %d", res.StatusCode)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/auth/refresh", nil)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	apptest.Contract(t, req, res.StatusCode, res.Header, body)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("auth with the limiter down: %d %v", res.StatusCode, res.Header)
	}
}
