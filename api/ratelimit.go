package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/evently/evently"
)

// Route classes, each with its own rate budget.
const (
	ClassAuth     = "auth"
	ClassHolds    = "holds"
	ClassBookings = "bookings"
	ClassReads    = "reads"
)

// RateLimits are the shared rate limits: GCRA budgets kept in Redis, so
// every API instance draws from the same ones. A request spends from the
// budget of its route class under its user (when signed in) or else its
// client IP; login attempts also spend from a budget per IP and email.
type RateLimits struct {
	// Allow spends one request from the budget under key. Nil limits nothing.
	Allow func(ctx context.Context, key string, rate, burst int, period time.Duration) (RateDecision, error)
	// Budgets by route class; a missing class or a zero Rate is unlimited.
	Budgets map[string]Budget
	// Login is the budget of login attempts per client IP and email.
	Login Budget
	// TrustProxy takes the client IP from X-Forwarded-For / X-Real-IP; only
	// behind a proxy that sets them, since clients can forge them.
	TrustProxy bool
}

// Budget is Rate requests per Period, up to Burst at once (0: Rate).
type Budget struct {
	Rate   int
	Burst  int
	Period time.Duration
	// FailOpen lets requests through when Redis cannot answer; otherwise
	// they get 503. Reads fail open (losing the limit is better than losing
	// the site); auth, holds and bookings fail closed (brute-force guards;
	// holds and bookings need Redis anyway).
	FailOpen bool
}

// RateDecision is the limiter's answer for one request.
type RateDecision struct {
	Allowed    bool
	Limit      int
	Remaining  int
	RetryAfter time.Duration
	ResetAfter time.Duration
}

var (
	mLimited = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_rate_limited_total", Help: "Requests refused by a rate limit, by class.",
	}, []string{"class"})
	mLimiterErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_rate_limiter_errors_total", Help: "Rate-limit checks Redis could not answer, by class.",
	}, []string{"class"})
)

// limit applies the budget of one route class to each request.
func (s *Server) limit(class string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			subject := "ip:" + s.clientIP(r)
			if a, ok := ActorFrom(r.Context()); ok {
				subject = "user:" + a.UserID.String()
			}
			if !s.allow(w, r, class, class+":"+subject, s.Limits.Budgets[class]) {
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// allowLogin spends one login attempt for the client IP and email; the
// email is hashed so Redis holds no addresses.
func (s *Server) allowLogin(w http.ResponseWriter, r *http.Request, email string) bool {
	h := sha256.Sum256([]byte(strings.ToLower(email)))
	return s.allow(w, r, "login", "login:"+s.clientIP(r)+":"+hex.EncodeToString(h[:12]), s.Limits.Login)
}

// allow spends from budget b under key and sets the RateLimit headers. When
// the budget is spent it answers 429 and returns false.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, class, key string, b Budget) bool {
	if s.Limits.Allow == nil || b.Rate <= 0 {
		return true
	}
	burst, period := b.Burst, b.Period
	if burst <= 0 {
		burst = b.Rate
	}
	if period <= 0 {
		period = time.Minute
	}
	// A slow Redis must not hold requests for its full timeout.
	ctx, cancel := context.WithTimeout(r.Context(), 500*time.Millisecond)
	defer cancel()
	d, err := s.Limits.Allow(ctx, key, b.Rate, burst, period)
	if err != nil {
		mLimiterErrors.WithLabelValues(class).Inc()
		if b.FailOpen {
			s.Logger.WarnContext(r.Context(), "rate limiter unavailable; letting the request through", "class", class, traceAttr(r), "err", err)
			return true
		}
		Error(w, r, &evently.Error{Code: evently.EUNAVAILABLE, Message: "Cannot check the rate limit right now; try again shortly.", RetryAfter: 1})
		return false
	}
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(d.Remaining, 0)))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.ResetAfter)))
	if d.Allowed {
		return true
	}
	mLimited.WithLabelValues(class).Inc()
	Error(w, r, &evently.Error{Code: evently.ERATELIMITED, RetryAfter: max(ceilSeconds(d.RetryAfter), 1),
		Message: "Too many requests; wait for the time in Retry-After."})
	return false
}

func ceilSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// clientIP is the address the request came from. Behind a trusted proxy
// (TrustProxy) it is the right-most X-Forwarded-For entry: the one the
// proxy appended for the peer it saw. Every entry to its left was sent by
// the client and can be anything, so it decides nothing. This assumes one
// proxy hop in front of Evently (a load balancer or ingress that appends
// to X-Forwarded-For); X-Real-IP is not read, since a proxy that does not
// set it passes the client's own through.
func (s *Server) clientIP(r *http.Request) string {
	if s.Limits.TrustProxy {
		if ip := rightmostForwarded(r.Header.Values("X-Forwarded-For")); ip != "" {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rightmostForwarded returns the last address of the X-Forwarded-For
// values (several headers count as one comma-separated list), or "" when
// it is missing or not an IP address.
func rightmostForwarded(values []string) string {
	if len(values) == 0 {
		return ""
	}
	list := values[len(values)-1]
	if i := strings.LastIndexByte(list, ','); i >= 0 {
		list = list[i+1:]
	}
	if ip := net.ParseIP(strings.TrimSpace(list)); ip != nil {
		return ip.String()
	}
	return ""
}
