// Package gateway is the payment gateway client the payment worker uses: a
// per-attempt timeout, bounded jittered retries of what is safe to retry, and
// a circuit breaker so that an outage fails fast. It speaks the HTTP API of
// the simulator in package paysim (charges, refunds, lookups by idempotency
// key, the ledger), which is shaped like a real gateway's.
//
// Every call ends in one Outcome:
//
//   - Charged / Refunded: the money moved.
//   - Declined: the card network said no (DeclineCode says why); final.
//   - Rejected: the gateway refused the request as invalid (a refund larger
//     than the charge, an idempotency key reused with another body); final,
//     and a bug or a data problem rather than a payment result.
//   - Unavailable: the gateway could not be reached or answered 5xx/429 on
//     every attempt, or the breaker is open. Nothing was charged.
//   - Unknown: an attempt may have reached the gateway and no answer came
//     (a timeout). The charge may or may not have happened: resolve it with
//     FindCharge, or repeat the call with the same idempotency key, before
//     deciding anything.
//   - NotFound (FindCharge only): the gateway has no charge under that key.
//
// Idempotency keys come from the booking (ChargeKey, RefundKey), so a
// redelivered request never charges twice.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/sony/gobreaker/v2"
)

// Outcome is what became of a call.
type Outcome string

// Outcomes.
const (
	Charged     Outcome = "charged"
	Refunded    Outcome = "refunded"
	Declined    Outcome = "declined"
	Rejected    Outcome = "rejected"
	Unavailable Outcome = "unavailable"
	Unknown     Outcome = "unknown"
	NotFound    Outcome = "not_found"
)

// Errors, for errors.Is on the error a call returns.
var (
	// ErrUnavailable: nothing was charged; try again later.
	ErrUnavailable = errors.New("payment gateway unavailable")
	// ErrBreakerOpen: the breaker is open (or half-open and busy); the call
	// did not reach the gateway. It wraps ErrUnavailable.
	ErrBreakerOpen = fmt.Errorf("%w: circuit breaker open", ErrUnavailable)
	// ErrUnknown: the outcome is not known; resolve before deciding.
	ErrUnknown = errors.New("payment outcome unknown")
	// ErrRejected: the gateway refused the request as invalid.
	ErrRejected = errors.New("payment request rejected")
	// ErrNotFound: no such charge.
	ErrNotFound = errors.New("payment not found")
)

// Decline codes. The gateway's own codes pass through; an invalid token is
// reported as a decline with CodeInvalidToken.
const (
	CodeInsufficientFunds = "insufficient_funds"
	CodeExpiredCard       = "expired_card"
	CodeInvalidToken      = "invalid_token"
)

// ChargeKey is the idempotency key of a booking's charge.
func ChargeKey(bookingID uuid.UUID) string { return "charge:" + bookingID.String() }

// RefundKey is the idempotency key of a booking's (full) refund.
func RefundKey(bookingID uuid.UUID) string { return "refund:" + bookingID.String() }

// ChargeRequest asks for a charge. IdempotencyKey defaults to
// ChargeKey(BookingID); the booking id is the charge's reference.
type ChargeRequest struct {
	BookingID      uuid.UUID
	AmountCents    int64
	Currency       string
	Token          string
	IdempotencyKey string
}

// RefundRequest asks to refund (part of) a charge. IdempotencyKey defaults
// to RefundKey(BookingID). ChargeID is the gateway's id of the charge
// (Result.ChargeID of the charge, or of FindCharge(ctx, ChargeKey(id))).
type RefundRequest struct {
	BookingID      uuid.UUID
	ChargeID       string
	AmountCents    int64
	IdempotencyKey string
}

// Result is what a call found out. Outcome is always set.
type Result struct {
	Outcome Outcome
	// ChargeID is the gateway's id of the charge (for refunds, of the
	// charge refunded); RefundID is set for refunds.
	ChargeID    string
	RefundID    string
	Status      string // the gateway's status: succeeded, declined, pending
	AmountCents int64
	Currency    string
	DeclineCode string // Declined: why
	Code        string // Rejected: the gateway's error code
	Attempts    int    // HTTP attempts made (0 when the breaker refused at once)
}

