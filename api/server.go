// Package api is Evently's HTTP adapter: the chi router, handlers,
// middleware (request id, logging, recovery, metrics, auth, rate limits,
// CORS), problem+json errors, the OpenAPI document and server-sent events.
package api

import (
	"context"
	_ "embed"
	"fmt"
	"github.com/klauspost/compress/gzhttp"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evently/evently"
)

// Check is one dependency that /readyz asks.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Server holds what the handlers need. Fields are set by cmd; a nil service
// leaves its routes answering 503.
type Server struct {
	Logger *slog.Logger
	Checks []Check
	Tokens *Tokens
	// Profiling mounts net/http/pprof under /debug/pprof.
	Profiling bool

	// Each area's services, wired in app/ and used by its own route file.
	Auth     AuthDeps
	Limits   RateLimits
	Catalog  CatalogDeps
	Bookings BookingDeps
	Waitlist WaitlistService
	Webhooks WebhookDeps
	// Notifications is the inbox and its stream.
	Notifications NotificationService
	Pipeline      PipelineStatus
	// Analytics serves the sales figures and the bookings export.
	Analytics evently.AnalyticsService
	Replay    ReplayDLQ

	// CORSOrigins are the browser origins allowed to call the API; none
	// means no CORS headers at all.
	CORSOrigins []string

	// RequestTimeout bounds the context of every request but streams
	// (default 10 s); MaxStreamsPerUser caps concurrent server-sent event
	// streams per user or anonymous client IP (default 10). See streams.go.
	RequestTimeout    time.Duration
	MaxStreamsPerUser int

	// Background runs beside the server for as long as it serves (the
	// revocation follower); the command that serves starts and stops them.
	Background []func(context.Context) error

	streams *streamCounts
}

// Handler builds the router. Call once, after the fields are set.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	r := chi.NewRouter()
	r.Use(middleware.RequestID, traceRequests, s.logRequests, s.recoverPanics, measure, securityHeaders)
	r.Use(s.cors, checkInput)
	// gzip for what is worth compressing: bodies of 1 KiB and more (a
	// gzip writer costs more than it saves on a small booking answer) of
	// JSON, the contract and the docs, from pooled writers. Event streams
	// are not in the list, and the seat map comes gzipped from its cache
	// already (a set Content-Encoding is left alone).
	r.Use(compress)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, evently.Errorf(evently.ENOTFOUND, "No such resource: %s.", r.URL.Path))
	})
	r.MethodNotAllowed(methodNotAllowed(r))
	mountProbes(r, s.Checks, s.Profiling)
	r.Get("/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPI)
	})
	r.Get("/docs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(docsPage))
	})
	r.Get("/docs/redoc.standalone.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("ETag", `"redoc-`+redocVersion+`"`)
		if catalogETagMatches(r.Header.Get("If-None-Match"), `"redoc-`+redocVersion+`"`) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(redocJS)
	})
	mountWeb(r)
	r.Route("/api/v1", func(r chi.Router) {
		s.mountV1(r)
	})
	return r
}

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the document served at /openapi.yaml, for tests that hold
// answers to it.
func OpenAPI() []byte { return openAPI }

// redocJS is Redoc's standalone bundle (npm redoc@2.5.4, MIT), embedded so
// /docs renders offline and loads nothing from a CDN; see
// assets/redoc/README.md.
//
//go:embed assets/redoc/redoc.standalone.js
var redocJS []byte

const redocVersion = "2.5.4"

// docsPage renders the contract with the embedded Redoc and links the raw
// document.
const docsPage = `<!doctype html><html><head><title>Evently API</title><meta charset="utf-8"></head>
<body><p><a href="/openapi.yaml">openapi.yaml</a></p><redoc spec-url="/openapi.yaml"></redoc>
<script src="/docs/redoc.standalone.js"></script></body></html>`

// Probes returns a handler with only /healthz, /readyz and /metrics, for
// processes that serve no API (workers).
func Probes(checks []Check, profiling bool) http.Handler {
	r := chi.NewRouter()
	mountProbes(r, checks, profiling)
	return r
}

func mountProbes(r chi.Router, checks []Check, profiling bool) {
	// Profiles reveal internals, so pprof is opt-in (EVENTLY_PPROF=1).
	if profiling {
		r.Mount("/debug", middleware.Profiler())
	}
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) { ready(w, r, checks) })
	// GET only, like every other probe: Handle would answer any method, and
	// the contract (and the route test that holds it to the router) says GET.
	r.Get("/metrics", promhttp.Handler().ServeHTTP)
}

