package api

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/evently/evently"
)

// WaitlistService keeps the waitlist (store.Waitlist).
type WaitlistService interface {
	Join(ctx context.Context, eventID, userID uuid.UUID, partySize int, tier string) (*evently.WaitlistEntry, error)
	Get(ctx context.Context, id uuid.UUID) (*evently.WaitlistEntry, error)
	ListByUser(ctx context.Context, userID uuid.UUID, limit int) ([]evently.WaitlistEntry, error)
	Leave(ctx context.Context, id uuid.UUID) error
	// DeclineOffer gives up a hold that is a waitlist offer, passing its
	// seats to the line; false when the hold is no open offer.
	DeclineOffer(ctx context.Context, hold *evently.Hold) (bool, error)
}

// mountWaitlist mounts joining, reading and leaving a waitlist. Offers are
// holds, booked with POST /bookings {hold_id}.
func (s *Server) mountWaitlist(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(requireUser, s.waitlistReady)
		r.With(s.limit(ClassHolds)).Post(eventPath+"/waitlist", s.joinWaitlist)
		r.With(s.limit(ClassReads)).Get("/waitlist", s.listWaitlist)
		r.With(s.limit(ClassReads)).Get("/waitlist/{id}", s.getWaitlistEntry)
		r.With(s.limit(ClassHolds)).Delete("/waitlist/{id}", s.leaveWaitlist)
	})
}

func (s *Server) waitlistReady(next http.Handler) http.Handler {
	return wired("The waitlist is", func() bool { return s.Waitlist != nil })(next)
}

type joinRequest struct {
	PartySize *int   `json:"party_size"`
	Tier      string `json:"tier"`
}

func (s *Server) joinWaitlist(w http.ResponseWriter, r *http.Request) {
	eventID, ok := pathID(w, r, "Event")
	if !ok {
		return
	}
	var req joinRequest
	if decode(w, r, &req) != nil {
		return
	}
	if req.PartySize == nil {
		Error(w, r, evently.Invalid(map[string]string{"party_size": "Say how many seats your party needs (1 to 10)."}))
		return
	}
	e, err := s.Waitlist.Join(r.Context(), eventID, actor(r).UserID, *req.PartySize, req.Tier)
	if err != nil {
		Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/waitlist/"+e.ID.String())
	writeJSON(w, http.StatusCreated, e)
}

// ownEntry loads an entry the caller owns (or any, for an admin); someone
// else's is not found, so entry ids reveal nothing.
func (s *Server) ownEntry(w http.ResponseWriter, r *http.Request) (*evently.WaitlistEntry, bool) {
	id, ok := pathID(w, r, "Waitlist entry")
	if !ok {
		return nil, false
	}
	e, err := s.Waitlist.Get(r.Context(), id)
	if err == nil {
		if a := actor(r); e.UserID != a.UserID && !a.IsAdmin() {
			err = evently.Errorf(evently.ENOTFOUND, "Waitlist entry not found.")
		}
	}
	if err != nil {
		Error(w, r, err)
		return nil, false
	}
	return e, true
}

func (s *Server) getWaitlistEntry(w http.ResponseWriter, r *http.Request) {
	if e, ok := s.ownEntry(w, r); ok {
		writeJSON(w, http.StatusOK, e)
	}
}

func (s *Server) listWaitlist(w http.ResponseWriter, r *http.Request) {
	items, err := s.Waitlist.ListByUser(r.Context(), actor(r).UserID, 100)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) leaveWaitlist(w http.ResponseWriter, r *http.Request) {
	e, ok := s.ownEntry(w, r)
	if !ok {
		return
	}
	if err := s.Waitlist.Leave(r.Context(), e.ID); err != nil {
		Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