// Final reports whether the outcome is settled (not Unavailable or Unknown).
func (r Result) Final() bool { return r.Outcome != Unavailable && r.Outcome != Unknown }

// LedgerEntry is one charge or refund in the gateway's ledger.
type LedgerEntry struct {
	ID             string    `json:"id"`
	Kind           string    `json:"kind"`                // charge or refund
	ChargeID       string    `json:"charge_id,omitempty"` // refunds: the charge refunded
	Reference      string    `json:"reference"`           // the booking id
	IdempotencyKey string    `json:"idempotency_key"`
	AmountCents    int64     `json:"amount_cents"`
	Currency       string    `json:"currency"`
	Status         string    `json:"status"` // pending, succeeded, declined
	DeclineCode    string    `json:"decline_code,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// Ledger entry kinds and statuses.
const (
	KindCharge = "charge"
	KindRefund = "refund"

	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusDeclined  = "declined"
)

// Options configure a Client. Zero values take the defaults.
type Options struct {
	// Name labels the breaker's metrics; default "gateway". Give each
	// client in one process its own.
	Name string
	// Timeout bounds one HTTP attempt; default 2s.
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one call; default 5.
	MaxAttempts int
	// InitialBackoff and MaxBackoff shape the jittered exponential backoff
	// between attempts; defaults 50ms and 1s (±50% jitter, doubling).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// The breaker opens when the calls in BreakerWindow (default 10s)
	// failed at BreakerFailureRatio (default 0.7) or more, and either
	// BreakerFailures (default 10) failed in a row or there were at least
	// BreakerMinRequests (default 20) of them.
	BreakerFailures     int
	BreakerMinRequests  int
	BreakerFailureRatio float64
	BreakerWindow       time.Duration
	// BreakerTimeout is how long the breaker stays open before letting
	// probes through (half-open); default 5s.
	BreakerTimeout time.Duration
	// BreakerProbes is how many successes in half-open close it again (and
	// how many probes may be in flight); default 3.
	BreakerProbes int
	// HTTPClient sends the requests; default a client with pooled
	// connections and no overall timeout (Timeout applies per attempt).
	HTTPClient *http.Client
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "gateway"
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Second
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 10
	}
	if o.BreakerMinRequests <= 0 {
		o.BreakerMinRequests = 20
	}
	if o.BreakerFailureRatio <= 0 {
		o.BreakerFailureRatio = 0.7
	}
	if o.BreakerWindow <= 0 {
		o.BreakerWindow = 10 * time.Second
	}
	if o.BreakerTimeout <= 0 {
		o.BreakerTimeout = 5 * time.Second
	}
	if o.BreakerProbes <= 0 {
		o.BreakerProbes = 3
	}
	if o.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		o.HTTPClient = &http.Client{Transport: t}
	}
}

// BreakerState is the breaker's state.
type BreakerState = gobreaker.State

// Breaker states.
const (
	BreakerClosed   = gobreaker.StateClosed
	BreakerHalfOpen = gobreaker.StateHalfOpen
	BreakerOpen     = gobreaker.StateOpen
)

// Client talks to one payment gateway. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	opts    Options
	http    *http.Client
	breaker *gobreaker.CircuitBreaker[reply]
}

// New returns a client for the gateway at baseURL (http://host:port).
func New(baseURL string, o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("payment gateway URL %q must be http(s)://host[:port]", baseURL)
	}
	o.defaults()
	c := &Client{base: u, opts: o, http: o.HTTPClient}
	c.breaker = gobreaker.NewCircuitBreaker[reply](gobreaker.Settings{
		Name:         o.Name,
		MaxRequests:  uint32(o.BreakerProbes),
		Interval:     o.BreakerWindow,
		BucketPeriod: o.BreakerWindow / 10,
		Timeout:      o.BreakerTimeout,
		// Both rules need the window's failure ratio: under concurrency a
		// gateway failing 30% of calls still shows a run of ten failures
		// now and then, and that alone must not stop every charge.
		ReadyToTrip: func(n gobreaker.Counts) bool {
			if n.Requests == 0 || float64(n.TotalFailures)/float64(n.Requests) < o.BreakerFailureRatio {
				return false
			}
			return n.ConsecutiveFailures >= uint32(o.BreakerFailures) || n.Requests >= uint32(o.BreakerMinRequests)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			breakerState.WithLabelValues(name).Set(float64(to))
			breakerChanges.WithLabelValues(name, from.String(), to.String()).Inc()
		},
		// The gateway answering "busy with this key" is healthy.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, errInProgress) },
		// The caller giving up says nothing about the gateway.
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
	})
	breakerState.WithLabelValues(o.Name).Set(float64(BreakerClosed))
	return c, nil
}

// BreakerState returns the breaker's state now (an open breaker whose
// timeout passed reports half-open).
func (c *Client) BreakerState() BreakerState { return c.breaker.State() }

// Charge charges a booking. The Outcome is always set; err is nil for
// Charged and Declined and explains the others (errors.Is with
// ErrUnavailable, ErrBreakerOpen, ErrUnknown, ErrRejected).
func (c *Client) Charge(ctx context.Context, req ChargeRequest) (Result, error) {
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = ChargeKey(req.BookingID)
	}
	body := map[string]any{
		"amount_cents": req.AmountCents,
		"currency":     req.Currency,
		"token":        req.Token,
		"reference":    req.BookingID.String(),
	}
	rep, attempts, err := c.call(ctx, opCharge, http.MethodPost, "/charges", req.IdempotencyKey, body)
	res, err := chargeResult(rep, err)
	res.Attempts = attempts
	chargeOutcomes.WithLabelValues(string(res.Outcome)).Inc()
	return res, err
}

// Refund refunds (part of) a charge. The Outcome is always set; err is nil
// for Refunded and explains the others.
func (c *Client) Refund(ctx context.Context, req RefundRequest) (Result, error) {
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = RefundKey(req.BookingID)
	}
	body := map[string]any{"charge_id": req.ChargeID, "amount_cents": req.AmountCents}
	rep, attempts, err := c.call(ctx, opRefund, http.MethodPost, "/refunds", req.IdempotencyKey, body)
	res, err := refundResult(rep, err)
	res.Attempts = attempts
	refundOutcomes.WithLabelValues(string(res.Outcome)).Inc()
	return res, err
}

// FindCharge looks a charge up by its idempotency key: how a caller
// resolves an Unknown outcome. Charged or Declined are final; NotFound means
// the gateway never accepted a request with that key; a charge the gateway
// is still processing comes back Unknown (ErrUnknown): look again shortly.
func (c *Client) FindCharge(ctx context.Context, idempotencyKey string) (Result, error) {
	q := url.Values{"idempotency_key": {idempotencyKey}}
	rep, attempts, err := c.call(ctx, opFind, http.MethodGet, "/charges?"+q.Encode(), "", nil)
	var res Result
	switch {
	case err == nil && rep.status == http.StatusNotFound:
		res, err = Result{Outcome: NotFound}, fmt.Errorf("%w: no charge with idempotency key %q", ErrNotFound, idempotencyKey)
	default:
		res, err = chargeResult(rep, err)
	}
	res.Attempts = attempts
	if res.Outcome == Unknown && err == nil {
		err = fmt.Errorf("%w: charge %s is still pending", ErrUnknown, res.ChargeID)
	}
	return res, err
}

// Ledger returns every charge and refund the gateway knows of.
func (c *Client) Ledger(ctx context.Context) ([]LedgerEntry, error) {
	rep, _, err := c.call(ctx, opLedger, http.MethodGet, "/ledger", "", nil)
	if err != nil {
		return nil, err
	}
	if rep.status != http.StatusOK {
		return nil, fmt.Errorf("payment gateway ledger: %d %s", rep.status, rep.apiErr.Message)
	}
	var out struct {
		Entries []LedgerEntry `json:"entries"`
	}
	if err := json.Unmarshal(rep.body, &out); err != nil {
		return nil, fmt.Errorf("payment gateway ledger: %w", err)
	}
	return out.Entries, nil
}

// Operations, for metrics.
const (
	opCharge = "charge"
	opRefund = "refund"
	opFind   = "find"
	opLedger = "ledger"
)

// reply is an HTTP answer the gateway gave.
type reply struct {
	status int
	body   []byte
	apiErr apiError
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type wireCharge struct {
	ID          string `json:"id"`
	ChargeID    string `json:"charge_id"`
	Status      string `json:"status"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	DeclineCode string `json:"decline_code"`
}

