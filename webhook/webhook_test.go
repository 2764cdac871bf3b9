package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evently/evently"
	"github.com/evently/evently/webhook"
)

func TestSendSignsAndReportsTheAnswer(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"x","type":"booking.confirmed","created_at":"2026-01-01T00:00:00Z","data":{}}`)
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := evently.VerifySignature("whsec_s", r.Header.Get(evently.SignatureHeader), b, time.Now(), time.Minute); err != nil ||
			r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != webhook.UserAgent ||
			r.Header.Get(webhook.DeliveryHeader) != "d-1" || r.Header.Get(webhook.TypeHeader) != "booking.confirmed" || string(b) != string(body) {
			t.Errorf("request: %s %v %s (%v)", r.Method, r.Header, b, err)
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	c := webhook.New(webhook.Options{Timeout: 2 * time.Second, AllowPrivate: true})
	post := webhook.Post{URL: srv.URL, Secret: "whsec_s", DeliveryID: "d-1", Type: "booking.confirmed", Body: body}
	if r := c.Send(context.Background(), post); !r.OK() || r.StatusCode != 200 || r.Err != nil {
		t.Fatalf("2xx: %+v", r)
	}
	status.Store(http.StatusServiceUnavailable)
	if r := c.Send(context.Background(), post); r.OK() || r.StatusCode != 503 || r.Err == nil {
		t.Fatalf("503: %+v", r)
	}
}

// A redirect is an answer, not an instruction: its target hears nothing.
func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var reached atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Store(true) }))
	defer target.Close()
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	c := webhook.New(webhook.Options{Timeout: 2 * time.Second, AllowPrivate: true})
	r := c.Send(context.Background(), webhook.Post{URL: srv.URL, Secret: "s", Body: []byte(`{}`)})
	if r.OK() || r.StatusCode != http.StatusTemporaryRedirect || reached.Load() {
		t.Fatalf("redirect: %+v, target reached %v", r, reached.Load())
	}
}

func TestSendTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c := webhook.New(webhook.Options{Timeout: 200 * time.Millisecond, AllowPrivate: true})
	start := time.Now()
	r := c.Send(context.Background(), webhook.Post{URL: srv.URL, Secret: "s", Body: []byte(`{}`)})
	if r.Err == nil || r.StatusCode != 0 || time.Since(start) > 2*time.Second {
		t.Fatalf("slow receiver: %+v after %v", r, time.Since(start))
	}
}

// The dialer refuses a private address itself, whatever the URL said when
// the webhook was made.
func TestSendRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	var reached atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Store(true) }))
	defer srv.Close()
	c := webhook.New(webhook.Options{Timeout: 2 * time.Second})
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		r := c.Send(context.Background(), webhook.Post{URL: u, Secret: "s", Body: []byte(`{}`)})
		if r.Err == nil || !strings.Contains(r.Err.Error(), "not public") || reached.Load() {
			t.Fatalf("%s: %+v, reached %v", u, r, reached.Load())
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	strict := webhook.New(webhook.Options{})
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"https://93.184.216.34/hooks", true},
		{"https://[2606:4700:4700::1111]/hooks", true},
		{"http://127.0.0.1:8080/hooks", false},
		{"http://localhost/hooks", false},
		{"http://LOCALHOST./hooks", false},
		{"http://[::1]/hooks", false},
		{"http://[::ffff:127.0.0.1]/hooks", false},
		{"http://[::ffff:a00:1]/hooks", false},
		{"http://10.0.0.1/hooks", false},
		{"http://172.16.5.4/hooks", false},
		{"http://192.168.0.10/hooks", false},
		{"http://169.254.169.254/latest/meta-data", false},
		{"http://0.0.0.0/hooks", false},
		{"http://[::]/hooks", false},
		{"http://[fe80::1%25eth0]/hooks", false},
		{"http://[fd00::1]/hooks", false},
		{"http://224.0.0.1/hooks", false},
		{"http://[ff02::1]/hooks", false},
		{"http://no-such-host.invalid/hooks", false},
	} {
		err := strict.CheckURL(context.Background(), c.url)
		if (err == nil) != c.ok {
			t.Errorf("CheckURL(%s) = %v, want ok %v", c.url, err, c.ok)
		}
		if e := evently.AsError(err); err != nil && (e == nil || e.Code != evently.EINVALID || e.Fields["url"] == "") {
			t.Errorf("CheckURL(%s) = %v, want invalid naming url", c.url, err)
		}
	}
	dev := webhook.New(webhook.Options{AllowPrivate: true})
	for _, u := range []string{"http://127.0.0.1:8080/hooks", "http://localhost/hooks", "http://[::1]/hooks"} {
		if err := dev.CheckURL(context.Background(), u); err != nil {
			t.Errorf("allowed private: CheckURL(%s) = %v", u, err)
		}
	}
}
