package api

import "github.com/go-chi/chi/v5"

// BookingDeps are the booking area's services.
type BookingDeps struct{}

// mountBookings mounts holds, bookings and their streams.
func (s *Server) mountBookings(r chi.Router) {}