// Attempt errors. Only these come out of one attempt; a reply with a
// definitive status (2xx, 4xx) is no error for the retry loop or breaker.
var (
	errInProgress = errors.New("gateway busy with this idempotency key")
	errCallerGone = errors.New("caller gave up")
)

// attemptError is a failed attempt: retryable unless permanent.
type attemptError struct {
	status  int   // the gateway's 5xx/429/409, or 0 for a transport error
	reached bool  // the request was written: it may have been processed
	timeout bool  // the attempt's timeout passed
	err     error // cause
}

func (e *attemptError) Error() string {
	switch {
	case e.status != 0:
		return fmt.Sprintf("gateway answered %d: %v", e.status, e.err)
	case e.timeout:
		return fmt.Sprintf("no answer within the timeout: %v", e.err)
	}
	return e.err.Error()
}

func (e *attemptError) Unwrap() error { return e.err }

// call runs one operation: attempts through the breaker with backoff
// between them. It returns the gateway's definitive reply, or an error
// wrapping ErrUnavailable, ErrBreakerOpen or ErrUnknown.
func (c *Client) call(ctx context.Context, op, method, path, key string, body any) (reply, int, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return reply{}, 0, err
		}
	}
	// A POST that timed out may have been processed: retrying it is safe
	// (same key) but would only meet the same slow charge, so the caller
	// resolves instead. Lookups are safe to repeat.
	write := method == http.MethodPost
	attempts := 0
	mayHaveReached := false
	var last error
	b := &backoff.ExponentialBackOff{
		InitialInterval:     c.opts.InitialBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         c.opts.MaxBackoff,
	}
	rep, err := backoff.Retry(ctx, func() (reply, error) {
		rep, err := c.breaker.Execute(func() (reply, error) {
			attempts++
			return c.attempt(ctx, op, method, path, key, payload)
		})
		if err == nil {
			return rep, nil
		}
		last = err
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			return rep, backoff.Permanent(err)
		}
		var ae *attemptError
		if errors.As(err, &ae) {
			// A request written without an answer, or a key the gateway
			// is still busy with, may end in a charge.
			if (ae.reached && ae.status == 0) || errors.Is(err, errInProgress) {
				mayHaveReached = true
			}
			if ae.timeout && write {
				return rep, backoff.Permanent(err)
			}
		}
		if errors.Is(err, errCallerGone) {
			return rep, backoff.Permanent(err)
		}
		return rep, err
	},
		backoff.WithBackOff(b),
		backoff.WithMaxTries(uint(c.opts.MaxAttempts)),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(error, time.Duration) { retries.WithLabelValues(op).Inc() }),
	)
	if err == nil {
		return rep, attempts, nil
	}
	if last == nil { // the context ended before the first attempt
		last = err
	}
	switch {
	case write && mayHaveReached:
		return reply{}, attempts, fmt.Errorf("%w: %s %s: %w", ErrUnknown, op, key, last)
	case errors.Is(last, gobreaker.ErrOpenState) || errors.Is(last, gobreaker.ErrTooManyRequests):
		return reply{}, attempts, fmt.Errorf("%w (%s)", ErrBreakerOpen, op)
	default:
		return reply{}, attempts, fmt.Errorf("%w: %s after %d attempts: %w", ErrUnavailable, op, attempts, last)
	}
}

