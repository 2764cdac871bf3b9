package api_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
	"github.com/evently/evently/app"
	"github.com/evently/evently/evtest/apptest"
)

// pendingBooking submits a booking no worker will pick up: its stream stays
// open, showing "pending".
func pendingBooking(t *testing.T, a *apptest.App) (uuid.UUID, string) {
	t.Helper()
	event := a.Event(5)
	_, token := a.User(evently.RoleUser)
	res := a.Do("POST", "/api/v1/bookings", token, map[string]any{"event_id": event, "seat_ids": seatsOf(1)})
	if res.Status != 202 {
		t.Fatalf("submit: %d %s", res.Status, res.Body)
	}
	var b bookingBody
	res.JSON(t, &b)
	return b.ID, token
}

// openStream opens a booking stream and waits for its first event.
func openStream(t *testing.T, base string, booking uuid.UUID, token string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/bookings/"+booking.String()+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("stream: %d %s", res.StatusCode, b)
	}
	apptest.Contract(t, req, res.StatusCode, res.Header, nil) // the events are read below
	rd := bufio.NewReader(res.Body)
	for {
		line, err := rd.ReadString('\n')
		if err == nil && (line == "\n" || strings.HasPrefix(line, ":")) {
			continue // the opening comment, or a keep-alive
		}
		if err != nil || !strings.HasPrefix(line, "event: status") {
			t.Fatalf("first line %q: %v", line, err)
		}
		return res, rd
	}
}

// Beyond MaxStreamsPerUser concurrent streams a user gets 429, and a closed
// stream frees its slot.
func TestStreamsAreCappedPerUser(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) { c.MaxStreams = 3 }})
	booking, token := pendingBooking(t, a)
	var open []*http.Response
	for range 3 {
		res, _ := openStream(t, a.URL, booking, token)
		open = append(open, res)
	}
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	res := a.Do("GET", "/api/v1/bookings/"+booking.String()+"/events", token, nil)
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth stream: %d %s", res.Status, res.Body)
	}
	// Other users and other routes are not affected.
	if res := a.Do("GET", "/api/v1/bookings/"+booking.String(), token, nil); res.Status != 200 {
		t.Fatalf("plain read: %d", res.Status)
	}
	open[0].Body.Close()
	apptest.Eventually(t, "a slot frees when a stream closes", func() bool {
		req, _ := http.NewRequest("GET", a.URL+"/api/v1/bookings/"+booking.String()+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		if r.StatusCode == 200 {
			open = append(open, r)
			return true
		}
		r.Body.Close()
		return false
	})
}

// Shutdown ends open streams at once: one listener does not hold the
// drain for its full timeout.
func TestShutdownEndsOpenStreams(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	booking, token := pendingBooking(t, a)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() {
		served <- api.ServeListener(ctx, a.Deps.Log, ln, a.Server.Handler(), 20*time.Second, nil)
	}()
	stream, rd := openStream(t, "http://"+ln.Addr().String(), booking, token)
	defer stream.Body.Close()
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, rd); ended <- err }()
	start := time.Now()
	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown waited for the open stream")
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was not ended")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
}

// A stream answers its headers at once, before it has anything to tell:
// a client is not left waiting for the first heartbeat (15 s) to learn
// its stream is open.
func TestStreamsOpenAtOnce(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	booking, token := pendingBooking(t, a)
	_, quiet := a.User(evently.RoleUser)
	for _, c := range []struct{ name, path, token string }{
		{"a booking's events", "/api/v1/bookings/" + booking.String() + "/events", token},
		{"notifications, none yet", "/api/v1/notifications/stream", quiet},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", a.URL+c.path, nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("no answer before the first heartbeat: %v", err)
			}
			defer res.Body.Close()
			apptest.Contract(t, req, res.StatusCode, res.Header, nil)
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
			}
		})
	}
}

// A stream ends when the token that opened it stops holding: a logout, a
// logout everywhere, or the token's expiry. The client reconnects with a
// fresh token; one opened before a logout must not go on telling.
func TestStreamsEndWhenTheirTokenStopsHolding(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	tests := []struct {
		name string
		// open returns the token to open the stream with, and ends it.
		open func(t *testing.T) (token string, end func())
	}{
		{"logout", func(t *testing.T) (string, func()) {
			acc := registerAccount(t, a)
			p := loginPair(t, a, acc.email, acc.password)
			return p.AccessToken, func() {
				if res := a.Do("POST", "/api/v1/auth/logout", p.AccessToken, nil); res.Status != http.StatusNoContent {
					t.Fatalf("logout: %d %s", res.Status, res.Body)
				}
			}
		}},
		{"logout from another device", func(t *testing.T) (string, func()) {
			acc := registerAccount(t, a)
			p := loginPair(t, a, acc.email, acc.password)
			return p.AccessToken, func() {
				if res := a.Do("POST", "/api/v1/auth/logout-all", acc.AccessToken, nil); res.Status != http.StatusNoContent {
					t.Fatalf("logout-all: %d %s", res.Status, res.Body)
				}
			}
		}},
		{"expiry", func(t *testing.T) (string, func()) {
			acc := registerAccount(t, a)
			tk := *a.Server.Tokens
			// Issued long enough ago that it expires, leeway included, in 2 s.
			tk.Now = func() time.Time { return time.Now().Add(-tk.AccessTTL - tk.Leeway + 2*time.Second) }
			token, _, _, err := tk.Issue(acc.user.ID, evently.RoleUser)
			if err != nil {
				t.Fatal(err)
			}
			return token, func() {}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token, end := tc.open(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", a.URL+"/api/v1/notifications/stream", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("stream: %d", res.StatusCode)
			}
			ended := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, res.Body); close(ended) }()
			end()
			select {
			case <-ended:
			case <-time.After(30 * time.Second):
				t.Fatal("the stream outlived its token")
			}
			// Opening it again is refused.
			if again := a.Do("GET", "/api/v1/notifications/stream", token, nil); again.Status != http.StatusUnauthorized {
				t.Fatalf("reopen: %d", again.Status)
			}
		})
	}
}
