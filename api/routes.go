package api

import "github.com/go-chi/chi/v5"

// mountV1 mounts every /api/v1 route group; each area lives in its own file.
func (s *Server) mountV1(r chi.Router) {
	r.Use(s.authenticate, s.scope)
	s.mountAuth(r)
	s.mountCatalog(r)
	s.mountBookings(r)
	s.mountWaitlist(r)
	s.mountWebhooks(r)
	s.mountNotifications(r)
	s.mountPipeline(r)
	s.mountAnalytics(r)
}
