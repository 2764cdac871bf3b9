package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/evently/evently"
)

// CatalogDeps are the catalog area's services. A nil service leaves the
// catalog routes answering 503.
type CatalogDeps struct {
	Venues   evently.VenueService
	Events   evently.EventService
	SeatMaps evently.SeatMapSource
	// SeatMapTTL is how long a seat map is served from memory before
	// PostgreSQL and Redis are asked again; 0 asks on every request.
	SeatMapTTL time.Duration
	// SeatMapCacheBytes bounds the memory of cached seat maps
	// (DefaultSeatMapCacheBytes when 0).
	SeatMapCacheBytes int64
	// PopularWindow is how far back GET /events/popular counts confirmed
	// bookings.
	PopularWindow time.Duration
	// OnEventCancelled runs after an event is cancelled (and again on every
	// repeated cancel, so it must be idempotent): the booking area cancels
	// and refunds every booking of the event.
	OnEventCancelled func(ctx context.Context, eventID uuid.UUID) error

	seatMaps *seatMapCache
	venues   *venueCache
	popular  *popularCache
}

// mountCatalog mounts venues, events and seat maps. Routes are flat (no
// sub-router on /events) because the booking area mounts its own routes
// under /events/{id} too.
func (s *Server) mountCatalog(r chi.Router) {
	c := &s.Catalog
	c.seatMaps = newSeatMapCache(c.SeatMapTTL, c.SeatMapCacheBytes)
	c.venues = newVenueCache()
	c.popular = &popularCache{}
	ready := func(h http.HandlerFunc) http.HandlerFunc {
		if c.Venues == nil || c.Events == nil || c.SeatMaps == nil {
			return func(w http.ResponseWriter, r *http.Request) {
				Error(w, r, evently.Errorf(evently.EUNAVAILABLE, "The catalog is not available."))
			}
		}
		return h
	}
	reads := r.With(s.limit(ClassReads))
	writes := r.With(requireRole(evently.RoleOrganizer, evently.RoleAdmin))

	reads.Get("/venues", ready(s.listVenues))
	reads.Get("/venues/{id}", ready(s.getVenue))
	writes.Post("/venues", ready(s.createVenue))
	writes.Patch("/venues/{id}", ready(s.updateVenue))
	writes.Delete("/venues/{id}", ready(s.deleteVenue))

	reads.Get("/events", ready(s.listEvents))
	reads.Get("/events/popular", ready(s.popularEvents))
	reads.Get(eventPath, ready(s.getEvent))
	reads.Get(eventPath+"/seats", ready(s.getSeatMap))
	writes.Post("/events", ready(s.createEvent))
	writes.Patch(eventPath, ready(s.updateEvent))
	writes.Post(eventPath+"/publish", ready(s.publishEvent))
	writes.Post(eventPath+"/cancel", ready(s.cancelEvent))
}

// catalogLimit reads ?limit= (1-100, default 20).
func catalogLimit(r *http.Request, bad map[string]string) int {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 20
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		bad["limit"] = "must be a whole number from 1 to 100"
	}
	return n
}

// catalogViewer is who asks, or the zero Actor when anonymous.
func catalogViewer(r *http.Request) evently.Actor {
	a, _ := ActorFrom(r.Context())
	return a
}

