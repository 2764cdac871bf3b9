package api

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/evently/evently"
)

// WebhookStore keeps webhooks and their deliveries (store.Webhooks); every
// method is scoped to the caller, so someone else's webhook is not found.
type WebhookStore interface {
	Create(ctx context.Context, w *evently.Webhook) error
	ListByUser(ctx context.Context, userID uuid.UUID) ([]evently.Webhook, error)
	Delete(ctx context.Context, userID, id uuid.UUID) error
	Deliveries(ctx context.Context, userID, webhookID uuid.UUID, before *uuid.UUID, limit int) ([]evently.WebhookDelivery, error)
	Retry(ctx context.Context, userID, webhookID, deliveryID uuid.UUID) error
}

// WebhookDeps are the webhook routes' services.
type WebhookDeps struct {
	Store WebhookStore
	// CheckURL refuses (invalid) a URL whose host is not a public address,
	// unless private ones are allowed (webhook.Client.CheckURL).
	CheckURL func(ctx context.Context, rawURL string) error
}

// mountWebhooks mounts a user's webhook subscriptions and delivery log.
func (s *Server) mountWebhooks(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(requireUser, s.webhooksReady)
		r.With(s.limit(ClassHolds)).Post("/webhooks", s.createWebhook)
		r.With(s.limit(ClassReads)).Get("/webhooks", s.listWebhooks)
		r.With(s.limit(ClassHolds)).Delete("/webhooks/{id}", s.deleteWebhook)
		r.With(s.limit(ClassReads)).Get("/webhooks/{id}/deliveries", s.listDeliveries)
		r.With(s.limit(ClassHolds)).Post("/webhooks/{id}/deliveries/{delivery_id}/retry", s.retryDelivery)
	})
}

func (s *Server) webhooksReady(next http.Handler) http.Handler {
	return wired("Webhooks are", func() bool { return s.Webhooks.Store != nil && s.Webhooks.CheckURL != nil })(next)
}

type webhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// createdWebhook is the only answer that shows the secret.
type createdWebhook struct {
	evently.Webhook
	Secret string `json:"secret"`
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	var req webhookRequest
	if decode(w, r, &req) != nil {
		return
	}
	types, err := evently.ValidateWebhook(req.URL, req.Events)
	if err == nil {
		err = s.Webhooks.CheckURL(r.Context(), req.URL)
	}
	if err != nil {
		Error(w, r, err)
		return
	}
	hook := &evently.Webhook{UserID: actor(r).UserID, URL: req.URL, Events: types}
	if err := s.Webhooks.Store.Create(r.Context(), hook); err != nil {
		Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/webhooks/"+hook.ID.String()+"/deliveries")
	writeJSON(w, http.StatusCreated, createdWebhook{Webhook: *hook, Secret: hook.Secret})
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	items, err := s.Webhooks.Store.ListByUser(r.Context(), actor(r).UserID)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "Webhook")
	if !ok {
		return
	}
	if err := s.Webhooks.Store.Delete(r.Context(), actor(r).UserID, id); err != nil {
		Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "Webhook")
	if !ok {
		return
	}
	limit, before, ok := idPage(w, r)
	if !ok {
		return
	}
	items, err := s.Webhooks.Store.Deliveries(r.Context(), actor(r).UserID, id, before, limit)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeIDPage(w, items, limit, func(d evently.WebhookDelivery) uuid.UUID { return d.ID })
}

func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "Webhook")
	if !ok {
		return
	}
	deliveryID, err := uuid.Parse(chi.URLParam(r, "delivery_id"))
	if err != nil {
		Error(w, r, evently.Errorf(evently.ENOTFOUND, "Delivery not found."))
		return
	}
	if err := s.Webhooks.Store.Retry(r.Context(), actor(r).UserID, id, deliveryID); err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": deliveryID, "status": evently.DeliveryPending,
		"next_attempt_at": time.Now().UTC()})
}
