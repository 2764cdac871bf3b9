// Package paysim is a payment gateway simulator: an HTTP server that charges
// and refunds test cards the way a real gateway does, closely enough for the
// payment saga to be tested and load-tested against it. It keeps every charge
// and refund in memory (it is a simulator) and exposes them as a ledger that
// a reconciliation can read.
//
// What it models:
//
//   - Idempotency keys (the Idempotency-Key header, required on writes): the
//     same key returns the same result and never charges twice; the same key
//     with a different body is 422; the same key while its first request is
//     still being processed is 409.
//   - Test tokens: tok_visa and tok_ok succeed; tok_decline (insufficient
//     funds) and tok_expired decline; tok_error always answers 500; tok_slow
//     hangs longer than a client's timeout and then succeeds, so the charge
//     happens although the client gave up; anything else is 422.
//   - Behaviour knobs for load tests: log-normal latency (p50, p99), a rate of
//     transient 503s decided before anything is charged (a retry is safe), a
//     rate of requests that hang and then charge, and an outage switch.
//
// A charge the gateway has accepted but not finished is visible as "pending"
// (lookups and the ledger show it), as a real gateway's "processing" state
// is: a client that timed out can tell "still in progress" from "never
// arrived".
package paysim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Statuses of charges and refunds.
const (
	StatusPending   = "pending"   // accepted, still being processed
	StatusSucceeded = "succeeded" // money moved
	StatusDeclined  = "declined"  // the card network said no (charges only)
)

// Kinds of ledger entries.
const (
	KindCharge = "charge"
	KindRefund = "refund"
)

// Decline codes.
const (
	DeclineInsufficientFunds = "insufficient_funds"
	DeclineExpiredCard       = "expired_card"
)

// Test tokens.
const (
	TokenVisa    = "tok_visa"
	TokenOK      = "tok_ok"
	TokenDecline = "tok_decline"
	TokenExpired = "tok_expired"
	TokenError   = "tok_error"
	TokenSlow    = "tok_slow"
)

// Behaviour is what the simulator does to every request, switchable at run
// time through POST /admin/behaviour.
type Behaviour struct {
	// LatencyP50Ms and LatencyP99Ms shape a log-normal latency added to
	// charges, refunds and charge lookups. p99 <= p50 means a constant p50.
	LatencyP50Ms int `json:"latency_ms_p50"`
	LatencyP99Ms int `json:"latency_ms_p99"`
	// ErrorRate is the share of requests answered 503 before anything is
	// charged: a retry with the same key is safe.
	ErrorRate float64 `json:"error_rate"`
	// TimeoutRate is the share of accepted charges and refunds that hang for
	// Options.SlowDelay (longer than a client's timeout) and then happen.
	TimeoutRate float64 `json:"timeout_rate"`
	// Outage answers every request (but /admin and /healthz) 503 at once.
	Outage bool `json:"outage"`
}

