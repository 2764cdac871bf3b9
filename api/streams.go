package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/evently/evently"
)

// Requests come in two kinds. Ordinary ones get a deadline (RequestTimeout)
// on their context, so no database or Redis call outlives a client's
// patience or piles up behind a slow query; long polls (a booking's
// outcome, up to MaxWait) get MaxWait more, and DLQ replays 5 minutes. Streams (server-sent events)
// live as long as the client listens, so instead they:
//
//   - lose the server's read and write deadlines (http.ResponseController),
//     which would otherwise cut them after ReadTimeout/WriteTimeout;
//   - end at once when the server starts draining (see Serve): one open
//     stream must not hold a shutdown for the whole drain timeout;
//   - are capped per user (or per client IP when anonymous): beyond
//     MaxStreamsPerUser concurrent streams the next one gets 429.
//
// Which routes stream is decided here, by pattern, so that areas registering
// a stream route (the booking area's /bookings/{id}/events) need no change.

// streamRoutes are the routes that answer with text/event-stream.
var streamRoutes = []string{
	"/api/v1/bookings/{id}/events",
	"/api/v1/notifications/stream",
}

// slowRoutes are admin operations that may legitimately run past the
// request deadline (a DLQ replay of up to 10,000 messages); they get
// slowRequestTimeout instead.
var slowRoutes = []string{
	"/api/v1/admin/dlq/{topic}/replay",
}

const slowRequestTimeout = 5 * time.Minute

func matcher(method string, patterns []string) *chi.Mux {
	m := chi.NewMux()
	for _, p := range patterns {
		m.Method(method, p, http.NotFoundHandler())
	}
	return m
}

// longPollRoutes may wait for a booking's outcome without the client
// asking (EVENTLY_BOOKING_WAIT); any request with `Prefer: wait=N` or
// `?wait=N` may too. They get MaxWait on top of the request deadline, so
// the deadline never cuts a wait the API granted.
var longPollRoutes = []string{
	"/api/v1/bookings",
}

var (
	streamMatcher   = matcher(http.MethodGet, streamRoutes)
	slowMatcher     = matcher(http.MethodPost, slowRoutes)
	longPollMatcher = matcher(http.MethodPost, longPollRoutes)
)

// mayWait reports whether the request may long-poll.
func mayWait(r *http.Request) bool {
	if _, asked := preferWait(r, 0); asked || r.URL.Query().Has("wait") {
		return true
	}
	return r.Method == http.MethodPost && longPollMatcher.Match(chi.NewRouteContext(), r.Method, r.URL.Path)
}

// isStream reports whether the request is for a stream route.
func isStream(r *http.Request) bool {
	return r.Method == http.MethodGet && streamMatcher.Match(chi.NewRouteContext(), r.Method, r.URL.Path)
}

func isSlow(r *http.Request) bool {
	return r.Method == http.MethodPost && slowMatcher.Match(chi.NewRouteContext(), r.Method, r.URL.Path)
}

// Defaults of the request scope.
const (
	defaultRequestTimeout    = 10 * time.Second
	defaultMaxStreamsPerUser = 10
)

// streamCounts counts open streams per subject.
type streamCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *streamCounts) acquire(subject string, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	if c.n[subject] >= limit {
		return false
	}
	c.n[subject]++
	return true
}

func (c *streamCounts) release(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[subject]--; c.n[subject] <= 0 {
		delete(c.n, subject)
	}
}

