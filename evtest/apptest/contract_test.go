package apptest

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"
)

// CheckResponse catches answers the document does not allow, and lets the
// ones it does through: without it, Do would pass any of these. The routes
// are the document's own; no server runs.
func TestCheckResponse(t *testing.T) {
	const (
		pair = `{"access_token":"a","refresh_token":"r","token_type":"bearer","expires_in":900}`
		id   = "0b7e9b0e-5d3c-4f43-9d43-2f4b8c8e1a01"
		hold = `{"id":"` + id + `","event_id":"` + id + `","seat_ids":["A-1"],"expires_at":"2026-12-03T12:00:00Z"}`
	)
	problem := func(status, code string) string {
		return `{"type":"about:blank","title":"t","status":` + status + `,"code":"` + code + `"}`
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	json, problemJSON := hdr("Content-Type", "application/json"), hdr("Content-Type", "application/problem+json")
	for _, tc := range []struct {
		name, method, path string
		reqHeader          http.Header
		status             int
		header             http.Header
		body               string
		want               string // in a message; "" when the answer agrees
	}{
		{"agrees", "POST", "/api/v1/auth/login", nil, 200, json, pair, ""},
		{"with parameters", "POST", "/api/v1/auth/login", nil, 200, hdr("Content-Type", "application/json; charset=utf-8"), pair, ""},
		{"gzipped and agrees", "POST", "/api/v1/auth/login", nil, 200, hdr("Content-Type", "application/json", "Content-Encoding", "gzip"), pair, ""},
		{"problem agrees", "POST", "/api/v1/auth/refresh", nil, 429, problemJSON, problem("429", "rate_limited"), ""},
		{"a path parameter", "GET", "/api/v1/holds/" + id, nil, 200, json, hold, ""},
		{"missing field", "POST", "/api/v1/auth/login", nil, 200, json, `{"access_token":"a","refresh_token":"r","token_type":"bearer"}`, "expires_in"},
		{"wrong type", "POST", "/api/v1/auth/login", nil, 200, json, strings.Replace(pair, "900", `"900"`, 1), "expires_in"},
		{"wrong format", "GET", "/api/v1/holds/" + id, nil, 200, json, strings.Replace(hold, `"id":"`+id, `"id":"h-1`, 1), "uuid"},
		{"not in the enum", "POST", "/api/v1/auth/refresh", nil, 429, problemJSON, problem("429", "slow_down"), "code"},
		{"problem without code", "POST", "/api/v1/auth/refresh", nil, 429, problemJSON, `{"type":"about:blank","title":"t","status":429}`, "code"},
		{"undocumented status", "POST", "/api/v1/auth/login", nil, 418, json, `{}`, "418"},
		{"problem where JSON is documented", "POST", "/api/v1/auth/login", nil, 200, problemJSON, pair, "application/problem+json"},
		{"JSON where a problem is documented", "POST", "/api/v1/auth/refresh", nil, 429, json, problem("429", "rate_limited"), "application/json"},
		{"no content type", "POST", "/api/v1/auth/login", nil, 200, http.Header{}, pair, "content type"},
		{"undocumented content type", "POST", "/api/v1/auth/login", nil, 200, hdr("Content-Type", "text/plain"), pair, "text/plain"},
		{"not JSON", "POST", "/api/v1/auth/login", nil, 200, json, `{"access_token":`, "decode"},
		{"empty body", "POST", "/api/v1/auth/login", nil, 200, json, ``, "body"},
		{"a header of the wrong type", "POST", "/api/v1/auth/refresh", nil, 429,
			hdr("Content-Type", "application/problem+json", "Retry-After", "soon"), problem("429", "rate_limited"), "retry-after"},
		{"CSV", "GET", "/api/v1/analytics/events/" + id + "/bookings.csv", nil, 200, hdr("Content-Type", "text/csv; charset=utf-8"), "booking_id\n", ""},
		{"CSV as JSON", "GET", "/api/v1/analytics/events/" + id + "/bookings.csv", nil, 200, json, `[]`, "application/json"},
		{"unknown route", "GET", "/api/v1/nowhere", nil, 200, json, `{}`, "not found"},
		{"unknown method", "PUT", "/api/v1/auth/login", nil, 200, json, pair, "PUT"},
		{"unknown route, 404", "GET", "/api/v1/nowhere", nil, 404, problemJSON, problem("404", "not_found"), ""},
		{"unknown method, 405", "PUT", "/api/v1/auth/login", nil, 405, problemJSON, problem("405", "method_not_allowed"), ""},
		{"unknown route, refused by the input gate", "GET", "/api/v1/nowhere", nil, 422, problemJSON, problem("422", "invalid"), ""},
		{"unknown route, refused as JSON", "GET", "/api/v1/nowhere", nil, 422, json, `{}`, "not problem+json"},
		{"the document itself", "GET", "/openapi.yaml", nil, 200, hdr("Content-Type", "application/yaml"), "openapi: 3.1.0", ""},
		{"a CORS preflight", "OPTIONS", "/api/v1/auth/login", hdr("Access-Control-Request-Method", "POST"), 200, http.Header{}, "", ""},
		{"OPTIONS without preflight", "OPTIONS", "/api/v1/auth/login", nil, 200, http.Header{}, "", "OPTIONS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://evently.test"+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.reqHeader {
				req.Header[k] = v
			}
			body := []byte(tc.body)
			if tc.header.Get("Content-Encoding") == "gzip" {
				var b bytes.Buffer
				zw := gzip.NewWriter(&b)
				_, _ = zw.Write(body)
				_ = zw.Close()
				body = b.Bytes()
			}
			msgs := CheckResponse(req, tc.status, tc.header, body)
			got := strings.Join(msgs, "\n")
			switch {
			case tc.want == "" && len(msgs) > 0:
				t.Errorf("want no disagreement, got:\n%s", got)
			case tc.want != "" && !strings.Contains(strings.ToLower(got), strings.ToLower(tc.want)):
				t.Errorf("want a disagreement naming %q, got %q", tc.want, got)
			}
		})
	}
}
