package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Ordinary requests get a deadline; streams get none and end when the
// server drains.
func TestScope(t *testing.T) {
	t.Parallel()
	s := &Server{RequestTimeout: time.Second}
	tests := []struct {
		method, path string
		deadline     bool
		within       time.Duration
	}{
		{"GET", "/api/v1/events", true, time.Second},
		{"GET", "/api/v1/bookings/0190c0de-0000-7000-8000-000000000000", true, time.Second},
		{"POST", "/api/v1/admin/dlq/booking.commands/replay", true, slowRequestTimeout},
		{"POST", "/api/v1/bookings", true, time.Second + MaxWait},
		{"GET", "/api/v1/bookings/0190c0de-0000-7000-8000-000000000000?wait=20", true, time.Second + MaxWait},
		{"GET", "/api/v1/bookings/0190c0de-0000-7000-8000-000000000000/events", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			drain, startDrain := context.WithCancel(context.Background())
			defer startDrain()
			ended := make(chan struct{})
			h := s.scope(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				dl, has := r.Context().Deadline()
				if has != tt.deadline {
					t.Errorf("deadline %v, want %v", has, tt.deadline)
				}
				if has && (time.Until(dl) > tt.within || time.Until(dl) < tt.within-time.Second) {
					t.Errorf("deadline in %v, want about %v", time.Until(dl), tt.within)
				}
				if !tt.deadline {
					startDrain()
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
						t.Error("the stream outlived the drain")
					}
				}
				close(ended)
			}))
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req = req.WithContext(context.WithValue(req.Context(), drainKey{}, drain))
			h.ServeHTTP(httptest.NewRecorder(), req)
			<-ended
		})
	}
}