// scope gives each request its deadline or, for streams, the stream
// treatment described above. It runs after authenticate, so it knows the
// user.
func (s *Server) scope(next http.Handler) http.Handler {
	if s.streams == nil {
		s.streams = &streamCounts{}
	}
	streams := s.streams
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isStream(r) {
			timeout := s.RequestTimeout
			if timeout <= 0 {
				timeout = defaultRequestTimeout
			}
			if mayWait(r) {
				timeout += MaxWait
			}
			if isSlow(r) {
				timeout = max(timeout, slowRequestTimeout)
			}
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		limit := s.MaxStreamsPerUser
		if limit <= 0 {
			limit = defaultMaxStreamsPerUser
		}
		subject := "ip:" + s.clientIP(r)
		if a, ok := ActorFrom(r.Context()); ok {
			subject = "user:" + a.UserID.String()
		}
		if !streams.acquire(subject, limit) {
			Error(w, r, &evently.Error{Code: evently.ERATELIMITED, RetryAfter: 5,
				Message: "Too many open streams; close one first."})
			return
		}
		defer streams.release(subject)
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		if d, ok := r.Context().Value(drainKey{}).(context.Context); ok {
			stop := context.AfterFunc(d, cancel)
			defer stop()
		}
		if info, ok := r.Context().Value(actorKey{}).(actorInfo); ok {
			done := s.endWhenSignedOut(ctx, cancel, r, info.expires)
			defer func() { cancel(); <-done }()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// streamTokenCheck is how often an open stream checks that its access
// token still holds.
const streamTokenCheck = 5 * time.Second

// endWhenSignedOut ends a stream (cancel) when the token that opened it
// expires or is revoked (logout, logout-all, a disabled account): a stream
// opened before a logout must not go on telling what the token may no
// longer read. The client reconnects with a fresh token and Last-Event-ID.
// A check that cannot be made (Redis down) keeps the stream. The returned
// channel closes when the watcher has stopped, after ctx ends.
func (s *Server) endWhenSignedOut(ctx context.Context, cancel context.CancelFunc, r *http.Request, expires time.Time) <-chan struct{} {
	done := make(chan struct{})
	token := bearer(r)
	go func() {
		defer close(done)
		expiry := time.NewTimer(time.Until(expires.Add(s.Tokens.Leeway)))
		defer expiry.Stop()
		check := time.NewTicker(streamTokenCheck)
		defer check.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-expiry.C:
				cancel()
				return
			case <-check.C:
				if _, _, err := s.Tokens.Verify(ctx, token); evently.ErrorCode(err) == evently.EUNAUTHORIZED {
					cancel()
					return
				}
			}
		}
	}()
	return done
}

// streamHeartbeat is the pause between keep-alive comments on an idle
// stream, so proxies and clients do not take it for dead.
const streamHeartbeat = 15 * time.Second

// eventStream writes server-sent events: every stream route answers
// through it, with the same headers and heartbeat.
type eventStream struct {
	w         http.ResponseWriter
	f         http.Flusher
	heartbeat *time.Ticker
}

// startEventStream answers 200 with text/event-stream; false (after an
// error answer) when the response cannot stream. Stop the heartbeat with
// stop.
func startEventStream(w http.ResponseWriter, r *http.Request) (*eventStream, bool) {
	f, ok := w.(http.Flusher)
	if !ok {
		Error(w, r, fmt.Errorf("streaming unsupported"))
		return nil, false
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// A first line at once: the compressing writer sends nothing, headers
	// included, until something is written, and a stream with nothing to
	// tell yet would keep its client waiting for the first heartbeat.
	fmt.Fprint(w, ": open\n\n")
	f.Flush()
	return &eventStream{w: w, f: f, heartbeat: time.NewTicker(streamHeartbeat)}, true
}

// send writes one event (id may be empty).
func (s *eventStream) send(id, event string, data []byte) {
	if id != "" {
		fmt.Fprintf(s.w, "id: %s\n", id)
	}
	fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, data)
	s.f.Flush()
}

// beats ticks when a keep-alive is due; keepAlive writes it.
func (s *eventStream) beats() <-chan time.Time { return s.heartbeat.C }

func (s *eventStream) keepAlive() {
	fmt.Fprint(s.w, ": keep-alive\n\n")
	s.f.Flush()
}

func (s *eventStream) stop() { s.heartbeat.Stop() }