// Validate reports what is wrong with b, or nil.
func (b Behaviour) Validate() error {
	var errs []string
	if b.LatencyP50Ms < 0 || b.LatencyP99Ms < 0 {
		errs = append(errs, "latencies must not be negative")
	}
	if b.ErrorRate < 0 || b.ErrorRate > 1 || math.IsNaN(b.ErrorRate) {
		errs = append(errs, "error_rate must be between 0 and 1")
	}
	if b.TimeoutRate < 0 || b.TimeoutRate > 1 || math.IsNaN(b.TimeoutRate) {
		errs = append(errs, "timeout_rate must be between 0 and 1")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Options configure a Server.
type Options struct {
	Behaviour Behaviour
	// Seed makes ids, latencies and injected faults reproducible; 0 picks one
	// at random.
	Seed uint64
	// SlowDelay is how long tok_slow and TimeoutRate requests hang before
	// they complete; 0 means 5s, longer than the gateway client's 2s default.
	SlowDelay time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger logs each charge and refund at debug level; nil discards.
	Logger *slog.Logger
}

// Charge is a charge as the gateway answers it.
type Charge struct {
	ID             string    `json:"id"`
	Status         string    `json:"status"`
	AmountCents    int64     `json:"amount_cents"`
	RefundedCents  int64     `json:"refunded_cents"`
	Currency       string    `json:"currency"`
	Reference      string    `json:"reference"`
	DeclineCode    string    `json:"decline_code,omitempty"`
	IdempotencyKey string    `json:"idempotency_key"`
	CreatedAt      time.Time `json:"created_at"`
}

// Refund is a refund as the gateway answers it.
type Refund struct {
	ID             string    `json:"id"`
	ChargeID       string    `json:"charge_id"`
	Status         string    `json:"status"`
	AmountCents    int64     `json:"amount_cents"`
	Currency       string    `json:"currency"`
	Reference      string    `json:"reference"`
	IdempotencyKey string    `json:"idempotency_key"`
	CreatedAt      time.Time `json:"created_at"`
}

// LedgerEntry is one charge or refund in GET /ledger.
type LedgerEntry struct {
	ID             string    `json:"id"`
	Kind           string    `json:"kind"`
	ChargeID       string    `json:"charge_id,omitempty"` // refunds: what they refund
	Reference      string    `json:"reference"`
	IdempotencyKey string    `json:"idempotency_key"`
	AmountCents    int64     `json:"amount_cents"`
	Currency       string    `json:"currency"`
	Status         string    `json:"status"`
	DeclineCode    string    `json:"decline_code,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// APIError is the body of every error answer.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes in APIError.Code.
const (
	CodeInvalidRequest     = "invalid_request"
	CodeInvalidToken       = "invalid_token"
	CodeIdempotencyMissing = "idempotency_key_missing"
	CodeIdempotencyReused  = "idempotency_key_reused"      // same key, different body: 422
	CodeIdempotencyBusy    = "idempotency_key_in_progress" // same key while the first is processing: 409
	CodeNotFound           = "not_found"
	CodeRefundTooLarge     = "refund_exceeds_charge" // 422
	CodeChargeNotRefunded  = "charge_not_refundable" // declined or still pending: 409
	CodeProcessingError    = "processing_error"      // tok_error: 500
	CodeUnavailable        = "service_unavailable"   // injected faults and outages: 503
)

// Server is the simulator; it is an http.Handler.
type Server struct {
	mux       *http.ServeMux
	slowDelay time.Duration
	now       func() time.Time
	log       *slog.Logger
	closing   chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	behaviour Behaviour
	rng       *rand.Rand
	seq       int64
	charges   map[string]*Charge // by id
	refunds   map[string]*Refund // by id
	order     []ledgerRef        // every charge and refund in creation order
	keys      map[string]*idem   // by idempotency key (charges and refunds share one space)
}

type ledgerRef struct {
	kind string
	id   string
}

// idem is what an idempotency key has seen: the request's fingerprint, and
// the saved answer once the first request finished.
type idem struct {
	fingerprint string
	done        bool
	status      int
	body        []byte
	kind        string
	id          string
}

// New returns a simulator.
func New(o Options) *Server {
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	if o.SlowDelay <= 0 {
		o.SlowDelay = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		mux:       http.NewServeMux(),
		slowDelay: o.SlowDelay,
		now:       o.Now,
		log:       o.Logger,
		closing:   make(chan struct{}),
		behaviour: o.Behaviour,
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		charges:   map[string]*Charge{},
		refunds:   map[string]*Refund{},
		keys:      map[string]*idem{},
	}
	s.mux.HandleFunc("POST /charges", s.gate(s.createCharge))
	s.mux.HandleFunc("GET /charges", s.gate(s.findCharge))
	s.mux.HandleFunc("GET /charges/{id}", s.gate(s.getCharge))
	s.mux.HandleFunc("POST /refunds", s.gate(s.createRefund))
	s.mux.HandleFunc("GET /refunds/{id}", s.gate(s.getRefund))
	s.mux.HandleFunc("GET /ledger", s.gate(s.ledger))
	s.mux.HandleFunc("GET /admin/behaviour", s.getBehaviour)
	s.mux.HandleFunc("POST /admin/behaviour", s.setBehaviour)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close ends every hang at once (the hanging requests complete, as they
// would have later), so a shutdown need not wait for SlowDelay. Idempotent.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closing) }) }

// Behaviour returns the current behaviour.
func (s *Server) Behaviour() Behaviour {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.behaviour
}

// SetBehaviour replaces the behaviour.
func (s *Server) SetBehaviour(b Behaviour) error {
	if err := b.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.behaviour = b
	s.mu.Unlock()
	return nil
}

// Ledger returns every charge and refund in creation order; reference, when
// not empty, keeps only that reference's entries.
func (s *Server) Ledger(reference string) []LedgerEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []LedgerEntry{}
	for _, ref := range s.order {
		var e LedgerEntry
		if ref.kind == KindCharge {
			c := s.charges[ref.id]
			e = LedgerEntry{ID: c.ID, Kind: KindCharge, Reference: c.Reference, IdempotencyKey: c.IdempotencyKey,
				AmountCents: c.AmountCents, Currency: c.Currency, Status: c.Status, DeclineCode: c.DeclineCode, CreatedAt: c.CreatedAt}
		} else {
			r := s.refunds[ref.id]
			e = LedgerEntry{ID: r.ID, Kind: KindRefund, ChargeID: r.ChargeID, Reference: r.Reference, IdempotencyKey: r.IdempotencyKey,
				AmountCents: r.AmountCents, Currency: r.Currency, Status: r.Status, CreatedAt: r.CreatedAt}
		}
		if reference == "" || e.Reference == reference {
			out = append(out, e)
		}
	}
	return out
}

// gate applies the outage switch, then the latency, then the injected
// transient errors, all before the handler touches any state.
func (s *Server) gate(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b := s.behaviour
		var latency time.Duration
		fail := false
		if !b.Outage && r.URL.Path != "/ledger" {
			latency = s.latencyLocked(b)
			fail = b.ErrorRate > 0 && s.rng.Float64() < b.ErrorRate
		}
		s.mu.Unlock()
		if b.Outage {
			writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "The gateway is down.")
			return
		}
		s.sleep(latency)
		if fail {
			writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "Temporary failure; nothing was charged. Retry.")
			return
		}
		h(w, r)
	}
}

// latencyLocked draws a latency: log-normal with the configured median and
// 99th percentile.
func (s *Server) latencyLocked(b Behaviour) time.Duration {
	if b.LatencyP50Ms <= 0 {
		return 0
	}
	p50 := float64(b.LatencyP50Ms)
	if b.LatencyP99Ms <= b.LatencyP50Ms {
		return time.Duration(p50 * float64(time.Millisecond))
	}
	const z99 = 2.3263478740408408 // standard normal 99th percentile
	sigma := (math.Log(float64(b.LatencyP99Ms)) - math.Log(p50)) / z99
	ms := math.Exp(math.Log(p50) + sigma*s.rng.NormFloat64())
	return time.Duration(ms * float64(time.Millisecond))
}

// sleep waits d, or less when the server closes. Requests never stop early
// because their client left: the gateway finishes what it accepted.
func (s *Server) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.closing:
	}
}

type chargeBody struct {
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	Token       string `json:"token"`
	Reference   string `json:"reference"`
}

type refundBody struct {
	ChargeID    string `json:"charge_id"`
	AmountCents int64  `json:"amount_cents"`
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

func (s *Server) createCharge(w http.ResponseWriter, r *http.Request) {
	key, raw, ok := readWrite(w, r)
	if !ok {
		return
	}
	var body chargeBody
	if !decodeStrict(w, raw, &body) {
		return
	}
	body.Currency = strings.ToUpper(body.Currency)
	var problems []string
	if body.AmountCents <= 0 {
		problems = append(problems, "amount_cents must be positive")
	}
	if !currencyRE.MatchString(body.Currency) {
		problems = append(problems, "currency must be a three-letter code")
	}
	if body.Reference == "" {
		problems = append(problems, "reference is required")
	}
	if body.Token == "" {
		problems = append(problems, "token is required")
	}
	if len(problems) > 0 {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, strings.Join(problems, "; "))
		return
	}
	fp := fingerprint("charge", body.AmountCents, body.Currency, body.Token, body.Reference)

	s.mu.Lock()
	if s.replayLocked(w, key, fp) {
		s.mu.Unlock()
		return
	}
	status, decline := StatusSucceeded, ""
	switch body.Token {
	case TokenVisa, TokenOK, TokenSlow:
	case TokenDecline:
		status, decline = StatusDeclined, DeclineInsufficientFunds
	case TokenExpired:
		status, decline = StatusDeclined, DeclineExpiredCard
	case TokenError:
		s.mu.Unlock()
		writeError(w, http.StatusInternalServerError, CodeProcessingError, "The gateway failed to process the charge; nothing was charged.")
		return
	default:
		s.mu.Unlock()
		writeError(w, http.StatusUnprocessableEntity, CodeInvalidToken, "The token is not a valid payment method.")
		return
	}
	hang := body.Token == TokenSlow || s.timeoutLocked()
	c := &Charge{ID: s.newIDLocked("ch"), Status: StatusPending, AmountCents: body.AmountCents, Currency: body.Currency,
		Reference: body.Reference, IdempotencyKey: key, CreatedAt: s.now().UTC()}
	s.charges[c.ID] = c
	s.order = append(s.order, ledgerRef{KindCharge, c.ID})
	s.keys[key] = &idem{fingerprint: fp, kind: KindCharge, id: c.ID}
	s.mu.Unlock()

	if hang {
		s.sleep(s.slowDelay)
	}

	s.mu.Lock()
	c.Status, c.DeclineCode = status, decline
	out := s.saveLocked(key, http.StatusCreated, *c)
	s.mu.Unlock()
	s.log.Debug("charge", "id", c.ID, "reference", c.Reference, "status", status, "amount_cents", c.AmountCents, "hung", hang)
	writeRaw(w, http.StatusCreated, out)
}

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) {
	key, raw, ok := readWrite(w, r)
	if !ok {
		return
	}
	var body refundBody
	if !decodeStrict(w, raw, &body) {
		return
	}
	if body.ChargeID == "" || body.AmountCents <= 0 {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "charge_id is required and amount_cents must be positive")
		return
	}
	fp := fingerprint("refund", body.ChargeID, body.AmountCents)

	s.mu.Lock()
	if s.replayLocked(w, key, fp) {
		s.mu.Unlock()
		return
	}
	c, found := s.charges[body.ChargeID]
	switch {
	case !found:
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, CodeNotFound, "No such charge.")
		return
	case c.Status != StatusSucceeded:
		s.mu.Unlock()
		writeError(w, http.StatusConflict, CodeChargeNotRefunded, fmt.Sprintf("The charge is %s; only a succeeded charge can be refunded.", c.Status))
		return
	case c.RefundedCents+body.AmountCents > c.AmountCents:
		s.mu.Unlock()
		writeError(w, http.StatusUnprocessableEntity, CodeRefundTooLarge,
			fmt.Sprintf("Refunding %d would exceed the charge: %d of %d already refunded.", body.AmountCents, c.RefundedCents, c.AmountCents))
		return
	}
	hang := s.timeoutLocked()
	// The amount is taken off the charge at once, so two refunds in flight
	// can never exceed it together.
	c.RefundedCents += body.AmountCents
	rf := &Refund{ID: s.newIDLocked("re"), ChargeID: c.ID, Status: StatusPending, AmountCents: body.AmountCents,
		Currency: c.Currency, Reference: c.Reference, IdempotencyKey: key, CreatedAt: s.now().UTC()}
	s.refunds[rf.ID] = rf
	s.order = append(s.order, ledgerRef{KindRefund, rf.ID})
	s.keys[key] = &idem{fingerprint: fp, kind: KindRefund, id: rf.ID}
	s.mu.Unlock()

	if hang {
		s.sleep(s.slowDelay)
	}

	s.mu.Lock()
	rf.Status = StatusSucceeded
	out := s.saveLocked(key, http.StatusCreated, *rf)
	s.mu.Unlock()
	s.log.Debug("refund", "id", rf.ID, "charge", c.ID, "amount_cents", rf.AmountCents, "hung", hang)
	writeRaw(w, http.StatusCreated, out)
}

// replayLocked answers a request whose key was seen before and reports
// whether it did: the saved answer, 422 for a different body, 409 while the
// first request is still processing.
func (s *Server) replayLocked(w http.ResponseWriter, key, fp string) bool {
	k, seen := s.keys[key]
	switch {
	case !seen:
		return false
	case k.fingerprint != fp:
		writeError(w, http.StatusUnprocessableEntity, CodeIdempotencyReused, "This idempotency key was used with a different request.")
	case !k.done:
		writeError(w, http.StatusConflict, CodeIdempotencyBusy, "A request with this idempotency key is still being processed; retry later.")
	default:
		writeRaw(w, k.status, k.body)
	}
	return true
}

func (s *Server) saveLocked(key string, status int, v any) []byte {
	b, _ := json.Marshal(v)
	k := s.keys[key]
	k.done, k.status, k.body = true, status, b
	return b
}

func (s *Server) timeoutLocked() bool {
	return s.behaviour.TimeoutRate > 0 && s.rng.Float64() < s.behaviour.TimeoutRate
}

func (s *Server) newIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s_%06d%08x", prefix, s.seq, s.rng.Uint32())
}

func (s *Server) findCharge(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("idempotency_key")
	if key == "" {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "idempotency_key is required")
		return
	}
	s.mu.Lock()
	var c *Charge
	if k, ok := s.keys[key]; ok && k.kind == KindCharge {
		c = s.charges[k.id]
	}
	var out Charge
	if c != nil {
		out = *c
	}
	s.mu.Unlock()
	if c == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "No charge with this idempotency key.")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getCharge(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c, ok := s.charges[r.PathValue("id")]
	var out Charge
	if ok {
		out = *c
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, "No such charge.")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRefund(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rf, ok := s.refunds[r.PathValue("id")]
	var out Refund
	if ok {
		out = *rf
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, "No such refund.")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) ledger(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"entries": s.Ledger(r.URL.Query().Get("reference"))})
}

func (s *Server) getBehaviour(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Behaviour())
}

// setBehaviour changes the fields present in the body and keeps the others.
func (s *Server) setBehaviour(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "unreadable body")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.behaviour
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "malformed JSON: "+err.Error())
		return
	}
	if err := b.Validate(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, CodeInvalidRequest, err.Error())
		return
	}
	s.behaviour = b
	writeJSON(w, http.StatusOK, b)
}

// readWrite reads a write request's idempotency key and body, answering
// the error itself when it returns false.
func readWrite(w http.ResponseWriter, r *http.Request) (key string, body []byte, ok bool) {
	key = strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if key == "" {
		writeError(w, http.StatusBadRequest, CodeIdempotencyMissing, "The Idempotency-Key header is required.")
		return "", nil, false
	}
	if len(key) > 255 {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "The Idempotency-Key header is longer than 255 characters.")
		return "", nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "unreadable body")
		return "", nil, false
	}
	return key, body, true
}

func decodeStrict(w http.ResponseWriter, raw []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "malformed JSON: "+err.Error())
		return false
	}
	return true
}

func fingerprint(parts ...any) string {
	b, _ := json.Marshal(parts)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, CodeProcessingError, "encode: "+err.Error())
		return
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(APIError{Code: code, Message: msg})
	writeRaw(w, status, b)
}
