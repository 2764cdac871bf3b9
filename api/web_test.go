package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/evently/evently"
	"github.com/evently/evently/api"
)

// webGet asks a bare server (no services: the front end needs none).
func webGet(t *testing.T, path string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	s := &api.Server{}
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// The binary serves the front end from embedded assets: index.html at /,
// its script and styles under /app/, nothing from a CDN.
func TestWebFrontEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, contentType string
		status            int
		contains          string
	}{
		{"/", "text/html; charset=utf-8", 200, `<script defer src="/app/app.js"></script>`},
		{"/app/app.js", "text/javascript; charset=utf-8", 200, "/api/v1"},
		{"/app/app.css", "text/css; charset=utf-8", 200, ".seat"},
		{"/app/missing.js", "application/problem+json", 404, "not_found"},
		// The app routes in the fragment: other paths are not the app's.
		{"/events/123", "application/problem+json", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			rec := webGet(t, tt.path)
			body := rec.Body.String()
			if rec.Code != tt.status || rec.Header().Get("Content-Type") != tt.contentType || !strings.Contains(body, tt.contains) {
				t.Fatalf("GET %s: %d %q, want %d %q with %q; body starts %.200q", tt.path, rec.Code,
					rec.Header().Get("Content-Type"), tt.status, tt.contentType, tt.contains, body)
			}
			// The SVG namespace is a name, not a place anything is loaded from.
			rest := strings.ReplaceAll(body, "http://www.w3.org/2000/svg", "")
			if tt.status == 200 && (strings.Contains(rest, "https://") || strings.Contains(rest, "http://")) {
				t.Errorf("GET %s names another origin: the app must load nothing from elsewhere", tt.path)
			}
		})
	}
}

func TestWebIndexHeaders(t *testing.T) {
	t.Parallel()
	rec := webGet(t, "/")
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy = %q: the stored tokens need script from this origin only", csp)
	}
	etag := rec.Header().Get("ETag")
	if etag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q: want an ETag and no-cache", etag, rec.Header().Get("Cache-Control"))
	}
	if again := webGet(t, "/", "If-None-Match", etag); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Errorf("revalidation: %d with %d bytes, want 304 without a body", again.Code, again.Body.Len())
	}
	js := webGet(t, "/app/app.js", "Accept-Encoding", "gzip")
	if js.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("app.js is not gzipped (Content-Encoding %q)", js.Header().Get("Content-Encoding"))
	}
	if n := webGet(t, "/app/app.js").Body.Len(); n < 5000 {
		t.Errorf("app.js is %d bytes: is the bundle built?", n)
	}
}

// The app says booking reasons in the same plain words as the server
// (evently.ReasonText); its copy lives in web/src/format.ts.
func TestWebReasonTexts(t *testing.T) {
	t.Parallel()
	js := webGet(t, "/app/app.js").Body.String()
	for _, reason := range []string{evently.ReasonSeatsTaken, evently.ReasonPaymentDeclined, evently.ReasonPaymentUnavailable,
		evently.ReasonHoldExpired, evently.ReasonInvalid, evently.ReasonEventCancelled, evently.ReasonNotAccepted} {
		if text := evently.ReasonText(reason); !strings.Contains(js, text) {
			t.Errorf("reason %s: the app does not say %q (web/src/format.ts)", reason, text)
		}
	}
}