// besideTheAPI are the routes served beside the API that openapi.yaml
// describes: the document itself and its renderer, and the web front end
// (/ and its assets). Profiling (/debug/, opt-in) is beside it too.
var besideTheAPI = matcher(http.MethodGet, []string{"/openapi.yaml", "/docs", "/docs/redoc.standalone.js", "/", "/app/{name}"})

// BesideTheAPI reports whether path (or a route pattern) is one of those,
// for the tests that hold the router and its answers to the document.
func BesideTheAPI(path string) bool {
	return strings.HasPrefix(path, "/debug/") || besideTheAPI.Match(chi.NewRouteContext(), http.MethodGet, path)
}

// routeMethods are the methods a 405 may list in Allow: the ones chi routes.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}

// methodNotAllowed answers 405 as problem+json with the Allow header RFC 9110
// asks for. chi's own 405 handler sets Allow, but a custom one is not told
// the methods (chi keeps them unexported), so it asks the root router which
// methods match the path.
func methodNotAllowed(root chi.Routes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The path chi routed on: the escaped form when the URL has one.
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		var allowed []string
		for _, m := range routeMethods {
			if root.Match(chi.NewRouteContext(), m, path) {
				allowed = append(allowed, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		httpError(w, r, http.StatusMethodNotAllowed, "method_not_allowed",
			r.Method+" is not allowed here; allowed: "+strings.Join(allowed, ", ")+".")
	}
}

// ready answers 200 when every dependency answers, else 503 naming the ones
// that do not.
func ready(w http.ResponseWriter, r *http.Request, checks []Check) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(checks))
	for _, c := range checks {
		go func() { results <- result{c.Name, c.Fn(ctx)} }()
	}
	status := map[string]string{}
	var failed []string
	for range checks {
		res := <-results
		if res.err != nil {
			status[res.name] = res.err.Error()
			failed = append(failed, res.name)
		} else {
			status[res.name] = "ok"
		}
	}
	if len(failed) > 0 {
		w.Header().Set("Retry-After", "2")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failed": failed, "checks": status})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "checks": status})
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		start := time.Now()
		next.ServeHTTP(ww, r)
		// Never the query string or headers: they may carry tokens.
		lvl := slog.LevelDebug
		if ww.Status() >= 500 {
			lvl = slog.LevelWarn
		}
		s.Logger.Log(r.Context(), lvl, "http", "method", r.Method, "path", r.URL.Path,
			"status", ww.Status(), "bytes", ww.BytesWritten(), "ms", time.Since(start).Milliseconds(),
			"request_id", middleware.GetReqID(r.Context()), traceAttr(r))
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic", "value", fmt.Sprint(v), "stack", string(debug.Stack()),
					"request_id", middleware.GetReqID(r.Context()), traceAttr(r))
				Error(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

var (
	mRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_http_requests_total", Help: "HTTP requests by route and status.",
	}, []string{"method", "route", "status"})
	mLatency = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "evently_http_request_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"method", "route"})
)

func measure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		start := time.Now()
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = routeLabel(rc.RoutePattern())
		}
		mRequests.WithLabelValues(r.Method, route, strconv.Itoa(ww.Status())).Inc()
		mLatency.WithLabelValues(r.Method, route).Observe(time.Since(start).Seconds())
	})
}

// paramPattern is a path parameter with a regexp, {id:...}: up to the
// segment's last brace, since the regexp may hold braces of its own
// ({8}) and never a slash.
var paramPattern = regexp.MustCompile(`\{([^{}:/]+):[^/]*\}`)

// routeLabel is a route pattern as the contract writes it, /events/{id}:
// a UUID's regexp in every metric label would say nothing and cost bytes.
func routeLabel(pattern string) string {
	return paramPattern.ReplaceAllString(pattern, "{$1}")
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// compress is the gzip middleware (klauspost/compress/gzhttp).
var compress = func() func(http.Handler) http.Handler {
	wrap, err := gzhttp.NewWrapper(gzhttp.MinSize(1024), gzhttp.CompressionLevel(5),
		gzhttp.ContentTypes([]string{"application/json", "application/problem+json", "application/yaml",
			"text/html", "text/javascript", "application/javascript", "text/css"}))
	if err != nil {
		panic(err) // constant options
	}
	return func(h http.Handler) http.Handler { return wrap(h) }
}()
