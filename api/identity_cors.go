package api

import (
	"net/http"

	"github.com/go-chi/cors"
)

// cors answers browsers from the allowed origins (Server.CORSOrigins); with
// none, it adds nothing (go-chi/cors would otherwise allow every origin).
// Tokens travel in the Authorization header, never in cookies, so
// credentials stay off.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.CORSOrigins) == 0 {
		return next
	}
	return cors.Handler(cors.Options{
		AllowedOrigins: s.CORSOrigins,
		AllowedMethods: []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "traceparent"},
		ExposedHeaders: []string{"Location", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "X-Request-Id",
			"X-Trace-Id", "traceparent"},
		MaxAge: 600,
	})(next)
}