// attempt sends one HTTP request with its own timeout.
func (c *Client) attempt(ctx context.Context, op, method, path, key string, payload []byte) (reply, error) {
	if err := ctx.Err(); err != nil {
		return reply{}, &attemptError{err: fmt.Errorf("%w: %w", errCallerGone, err)}
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var written atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { written.Store(true) },
	})
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, method, c.base.String()+path, rd)
	if err != nil {
		return reply{}, backoff.Permanent(err)
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	var rep reply
	if err == nil {
		rep.status = resp.StatusCode
		limit := int64(4 << 20)
		if op == opLedger {
			limit = 1 << 30 // the whole ledger: a reconciliation reads every charge
		}
		rep.body, err = io.ReadAll(io.LimitReader(resp.Body, limit))
		resp.Body.Close()
	}
	if err != nil {
		ae := &attemptError{reached: written.Load(), err: err}
		switch {
		case ctx.Err() != nil:
			ae.err = fmt.Errorf("%w: %w", errCallerGone, ctx.Err())
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			ae.timeout = true
		}
		latency.WithLabelValues(op, classify(ae)).Observe(time.Since(start).Seconds())
		return reply{}, ae
	}
	latency.WithLabelValues(op, strconv.Itoa(rep.status/100)+"xx").Observe(time.Since(start).Seconds())
	if rep.status >= 300 {
		_ = json.Unmarshal(rep.body, &rep.apiErr)
	}
	switch {
	case rep.status >= 500 || rep.status == http.StatusTooManyRequests:
		return rep, &attemptError{status: rep.status, err: fmt.Errorf("%s: %s", rep.apiErr.Code, rep.apiErr.Message)}
	case rep.status == http.StatusConflict && rep.apiErr.Code == "idempotency_key_in_progress":
		return rep, &attemptError{status: rep.status, err: errInProgress}
	}
	return rep, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func classify(ae *attemptError) string {
	switch {
	case errors.Is(ae.err, errCallerGone):
		return "cancelled"
	case ae.timeout:
		return "timeout"
	}
	return "network"
}

// chargeResult reads a charge reply (POST /charges or a lookup).
func chargeResult(rep reply, err error) (Result, error) {
	if err != nil {
		return failedResult(err), err
	}
	switch {
	case rep.status == http.StatusOK || rep.status == http.StatusCreated:
		var ch wireCharge
		if err := json.Unmarshal(rep.body, &ch); err != nil {
			err = fmt.Errorf("%w: undecodable charge: %w", ErrUnknown, err)
			return Result{Outcome: Unknown}, err
		}
		res := Result{ChargeID: ch.ID, Status: ch.Status, AmountCents: ch.AmountCents, Currency: ch.Currency, DeclineCode: ch.DeclineCode}
		switch ch.Status {
		case StatusSucceeded:
			res.Outcome = Charged
		case StatusDeclined:
			res.Outcome = Declined
		default:
			res.Outcome = Unknown
		}
		return res, nil
	case rep.status == http.StatusUnprocessableEntity && rep.apiErr.Code == CodeInvalidToken:
		return Result{Outcome: Declined, DeclineCode: CodeInvalidToken}, nil
	}
	return rejected(rep)
}

// refundResult reads a POST /refunds reply.
func refundResult(rep reply, err error) (Result, error) {
	if err != nil {
		return failedResult(err), err
	}
	if rep.status == http.StatusCreated || rep.status == http.StatusOK {
		var rf wireCharge
		if err := json.Unmarshal(rep.body, &rf); err != nil {
			return Result{Outcome: Unknown}, fmt.Errorf("%w: undecodable refund: %w", ErrUnknown, err)
		}
		res := Result{Outcome: Refunded, RefundID: rf.ID, ChargeID: rf.ChargeID, Status: rf.Status, AmountCents: rf.AmountCents, Currency: rf.Currency}
		if rf.Status != StatusSucceeded {
			res.Outcome = Unknown
			return res, fmt.Errorf("%w: refund %s is %s", ErrUnknown, rf.ID, rf.Status)
		}
		return res, nil
	}
	return rejected(rep)
}

func failedResult(err error) Result {
	if errors.Is(err, ErrUnknown) {
		return Result{Outcome: Unknown}
	}
	return Result{Outcome: Unavailable}
}

func rejected(rep reply) (Result, error) {
	return Result{Outcome: Rejected, Code: rep.apiErr.Code},
		fmt.Errorf("%w: gateway answered %d %s: %s", ErrRejected, rep.status, rep.apiErr.Code, rep.apiErr.Message)
}
