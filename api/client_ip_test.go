package api_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest/apptest"
)

// Behind a trusted proxy the client IP is the right-most X-Forwarded-For
// entry (the one the proxy appended); a client that forges entries on the
// left cannot get a fresh per-IP budget.
func TestClientIPIsTheRightmostForwardedEntry(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) {
		c.Auth.TrustProxy, c.Auth.RateReads = true, 2
	}})
	tests := []struct {
		name    string
		headers [][2]string // X-Forwarded-For values, as the proxy passes them on
		want    int
	}{
		{"first request from 203.0.113.7", [][2]string{{"X-Forwarded-For", "198.51.100.1, 203.0.113.7"}}, http.StatusOK},
		{"forged left entry, same proxy-seen peer", [][2]string{{"X-Forwarded-For", "198.51.100.2, 203.0.113.7"}}, http.StatusOK},
		{"yet another forged entry: still that peer's budget", [][2]string{{"X-Forwarded-For", "10.9.9.9,203.0.113.7"}}, http.StatusTooManyRequests},
		{"two headers: the last one's last entry", [][2]string{{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-For", "192.0.2.99"}}, http.StatusOK},
		{"another peer has its own budget", [][2]string{{"X-Forwarded-For", "203.0.113.7, 192.0.2.50"}}, http.StatusOK},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", a.URL+"/api/v1/events", nil)
		for _, h := range tt.headers {
			req.Header.Add(h[0], h[1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		apptest.Contract(t, req, res.StatusCode, res.Header, body)
		if res.StatusCode != tt.want {
			t.Fatalf("%s: %d, want %d", tt.name, res.StatusCode, tt.want)
		}
	}
}
