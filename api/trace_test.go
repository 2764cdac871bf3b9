package api_test

import (
	"net/http"
	"testing"

	"github.com/evently/evently"
	"github.com/evently/evently/evtest/apptest"
)

// TestTraceIDs: a request's trace id is its valid traceparent's, else a
// new one; the answer says it (X-Trace-Id, traceparent) and so does a
// problem body.
func TestTraceIDs(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	_, token := a.User(evently.RoleUser)
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct {
		name        string
		traceparent string
		want        string // "": a new id
	}{
		{"valid", "00-" + id + "-00f067aa0ba902b7-01", id},
		{"none", "", ""},
		{"malformed", "00-" + id + "-00f067aa0ba902b7", ""},
		{"all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""},
		{"all-zero parent id", "00-" + id + "-0000000000000000-01", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.traceparent != "" {
				headers = []string{"traceparent", tt.traceparent}
			}
			// An unknown include is refused, whatever the booking.
			res := a.Do("GET", "/api/v1/bookings/"+evently.NewID().String()+"?include=payments", token, nil, headers...)
			if res.Status != http.StatusUnprocessableEntity {
				t.Fatalf("include=payments: %d %s, want 422", res.Status, res.Body)
			}
			var p struct {
				Code    string            `json:"code"`
				Errors  map[string]string `json:"errors"`
				TraceID string            `json:"trace_id"`
			}
			res.JSON(t, &p)
			if p.Code != evently.EINVALID || p.Errors["include"] == "" {
				t.Errorf("problem %s, want invalid with an include error", res.Body)
			}
			got := res.Header.Get("X-Trace-Id")
			switch {
			case !evently.ValidTraceID(got):
				t.Fatalf("X-Trace-Id %q is not a trace id", got)
			case tt.want != "" && got != tt.want:
				t.Errorf("X-Trace-Id %q, want %q", got, tt.want)
			case tt.want == "" && got == id:
				t.Errorf("X-Trace-Id %q taken from an invalid traceparent", got)
			}
			if p.TraceID != got {
				t.Errorf("problem trace_id %q, want the X-Trace-Id %q", p.TraceID, got)
			}
			if back, _ := evently.ParseTraceparent(res.Header.Get("traceparent")); back != got {
				t.Errorf("answered traceparent %q, want trace %s", res.Header.Get("traceparent"), got)
			}
		})
	}
	// Two requests without a traceparent are two traces.
	h1 := a.Do("GET", "/api/v1/bookings", token, nil).Header.Get("X-Trace-Id")
	h2 := a.Do("GET", "/api/v1/bookings", token, nil).Header.Get("X-Trace-Id")
	if h1 == h2 {
		t.Errorf("two requests share the trace id %s", h1)
	}
}
