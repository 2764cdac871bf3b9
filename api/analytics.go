package api

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/evently/evently"
)

// mountAnalytics mounts the sales figures, for organizers (their own
// events) and admins (every event).
func (s *Server) mountAnalytics(r chi.Router) {
	r = r.With(s.limit(ClassReads), requireRole(evently.RoleOrganizer, evently.RoleAdmin))
	r.Get("/analytics/dashboard", s.analyticsReady(s.dashboard))
	r.Get("/analytics/events/{id}", s.analyticsReady(s.eventAnalytics))
	r.Get("/analytics/events/{id}/bookings.csv", s.analyticsReady(s.exportBookings))
}

func (s *Server) analyticsReady(h http.HandlerFunc) http.HandlerFunc {
	if s.Analytics == nil {
		return func(w http.ResponseWriter, r *http.Request) {
			Error(w, r, evently.Errorf(evently.EUNAVAILABLE, "Analytics are not available on this instance."))
		}
	}
	return h
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rng, err := evently.ParseDayRange(q.Get("from"), q.Get("to"), q.Has("from"), q.Has("to"), time.Now())
	if err != nil {
		Error(w, r, err)
		return
	}
	d, err := s.Analytics.Dashboard(r.Context(), catalogViewer(r), rng)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) eventAnalytics(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "Event")
	if !ok {
		return
	}
	e, err := s.Analytics.Event(r.Context(), catalogViewer(r), id)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// bookingsCSVHeader names the export's columns.
var bookingsCSVHeader = []string{"booking_id", "email", "status", "reason", "seats", "amount_cents", "currency", "created_at", "updated_at"}

// exportBookings streams the event's bookings as CSV, row by row from the
// database: the headers go out with the first row, so a refusal (404)
// before it is still a problem+json answer.
func (s *Server) exportBookings(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "Event")
	if !ok {
		return
	}
	var out *csv.Writer
	start := func() {
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="event-`+id.String()+`-bookings.csv"`)
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		out = csv.NewWriter(w)
		_ = out.Write(bookingsCSVHeader)
	}
	n := 0
	err := s.Analytics.Bookings(r.Context(), catalogViewer(r), id, func(b evently.BookingRow) error {
		if out == nil {
			start()
		}
		if err := out.Write([]string{b.ID.String(), b.UserEmail, string(b.Status), b.Reason, strings.Join(b.Seats, " "),
			strconv.FormatInt(b.AmountCents, 10), b.Currency, b.CreatedAt.UTC().Format(time.RFC3339), b.UpdatedAt.UTC().Format(time.RFC3339)}); err != nil {
			return err
		}
		if n++; n%500 == 0 {
			out.Flush() // a long export reaches the client as it goes
			if err := out.Error(); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err != nil && out == nil:
		Error(w, r, err)
		return
	case err != nil:
		// Mid-stream: the status is sent; cut the body short so the client
		// sees a broken transfer rather than a complete-looking file.
		s.Logger.ErrorContext(r.Context(), "bookings export cut short", "err", err, "event", id)
		panic(http.ErrAbortHandler)
	case out == nil:
		start()
	}
	out.Flush()
}
