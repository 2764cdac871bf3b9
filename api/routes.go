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

// eventPath is /events/{id} with the id held to a UUID's text form, for
// every area's routes under it alike. /events/popular is a static sibling:
// with a bare {id}, chi finding no PATCH on /events/popular falls back to
// /events/{id}, so PATCH answered 404 and a 405 there listed PATCH in Allow.
// Any other id was a 404 anyway (pathID); now the router says so.
const eventPath = "/events/{id:" + uuidPattern + "}"

// uuidPattern is what uuid.Parse accepts in the form the API writes ids.
const uuidPattern = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`