func (s *Server) listVenues(w http.ResponseWriter, r *http.Request) {
	bad := map[string]string{}
	f := evently.VenueFilter{Limit: catalogLimit(r, bad), Cursor: r.URL.Query().Get("cursor")}
	switch r.URL.Query().Get("owner") {
	case "":
	case "me":
		a := catalogViewer(r)
		if a.UserID == uuid.Nil {
			Error(w, r, evently.Errorf(evently.EUNAUTHORIZED, "Sign in to list your own venues."))
			return
		}
		f.OwnerID = &a.UserID
	default:
		bad["owner"] = "must be me"
	}
	if len(bad) > 0 {
		Error(w, r, evently.Invalid(bad))
		return
	}
	page, err := s.Catalog.Venues.Venues(r.Context(), f)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) createVenue(w http.ResponseWriter, r *http.Request) {
	var in evently.VenueInput
	if decode(w, r, &in) != nil {
		return
	}
	v, err := s.Catalog.Venues.CreateVenue(r.Context(), actor(r), in)
	if err != nil {
		Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/venues/"+v.ID.String())
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) updateVenue(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "venue")
	if !ok {
		return
	}
	var p evently.VenuePatch
	if decode(w, r, &p) != nil {
		return
	}
	v, err := s.Catalog.Venues.UpdateVenue(r.Context(), actor(r), id, p)
	if err != nil {
		Error(w, r, err)
		return
	}
	s.Catalog.venues.forget(id)
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteVenue(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "venue")
	if !ok {
		return
	}
	if err := s.Catalog.Venues.DeleteVenue(r.Context(), actor(r), id); err != nil {
		Error(w, r, err)
		return
	}
	s.Catalog.venues.forget(id)
	w.WriteHeader(http.StatusNoContent)
}

// eventRequest is the wire form of an event; times and ids are strings so a
// malformed one gets a per-field 422 rather than a generic 400.
type eventRequest struct {
	VenueID      *string        `json:"venue_id"`
	Title        *string        `json:"title"`
	Description  *string        `json:"description"`
	Category     *string        `json:"category"`
	City         *string        `json:"city"`
	StartsAt     *string        `json:"starts_at"`
	EndsAt       *string        `json:"ends_at"`
	SalesStartAt *string        `json:"sales_start_at"`
	SalesEndAt   *string        `json:"sales_end_at"`
	Currency     *string        `json:"currency"`
	Tiers        []evently.Tier `json:"tiers"`
}

// patch parses the request into a patch, collecting malformed fields.
func (q eventRequest) patch(bad map[string]string) evently.EventPatch {
	p := evently.EventPatch{Title: q.Title, Description: q.Description, Category: q.Category, City: q.City,
		Currency: q.Currency, Tiers: q.Tiers}
	if q.VenueID != nil {
		id, err := uuid.Parse(*q.VenueID)
		if err != nil {
			bad["venue_id"] = "must be a venue id (UUID)"
		}
		p.VenueID = &id
	}
	for _, t := range []struct {
		field string
		in    *string
		out   **time.Time
	}{
		{"starts_at", q.StartsAt, &p.StartsAt}, {"ends_at", q.EndsAt, &p.EndsAt},
		{"sales_start_at", q.SalesStartAt, &p.SalesStartAt}, {"sales_end_at", q.SalesEndAt, &p.SalesEndAt},
	} {
		if t.in == nil {
			continue
		}
		v, err := time.Parse(time.RFC3339, *t.in)
		if err != nil {
			bad[t.field] = "must be an RFC 3339 time such as 2026-07-01T20:00:00+02:00"
			continue
		}
		v = v.UTC()
		*t.out = &v
	}
	return p
}

// input turns a create request into an input (absent fields are empty).
func (q eventRequest) input(bad map[string]string) evently.EventInput {
	p := q.patch(bad)
	in := evently.EventInput{SalesStartAt: p.SalesStartAt, SalesEndAt: p.SalesEndAt, Tiers: p.Tiers}
	if p.VenueID != nil {
		in.VenueID = *p.VenueID
	}
	for _, f := range []struct{ dst, src *string }{
		{&in.Title, p.Title}, {&in.Description, p.Description}, {&in.Category, p.Category},
		{&in.City, p.City}, {&in.Currency, p.Currency},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if p.StartsAt != nil {
		in.StartsAt = *p.StartsAt
	}
	if p.EndsAt != nil {
		in.EndsAt = *p.EndsAt
	}
	return in
}

func (s *Server) createEvent(w http.ResponseWriter, r *http.Request) {
	var q eventRequest
	if decode(w, r, &q) != nil {
		return
	}
	bad := map[string]string{}
	in := q.input(bad)
	if len(bad) > 0 {
		Error(w, r, evently.Invalid(bad))
		return
	}
	e, err := s.Catalog.Events.CreateEvent(r.Context(), actor(r), in)
	if err != nil {
		Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/events/"+e.ID.String())
	writeJSON(w, http.StatusCreated, e)
}

func (s *Server) updateEvent(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "event")
	if !ok {
		return
	}
	var q eventRequest
	if decode(w, r, &q) != nil {
		return
	}
	bad := map[string]string{}
	p := q.patch(bad)
	if len(bad) > 0 {
		Error(w, r, evently.Invalid(bad))
		return
	}
	e, err := s.Catalog.Events.UpdateEvent(r.Context(), actor(r), id, p)
	if err != nil {
		Error(w, r, err)
		return
	}
	s.Catalog.seatMaps.forget(id)
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) publishEvent(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "event")
	if !ok {
		return
	}
	e, err := s.Catalog.Events.PublishEvent(r.Context(), actor(r), id)
	if err != nil {
		Error(w, r, err)
		return
	}
	s.Catalog.seatMaps.forget(id)
	writeJSON(w, http.StatusOK, e)
}

