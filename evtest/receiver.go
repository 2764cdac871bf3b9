package evtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently"
)

// Receiver is a webhook receiver of one test, on a real HTTP server: it
// verifies every delivery's signature with evently.VerifySignature, as a
// receiver should, and counts attempts and successful deliveries per
// notification id. It can fail the first attempts of each notification, or
// all of them, to drive the retries.
type Receiver struct {
	URL string

	mu        sync.Mutex
	secret    string
	failFirst int
	failAll   bool
	attempts  map[uuid.UUID]int
	delivered map[uuid.UUID]int
	bodies    map[uuid.UUID]evently.WebhookBody
	headers   map[uuid.UUID]http.Header
	refused   int
}

// NewReceiver starts a receiver that closes when the test ends. Set its
// secret (SetSecret) once the webhook is made.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{attempts: map[uuid.UUID]int{}, delivered: map[uuid.UUID]int{},
		bodies: map[uuid.UUID]evently.WebhookBody{}, headers: map[uuid.UUID]http.Header{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/hooks"
	return r
}

// SetSecret sets the secret deliveries must be signed with.
func (r *Receiver) SetSecret(s string) { r.mu.Lock(); r.secret = s; r.mu.Unlock() }

// FailFirst answers 500 to the first n attempts of each notification.
func (r *Receiver) FailFirst(n int) { r.mu.Lock(); r.failFirst = n; r.mu.Unlock() }

// FailAll answers 500 to every attempt while on.
func (r *Receiver) FailAll(on bool) { r.mu.Lock(); r.failAll = on; r.mu.Unlock() }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || evently.VerifySignature(r.secret, req.Header.Get(evently.SignatureHeader), body, time.Now(), 5*time.Minute) != nil {
		r.refused++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var b evently.WebhookBody
	if err := json.Unmarshal(body, &b); err != nil || b.ID == uuid.Nil {
		r.refused++
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.attempts[b.ID]++
	if r.failAll || r.attempts[b.ID] <= r.failFirst {
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	r.delivered[b.ID]++
	r.bodies[b.ID], r.headers[b.ID] = b, req.Header.Clone()
	w.WriteHeader(http.StatusNoContent)
}

// Attempts is how many correctly signed attempts of notification id came.
func (r *Receiver) Attempts(id uuid.UUID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[id]
}

// Delivered is how many attempts of notification id were answered 2xx.
func (r *Receiver) Delivered(id uuid.UUID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delivered[id]
}

// Body is the delivered body of notification id, and its request headers.
func (r *Receiver) Body(id uuid.UUID) (evently.WebhookBody, http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[id], r.headers[id]
}

// Refused counts requests with a bad signature or body.
func (r *Receiver) Refused() int { r.mu.Lock(); defer r.mu.Unlock(); return r.refused }