// cancelEvent stops sales, then asks the booking area to cancel and refund
// every booking. Cancelling again re-runs that hook, so a client whose
// first attempt got 503 (hook failed after the status changed) can retry.
func (s *Server) cancelEvent(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "event")
	if !ok {
		return
	}
	e, _, err := s.Catalog.Events.CancelEvent(r.Context(), actor(r), id)
	if err != nil {
		Error(w, r, err)
		return
	}
	s.Catalog.seatMaps.forget(id)
	if hook := s.Catalog.OnEventCancelled; hook != nil {
		// Refunds must not stop half-way because the client went away.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
		defer cancel()
		if err := hook(ctx, id); err != nil {
			s.Logger.ErrorContext(r.Context(), "event cancelled but bookings not", "event_id", id, traceAttr(r), "err", err)
			Error(w, r, &evently.Error{Code: evently.EUNAVAILABLE, RetryAfter: 5,
				Message: "The event is cancelled, but its bookings could not be cancelled yet; repeat the request."})
			return
		}
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "event")
	if !ok {
		return
	}
	e, err := s.Catalog.Events.Event(r.Context(), catalogViewer(r), id)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	bad := map[string]string{}
	f := evently.EventFilter{
		Viewer: catalogViewer(r), Query: qs.Get("q"), Category: qs.Get("category"), City: qs.Get("city"),
		Status: qs.Get("status"), Sort: qs.Get("sort"), Limit: catalogLimit(r, bad), Cursor: qs.Get("cursor"),
	}
	for _, t := range []struct {
		name string
		dst  **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		// Present but empty (?to=) is refused, not read as no bound: a
		// client that sent the filter meant one, and a silent 200 with
		// every event hides its bug.
		if !qs.Has(t.name) {
			continue
		}
		tm, err := time.Parse(time.RFC3339, qs.Get(t.name))
		if err != nil {
			bad[t.name] = "must be an RFC 3339 time with a zone, such as 2026-06-01T19:00:00Z or 2026-06-01T21:00:00%2B02:00 (a + in a query string reads as a space); leave it out for no bound"
			continue
		}
		// UTC: PostgreSQL refuses offsets past ±15:59 that RFC 3339 allows.
		tm = tm.UTC()
		*t.dst = &tm
	}
	if len(bad) > 0 {
		Error(w, r, evently.Invalid(bad))
		return
	}
	page, err := s.Catalog.Events.Events(r.Context(), f)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) popularEvents(w http.ResponseWriter, r *http.Request) {
	bad := map[string]string{}
	limit := catalogLimit(r, bad)
	if r.URL.Query().Get("limit") == "" {
		limit = 10
	}
	if len(bad) > 0 {
		Error(w, r, evently.Invalid(bad))
		return
	}
	window := s.Catalog.PopularWindow
	if window <= 0 {
		window = 7 * 24 * time.Hour
	}
	items, err := s.Catalog.popular.get(r.Context(), s.Catalog.Events, window)
	if err != nil {
		Error(w, r, err)
		return
	}
	items = items[:min(limit, len(items))]
	w.Header().Set("Cache-Control", "public, max-age=5")
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "window": window.String()})
}

// catalogETagMatches reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func catalogETagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
